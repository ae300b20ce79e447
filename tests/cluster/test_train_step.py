"""The compiled train step, run as its pod would run it, against the simulated cluster.

The step is the IR's own executor command (KFP's ``sh -ec`` wrapper + ``kfp.dsl.executor_main``)
with ``launcher`` left at the pipeline default (``auto``), ``KUBERNETES_SERVICE_HOST`` and a
service-account token set, the registry chosen only at compile time, and the dataset artifact
prepared beforehand. The fake Training Operator runs the TFJob's workers as local processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time

import pytest
from kubernetes import client as k8s

from genlab import __version__
from tests.cluster.conftest import CLUSTER_SECTION, REGISTRY, STEP_POD
from tests.cluster.tfjob_schema import validate_tfjob

pytestmark = pytest.mark.slow

IMAGE = f"{REGISTRY}/genlab-trainer:{__version__}"
LABEL = "training.kubeflow.org/"


def the_tfjob(cluster) -> dict:
    assert len(cluster.store.created) == 1, [b["metadata"]["name"] for b in cluster.store.created]
    return cluster.store.created[0]


def replicas(body: dict) -> dict:
    return body["spec"]["tfReplicaSpecs"]


def worker_log(cluster, pod: str, previous: bool = False) -> str:
    got = cluster.kubelet.log(cluster.namespace, pod, previous=previous)
    return got[0] if got else ""


def done_lines(text: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"^done: (\{.*\})$", text, re.M)]


def api(cluster, service_account: str) -> k8s.CustomObjectsApi:
    """A kubernetes client with ``service_account``'s token, trusting the fake's CA."""
    folder = cluster.service_account_dir(service_account)
    cfg = k8s.Configuration(host=cluster.host)
    cfg.ssl_ca_cert = str(folder / "ca.crt")
    cfg.api_key = {"authorization": "Bearer " + (folder / "token").read_text()}
    return k8s.CustomObjectsApi(k8s.ApiClient(cfg))


def test_a_misspelt_field_is_refused_by_the_api(cluster):
    body = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "metadata": {"name": "typo"},
        "spec": {
            "tfReplicaSpecs": {
                "Worker": {
                    "replicas": 1,
                    "restartPolicy": "OnFailure",
                    "template": {
                        "spec": {"containers": [{"name": "tensorflow", "image": IMAGE, "comand": ["python"]}]}
                    },
                }
            }
        },
    }
    with pytest.raises(k8s.ApiException) as e:
        api(cluster, "genlab-pipeline").create_namespaced_custom_object(
            "kubeflow.org", "v1", "genlab", "tfjobs", body
        )
    assert e.value.status == 422
    assert 'containers[0]: unknown field "comand"' in json.loads(e.value.body)["message"]
    assert not cluster.store.tfjobs


def kill_worker_after_a_checkpoint(cluster, index: int, record: dict) -> threading.Thread:
    """From a thread: SIGKILL worker ``index``'s container once the chief has written a checkpoint."""

    def ready():
        jobs = list(cluster.store.tfjobs)
        if not jobs:
            return None
        name = jobs[0][1]
        ckpts = sorted((cluster.pvc_dir / name / "model" / "checkpoints").glob("ckpt-*.index"))
        pid = cluster.kubelet.pid(cluster.namespace, f"{name}-worker-{index}")
        return (name, ckpts[-1].name, pid) if ckpts and pid else None

    def watch():
        name, ckpt, pid = cluster.wait_for(
            "a checkpoint while the worker runs", ready, timeout_s=240, poll_s=0.02
        )
        record.update(name=name, checkpoint=int(re.search(r"ckpt-(\d+)", ckpt).group(1)), pid=pid)
        os.kill(pid, signal.SIGKILL)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_the_compiled_train_step_runs_as_a_tfjob_with_launcher_auto(cluster, run_train, compiled, upstream):
    assert (
        compiled.parameters({}, upstream({}))["launcher"] == "auto"
    )  # the pipeline default, not overridden here
    assert compiled.image == IMAGE
    run = run_train(cluster)
    code = run.wait()
    log = run.log()
    assert code == 0, f"train step failed ({code}):\n{log[-6000:]}\noperator: {cluster.operator.events}"

    body = the_tfjob(cluster)
    name = body["metadata"]["name"]
    assert validate_tfjob(body) == []  # admitted as sent: no field dropped or coerced
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": STEP_POD["name"], "uid": STEP_POD["uid"]}
    ]
    # Every replica runs the registry chosen at compile time, with the config's pod settings.
    for rtype, rspec in replicas(body).items():
        pod = rspec["template"]
        (c,) = [c for c in pod["spec"]["containers"] if c["name"] == "tensorflow"]
        assert c["image"] == IMAGE, rtype
        assert c["resources"]["requests"] == {
            "cpu": CLUSTER_SECTION["cpu"],
            "memory": CLUSTER_SECTION["memory"],
        }
        assert pod["metadata"]["labels"]["team"] == "vision"
        assert pod["spec"]["nodeSelector"] == CLUSTER_SECTION["node_selector"]
        assert CLUSTER_SECTION["tolerations"][0] in pod["spec"]["tolerations"]
    assert sum(r["replicas"] for r in replicas(body).values()) == 2

    # Both workers were given (pod spec) and used (their own log) a 2-worker TF_CONFIG.
    def both_done():  # the job succeeds with worker 0; worker 1 may still be exiting
        return all(p["status"]["phase"] == "Succeeded" for p in cluster.pods(name))

    cluster.wait_for("both workers to succeed", both_done, timeout_s=60)
    pods = sorted(cluster.pods(name), key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in pods] == [f"{name}-worker-0", f"{name}-worker-1"]
    for i, pod in enumerate(pods):
        labels = pod["metadata"]["labels"]
        assert (
            labels[LABEL + "job-name"],
            labels[LABEL + "replica-type"],
            labels[LABEL + "replica-index"],
        ) == (
            name,
            "worker",
            str(i),
        )
        assert labels["team"] == "vision"
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        tf_config = json.loads(env["TF_CONFIG"])
        assert tf_config["cluster"] == {"worker": [f"{name}-worker-{j}.genlab.svc:2222" for j in range(2)]}
        assert tf_config["task"] == {"type": "worker", "index": i}
        text = worker_log(cluster, pod["metadata"]["name"])
        if i == 0:  # the chief alone prints the training lines
            assert "(global batch 32, 2 workers, strategy" in text, text[-2000:]
        assert [(d["workers"], d["steps"]) for d in done_lines(text)] == [(2, 6)], text[-2000:]

    # The job as the operator reported it, and the model back through the PVC.
    status = cluster.store.tfjobs[(cluster.namespace, name)]["status"]
    assert [c["type"] for c in status["conditions"] if c["status"] == "True"][-1] == "Succeeded"
    assert f"TFJob genlab/{name}: Running" in log and f"TFJob genlab/{name} succeeded" in log
    assert f"[{name}-worker-0] step 6/6" in log  # worker 0's log streamed into the step's
    assert (cluster.pvc_dir / name / "model" / "model.json").is_file()
    assert json.loads((run.model_dir / "model.json").read_text())["steps"] == 6
    model_meta = run.output()["artifacts"]["model"]["artifacts"][0]["metadata"]
    assert model_meta["steps"] == 6 and model_meta["workers"] == 2
    assert not cluster.store.unhandled, cluster.store.unhandled

    # The same body with one field misspelt is refused (the strict schema sees what the SDK sent).
    typo = json.loads(json.dumps(body))
    typo["metadata"]["name"] += "-typo"
    worker = typo["spec"]["tfReplicaSpecs"]["Worker"]
    worker["restartpolicy"] = worker.pop("restartPolicy")
    with pytest.raises(k8s.ApiException) as e:
        api(cluster, "genlab-pipeline").create_namespaced_custom_object(
            "kubeflow.org", "v1", "genlab", "tfjobs", typo
        )
    assert e.value.status == 422 and 'unknown field "restartpolicy"' in json.loads(e.value.body)["message"]


