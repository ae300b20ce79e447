"""TFJobLauncher against a fake Kubernetes API at the HTTP level.

A ``http.server`` on 127.0.0.1 answers the endpoints the launcher uses (the TFJob custom
resource, the job's pods, pod logs) from a scripted sequence of job statuses, so the real
kubernetes client, its (de)serialisation and our error handling all run.
"""

from __future__ import annotations

import json
import os
import re
import signal
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import pytest
from kubernetes import client as k8s

from genlab.errors import ClusterError, LaunchError
from genlab.launch.base import TrainJob
from genlab.launch.tfjob import Cancelled, JobTimeout, TFJobLauncher, api_client

NS = "genlab"
TFJOBS = f"/apis/kubeflow.org/v1/namespaces/{NS}/tfjobs"
PODS = f"/api/v1/namespaces/{NS}/pods"


def cond(kind: str, reason: str = "", message: str = "") -> dict:
    return {"conditions": [{"type": kind, "status": "True", "reason": reason, "message": message}]}


def pod(name: str, phase: str, index: int = 0, exit_code: int | None = None, restarted: bool = False) -> dict:
    state = {"running": {}}
    last = {}
    if exit_code is not None:
        if restarted:
            last = {"terminated": {"exitCode": exit_code}}
        else:
            state = {"terminated": {"exitCode": exit_code}}
    return {
        "metadata": {
            "name": name,
            "labels": {
                "training.kubeflow.org/job-name": name.rsplit("-worker-", 1)[0],
                "training.kubeflow.org/replica-type": "worker",
                "training.kubeflow.org/replica-index": str(index),
            },
        },
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "tensorflow",
                    "image": "img",
                    "imageID": "",
                    "ready": phase == "Running",
                    "restartCount": 1 if restarted else 0,
                    "state": state,
                    "lastState": last,
                }
            ],
        },
    }


class FakeCluster:
    """Scripted API server state: each GET of the TFJob moves one step along ``steps``.

    A step is ``(job status, [pods])``; the last step repeats. ``on_get(n)`` runs at the
    n-th GET (to simulate a worker writing the model, or a SIGTERM).
    """

    def __init__(self, steps, logs=None, create_status=201, on_get=None):
        self.steps = steps
        self.logs = logs or {}
        self.create_status = create_status
        self.on_get = on_get
        self.gets = 0
        self.created: list[dict] = []
        self.deleted: list[str] = []
        self.requests: list[str] = []
        self.log_queries: list[dict] = []

    def step(self):
        return self.steps[min(max(self.gets - 1, 0), len(self.steps) - 1)]

    def handler(cluster):  # noqa: N805 - closes over the fake cluster
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, code: int, body, content_type="application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                cluster.requests.append(f"POST {self.path}")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if urlparse(self.path).path == TFJOBS:
                    if cluster.create_status != 201:
                        return self.send(
                            cluster.create_status,
                            {"kind": "Status", "code": cluster.create_status, "message": "nope"},
                        )
                    cluster.created.append(body)
                    return self.send(201, body)
                self.send(404, {"kind": "Status", "code": 404})

            def do_DELETE(self):
                cluster.requests.append(f"DELETE {self.path}")
                path = urlparse(self.path).path
                if path.startswith(TFJOBS + "/"):
                    cluster.deleted.append(path.rsplit("/", 1)[1])
                    return self.send(200, {"kind": "Status", "status": "Success"})
                self.send(404, {"kind": "Status", "code": 404})

            def do_GET(self):
                cluster.requests.append(f"GET {self.path}")
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path.startswith(TFJOBS + "/"):
                    cluster.gets += 1
                    if cluster.on_get:
                        cluster.on_get(cluster.gets, cluster)
                    body = dict(cluster.created[-1])
                    body["status"] = cluster.step()[0]
                    return self.send(200, body)
                if url.path == PODS:
                    assert query["labelSelector"].startswith("training.kubeflow.org/job-name=")
                    return self.send(200, {"kind": "PodList", "items": cluster.step()[1]})
                m = re.fullmatch(PODS + r"/([^/]+)/log", url.path)
                if m:
                    cluster.log_queries.append(query)
                    text = cluster.logs.get(m.group(1), "")
                    if "tailLines" in query:
                        text = "\n".join(text.splitlines()[-int(query["tailLines"]) :]) + "\n"
                    return self.send(200, text, "text/plain")
                self.send(404, {"kind": "Status", "code": 404})

        return Handler


@pytest.fixture
def serve(loopback):
    return lambda cluster: loopback(cluster.handler())


