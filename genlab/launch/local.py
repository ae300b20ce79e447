"""Run distributed training on one machine: N worker processes with ``TF_CONFIG`` on loopback.

This is the same contract a TFJob gives its pods. Logs stream with a ``[worker-i]`` prefix.
If a worker fails, the others are stopped and the whole job restarts (like a TFJob with
``restartPolicy: OnFailure``) up to ``max_restarts`` times, resuming from the latest checkpoint.
Workers die with the launcher (PR_SET_PDEATHSIG), so no process is ever orphaned.
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from genlab.errors import LaunchError
from genlab.launch.base import TrainJob, worker_args

TAIL_LINES = 20


def free_ports(n: int) -> list[int]:
    """Ports the OS reports free right now (held open together so they are distinct)."""
    socks = []
    try:
        for _ in range(n):
            try:  # socket() fails when file descriptors run out, bind() when ports do
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", 0))
            except OSError as e:
                raise LaunchError(
                    f"train.workers: could not find {n} free loopback ports for the workers "
                    f"({e}); use fewer workers"
                ) from None
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def cpu_share(workers: int) -> dict[str, str]:
    """Thread settings that split this machine's cores between ``workers`` CPU workers.

    Left alone, every TensorFlow process sizes its intra-op pool (the kernels' threads, oneDNN's
    included) to all cores, so N workers on one machine run N x cores kernel threads. The inter-op
    pool is left at TensorFlow's default: with 1 inter-op thread a worker cannot run its collectives
    beside other ops, and 2 workers on 2 cores measured 20% slower (benchmarks/RESULTS.md, section 2).
    One worker keeps TensorFlow's defaults.
    """
    if workers < 2:
        return {}
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cgroups)
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return {"TF_NUM_INTRAOP_THREADS": str(max(1, cores // workers))}


def _die_with_parent():  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalLauncher:
    def __init__(
        self,
        max_restarts: int = 0,
        python: str | None = None,
        env: dict | None = None,
        stream=None,
        restart_delay_s: float = 1.0,
    ):
        self.max_restarts = max_restarts
        self.python = python or sys.executable
        self.env = env or {}
        self.stream = stream or sys.stdout
        self.restart_delay_s = restart_delay_s
        self.attempts = 0  # how many times the job was started (for tests and reports)
        self._procs: list[subprocess.Popen] = []

    @property
    def pids(self) -> list[int]:
        """Process ids of the current attempt's workers, by worker index (for tests and tools)."""
        return [p.pid for p in self._procs]

    def run(self, job: TrainJob) -> None:
        if job.workers < 1:
            raise LaunchError(f"workers: expected at least 1, got {job.workers}")
        failure = None
        for attempt in range(self.max_restarts + 1):
            self.attempts = attempt + 1
            if attempt:
                self._say(
                    f"restarting the job (attempt {attempt + 1} of {self.max_restarts + 1}); "
                    f"training resumes from the latest checkpoint"
                )
                time.sleep(self.restart_delay_s)
            failure = self._run_once(job)
            if failure is None:
                return
            if failure[1] == 2:  # a user error (bad config or data): restarting cannot help
                break
        index, code, tail = failure
        raise LaunchError(
            f"worker {index} of job '{job.name}' failed with exit code {code}"
            + (
                f" after {self.attempts} attempts (max_restarts={self.max_restarts})"
                if self.attempts > 1
                else ""
            )
            + ". Its last log lines:\n"
            + "\n".join(f"  {line}" for line in tail)
        )

    def _say(self, msg: str) -> None:
        print(f"[launcher] {msg}", file=self.stream, flush=True)

    def _run_once(self, job: TrainJob) -> tuple[int, int, list[str]] | None:
        """Start all workers; return None on success or (index, exit code, last lines) of the first failure."""
        ports = free_ports(job.workers)
        procs, tails, threads = [], [], []
        self._procs = procs
        self._say(f"starting {job.workers} worker(s) on ports {ports}")  # before any worker's line
        try:
            for i in range(job.workers):
                env = {**os.environ, **self.env, "TF_CONFIG": tf_config(ports, i)}
                if job.gpus_per_worker == 0:
                    env.setdefault("CUDA_VISIBLE_DEVICES", "")
                    for key, value in cpu_share(job.workers).items():
                        env.setdefault(key, value)  # a user's own thread settings win
                p = subprocess.Popen(
                    [self.python, *worker_args(job)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    bufsize=1,
                    preexec_fn=_die_with_parent,
                    start_new_session=True,
                )
                tail = collections.deque(maxlen=TAIL_LINES)
                t = threading.Thread(target=self._pump, args=(p, i, tail), daemon=True)
                t.start()
                procs.append(p)
                tails.append(tail)
                threads.append(t)
            while True:
                codes = [p.poll() for p in procs]
                failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
                if failed:
                    # Peers of a killed worker crash too (their collectives break): blame the signalled one.
                    i, code = min(failed, key=lambda f: (f[1] > 0, f[0]))
                    self._say(f"worker {i} exited with code {code}; stopping the others")
                    self._stop(procs)
                    for t in threads:
                        t.join(timeout=5)
                    return i, code, list(tails[i])
                if all(c == 0 for c in codes):
                    for t in threads:
                        t.join(timeout=5)
                    return None
                time.sleep(0.2)
        except BaseException:
            self._stop(procs)  # KeyboardInterrupt, SIGTERM from kfp: take the workers with us
            raise

    def _pump(self, proc, index: int, tail):
        for line in proc.stdout:
            line = line.rstrip("\n")
            if not line or _is_noise(line):
                continue
            tail.append(line)
            print(f"[worker-{index}] {line}", file=self.stream, flush=True)

    @staticmethod
    def _stop(procs, grace_s: float = 5.0):
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + grace_s
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


_NOISE = (
    "I0000 ",
    "W0000 ",
    "WARNING: All log messages before absl",
    "To enable the following instructions",
    "oneDNN custom operations",
    "This TensorFlow binary is optimized",
)


def _is_noise(line: str) -> bool:
    """TensorFlow's start-up chatter, which says nothing about this run."""
    return (
        line.startswith(_NOISE)
        or "cpu_feature_guard" in line
        or "port.cc" in line
        or "remapper failed" in line
    )  # a harmless grappler message for LeakyReLU graphs