def test_a_killed_worker_is_restarted_and_training_resumes_from_its_checkpoint(cluster, run_train):
    steps = 18  # dcgan_tiny checkpoints every 3 steps: the kill lands after the first one
    run = run_train(cluster, steps=steps)
    killed: dict = {}
    watcher = kill_worker_after_a_checkpoint(cluster, 1, killed)
    code = run.wait(timeout_s=400)
    watcher.join(timeout=5)
    log = run.log()
    assert killed, f"the kill never happened:\n{log[-3000:]}"
    assert code == 0, f"train step failed ({code}):\n{log[-6000:]}\noperator: {cluster.operator.events}"

    name = killed["name"]
    cluster.wait_for(
        "both workers to succeed",
        lambda: all(p["status"]["phase"] == "Succeeded" for p in cluster.pods(name)),
        timeout_s=60,
    )
    pods = sorted(cluster.pods(name), key=lambda p: p["metadata"]["name"])
    # The kubelet restarted the killed container in place (restartPolicy OnFailure) ...
    w1 = pods[1]["status"]["containerStatuses"][0]
    assert w1["restartCount"] >= 1
    assert w1["lastState"]["terminated"]["exitCode"] == 137  # 128 + SIGKILL
    assert killed["pid"] not in cluster.live_processes()
    # ... and it resumed from the chief's checkpoint; both workers trained to the same final step.
    for i, pod in enumerate(pods):
        text = worker_log(cluster, pod["metadata"]["name"])
        resumed = [int(s) for s in re.findall(r"resumed from \S+ckpt-\d+ at step (\d+)", text)]
        if i == 1:
            assert resumed and resumed[0] >= killed["checkpoint"], text[-2000:]
        assert [(d["workers"], d["steps"]) for d in done_lines(text)] == [(2, steps)], text[-2000:]
    assert json.loads((run.model_dir / "model.json").read_text())["steps"] == steps