def launcher(host: str, lines: list[str], **kw) -> TFJobLauncher:
    options = dict(namespace=NS, image="img:1", poll_s=0.01, timeout_s=20, log=lines.append)
    options.update(kw)
    return TFJobLauncher(client_configuration=k8s.Configuration(host=host), **options)


JOB = TrainJob(
    config_json='{"model": "dcgan"}', data_uri="gs://b/data", model_uri="gs://b/model", workers=2, name="t1"
)


def test_created_running_succeeded(serve):
    w0, w1 = "t1-worker-0", "t1-worker-1"
    cluster = FakeCluster(
        [
            (cond("Created"), []),
            (cond("Running"), [pod(w0, "Running"), pod(w1, "Running", 1)]),
            (cond("Running"), [pod(w0, "Running"), pod(w1, "Running", 1)]),
            (cond("Succeeded"), [pod(w0, "Succeeded"), pod(w1, "Succeeded", 1)]),
        ],
        logs={w0: "step 1 loss 0.7\nstep 2 loss 0.5\n"},
    )
    lines: list[str] = []
    launcher(serve(cluster), lines).run(JOB)

    body = cluster.created[0]
    assert body["kind"] == "TFJob" and body["metadata"]["name"] == "t1"
    assert body["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    command = body["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["command"]
    assert command[-4:] == ["--data", "gs://b/data", "--model", "gs://b/model"]  # no staging for gs://
    text = "\n".join(lines)
    assert "created TFJob genlab/t1" in text
    assert "TFJob genlab/t1: Created" in text
    assert f"TFJob genlab/t1: Running [{w0}=Running, {w1}=Running]" in text
    assert f"[{w0}] step 2 loss 0.5" in text  # worker 0's log streamed
    assert "TFJob genlab/t1 succeeded" in text
    assert not cluster.deleted
    assert any(q.get("follow", "").lower() == "true" for q in cluster.log_queries), cluster.log_queries


def test_failed_reports_condition_and_pod_log(serve):
    w0, w1 = "t1-worker-0", "t1-worker-1"
    log = "".join(f"line {i}\n" for i in range(100)) + "ValueError: loss is NaN\n"
    cluster = FakeCluster(
        [
            (cond("Running"), [pod(w0, "Running"), pod(w1, "Running", 1)]),
            (
                cond(
                    "Failed", "TFJobFailed", "TFJob genlab/t1 has failed because 1 Worker replica(s) failed."
                ),
                [pod(w0, "Running"), pod(w1, "Running", 1, exit_code=1, restarted=True)],
            ),
        ],
        logs={w0: "ok\n", w1: log},
    )
    lines: list[str] = []
    with pytest.raises(LaunchError) as err:
        launcher(serve(cluster), lines).run(JOB)
    msg = str(err.value)
    assert "TFJob genlab/t1 failed" in msg
    assert "TFJobFailed" in msg and "1 Worker replica(s) failed" in msg
    assert f"pod {w1} exit code 1" in msg
    assert "ValueError: loss is NaN" in msg and "line 99" in msg
    assert "line 10\n" not in msg  # only the tail
    assert not cluster.deleted  # a failed job is kept for inspection (TTL removes it)


def test_the_failing_pods_log_tail_survives_the_operator_deleting_the_pods(serve):
    # Past the backoff limit the operator deletes every pod before it sets Failed: the tail
    # comes from the logs followed while the job ran, of the pod a listing saw exit non-zero.
    w0, w1 = "t1-worker-0", "t1-worker-1"
    running = [pod(w0, "Running"), pod(w1, "Running", 1)]
    crashed = [pod(w0, "Running"), pod(w1, "Running", 1, exit_code=3, restarted=True)]
    cluster = FakeCluster(
        [
            (cond("Running"), running),
            (cond("Running"), running),
            (cond("Running"), crashed),
            (
                cond(
                    "Failed",
                    "TFJobFailed",
                    "Job t1 has failed because it has reached the specified backoff limit",
                ),
                [],
            ),
        ],
        logs={w0: "step 1\nstep 2\n", w1: "step 1\nOSError: shard is truncated\n"},
    )
    with pytest.raises(LaunchError) as err:
        launcher(serve(cluster), []).run(JOB)
    msg = str(err.value)
    assert "reached the specified backoff limit" in msg
    assert f"pod {w1} exit code 3" in msg and msg.endswith("OSError: shard is truncated"), msg
    assert "step 2" not in msg  # not worker 0's log


def test_timeout_deletes_job(serve):
    cluster = FakeCluster([(cond("Running"), [])])
    lines: list[str] = []
    with pytest.raises(JobTimeout, match=r"did not finish within 0.2s"):
        launcher(serve(cluster), lines, timeout_s=0.2).run(JOB)
    assert cluster.deleted == ["t1"]


def test_keyboard_interrupt_deletes_job(serve):
    cluster = FakeCluster([(cond("Running"), [])])

    def log(line: str):
        if "Running" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        launcher(serve(cluster), [], log=log).run(JOB)
    assert cluster.deleted == ["t1"]


def test_sigterm_deletes_job(serve):
    # KFP cancels a step by terminating its pod: SIGTERM must delete the TFJob.
    previous = signal.getsignal(signal.SIGTERM)

    def on_get(n, cluster):
        if n == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    cluster = FakeCluster([(cond("Running"), [])], on_get=on_get)
    with pytest.raises(Cancelled):
        launcher(serve(cluster), []).run(JOB)
    assert cluster.deleted == ["t1"]
    assert signal.getsignal(signal.SIGTERM) is previous  # handler restored


def test_local_paths_are_staged_on_the_pvc(serve, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    data = tmp_path / "minio" / "prepare" / "dataset"
    data.mkdir(parents=True)
    (data / "manifest.json").write_text("{}")
    model = tmp_path / "minio" / "train" / "model"

    def on_get(n, cluster):  # worker 0 writes the model where its --model says
        command = cluster.created[0]["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0][
            "command"
        ]
        model_dir = command[command.index("--model") + 1]
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, "model.keras"), "w") as f:
            f.write("weights")

    cluster = FakeCluster([(cond("Succeeded"), [])], on_get=on_get)
    job = TrainJob("{}", str(data), str(model), workers=2, name="Run 42")
    launcher(serve(cluster), [], mount_path=str(mnt)).run(job)

    command = cluster.created[0]["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0][
        "command"
    ]
    assert command[command.index("--data") + 1] == str(mnt / "run-42" / "data")
    assert command[command.index("--model") + 1] == str(mnt / "run-42" / "model")
    assert (mnt / "run-42" / "data" / "manifest.json").read_text() == "{}"
    assert (model / "model.keras").read_text() == "weights"  # copied back for the KFP artifact
    volume = cluster.created[0]["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["volumes"][0]
    assert volume["persistentVolumeClaim"]["claimName"] == "genlab-data"


def test_local_path_without_pvc_is_a_clear_error(serve, tmp_path):
    cluster = FakeCluster([(cond("Succeeded"), [])])
    job = TrainJob("{}", str(tmp_path), "gs://b/model", name="t1")
    with pytest.raises(LaunchError, match=r"not mounted at .*/nope"):
        launcher(serve(cluster), [], mount_path=str(tmp_path / "nope")).run(job)
    assert not cluster.created


def test_forbidden_is_a_cluster_error(serve):
    cluster = FakeCluster([], create_status=403)
    with pytest.raises(ClusterError, match=r"create TFJob genlab/t1: .* refused the request \(403"):
        launcher(serve(cluster), []).run(JOB)


def test_missing_crd_is_a_cluster_error(serve):
    cluster = FakeCluster([], create_status=404)
    with pytest.raises(ClusterError, match=r"Training Operator v1.9.2"):
        launcher(serve(cluster), []).run(JOB)


def test_unreachable_api_names_the_host():
    cfg = k8s.Configuration(host="http://127.0.0.1:9")  # discard port: nothing listens
    cfg.retries = 0
    with pytest.raises(ClusterError, match=r"cannot reach the Kubernetes API at http://127.0.0.1:9"):
        TFJobLauncher(client_configuration=cfg, namespace=NS, image="i", log=lambda s: None).run(JOB)


def test_missing_kubeconfig_names_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = tmp_path / "kubeconfig"
    with pytest.raises(ClusterError, match=re.escape(str(path)) + " not found"):
        api_client(kubeconfig=str(path))
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    with pytest.raises(ClusterError, match=re.escape(str(path)) + ".*cannot load it"):
        api_client(kubeconfig=str(path))


def test_get_launcher_builds_the_tfjob_launcher(monkeypatch, tmp_path):
    from genlab.launch.base import get_launcher

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: other}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    launch = get_launcher("tfjob", kubeconfig=str(cfg), namespace="genlab")
    assert isinstance(launch, TFJobLauncher)
    assert launch.host == "http://127.0.0.1:1" and launch.namespace == "genlab"


