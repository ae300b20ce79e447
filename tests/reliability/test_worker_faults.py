"""A training worker killed with SIGKILL mid-run, for real: two TensorFlow processes on loopback.

The local launcher behaves like a TFJob with ``restartPolicy: OnFailure`` and a backoff limit:
it stops the surviving worker, restarts the job, and training resumes from the chief's latest
checkpoint, losing at most ``train.checkpoint_every`` steps. Past the limit it fails, naming the
worker and its exit code. No worker process outlives a test.
"""

import json
import os
import re
import signal
import threading
import time

import numpy as np
import pytest

from genlab.errors import LaunchError
from genlab.launch import TrainJob
from genlab.launch.local import LocalLauncher
from genlab.train.loop import load_model
from tests.reliability.helpers import alive, checkpoint_steps, processes_mentioning, tiny_exp

pytestmark = pytest.mark.slow

STEPS = 60  # long enough that the kill lands mid-run (a step takes ~50 ms here)
EVERY = 5  # train.checkpoint_every
KILL_AFTER = 10  # SIGKILL worker 1 once the chief has written a checkpoint at this step or later


def kill_worker_when(launcher: LocalLauncher, model_dir, index: int, min_ckpt: int, record: dict):
    """From a thread: once a checkpoint >= min_ckpt exists in the first attempt, SIGKILL worker ``index``."""

    def watch():
        deadline = time.time() + 300
        while time.time() < deadline:
            steps = checkpoint_steps(model_dir)
            pids = launcher.pids
            if launcher.attempts == 1 and len(pids) > index and steps and steps[-1] >= min_ckpt:
                record["checkpoint"] = steps[-1]
                record["pid"] = pids[index]
                os.kill(pids[index], signal.SIGKILL)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_sigkilled_worker_is_restarted_and_resumes_from_the_latest_checkpoint(tiny_fashion, tmp_path, lines):
    exp = tiny_exp(steps=STEPS, workers=2, checkpoint_every=EVERY)
    model_dir = tmp_path / "model"
    job = TrainJob(exp.to_json(), str(tiny_fashion), str(model_dir), workers=2, name="killed")
    launcher = LocalLauncher(max_restarts=1, stream=lines, restart_delay_s=0.2)
    killed: dict = {}
    watcher = kill_worker_when(launcher, model_dir, 1, KILL_AFTER, killed)
    launcher.run(job)  # returns only if the restarted job succeeded
    watcher.join(timeout=5)
    text = lines.text()

    assert killed, f"the kill never happened (run too short?):\n{text[-3000:]}"
    assert launcher.attempts == 2
    assert not alive(killed["pid"])
    assert "[launcher] worker 1 exited with code -9; stopping the others" in text
    assert "[launcher] restarting the job (attempt 2 of 2)" in text

    first, second = text.split("[launcher] restarting the job", 1)
    done_before = [int(s) for s in re.findall(r"\[worker-0\] step (\d+)/", first)]
    resumed = [int(s) for s in re.findall(r"\[worker-\d\] resumed from \S+ckpt-\d+ at step (\d+)", second)]
    assert len(resumed) == 2 and resumed[0] == resumed[1], second[:2000]  # both workers, same checkpoint
    resumed_at = resumed[0]
    assert resumed_at >= killed["checkpoint"] >= KILL_AFTER
    assert resumed_at % EVERY == 0
    lost = max(done_before) - resumed_at
    assert 0 <= lost <= EVERY, (max(done_before), resumed_at)  # at most one checkpoint interval re-done
    assert max(done_before) < STEPS  # the first attempt really was cut short

    done = [json.loads(m) for m in re.findall(r"\] done: (\{.*\})", second)]
    assert len(done) == 2
    assert all(d["steps"] == STEPS and d["resumed_from"] == resumed_at for d in done)
    assert done[0]["weights_sha256"] == done[1]["weights_sha256"]  # the restarted replicas are in sync

    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["steps"] == STEPS
    history = json.loads((model_dir / "history.json").read_text())
    steps = [h["step"] for h in history]
    assert steps == list(range(1, STEPS + 1))  # no step lost from the record, none counted twice
    assert all(np.isfinite(h["d_loss"]) and np.isfinite(h["g_loss"]) for h in history)

    _, model = load_model(str(model_dir), str(tiny_fashion))  # a usable model
    images = model.sample(8, seed=0)
    assert images.shape == (8, 28, 28, 1) and np.isfinite(images).all()
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0.0
    assert processes_mentioning(str(model_dir)) == []  # no orphan worker


def kill_every_attempt(launcher: LocalLauncher, index: int, killed: list):
    """From a thread: SIGKILL worker ``index`` of every attempt as soon as it has started."""

    def watch():
        deadline = time.time() + 300
        while time.time() < deadline and len(killed) <= launcher.max_restarts:
            pids = launcher.pids
            if len(pids) > index and pids[index] not in killed:
                killed.append(pids[index])
                os.kill(pids[index], signal.SIGKILL)
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_past_the_backoff_limit_the_job_fails_naming_the_worker_and_signal(tiny_fashion, tmp_path, lines):
    exp = tiny_exp(steps=STEPS, workers=2, checkpoint_every=EVERY)
    model_dir = tmp_path / "model"
    job = TrainJob(exp.to_json(), str(tiny_fashion), str(model_dir), workers=2, name="crashloop")
    launcher = LocalLauncher(max_restarts=1, stream=lines, restart_delay_s=0.2)
    killed: list = []
    watcher = kill_every_attempt(launcher, 1, killed)
    with pytest.raises(LaunchError) as e:
        launcher.run(job)
    watcher.join(timeout=5)
    assert len(killed) == 2 and launcher.attempts == 2  # killed, restarted once, killed again, given up
    assert str(e.value).startswith(
        "worker 1 of job 'crashloop' failed with exit code -9 after 2 attempts (max_restarts=1)"
    )
    assert lines.text().count("[launcher] restarting the job") == 1
    assert not (model_dir / "model.json").exists()  # an unfinished model never looks complete
    assert not any(alive(pid) for pid in killed)
    assert processes_mentioning(str(model_dir)) == []  # each attempt's worker 0 was stopped too
