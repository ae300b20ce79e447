"""The tiny preset through Kubeflow Pipelines on a real cluster, training with a 2-worker TFJob.

Runs whenever a cluster is reachable (``make cluster-up``, then ``make kfp-port-forward`` and
``make integration``) and otherwise skips, saying why. Before submitting it waits for the named
deployments `make cluster-up` waits for (mk/cluster.mk) and fails with their state and logs if any
is not ready; a failed run fails with the TFJobs' conditions and images and the new pods' state and
log tails (also written to GENLAB_INTEGRATION_LOGS). Both launchers the dashboard offers run:
``auto`` (the pipeline default) and ``tfjob``.

With a registry other than the default (a kind cluster with ``make kind-registry``, images pushed
with ``make push-image-cpu GENLAB_IMAGE_REGISTRY=localhost:5001/genlab``, then
``make integration GENLAB_IMAGE_REGISTRY=localhost:5001/genlab``), every TFJob replica must run the
image of that registry: it is set only when compiling.

Settings (environment):
  GENLAB_KFP_HOST             KFP API or UI URL (default http://localhost:8080)
  GENLAB_INTEGRATION_PRESET   preset to compile (default dcgan_tiny)
  GENLAB_INTEGRATION_ARGS     JSON pipeline arguments (default {"workers": 2})
  GENLAB_NAMESPACE            where the steps and TFJobs run (default genlab)
  GENLAB_KFP_NAMESPACE        where KFP is installed (default: GENLAB_NAMESPACE)
  GENLAB_READY_TIMEOUT        seconds to wait for the deployments (default 600)
  GENLAB_INTEGRATION_LOGS     folder for failure reports (default: the test's tmp folder)
  GENLAB_IMAGE_REGISTRY       registry compiled into the pipeline (default ghcr.io/genlab)
"""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from diagnostics import deployment_report, make_list, run_report, wait_deployments

pytestmark = pytest.mark.integration

HOST = os.environ.get("GENLAB_KFP_HOST", "http://localhost:8080")
PRESET = os.environ.get("GENLAB_INTEGRATION_PRESET", "dcgan_tiny")
ARGS = json.loads(os.environ.get("GENLAB_INTEGRATION_ARGS", '{"workers": 2}'))
NAMESPACE = os.environ.get("GENLAB_NAMESPACE", "genlab")
KFP_NAMESPACE = os.environ.get("GENLAB_KFP_NAMESPACE", NAMESPACE)
READY_TIMEOUT = float(os.environ.get("GENLAB_READY_TIMEOUT", "600"))


@pytest.fixture(scope="module")
def api():
    """A client for the current kube context, or a skip saying why there is none; then the named
    readiness waits, which fail (not skip) when the cluster is there but not ready."""
    from kubernetes import client, config

    try:
        configuration = client.Configuration()
        config.load_kube_config(client_configuration=configuration)
    except Exception as e:  # no kubeconfig, no current context, unreadable file
        pytest.skip(f"no Kubernetes cluster: {e.__class__.__name__}: {e}")
    api = client.ApiClient(configuration)
    try:
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as e:
        pytest.skip(f"Kubernetes context unreachable at {configuration.host}: {e.__class__.__name__}")
    try:
        client.CustomObjectsApi(api).list_namespaced_custom_object(
            "kubeflow.org", "v1", NAMESPACE, "tfjobs", _request_timeout=5
        )
    except Exception as e:
        pytest.skip(
            f"no TFJob API (Training Operator v1.9.2) in namespace {NAMESPACE}: {e.__class__.__name__}"
        )

    for namespace, variable in (
        ("kubeflow", "TRAINING_OPERATOR_DEPLOYMENTS"),
        (KFP_NAMESPACE, "KFP_DEPLOYMENTS"),
    ):
        names = make_list(variable)
        not_ready = wait_deployments(api, namespace, names, READY_TIMEOUT)
        if not_ready:
            pytest.fail(
                f"not available after {READY_TIMEOUT:.0f}s in {namespace}: {not_ready}\n"
                + deployment_report(api, namespace, not_ready)
            )
    return api


@pytest.fixture(scope="module")
def host(api):
    from genlab.errors import ClusterError
    from genlab.submit import check_host

    try:
        check_host(HOST, timeout_s=5)
    except ClusterError as e:
        pytest.skip(f"no KFP endpoint: {e}")
    return HOST


@pytest.fixture(scope="module")
def package(host, tmp_path_factory) -> Path:
    """The preset compiled once, with the registry of this environment (GENLAB_IMAGE_REGISTRY)."""
    out = tmp_path_factory.mktemp("compiled") / "pipeline.yaml"
    exe = shutil.which("genlab") or str(Path(sys.executable).parent / "genlab")
    res = subprocess.run([exe, "compile", PRESET, "-o", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, f"genlab compile {PRESET} failed:\n{res.stderr}"
    return out


def created_at(obj: dict) -> float:
    return datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("launcher", ["auto", "tfjob"])
def test_tiny_preset_on_kfp_with_a_two_worker_tfjob(api, host, package, launcher, tmp_path):
    from kubernetes import client

    from genlab.images import registry
    from genlab.submit import submit

    started = time.time()
    try:
        run_id = submit(
            package,
            host=host,
            experiment="genlab-integration",
            run_name=f"integration-{launcher}-{int(started)}",
            arguments={**ARGS, "launcher": launcher},
            wait=True,
            timeout_s=1800,
        )
    except Exception as e:
        report = run_report(api, NAMESPACE, since=started - 5)
        logs = Path(os.environ.get("GENLAB_INTEGRATION_LOGS", tmp_path))
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"run-{launcher}.txt").write_text(report)
        pytest.fail(f"run with launcher={launcher} failed: {e}\n(report in {logs})\n{report}")
    assert run_id

    # The train step created a TFJob with the requested workers, every replica on the compiled
    # registry's image, and it succeeded.
    jobs = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "kubeflow.org", "v1", NAMESPACE, "tfjobs", label_selector="app.kubernetes.io/part-of=genlab"
    )["items"]
    recent = sorted((j for j in jobs if created_at(j) >= started - 60), key=created_at)
    assert recent, f"no genlab TFJob created in {NAMESPACE} during run {run_id} (launcher={launcher})"
    job = recent[-1]
    replicas = job["spec"]["tfReplicaSpecs"]
    assert replicas["Worker"]["replicas"] == ARGS.get("workers", 2)
    images = {c["image"] for spec in replicas.values() for c in spec["template"]["spec"]["containers"]}
    assert all(image.startswith(registry() + "/") for image in images), (images, registry())
    conditions = {c["type"]: c["status"] for c in job["status"]["conditions"]}
    assert conditions.get("Succeeded") == "True", job["status"]