def test_options_a_launcher_does_not_take_are_one_clear_error(monkeypatch):
    from genlab.errors import ConfigError
    from genlab.launch.base import get_launcher

    with pytest.raises(ConfigError, match=r"launcher 'local': does not take option\(s\) 'image'; it takes: "):
        get_launcher("local", image="reg/img:1")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(
        ConfigError, match=r"launcher 'local' \(launcher 'auto' in this environment\).*'cluster'"
    ):
        get_launcher("auto", cluster=None)
    with pytest.raises(ConfigError, match=r"launcher 'tfjob': does not take option\(s\) 'backoff_limit'"):
        get_launcher("tfjob", backoff_limit=2, client_configuration=k8s.Configuration(host="http://x"))


def test_in_cluster_access_reads_the_service_account_dir(monkeypatch, tmp_path):
    from genlab.launch.kube import in_cluster_namespace

    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("tok-123")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (sa / "namespace").write_text("team-a\n")
    monkeypatch.setenv("GENLAB_SERVICE_ACCOUNT_DIR", str(sa))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.delenv("GENLAB_NAMESPACE", raising=False)
    cfg = api_client().configuration
    assert cfg.host == "https://10.0.0.1:443"
    assert cfg.api_key["authorization"] == "bearer tok-123"
    assert cfg.ssl_ca_cert == str(sa / "ca.crt")
    assert in_cluster_namespace() == "team-a"
    monkeypatch.setenv("GENLAB_NAMESPACE", "from-downward-api")
    assert in_cluster_namespace() == "from-downward-api"


