"""The local launcher with stand-in workers (a small script instead of TensorFlow): fast and exact."""

import io
import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from genlab.errors import LaunchError
from genlab.launch import TrainJob
from genlab.launch.local import LocalLauncher, free_ports, tf_config

FAKE_WORKER = textwrap.dedent("""\
    #!/usr/bin/env python3
    # Stands in for `python -m genlab.train.worker`: behaviour chosen by env, role from TF_CONFIG.
    import json, os, sys, time
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    i = task["index"]
    open(os.path.join(os.environ["FAKE_DIR"], f"pid-{i}"), "w").write(str(os.getpid()))
    print(f"hello from worker {i}", flush=True)
    fail = os.environ.get("FAKE_FAIL_INDEX")
    if fail is not None and int(fail) == i:
        # Fail only once worker 0 is up, so the test sees it stopped (not never started).
        pid0 = os.path.join(os.environ["FAKE_DIR"], "pid-0")
        for _ in range(600):
            if os.path.exists(pid0):
                break
            time.sleep(0.05)
        for k in range(30):
            print(f"line {k}", flush=True)
        sys.exit(int(os.environ.get("FAKE_FAIL_CODE", "3")))
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    print(f"worker {i} done", flush=True)
""")


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "fake_python"
    script.write_text(FAKE_WORKER)
    script.chmod(0o755)
    return script


def job(workers=2):
    return TrainJob(config_json="{}", data_uri="/d", model_uri="/m", workers=workers, name="t")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def test_ports_are_distinct_and_tf_config_names_every_worker():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    cfg = json.loads(tf_config(ports, 2))
    assert cfg["cluster"]["worker"] == [f"127.0.0.1:{p}" for p in ports]
    assert cfg["task"] == {"type": "worker", "index": 2}


def test_success_streams_prefixed_logs(fake, tmp_path):
    out = io.StringIO()
    LocalLauncher(python=str(fake), env={"FAKE_DIR": str(tmp_path)}, stream=out).run(job(3))
    text = out.getvalue()
    for i in range(3):
        assert f"[worker-{i}] hello from worker {i}" in text
        assert f"[worker-{i}] worker {i} done" in text


def test_a_failing_worker_stops_the_others_and_is_reported(fake, tmp_path):
    out = io.StringIO()
    env = {"FAKE_DIR": str(tmp_path), "FAKE_FAIL_INDEX": "1", "FAKE_SLEEP": "60"}
    t0 = time.time()
    with pytest.raises(LaunchError) as e:
        LocalLauncher(python=str(fake), env=env, stream=out).run(job(2))
    assert time.time() - t0 < 30  # worker 0 was stopped, not waited for
    msg = str(e.value)
    assert "worker 1 of job 't' failed with exit code 3" in msg
    assert "line 29" in msg and "line 5" not in msg  # the last lines only
    pid0 = int((tmp_path / "pid-0").read_text())
    assert not alive(pid0)


def test_restarts_then_gives_up_past_the_backoff_limit(fake, tmp_path):
    env = {"FAKE_DIR": str(tmp_path), "FAKE_FAIL_INDEX": "0"}
    launcher = LocalLauncher(
        python=str(fake), env=env, stream=io.StringIO(), max_restarts=2, restart_delay_s=0
    )
    with pytest.raises(LaunchError, match=r"after 3 attempts \(max_restarts=2\)"):
        launcher.run(job(2))
    assert launcher.attempts == 3


def test_user_errors_are_not_restarted(fake, tmp_path):
    env = {"FAKE_DIR": str(tmp_path), "FAKE_FAIL_INDEX": "0", "FAKE_FAIL_CODE": "2"}
    launcher = LocalLauncher(
        python=str(fake), env=env, stream=io.StringIO(), max_restarts=3, restart_delay_s=0
    )
    with pytest.raises(LaunchError, match="exit code 2"):
        launcher.run(job(1))
    assert launcher.attempts == 1


def test_zero_workers_is_refused():
    with pytest.raises(LaunchError, match="workers: expected at least 1, got 0"):
        LocalLauncher().run(job(0))
