"""Follow every replica's log while a TFJob runs, keeping the last lines of each container run.

Why not read the failing pod's log once the job has failed: when the restart counts reach the
backoff limit, the Training Operator deletes every pod of the job BEFORE it sets the Failed
condition (kubeflow/training-operator v1.9 pkg/controller.v1/common/job.go ReconcileJobs calls
DeletePodsAndServices, which ignores cleanPodPolicy while the job has no Succeeded or Failed
condition), so by then the pods and their logs are usually gone. ``PodLogs`` keeps a small
bounded tail per container run instead (``TAIL_LINES`` lines, the last ``RUNS_KEPT`` runs of
each pod), and remembers which runs exited non-zero from the pod listings it is shown.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

TAIL_LINES = 40
RUNS_KEPT = 4  # per pod: a restarted container keeps the tail of the run that crashed


@dataclass
class _Run:
    """One container run of a pod: its last lines and when its log stream ended."""

    restart: int  # the container's restartCount when the run was followed
    lines: deque = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    ended_at: float | None = None
    error: str = ""


@dataclass(frozen=True)
class Tail:
    """What a failure message shows: a pod, its exit code if known, its last lines."""

    pod: str
    exit_code: int | None
    text: str


class PodLogs:
    """Follows the log of every pod shown to ``update`` (one daemon thread per container run).

    Lines of the pod named by ``update(..., echo=name)`` (the first replica) also go to ``log``,
    prefixed with the pod name, so the step's own log shows training progress.
    """

    def __init__(self, core, namespace: str, container: str, log: Callable[[str], None] = print):
        self.core, self.namespace, self.container, self.log = core, namespace, container, log
        self._lock = threading.Lock()
        self._runs: dict[str, deque[_Run]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._crashes: dict[tuple[str, int], tuple[int, str]] = {}  # (pod, run) -> (exit code, finishedAt)
        self._echo: str | None = None
        self._stop = threading.Event()

    def _status(self, pod):
        for s in (pod.status and pod.status.container_statuses) or []:
            if s.name == self.container:
                return s
        return None

    def update(self, pods: list, echo: str | None = None) -> None:
        """Note exits and start following runs not followed yet, from one pod listing."""
        if echo:
            self._echo = echo
        for pod in pods:
            name, status = pod.metadata.name, self._status(pod)
            if status is None:
                continue
            restarts = status.restart_count or 0
            for run, state in ((restarts, status.state), (restarts - 1, status.last_state)):
                done = state and state.terminated
                if done and done.exit_code and run >= 0:
                    finished = str(done.finished_at or "~")  # unknown: after any known time
                    self._crashes.setdefault((name, run), (done.exit_code, finished))
            thread = self._threads.get(name)
            if thread is not None and thread.is_alive():
                continue
            runs = self._runs.setdefault(name, deque(maxlen=RUNS_KEPT))
            if runs and runs[-1].restart >= restarts:
                continue  # this run was followed (or is being)
            state = status.state
            if state and (state.running or state.terminated):
                run = _Run(restarts)
                runs.append(run)
                thread = threading.Thread(target=self._follow, args=(name, run), daemon=True)
                self._threads[name] = thread
                thread.start()

    def _follow(self, pod: str, run: _Run) -> None:
        try:
            resp = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=self.container, follow=True, _preload_content=False
            )
            buf = b""
            for chunk in resp.stream(4096):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self._line(pod, run, line.decode(errors="replace"))
                if self._stop.is_set():
                    break
            if buf:
                self._line(pod, run, buf.decode(errors="replace"))
            resp.release_conn()
        except Exception as e:  # logs are a convenience; the job status decides
            run.error = str(e)
            if pod == self._echo:
                self.log(f"(log stream of {pod} ended: {e})")
        finally:
            run.ended_at = time.monotonic()

    def _line(self, pod: str, run: _Run, line: str) -> None:
        with self._lock:
            run.lines.append(line)
        if pod == self._echo:
            self.log(f"[{pod}] {line}")

    def join(self, timeout_s: float, echoed_only: bool = False) -> None:
        """Wait up to ``timeout_s`` for the streams to end (the containers have exited)."""
        deadline = time.monotonic() + timeout_s
        for pod, thread in list(self._threads.items()):
            if not echoed_only or pod == self._echo:
                thread.join(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()

    def failing_tail(self) -> Tail | None:
        """The kept tail of the run that crashed first; when no listing showed a crash (the pods
        were deleted in between), the run whose stream ended first, an error ending before."""
        with self._lock:
            for (pod, restart), (code, _) in sorted(self._crashes.items(), key=lambda kv: (kv[1][1], kv[0])):
                for run in self._runs.get(pod, ()):
                    if run.restart == restart and run.lines:
                        return Tail(pod, code, "\n".join(run.lines))
            ended = [
                (run.error == "", run.ended_at, pod, run)
                for pod, runs in self._runs.items()
                for run in runs
                if run.ended_at is not None and run.lines
            ]
            if not ended:
                return None
            _, _, pod, run = min(ended, key=lambda e: e[:3])
            code = next(
                (c for (p, r), (c, _) in self._crashes.items() if p == pod and r == run.restart), None
            )
            return Tail(pod, code, "\n".join(run.lines))