def step_error(log: str) -> str:
    """The step's one error message (printed last, from ``error: `` to the end)."""
    at = log.rfind("\nerror: ")
    return log[at + 1 :] if at >= 0 else ""


def test_a_failing_worker_log_tail_is_in_the_step_error(cluster, run_train, dataset, tmp_path):
    broken = tmp_path / "broken-dataset"
    shutil.copytree(dataset, broken)
    for shard in broken.glob("*.tfrecord"):
        shard.write_bytes(shard.read_bytes()[:100])  # truncated shards: every worker fails reading them
    # No restart (the Run form's overrides): the first failure fails the job.
    run = run_train(cluster, data=broken, overrides=["train.max_restarts=0"])
    code = run.wait()
    log = run.log()
    assert code != 0, log[-3000:]
    error = step_error(log)
    assert "failed" in error and "backoff limit" in error, log[-4000:]
    # The last lines the failing container wrote (kept by the kubelet; the operator deleted the pods).
    name = the_tfjob(cluster)["metadata"]["name"]
    tails = []
    for i in range(2):
        run_log = cluster.kubelet.root / "logs" / f"{cluster.namespace}_{name}-worker-{i}" / "0.log"
        lines = [line for line in run_log.read_text(errors="replace").splitlines() if line.strip()]
        tails.append(lines[-1])
    assert any(tail in error for tail in tails), f"none of {tails} in the step's error:\n{error[-3000:]}"
    assert "Traceback" not in error.splitlines()[0]
    cluster.wait_for("the failed job's processes to end", lambda: not cluster.live_processes(), timeout_s=30)


def test_cancelling_the_step_deletes_the_tfjob_and_its_processes(cluster, run_train):
    run = run_train(cluster, steps=2000)

    def training():
        jobs = list(cluster.store.tfjobs)
        if not jobs:
            return None
        name = jobs[0][1]
        pods = cluster.pods(name)
        return name if len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods) else None

    name = cluster.wait_for("both workers running", training, timeout_s=120)
    time.sleep(1.0)
    # KFP cancels a run by deleting the step's pod: the container gets SIGTERM (Argo's emissary
    # passes it on to the process group it started).
    os.killpg(run.proc.pid, signal.SIGTERM)
    code = run.wait(timeout_s=60)
    log = run.log()
    assert code != 0
    assert name in cluster.store.deleted, f"TFJob {name} was not deleted:\n{log[-3000:]}"
    assert (cluster.namespace, name) not in cluster.store.tfjobs
    cluster.wait_for(
        "the workers to be gone", lambda: not cluster.live_processes() and not cluster.pods(name), 30
    )


def test_a_service_account_without_the_role_gets_one_clear_403(cluster, run_train):
    run = run_train(cluster, service_account="default")
    code = run.wait()
    log = run.log()
    assert code != 0
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, log[-3000:]
    assert "403" in errors[0] and "genlab-pipeline" in errors[0] and "k8s/base/rbac.yaml" in errors[0], errors
    assert "Traceback" not in log, log[-3000:]
    assert not cluster.store.tfjobs and not cluster.pods()
    denied = [r for r in cluster.store.requests if r.startswith("default ")]
    assert denied, cluster.store.requests
