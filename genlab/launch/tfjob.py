"""The cluster launcher: one ``TFJob`` (Kubeflow Training Operator v1, ``kubeflow.org/v1``).

``build_tfjob`` turns a ``TrainJob`` into the TFJob object (kubeflow-training SDK models);
``TFJobLauncher.run`` creates it, prints progress, streams worker 0's log, and raises
``LaunchError`` with the job condition and the failing pod's last log lines when it fails.
A timeout or a cancellation (SIGTERM from KFP cancelling the step, or Ctrl-C) deletes the job.

The operator writes ``TF_CONFIG`` into every pod, so each pod runs exactly the command the
local launcher runs: ``python -m genlab.train.worker --config ... --data ... --model ...``.

Data staging: pods read ``gs://`` URIs directly. A local path of the calling container (KFP's
``/minio/...`` or ``/gcs/...`` artifact paths) is invisible to the pods, so the data is copied
to ``<mount_path>/<job name>/data`` on the shared PVC (the train step mounts the same PVC),
the pods write the model to ``<mount_path>/<job name>/model``, and it is copied back to
``job.model_uri`` when the job succeeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kubeflow.training import (
    KubeflowOrgV1ReplicaSpec,
    KubeflowOrgV1RunPolicy,
    KubeflowOrgV1TFJob,
    KubeflowOrgV1TFJobSpec,
)
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from genlab.errors import ClusterError, LaunchError
from genlab.launch.base import TrainJob, worker_args

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "tfjobs", "TFJob"
CONTAINER = "tensorflow"  # the operator finds the training container by this name
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
DEFAULT_NAMESPACE = "genlab"
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
SA_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
LOG_TAIL_LINES = 40
# Set by pipelines.cluster.configure_step from the downward API (metadata.name / metadata.uid).
POD_NAME_ENV, POD_UID_ENV = "GENLAB_POD_NAME", "GENLAB_POD_UID"


# --------------------------------------------------------------------------- the TFJob object


def k8s_name(name: str, max_len: int = 40) -> str:
    """A DNS-1035 label for the job (pods and services are named ``<job>-worker-<i>``)."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    out = re.sub(r"^[^a-z]+", "", out)[:max_len].rstrip("-")
    if not out:
        raise LaunchError(f"TFJob name: {name!r} has no letters to make a Kubernetes name from")
    return out


def _pod_template(
    job: TrainJob,
    *,
    image: str,
    service_account: str,
    cpu: str,
    memory: str,
    gpu_node_selector: dict[str, str],
    pvc: str | None,
    mount_path: str,
) -> k8s.V1PodTemplateSpec:
    requests = {"cpu": cpu, "memory": memory}
    limits = {"memory": memory}
    node_selector = None
    tolerations = None
    if job.gpus_per_worker > 0:
        limits[GPU_RESOURCE] = str(job.gpus_per_worker)
        node_selector = dict(gpu_node_selector)
        tolerations = [
            k8s.V1Toleration(key=GPU_TAINT_KEY, operator="Equal", value="present", effect="NoSchedule")
        ]
    volumes = mounts = None
    if pvc:
        volumes = [
            k8s.V1Volume(
                name="genlab-data",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=pvc),
            )
        ]
        mounts = [k8s.V1VolumeMount(name="genlab-data", mount_path=mount_path)]
    container = k8s.V1Container(
        name=CONTAINER,
        image=image,
        command=["python", *worker_args(job)],
        env=[
            k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
            k8s.V1EnvVar(name="TF_CPP_MIN_LOG_LEVEL", value="2"),
        ],
        resources=k8s.V1ResourceRequirements(requests=requests, limits=limits),
        volume_mounts=mounts,
        security_context=k8s.V1SecurityContext(allow_privilege_escalation=False),
    )
    return k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(
            annotations={"sidecar.istio.io/inject": "false"},
            labels={"app.kubernetes.io/part-of": "genlab"},
        ),
        spec=k8s.V1PodSpec(
            containers=[container],
            service_account_name=service_account,
            node_selector=node_selector,
            tolerations=tolerations,
            volumes=volumes,
            security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=1000, fs_group=1000),
        ),
    )


