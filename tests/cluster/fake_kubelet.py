"""A fake kubelet: runs each pod's ``tensorflow`` container as a local process and reports its status.

What it mirrors (core/v1 Pod semantics):
- phase Pending -> Running when the container starts; Succeeded on exit 0; with
  ``restartPolicy: OnFailure``/``Always`` a non-zero exit restarts the container IN PLACE (same pod,
  ``restartCount`` + 1, ``lastState.terminated.exitCode``, ``state.waiting`` CrashLoopBackOff in
  between); with ``Never`` the pod is Failed.
- a process killed by signal N reports exit code 128 + N (137 for SIGKILL), as the container runtime does.
- logs: stdout+stderr of the current container; ``previous=true`` gives the crashed one's.
- deleting a pod sends SIGTERM to the container, SIGKILL after the grace period, then removes the pod.
- a persistentVolumeClaim volume is the claim's folder on this machine.

Documented deviations: no images (the container's ``python`` is this virtualenv's interpreter, and
the image's code is the checkout); no mount namespaces (a volume's ``mountPath`` prefix in the
command, args and env is rewritten to the claim's folder); no DNS (see ``fake_operator.py``); the
grace period is GRACE_S, not 30 s (a deleted container gets SIGTERM either way).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# The kubelet restarts a crashed container at once (after its ~1 s PLEG relist), then backs off
# 10 s, 20 s, ... up to 300 s (pkg/kubelet/kuberuntime/kuberuntime_manager.go doBackOff;
# pkg/kubelet/kubelet.go backOffPeriod / MaxContainerBackOff).
FIRST_RESTART_S, BACKOFF_S, MAX_BACKOFF_S = 1.0, 10.0, 300.0
GRACE_S = 3.0


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _die_with_parent():  # in the child between fork and exec: no process outlives the test run
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Container:
    """The kubelet's private record of one pod's container (what the API does not show)."""

    pod: dict
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_dir: Path
    proc: subprocess.Popen | None = None
    runs: int = 0
    restart_at: float | None = None
    deleting_since: float | None = None
    pids: list[int] = field(default_factory=list)  # every process this container ran, in order

    def log_path(self, run: int) -> Path:
        return self.log_dir / f"{run}.log"


class Kubelet:
    def __init__(self, root: Path, pvcs: dict[str, Path], python: str = sys.executable, base_env=None):
        self.root = root
        self.pvcs = pvcs  # claim name -> folder
        self.python = python
        self.base_env = dict(base_env or {})
        self.containers: dict[tuple[str, str], Container] = {}  # (namespace, pod name)
        self.lock = threading.RLock()
        self.on_removed = None  # callback(namespace, name) when a deleted pod is gone
        self.started: list[tuple[str, int]] = []  # (pod name, pid) of every container run, in order

    # ----------------------------------------------------------------- starting a pod
    def _mounts(self, spec: dict, container: dict) -> dict[str, str]:
        """mountPath -> folder for every PVC volume the container mounts."""
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in spec.get("volumes") or []
            if v.get("persistentVolumeClaim")
        }
        mounts = {}
        for m in container.get("volumeMounts") or []:
            claim = claims.get(m["name"])
            if claim is None:
                continue
            if claim not in self.pvcs:
                raise RuntimeError(f'persistentvolumeclaim "{claim}" not found')
            mounts[m["mountPath"]] = str(self.pvcs[claim])
        return mounts

    @staticmethod
    def _rewrite(value: str, mounts: dict[str, str]) -> str:
        for mount_path, folder in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(mount_path.rstrip("/") + "/", folder.rstrip("/") + "/")
            if value == mount_path:
                value = folder
        return value

    def start(self, pod: dict, extra_env: dict[str, str] | None = None) -> None:
        """Start the pod's ``tensorflow`` container (the operator's container name)."""
        spec = pod["spec"]
        container = next(c for c in spec["containers"] if c["name"] == "tensorflow")
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        try:
            mounts = self._mounts(spec, container)
        except RuntimeError as e:
            pod["status"] = {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": str(e)}
                ],
            }
            return
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        if not argv:
            raise RuntimeError(
                f"pod {name}: the container has no command (an image entrypoint is not simulated)"
            )
        if argv[0] in ("python", "python3"):
            argv[0] = self.python
        argv = [self._rewrite(a, mounts) for a in argv]
        env = dict(self.base_env)
        for e in container.get("env") or []:
            if "value" in e:
                env[e["name"]] = self._rewrite(str(e["value"]), mounts)
        env.update(extra_env or {})
        cwd = self.root / "workdirs" / f"{ns}_{name}"
        cwd.mkdir(parents=True, exist_ok=True)
        log_dir = self.root / "logs" / f"{ns}_{name}"
        log_dir.mkdir(parents=True, exist_ok=True)
        c = Container(pod=pod, argv=argv, env=env, cwd=str(cwd), log_dir=log_dir)
        with self.lock:
            self.containers[(ns, name)] = c
            pod["status"] = {"phase": "Pending", "startTime": now()}
            self._run(c)

    def _run(self, c: Container) -> None:
        out = open(c.log_path(c.runs), "wb")  # noqa: SIM115 - handed to the child
        try:
            c.proc = subprocess.Popen(
                c.argv,
                env=c.env,
                cwd=c.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()
        c.pids.append(c.proc.pid)
        self.started.append((c.pod["metadata"]["name"], c.proc.pid))
        restarts = c.runs  # runs before this one = restarts so far
        c.runs += 1
        c.restart_at = None
        status = c.pod["status"]
        last = (status.get("containerStatuses") or [{}])[0].get("lastState") or {}
        status["phase"] = "Running"
        status["containerStatuses"] = [
            self._container_status(c, {"running": {"startedAt": now()}}, last, restarts, ready=True)
        ]

    @staticmethod
    def _container_status(c: Container, state: dict, last: dict, restarts: int, ready: bool) -> dict:
        spec = next(x for x in c.pod["spec"]["containers"] if x["name"] == "tensorflow")
        return {
            "name": "tensorflow",
            "image": spec["image"],
            "imageID": "",
            "ready": ready,
            "started": "running" in state,
            "restartCount": restarts,
            "state": state,
            "lastState": last,
        }

    # ----------------------------------------------------------------- the sync loop
    def sync(self) -> None:
        """One pass: notice exits, restart per restartPolicy, finish deletions."""
        with self.lock:
            for key, c in list(self.containers.items()):
                if c.deleting_since is not None:
                    self._sync_deletion(key, c)
                    continue
                if c.restart_at is not None and time.monotonic() >= c.restart_at:
                    self._run(c)
                    continue
                if c.proc is None or c.proc.poll() is None:
                    continue
                code = c.proc.returncode
                code = 128 - code if code < 0 else code  # killed by signal N -> 128 + N
                c.proc = None
                status = c.pod["status"]
                restarts = status["containerStatuses"][0]["restartCount"]
                terminated = {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "finishedAt": now(),
                    }
                }
                policy = c.pod["spec"].get("restartPolicy", "Always")
                if code != 0 and policy in ("OnFailure", "Always"):
                    # restartCount goes up when the container is started again (_run), not now
                    status["containerStatuses"] = [
                        self._container_status(
                            c, {"waiting": {"reason": "CrashLoopBackOff"}}, terminated, restarts, ready=False
                        )
                    ]
                    delay = (
                        FIRST_RESTART_S
                        if restarts == 0
                        else min(BACKOFF_S * 2 ** (restarts - 1), MAX_BACKOFF_S)
                    )
                    c.restart_at = time.monotonic() + delay
                else:
                    last = status["containerStatuses"][0].get("lastState") or {}
                    status["containerStatuses"] = [
                        self._container_status(c, terminated, last, restarts, False)
                    ]
                    status["phase"] = "Succeeded" if code == 0 else "Failed"

    # ----------------------------------------------------------------- deletion
    def delete(self, namespace: str, name: str) -> None:
        """Graceful deletion: SIGTERM now, SIGKILL after GRACE_S, then the pod is removed."""
        with self.lock:
            c = self.containers.get((namespace, name))
            if c is None or c.deleting_since is not None:
                return
            c.deleting_since = time.monotonic()
            c.pod["metadata"]["deletionTimestamp"] = now()
            c.restart_at = None
            if c.proc is not None and c.proc.poll() is None:
                os.killpg(c.proc.pid, signal.SIGTERM)

    def _sync_deletion(self, key, c: Container) -> None:
        if c.proc is not None and c.proc.poll() is None:
            if time.monotonic() - c.deleting_since < GRACE_S:
                return
            os.killpg(c.proc.pid, signal.SIGKILL)
            c.proc.wait()
        del self.containers[key]
        if self.on_removed:
            self.on_removed(*key)

    def kill_all(self) -> None:
        with self.lock:
            for c in self.containers.values():
                if c.proc is not None and c.proc.poll() is None:
                    os.killpg(c.proc.pid, signal.SIGKILL)
                    c.proc.wait()

    # ----------------------------------------------------------------- logs and test hooks
    def log(self, namespace: str, name: str, previous: bool = False) -> tuple[str, bool] | None:
        """(text, still running) of the current or previous container run; None if there is none."""
        with self.lock:
            c = self.containers.get((namespace, name))
            if c is None:
                return None
            run = c.runs - 1 - (1 if previous else 0)
            if c.restart_at is not None and not previous:
                run = c.runs - 1  # crashed, waiting to restart: the current log is the crashed run's
            if run < 0:
                return None
            running = c.proc is not None and c.proc.poll() is None and not previous
            path = c.log_path(run)
        return (path.read_text(errors="replace") if path.exists() else ""), running

    def pid(self, namespace: str, name: str) -> int | None:
        with self.lock:
            c = self.containers.get((namespace, name))
            return c.proc.pid if c and c.proc and c.proc.poll() is None else None

    def all_pids(self) -> list[int]:
        with self.lock:
            return [pid for _, pid in self.started]
