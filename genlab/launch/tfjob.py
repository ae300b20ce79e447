"""The cluster launcher: run a ``TrainJob`` as one TFJob and wait for it.

``TFJobLauncher.run`` stages local inputs on the PVC (``genlab.launch.staging``), builds the
TFJob (``genlab.launch.tfjob_spec``), creates it, prints progress, follows every replica's
log (``genlab.launch.pod_logs``; the first replica's lines are printed), and raises
``LaunchError`` with the job condition and the failing pod's last log lines when it fails. A timeout or a cancellation (SIGTERM from KFP cancelling the step, or Ctrl-C)
deletes the job. The operator writes ``TF_CONFIG`` into every pod, so each pod runs exactly
the command the local launcher runs: ``python -m genlab.train.worker --config ... --data ...``.

The job itself goes through the kubeflow-training SDK's ``TrainingClient(job_kind="TFJob")``
(create, get, delete). Pods and logs go through the kubernetes client directly, because the
SDK's ``get_job_logs`` prints to its own logger and keeps nothing, while a failure message
needs the crashed container run's last lines after the operator has deleted its pod.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

from kubeflow.training import TrainingClient
from kubeflow.training.constants import constants as kft
from kubernetes import client as k8s

from genlab.cluster_config import ClusterConfig
from genlab.errors import ClusterError, LaunchError
from genlab.launch.base import TrainJob
from genlab.launch.kube import DEFAULT_NAMESPACE, api_client, api_error, in_cluster_namespace
from genlab.launch.paths import mount_path as default_mount_path
from genlab.launch.pod_logs import TAIL_LINES, PodLogs, Tail
from genlab.launch.staging import stage
from genlab.launch.tfjob_spec import CONTAINER, build_tfjob, tfjob_name, to_dict

__all__ = ["Cancelled", "JobTimeout", "TFJobLauncher", "api_client", "build_tfjob", "to_dict"]

LOG_TAIL_LINES = TAIL_LINES
# Set by pipelines.cluster.configure_step from the downward API (metadata.name / metadata.uid).
POD_NAME_ENV, POD_UID_ENV = "GENLAB_POD_NAME", "GENLAB_POD_UID"


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


def _condition(tfjob) -> tuple[str, str, str]:
    """(type, reason, message) of the latest True condition of a ``KubeflowOrgV1TFJob``."""
    conds = [c for c in (tfjob.status and tfjob.status.conditions) or [] if c.status == "True"]
    if not conds:
        return "", "", ""
    c = conds[-1]
    return c.type or "", c.reason or "", c.message or ""


class TFJobLauncher:
    """Run a ``TrainJob`` as a TFJob and wait for it (``get_launcher("tfjob", **options)``).

    ``image`` runs every replica (default: ``genlab.images.trainer_image`` of this process);
    ``cluster`` sets the worker pods' resources and scheduling, and the poll interval
    (``cluster.poll_seconds``, unless ``poll_s`` is given); ``max_restarts`` is how often the
    job may restart (``tfjob_spec.backoff_limit``); ``mount_path`` defaults to
    ``genlab.launch.paths.mount_path()``.
    """

    def __init__(
        self,
        *,
        namespace: str | None = None,
        image: str | None = None,
        cluster: ClusterConfig | None = None,
        max_restarts: int = 3,
        kubeconfig: str | None = None,
        context: str | None = None,
        client_configuration: k8s.Configuration | None = None,
        timeout_s: float = 24 * 3600,
        poll_s: float | None = None,
        log: Callable[[str], None] = print,
        mount_path: str | None = None,
        service_account: str = "genlab-trainer",
        pvc: str | None = "genlab-data",
        chief: bool = False,
        ttl_seconds_after_finished: int = 3600,
    ):
        self.namespace = namespace or in_cluster_namespace() or DEFAULT_NAMESPACE
        self.image = image
        self.cluster = cluster or ClusterConfig()
        self.max_restarts = max_restarts
        self.timeout_s = timeout_s
        self.poll_s = self.cluster.poll_seconds if poll_s is None else poll_s
        self.log = log
        self.mount_path = mount_path or default_mount_path()
        self.service_account = service_account
        self.pvc = pvc
        self.chief = chief
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self._api = api_client(kubeconfig, context, client_configuration)
        self.host = self._api.configuration.host
        self.core = k8s.CoreV1Api(self._api)
        self.jobs = TrainingClient(
            client_configuration=self._api.configuration, namespace=self.namespace, job_kind=kft.TFJOB_KIND
        )

    # -- API calls, each failure one clear error
    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # RuntimeError from the SDK, ApiException, urllib3 errors
            raise api_error(e, what, self.host) from None

    def _get(self, name: str):
        return self._call(f"get TFJob {self.namespace}/{name}", self.jobs.get_job, name, self.namespace)

    def _pods(self, name: str) -> list:
        return self._call(
            f"list pods of TFJob {self.namespace}/{name}",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=f"{kft.JOB_NAME_LABEL}={name}",
        ).items

    def _pods_quietly(self, name: str) -> list:
        try:
            return self._pods(name)
        except Exception:
            return []

    def delete(self, name: str) -> None:
        try:
            self.jobs.delete_job(
                name, self.namespace, delete_options=k8s.V1DeleteOptions(propagation_policy="Background")
            )
            self.log(f"deleted TFJob {self.namespace}/{name}")
        except Exception as e:  # best effort on the way out
            self.log(f"warning: could not delete TFJob {self.namespace}/{name}: {e}")

    # -- failure message: the condition and the failing pod's log tail
    def _tail(self, pod, lines: int = LOG_TAIL_LINES) -> str:
        """The last log lines of a failed pod still there (the previous container when it was restarted)."""
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

    def _failure(self, name: str, tfjob, logs: PodLogs) -> LaunchError:
        ctype, reason, message = _condition(tfjob)
        text = f"TFJob {self.namespace}/{name} failed: condition {ctype or 'Failed'}"
        if reason or message:
            text += f" ({reason}: {message})"
        pods = self._pods_quietly(name)  # often none: see genlab.launch.pod_logs
        logs.update(pods)
        logs.join(timeout_s=2)
        kept = logs.failing_tail()
        failing = [p for p in pods if (p.status and p.status.phase == "Failed") or self._exit_code(p)]
        if kept is None and failing:
            pod = failing[0]
            kept = Tail(pod.metadata.name, self._exit_code(pod), self._tail(pod))
        if kept is None:
            return LaunchError(text + f"\n(no log kept of any pod; {len(pods)} pods left of the job)")
        code = f" exit code {kept.exit_code}" if kept.exit_code is not None else ""
        text += f"\n--- pod {kept.pod}{code}, last {LOG_TAIL_LINES} log lines ---\n" + kept.text.rstrip()
        return LaunchError(text)

    @staticmethod
    def _first_replica(pods: list):
        def rank(p):
            labels = p.metadata.labels or {}
            kind = labels.get(kft.REPLICA_TYPE_LABEL, "")
            return (kind != "chief", kind != "worker", labels.get(kft.REPLICA_INDEX_LABEL, "9"))

        running = [p for p in pods if p.status and p.status.phase in ("Running", "Succeeded", "Failed")]
        return min(running, key=rank) if running else None

    # -- the one public method
    def image_for(self, job: TrainJob) -> str:
        if self.image:
            return self.image
        from genlab.images import trainer_image

        return trainer_image(job.gpus_per_worker > 0)

    def run(self, job: TrainJob) -> None:
        staging = stage(job, self.mount_path, tfjob_name(job, self.chief))
        image = self.image_for(job)
        owner = (os.environ.get(POD_NAME_ENV), os.environ.get(POD_UID_ENV))
        tfjob = build_tfjob(
            staging.job,
            image=image,
            namespace=self.namespace,
            pods=self.cluster,
            service_account=self.service_account,
            pvc=self.pvc,
            mount_path=self.mount_path,
            max_restarts=self.max_restarts,
            ttl_seconds_after_finished=self.ttl_seconds_after_finished,
            chief=self.chief,
            owner_pod=owner if all(owner) else None,
        )
        name = tfjob.metadata.name
        self._call(
            f"create TFJob {self.namespace}/{name}", self.jobs.create_job, tfjob, namespace=self.namespace
        )
        self.log(
            f"created TFJob {self.namespace}/{name}: {job.workers} worker(s), "
            f"{job.gpus_per_worker} GPU(s) each, image {image}"
        )
        logs = PodLogs(self.core, self.namespace, CONTAINER, self.log)
        try:
            with _sigterm_raises():
                self._wait(name, logs)
        except (KeyboardInterrupt, Cancelled):
            self.log(f"cancelled: deleting TFJob {self.namespace}/{name}")
            self.delete(name)
            raise
        except JobTimeout:
            self.delete(name)
            raise
        finally:
            logs.stop()
        staging.finish()
        self.log(f"TFJob {self.namespace}/{name} succeeded")

    def _wait(self, name: str, logs: PodLogs) -> None:
        deadline = time.monotonic() + self.timeout_s
        last = None
        errors = 0
        while True:
            try:
                tfjob = self._get(name)
                errors = 0
            except ClusterError:
                errors += 1
                if errors >= 5:
                    raise
                tfjob = None
            if tfjob is not None:
                ctype, _, _ = _condition(tfjob)
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
                logs.update(pods, echo=first.metadata.name if first is not None else None)
                if ctype == kft.JOB_CONDITION_SUCCEEDED:
                    logs.join(timeout_s=10, echoed_only=True)  # the last progress lines
                    return
                if ctype == kft.JOB_CONDITION_FAILED:
                    raise self._failure(name, tfjob, logs)
            if time.monotonic() > deadline:
                raise JobTimeout(
                    f"TFJob {self.namespace}/{name} did not finish within {self.timeout_s:g}s "
                    f"(last state: {last or 'unknown'}); deleting it"
                )
            time.sleep(self.poll_s)
