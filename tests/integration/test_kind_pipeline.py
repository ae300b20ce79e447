"""The tiny preset through Kubeflow Pipelines on a real cluster, training with a 2-worker TFJob.

Runs whenever a cluster is reachable (``make cluster-up``, then ``make kfp-port-forward`` and
``make integration``) and otherwise skips, saying why. Settings (environment):
  GENLAB_KFP_HOST             KFP API or UI URL (default http://localhost:8080)
  GENLAB_INTEGRATION_PRESET   preset to compile (default dcgan_tiny)
  GENLAB_INTEGRATION_ARGS     JSON pipeline arguments (default {"workers": 2})
  GENLAB_NAMESPACE            where the TFJobs run (default genlab)
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HOST = os.environ.get("GENLAB_KFP_HOST", "http://localhost:8080")
PRESET = os.environ.get("GENLAB_INTEGRATION_PRESET", "dcgan_tiny")
ARGS = json.loads(os.environ.get("GENLAB_INTEGRATION_ARGS", '{"workers": 2}'))
NAMESPACE = os.environ.get("GENLAB_NAMESPACE", "genlab")


def kube_api():
    """A kubernetes ApiClient for the current context, or pytest.skip saying why not."""
    from kubernetes import client

    from genlab.errors import ClusterError
    from genlab.launch.tfjob import api_client

    try:
        api = api_client()
    except ClusterError as e:
        pytest.skip(f"no Kubernetes cluster: {e}")
    try:
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as e:
        pytest.skip(f"Kubernetes context unreachable at {api.configuration.host}: {e.__class__.__name__}")
    try:
        client.CustomObjectsApi(api).list_namespaced_custom_object(
            "kubeflow.org", "v1", NAMESPACE, "tfjobs", _request_timeout=5
        )
    except Exception as e:
        pytest.skip(
            f"no TFJob API (Training Operator v1.9.2) in namespace {NAMESPACE}: {e.__class__.__name__}"
        )
    return api


def kfp_host():
    from genlab.errors import ClusterError
    from genlab.submit import check_host

    try:
        check_host(HOST, timeout_s=5)
    except ClusterError as e:
        pytest.skip(f"no KFP endpoint: {e}")
    return HOST


def compile_preset(out: Path) -> Path:
    exe = shutil.which("genlab") or str(Path(sys.executable).parent / "genlab")
    res = subprocess.run([exe, "compile", PRESET, "-o", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, f"genlab compile {PRESET} failed:\n{res.stderr}"
    return out


def test_tiny_preset_on_kfp_with_a_two_worker_tfjob(tmp_path):
    from kubernetes import client

    from genlab.submit import submit

    api = kube_api()
    host = kfp_host()
    started = time.time()
    package = compile_preset(tmp_path / "pipeline.yaml")
    run_id = submit(
        package,
        host=host,
        experiment="genlab-integration",
        run_name=f"integration-{int(started)}",
        arguments=ARGS,
        wait=True,
        timeout_s=1800,
    )
    assert run_id

    # The train step created a TFJob with two workers that succeeded.
    jobs = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "kubeflow.org", "v1", NAMESPACE, "tfjobs", label_selector="app.kubernetes.io/part-of=genlab"
    )["items"]
    recent = [
        j
        for j in jobs
        if time.mktime(time.strptime(j["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        - time.timezone
        >= started - 60
    ]
    assert recent, f"no genlab TFJob created in {NAMESPACE} during run {run_id}"
    job = recent[-1]
    assert job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == ARGS.get("workers", 2)
    conditions = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conditions.get("Succeeded") == "True", job["status"]