def build_tfjob(
    job: TrainJob,
    *,
    image: str,
    namespace: str,
    service_account: str = "genlab-trainer",
    cpu: str = "1",
    memory: str = "4Gi",
    gpu_node_selector: dict[str, str] | None = None,
    pvc: str | None = "genlab-data",
    mount_path: str = "/mnt/genlab",
    backoff_limit: int = 3,
    ttl_seconds_after_finished: int = 3600,
    clean_pod_policy: str = "None",
    chief: bool = False,
    owner_pod: tuple[str, str] | None = None,
) -> KubeflowOrgV1TFJob:
    """The TFJob for ``job``: ``job.workers`` replicas (one of them a Chief when ``chief``).

    ``clean_pod_policy="None"`` keeps finished pods so a failure's logs can be read; the
    TTL then removes the job and its pods. ``owner_pod`` (name, uid) makes the launching
    step's pod the job's owner, so deleting that pod (a cancelled KFP run) deletes the job.
    """
    if job.workers < 1:
        raise LaunchError(f"TFJob {job.name}: workers must be >= 1, got {job.workers}")
    template = _pod_template(
        job,
        image=image,
        service_account=service_account,
        cpu=cpu,
        memory=memory,
        gpu_node_selector=gpu_node_selector or {"genlab.io/pool": "gpu"},
        pvc=pvc,
        mount_path=mount_path,
    )
    n_workers = job.workers - 1 if chief else job.workers
    replicas: dict[str, KubeflowOrgV1ReplicaSpec] = {}
    if chief:
        replicas["Chief"] = KubeflowOrgV1ReplicaSpec(
            replicas=1, restart_policy="OnFailure", template=template
        )
    if n_workers:
        replicas["Worker"] = KubeflowOrgV1ReplicaSpec(
            replicas=n_workers, restart_policy="OnFailure", template=template
        )
    return KubeflowOrgV1TFJob(
        api_version=f"{GROUP}/{VERSION}",
        kind=KIND,
        metadata=k8s.V1ObjectMeta(
            name=k8s_name(job.name),
            namespace=namespace,
            labels={"app.kubernetes.io/part-of": "genlab", "app.kubernetes.io/component": "train"},
            owner_references=[
                k8s.V1OwnerReference(api_version="v1", kind="Pod", name=owner_pod[0], uid=owner_pod[1])
            ]
            if owner_pod
            else None,
        ),
        spec=KubeflowOrgV1TFJobSpec(
            run_policy=KubeflowOrgV1RunPolicy(
                backoff_limit=backoff_limit,
                clean_pod_policy=clean_pod_policy,
                ttl_seconds_after_finished=ttl_seconds_after_finished,
            ),
            tf_replica_specs=replicas,
        ),
    )


def to_dict(obj) -> dict:
    """The JSON body the API server gets (camelCase keys, no ``None`` values)."""
    return k8s.ApiClient().sanitize_for_serialization(obj)


# --------------------------------------------------------------------------- data staging


def is_remote(uri: str) -> bool:
    return "://" in uri


def _under(path: str, root: str) -> bool:
    p, r = os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(root))
    return p == r or p.startswith(r + os.sep)


def needs_staging(uri: str, mount_path: str) -> bool:
    """A local path the pods cannot see: not a URL and not on the shared PVC."""
    return not is_remote(uri) and not _under(uri, mount_path)


def _copy(src: str, dst: str) -> None:
    if os.path.isdir(src):
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        shutil.copy2(src, dst)


@dataclasses.dataclass
class Staging:
    """Where the pods read and write, and what to copy back afterwards."""

    job: TrainJob  # the job as the pods see it
    model_back: tuple[str, str] | None = None  # (PVC model dir, caller's model_uri)
    workdir: str | None = None

    def finish(self) -> None:
        if self.model_back:
            src, dst = self.model_back
            if not os.path.exists(src):
                raise LaunchError(f"TFJob {self.job.name} succeeded but wrote no model at {src} on the PVC")
            _copy(src, dst)