def test_train_step_with_launcher_auto_in_a_pod(serve, tmp_path, monkeypatch, idx_folder):
    """The pipeline default, ``launcher=auto``, in a pod: a TFJob built from the config."""
    from genlab import config, steps

    mnt = tmp_path / "pvc"
    mnt.mkdir()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")  # what makes "auto" a TFJob
    monkeypatch.setenv("GENLAB_MOUNT_PATH", str(mnt))
    monkeypatch.delenv("GENLAB_IMAGE_REGISTRY", raising=False)
    exp = config.experiment_from_dict(
        {
            "name": "auto-in-a-pod",
            "model": {"family": "dcgan", "latent_dim": 8, "width": 4},
            "data": {"source": str(idx_folder)},
            "train": {"steps": 2, "batch_size": 8, "workers": 2, "max_restarts": 5},
            "cluster": {"cpu": "250m", "memory": "1Gi", "labels": {"team": "vision"}},
        }
    )
    dataset = tmp_path / "minio" / "dataset"
    dataset.mkdir(parents=True)
    (dataset / "manifest.json").write_text("{}")
    model = tmp_path / "minio" / "model"

    def on_get(n, cluster):  # worker 0 writes the model where its --model says
        command = cluster.created[0]["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0][
            "command"
        ]
        model_dir = command[command.index("--model") + 1]
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, "model.json"), "w") as f:
            json.dump({"family": "dcgan", "steps": 2}, f)

    cluster = FakeCluster([(cond("Succeeded"), [])], on_get=on_get)
    host = serve(cluster)
    out = steps.train_model(
        exp.to_json(),
        str(dataset),
        str(model),
        workers=0,
        gpus_per_worker=-1,
        steps=0,
        launcher="auto",
        trainer_image="registry.example:5000/team/genlab-trainer:9",
        trainer_gpu_image="registry.example:5000/team/genlab-trainer-gpu:9",
        launcher_options={
            "client_configuration": k8s.Configuration(host=host),
            "namespace": NS,
            "poll_s": 0.01,
        },
    )
    assert {k: out[k] for k in ("family", "steps", "workers", "framework")} == {
        "family": "dcgan",
        "steps": 2,
        "workers": 2,
        "framework": "tensorflow",
    }
    (body,) = cluster.created
    assert body["spec"]["runPolicy"]["backoffLimit"] == 10  # train.max_restarts x 2 replicas
    worker = body["spec"]["tfReplicaSpecs"]["Worker"]
    (container,) = worker["template"]["spec"]["containers"]
    assert container["image"] == "registry.example:5000/team/genlab-trainer:9"
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "1Gi"}
    assert worker["template"]["metadata"]["labels"]["team"] == "vision"
    assert container["volumeMounts"][0]["mountPath"] == str(mnt)  # GENLAB_MOUNT_PATH
    assert container["command"][container["command"].index("--data") + 1].startswith(
        str(mnt) + "/auto-in-a-pod-"
    )
    assert json.loads((model / "model.json").read_text())["steps"] == 2  # copied back from the PVC


def test_a_pod_without_its_token_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("GENLAB_SERVICE_ACCOUNT_DIR", str(tmp_path / "no-sa"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with pytest.raises(ClusterError, match=r"running in a pod .* token .*no-sa/token is missing"):
        api_client()