def stage(job: TrainJob, mount_path: str) -> Staging:
    """Copy local inputs onto the PVC and point the model at it when the pods can't see them."""
    stage_data = needs_staging(job.data_uri, mount_path)
    stage_model = needs_staging(job.model_uri, mount_path)
    if not (stage_data or stage_model):
        return Staging(job)
    if not os.path.isdir(mount_path):
        which = job.data_uri if stage_data else job.model_uri
        raise LaunchError(
            f"TFJob {job.name}: {which!r} is a local path the TFJob pods cannot read, and the shared "
            f"volume is not mounted at {mount_path} here; use gs:// URIs, or run the step with the "
            f"genlab-data PVC mounted at {mount_path} (pipelines.cluster.configure_step does this)"
        )
    workdir = os.path.join(mount_path, k8s_name(job.name))
    data_uri, model_uri, model_back = job.data_uri, job.model_uri, None
    if stage_data:
        if not os.path.exists(job.data_uri):
            raise LaunchError(f"TFJob {job.name}: data {job.data_uri!r} does not exist")
        data_uri = os.path.join(workdir, "data")
        _copy(job.data_uri, data_uri)
    if stage_model:
        model_uri = os.path.join(workdir, "model")
        os.makedirs(model_uri, exist_ok=True)
        if os.path.isdir(job.model_uri) and os.listdir(job.model_uri):
            _copy(job.model_uri, model_uri)  # resume from what the caller already has
        model_back = (model_uri, job.model_uri)
    return Staging(dataclasses.replace(job, data_uri=data_uri, model_uri=model_uri), model_back, workdir)


# --------------------------------------------------------------------------- cluster access


def in_cluster_namespace(path: str = SA_NAMESPACE_FILE) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def api_client(
    kubeconfig: str | None = None,
    context: str | None = None,
    configuration: k8s.Configuration | None = None,
) -> k8s.ApiClient:
    """An API client from (in order) ``configuration``, the pod's service account, or a kubeconfig."""
    if configuration is not None:
        return k8s.ApiClient(configuration)
    cfg = k8s.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(SA_TOKEN_FILE):
        try:
            k8s_config.load_incluster_config(client_configuration=cfg)
        except k8s_config.ConfigException as e:
            raise ClusterError(f"in-cluster Kubernetes config ({SA_TOKEN_FILE}): {e}") from None
        return k8s.ApiClient(cfg)
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise ClusterError(
            f"kubeconfig {path} not found and not running in a pod: expected a kubeconfig "
            "(set KUBECONFIG or pass kubeconfig=) for the cluster that runs the Training Operator"
        )
    try:
        k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
    except (k8s_config.ConfigException, OSError, ValueError, TypeError) as e:
        ctx = f" context {context!r}" if context else ""
        raise ClusterError(f"kubeconfig {path}{ctx}: cannot load it: {e}") from None
    return k8s.ApiClient(cfg)


def _api_error(e: Exception, what: str, host: str) -> ClusterError | LaunchError:
    if isinstance(e, ApiException):
        if e.status in (401, 403):
            return ClusterError(
                f"{what}: the Kubernetes API at {host} refused the request ({e.status} {e.reason}); "
                "check the credentials and that the service account has the genlab-pipeline Role "
                "(k8s/base/rbac.yaml)"
            )
        if e.status == 404 and what.startswith("create TFJob"):
            return ClusterError(
                f"{what}: {host} has no TFJob API (kubeflow.org/v1 tfjobs) or no such namespace; "
                "install the Kubeflow Training Operator v1.9.2 (make cluster-up)"
            )
        if e.status == 409:
            return LaunchError(f"{what}: it already exists; pass a unique job name or delete the old TFJob")
        body = (e.body or "")[:300] if isinstance(e.body, str) else ""
        return LaunchError(
            f"{what}: the Kubernetes API at {host} answered {e.status} {e.reason} {body}".rstrip()
        )
    return ClusterError(f"{what}: cannot reach the Kubernetes API at {host}: {e}")


# --------------------------------------------------------------------------- the launcher


class JobTimeout(LaunchError):
    """The job ran past the launcher's timeout (it is deleted)."""


class Cancelled(BaseException):
    """Raised in the main thread by SIGTERM so the TFJob is deleted on the way out."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Cancelled(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _condition(status: dict) -> tuple[str, str, str]:
    """(type, reason, message) of the latest True condition."""
    conds = [c for c in (status or {}).get("conditions") or [] if c.get("status") == "True"]
    if not conds:
        return "", "", ""
    c = conds[-1]
    return c.get("type", ""), c.get("reason", ""), c.get("message", "")


class TFJobLauncher:
    """Run a ``TrainJob`` as a TFJob and wait for it (``get_launcher("tfjob", **options)``)."""

    def __init__(
        self,
        *,
        namespace: str | None = None,
        image: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        client_configuration: k8s.Configuration | None = None,
        timeout_s: float = 24 * 3600,
        poll_s: float = 5.0,
        log: Callable[[str], None] = print,
        mount_path: str = "/mnt/genlab",
        **build_options,
    ):
        self.namespace = namespace or in_cluster_namespace() or DEFAULT_NAMESPACE
        self.image = image
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.log = log
        self.mount_path = mount_path
        self.build_options = build_options
        self._api = api_client(kubeconfig, context, client_configuration)
        self.host = self._api.configuration.host
        self.custom = k8s.CustomObjectsApi(self._api)
        self.core = k8s.CoreV1Api(self._api)

    # -- API calls, each failure one clear error
    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # ApiException, urllib3 errors
            raise _api_error(e, what, self.host) from None

    def _get(self, name: str) -> dict:
        return self._call(
            f"get TFJob {self.namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
        )

    def _pods(self, name: str) -> list:
        return self._call(
            f"list pods of TFJob {self.namespace}/{name}",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=f"{JOB_NAME_LABEL}={name}",
        ).items

    def delete(self, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, propagation_policy="Background"
            )
            self.log(f"deleted TFJob {self.namespace}/{name}")
        except Exception as e:  # best effort on the way out
            self.log(f"warning: could not delete TFJob {self.namespace}/{name}: {e}")

    def _tail(self, pod, lines: int = LOG_TAIL_LINES) -> str:
        """The last log lines of a failed pod (the previous container when it was restarted)."""
        name = pod.metadata.name
        statuses = (pod.status and pod.status.container_statuses) or []
        previous = any(s.last_state and s.last_state.terminated for s in statuses) and not any(
            s.state and s.state.terminated for s in statuses
        )
        try:
            return self.core.read_namespaced_pod_log(
                name, self.namespace, container=CONTAINER, tail_lines=lines, previous=previous
            )
        except Exception as e:
            return f"(no log for pod {name}: {e})"

    @staticmethod
    def _exit_code(pod) -> int | None:
        for s in (pod.status and pod.status.container_statuses) or []:
            for state in (s.state, s.last_state):
                if state and state.terminated and state.terminated.exit_code:
                    return state.terminated.exit_code
        return None

    def _failure(self, name: str, status: dict) -> LaunchError:
        ctype, reason, message = _condition(status)
        pods = self._pods_quietly(name)
        failing = [p for p in pods if (p.status and p.status.phase == "Failed") or self._exit_code(p)]
        text = f"TFJob {self.namespace}/{name} failed: condition {ctype or 'Failed'}"
        if reason or message:
            text += f" ({reason}: {message})"
        if failing:
            pod = failing[0]
            code = self._exit_code(pod)
            text += f"\n--- pod {pod.metadata.name}" + (f" exit code {code}" if code is not None else "")
            text += f", last {LOG_TAIL_LINES} log lines ---\n" + self._tail(pod).rstrip()
        else:
            text += f"\n(no failed pod found among {len(pods)} pods of the job)"
        return LaunchError(text)

    def _pods_quietly(self, name: str) -> list:
        try:
            return self._pods(name)
        except Exception:
            return []

    # -- log streaming of the first replica (Chief or worker 0)
    def _follow(self, pod_name: str, stop: threading.Event) -> None:
        try:
            resp = self.core.read_namespaced_pod_log(
                pod_name, self.namespace, container=CONTAINER, follow=True, _preload_content=False
            )
            buf = b""
            for chunk in resp.stream(4096):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self.log(f"[{pod_name}] {line.decode(errors='replace')}")
                if stop.is_set():
                    break
            if buf:
                self.log(f"[{pod_name}] {buf.decode(errors='replace')}")
            resp.release_conn()
        except Exception as e:  # logs are a convenience; the job status decides
            self.log(f"(log stream of {pod_name} ended: {e})")

    @staticmethod
    def _first_replica(pods: list):
        def rank(p):
            labels = p.metadata.labels or {}
            kind = labels.get(REPLICA_TYPE_LABEL, "")
            return (kind != "chief", kind != "worker", labels.get(REPLICA_INDEX_LABEL, "9"))

        running = [p for p in pods if p.status and p.status.phase in ("Running", "Succeeded", "Failed")]
        return min(running, key=rank) if running else None

    # -- the one public method
    def run(self, job: TrainJob) -> None:
        staging = stage(job, self.mount_path)
        gpu = job.gpus_per_worker > 0
        if self.image:
            image = self.image
        else:
            from genlab.images import trainer_image

            image = trainer_image(gpu)
        owner = (os.environ.get(POD_NAME_ENV), os.environ.get(POD_UID_ENV))
        body = to_dict(
            build_tfjob(
                staging.job,
                image=image,
                namespace=self.namespace,
                mount_path=self.mount_path,
                owner_pod=owner if all(owner) else None,
                **self.build_options,
            )
        )
        name = body["metadata"]["name"]
        self._call(
            f"create TFJob {self.namespace}/{name}",
            self.custom.create_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            body,
        )
        self.log(
            f"created TFJob {self.namespace}/{name}: {job.workers} worker(s), "
            f"{job.gpus_per_worker} GPU(s) each, image {image}"
        )
        stop = threading.Event()
        try:
            with _sigterm_raises():
                self._wait(name, stop)
        except (KeyboardInterrupt, Cancelled):
            self.log(f"cancelled: deleting TFJob {self.namespace}/{name}")
            self.delete(name)
            raise
        except JobTimeout:
            self.delete(name)
            raise
        finally:
            stop.set()
        staging.finish()
        self.log(f"TFJob {self.namespace}/{name} succeeded")

    def _wait(self, name: str, stop: threading.Event) -> None:
        deadline = time.monotonic() + self.timeout_s
        last, follower, followed = None, None, None
        errors = 0
        while True:
            try:
                obj = self._get(name)
                errors = 0
            except ClusterError:
                errors += 1
                if errors >= 5:
                    raise
                obj = None
            if obj is not None:
                status = obj.get("status") or {}
                ctype, reason, message = _condition(status)
                pods = self._pods_quietly(name)
                phases = ", ".join(
                    f"{p.metadata.name}={p.status.phase if p.status else '?'}"
                    for p in sorted(pods, key=lambda p: p.metadata.name)
                )
                line = f"TFJob {self.namespace}/{name}: {ctype or 'Pending'}" + (
                    f" [{phases}]" if phases else ""
                )
                if line != last:
                    self.log(line)
                    last = line
                first = self._first_replica(pods)
                if first is not None and first.metadata.name != followed:
                    followed = first.metadata.name
                    follower = threading.Thread(target=self._follow, args=(followed, stop), daemon=True)
                    follower.start()
                if ctype == "Succeeded":
                    if follower:
                        follower.join(timeout=10)
                    return
                if ctype == "Failed":
                    if follower:
                        follower.join(timeout=2)
                    raise self._failure(name, status)
            if time.monotonic() > deadline:
                raise JobTimeout(
                    f"TFJob {self.namespace}/{name} did not finish within {self.timeout_s:g}s "
                    f"(last state: {last or 'unknown'}); deleting it"
                )
            time.sleep(self.poll_s)
