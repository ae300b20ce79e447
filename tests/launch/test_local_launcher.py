"""The local launcher with stand-in workers (a small script instead of TensorFlow): fast and exact."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from genlab.errors import LaunchError
from genlab.launch import TrainJob
from genlab.launch.local import LocalLauncher, free_ports, tf_config

ROOT = Path(__file__).resolve().parents[2]

FAKE_WORKER = textwrap.dedent("""\
    #!/usr/bin/env python3
    # Stands in for `python -m genlab.train.worker`: behaviour chosen by env, role from TF_CONFIG.
    import json, os, signal, sys, time
    if os.environ.get("FAKE_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    i = task["index"]
    open(os.path.join(os.environ["FAKE_DIR"], f"pid-{i}"), "w").write(str(os.getpid()))
    print(f"hello from worker {i}", flush=True)
    NOISE = (  # each matches one of genlab.launch.local's noise rules
        "I0000 00:00 x", "W0000 x", "WARNING: All log messages before absl::InitializeLog()",
        "To enable the following instructions: AVX2", "oneDNN custom operations are on",
        "This TensorFlow binary is optimized", "2026 tf cpu_feature_guard.cc:1] x", "2026 tf port.cc:153] x",
        "2026 grappler: remapper failed: x", "", "kept line",
    )
    print(f"cuda={os.environ.get('CUDA_VISIBLE_DEVICES')!r} extra={os.environ.get('FAKE_EXTRA')}", flush=True)
    print(f"intra={os.environ.get('TF_NUM_INTRAOP_THREADS')} inter={os.environ.get('TF_NUM_INTEROP_THREADS')}", flush=True)
    if os.environ.get("FAKE_PDEATHSIG"):  # the signal the kernel sends it when the launcher dies
        import ctypes
        sig = ctypes.c_int(-1)
        ctypes.CDLL("libc.so.6").prctl(2, ctypes.byref(sig))  # PR_GET_PDEATHSIG
        print(f"pdeathsig={sig.value}", flush=True)
    if os.environ.get("FAKE_VERBATIM"):  # lines whose ends must survive the relay
        print("padded  ", flush=True)
        print("ends in X", flush=True)
    once = os.environ.get("FAKE_FAIL_ONCE")  # worker 0 fails on the first attempt only
    if once and i == 0 and not os.path.exists(once):
        open(once, "w").close()
        sys.exit(5)
    go = os.environ.get("FAKE_GO")  # wait for the test's signal, then die: worker 1 by SIGKILL
    if go:
        while not os.path.exists(go):
            time.sleep(0.01)
        signals = os.environ.get("FAKE_GO_SIGNALS")  # "9,15": worker 0 dies by SIGKILL, 1 by SIGTERM
        if signals:
            os.kill(os.getpid(), int(signals.split(",")[i]))
        if i == 1:
            os.kill(os.getpid(), 9)
        time.sleep(0.3)
        sys.exit(1)
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
        if os.environ.get("FAKE_NOISE"):  # TensorFlow's chatter, and a blank line, among the last lines
            for line in NOISE:
                print(line, flush=True)
        print("the error, on stderr", file=sys.stderr, flush=True)
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
    assert text.startswith("[launcher] starting 3 worker(s) on ports [")
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
    assert msg.startswith("worker 1 of job 't' failed with exit code 3. Its last log lines:\n  line ")
    assert "[launcher] worker 1 exited with code 3; stopping the others" in out.getvalue()
    assert "line 29" in msg and "line 5" not in msg  # the last lines only
    assert msg.endswith("the error, on stderr")  # stderr is merged into the log, in order
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


def test_startup_chatter_and_blank_lines_are_dropped_from_logs_and_tails(fake, tmp_path):
    out = io.StringIO()
    env = {"FAKE_DIR": str(tmp_path), "FAKE_NOISE": "1", "FAKE_FAIL_INDEX": "0"}
    with pytest.raises(LaunchError) as e:
        LocalLauncher(python=str(fake), env=env, stream=out).run(job(1))
    for text in (out.getvalue(), str(e.value)):
        assert "kept line" in text
        for noise in (
            "I0000",
            "W0000",
            "absl",
            "instructions",
            "oneDNN",
            "optimized",
            "cpu_feature",
            "port.cc",
            "remapper",
        ):
            assert noise not in text
    assert "[worker-0] \n" not in out.getvalue() and "after" not in str(e.value)  # one attempt: no count


def test_workers_get_the_launcher_env_and_no_gpu_unless_asked(fake, tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    out = io.StringIO()
    env = {"FAKE_DIR": str(tmp_path), "FAKE_EXTRA": "yes"}
    LocalLauncher(python=str(fake), env=env, stream=out).run(job(2))
    assert out.getvalue().count("cuda='' extra=yes") == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # a user's choice is kept
    out = io.StringIO()
    LocalLauncher(python=str(fake), env=env, stream=out).run(job(1))
    assert "cuda='3' extra=yes" in out.getvalue()


def test_a_job_that_fails_once_is_restarted_and_succeeds(fake, tmp_path):
    out = io.StringIO()
    env = {"FAKE_DIR": str(tmp_path), "FAKE_FAIL_ONCE": str(tmp_path / "failed")}
    launcher = LocalLauncher(python=str(fake), env=env, stream=out, max_restarts=2, restart_delay_s=0)
    launcher.run(job(2))
    assert launcher.attempts == 2 and len(launcher.pids) == 2
    assert "restarting the job (attempt 2 of 3)" in out.getvalue()
    assert out.getvalue().count("worker 0 done") == 1  # worker 0 finished on the second attempt only


def hold_first_poll(tmp_path, monkeypatch):
    """Releases the stand-in workers (their go file) and holds the launcher's first poll 3 s, so
    both workers have died before it looks; returns the go file."""
    import genlab.launch.local as local

    go = tmp_path / "go"
    real_sleep = time.sleep

    def poll_slowly(seconds):
        if not go.exists():
            go.touch()
            real_sleep(3.0)
        real_sleep(seconds)

    monkeypatch.setattr(local.time, "sleep", poll_slowly)
    return go


def test_the_signalled_worker_is_blamed_not_its_crashing_peers(fake, tmp_path, monkeypatch):
    """Worker 1 is SIGKILLed and worker 0 then exits 1 (as a peer's broken collective would make it)."""
    go = hold_first_poll(tmp_path, monkeypatch)
    env = {"FAKE_DIR": str(tmp_path), "FAKE_GO": str(go)}
    with pytest.raises(LaunchError, match="worker 1 of job 't' failed with exit code -9"):
        LocalLauncher(python=str(fake), env=env, stream=io.StringIO()).run(job(2))


def test_running_out_of_ports_is_a_clear_error(monkeypatch):
    import genlab.launch.local as local

    def no_socket(*args):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(local.socket, "socket", no_socket)
    with pytest.raises(LaunchError, match="could not find 3 free loopback ports .* use fewer workers"):
        free_ports(3)


def start_fake(fake, tmp_path, **env):
    env = {**os.environ, "FAKE_DIR": str(tmp_path), "FAKE_SLEEP": "60", "TF_CONFIG": tf_config([1], 0), **env}
    p = subprocess.Popen([str(fake)], env=env, start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("hello")  # running (with its signal handlers set)
    return p


def test_stopping_sends_sigterm_first(fake, tmp_path):
    p = start_fake(fake, tmp_path)
    LocalLauncher._stop([p], grace_s=30)
    assert p.returncode == -signal.SIGTERM


def test_a_worker_that_ignores_sigterm_is_killed_after_the_grace_period(fake, tmp_path):
    p = start_fake(fake, tmp_path, FAKE_IGNORE_TERM="1")
    done = subprocess.Popen(["true"])
    done.wait()
    t0 = time.time()
    LocalLauncher._stop([done, p], grace_s=0.5)  # a finished process is left as it was
    assert p.returncode == -signal.SIGKILL and done.returncode == 0
    assert time.time() - t0 < 20


def test_workers_die_with_a_killed_launcher(fake, tmp_path):
    """SIGKILL runs no cleanup in the launcher: the kernel takes the workers (PR_SET_PDEATHSIG)."""
    script = (
        "import sys; from genlab.launch import TrainJob; from genlab.launch.local import LocalLauncher\n"
        "job = TrainJob(config_json='{}', data_uri='/d', model_uri='/m', workers=2, name='t')\n"
        f"LocalLauncher(python={str(fake)!r}, env={{'FAKE_DIR': {str(tmp_path)!r}, 'FAKE_SLEEP': '60'}}).run(job)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not all((tmp_path / f"pid-{i}").exists() for i in range(2)) and time.time() < deadline:
        time.sleep(0.05)
    pids = [int((tmp_path / f"pid-{i}").read_text()) for i in range(2)]
    launcher.kill()
    launcher.wait()
    deadline = time.time() + 10
    while any(alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)


def test_die_with_parent_asks_the_kernel_for_sigkill():
    """Called here, in the test's own process (it normally runs between fork and exec, where no
    test can see it): PR_GET_PDEATHSIG reads back what it set; then it is cleared again."""
    import ctypes

    from genlab.launch.local import _die_with_parent

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    sig = ctypes.c_int(-1)
    try:
        _die_with_parent()
        assert libc.prctl(2, ctypes.byref(sig)) == 0  # PR_GET_PDEATHSIG
    finally:
        libc.prctl(1, 0)  # PR_SET_PDEATHSIG 0: this test process keeps no death signal
    assert sig.value == signal.SIGKILL


def test_every_line_the_launcher_prints_is_flushed_at_once(fake, tmp_path):
    """Its stream is usually a pipe (kfp's log, `make demo | tee`): a line must not wait in a buffer."""

    class Recorder:
        def __init__(self):
            self.calls = []

        def write(self, text):
            self.calls.append(text)

        def flush(self):
            self.calls.append(None)

    out = Recorder()
    LocalLauncher(python=str(fake), env={"FAKE_DIR": str(tmp_path)}, stream=out).run(job(1))
    text = "".join(c for c in out.calls if c)
    assert "[launcher] starting 1 worker(s)" in text and "[worker-0] worker 0 done" in text
    assert out.calls.count(None) == text.count("\n") == 5  # one flush per line: launcher 1, worker 4


def test_the_failure_message_whole_after_two_attempts(fake, tmp_path):
    env = {"FAKE_DIR": str(tmp_path), "FAKE_FAIL_INDEX": "0"}
    launcher = LocalLauncher(
        python=str(fake), env=env, stream=io.StringIO(), max_restarts=1, restart_delay_s=0
    )
    with pytest.raises(LaunchError) as e:
        launcher.run(job(1))
    tail = "\n".join(f"  {line}" for line in [f"line {k}" for k in range(11, 30)] + ["the error, on stderr"])
    expected = f"worker 0 of job 't' failed with exit code 3 after 2 attempts (max_restarts=1). Its last log lines:\n{tail}"
    assert str(e.value) == expected


def test_an_interrupted_launcher_stops_its_workers(fake, tmp_path, monkeypatch):
    import genlab.launch.local as local

    real_sleep = time.sleep
    calls = []

    def interrupt(seconds):  # the first poll of a running job: Ctrl-C (time.sleep is global: once only)
        calls.append(seconds)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(local.time, "sleep", interrupt)
    env = {"FAKE_DIR": str(tmp_path), "FAKE_SLEEP": "60"}
    launcher = LocalLauncher(python=str(fake), env=env, stream=io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        launcher.run(job(2))
    for p in launcher._procs:
        assert p.returncode is not None  # stopped and reaped, not left running


def test_cpu_workers_split_the_cores_and_a_users_setting_wins(fake, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))  # an 8-core machine
    env = {"FAKE_DIR": str(tmp_path)}
    out = io.StringIO()
    LocalLauncher(python=str(fake), env=env, stream=out).run(job(2))
    assert out.getvalue().count("intra=4 inter=None") == 2  # each of 2 workers: 8 // 2 cores
    out = io.StringIO()
    LocalLauncher(python=str(fake), env=env, stream=out).run(job(3))
    assert out.getvalue().count("intra=2 inter=None") == 3
    out = io.StringIO()
    LocalLauncher(python=str(fake), env=env, stream=out).run(job(1))
    assert "intra=None inter=None" in out.getvalue()  # one worker keeps TensorFlow's defaults
    out = io.StringIO()
    LocalLauncher(python=str(fake), env={**env, "TF_NUM_INTRAOP_THREADS": "3"}, stream=out).run(job(2))
    assert out.getvalue().count("intra=3 inter=None") == 2


def test_each_worker_is_started_to_die_with_the_launcher(fake, tmp_path):
    """What test_workers_die_with_a_killed_launcher checks from outside, seen from each worker: its
    parent-death signal is SIGKILL (a launcher in this process, so mutation testing can see it)."""
    out = io.StringIO()
    env = {"FAKE_DIR": str(tmp_path), "FAKE_PDEATHSIG": "1"}
    LocalLauncher(python=str(fake), env=env, stream=out).run(job(2))
    assert out.getvalue().count(f"pdeathsig={int(signal.SIGKILL)}") == 2


def test_cpu_share_splits_the_cores_and_keeps_one_thread_each(monkeypatch):
    import genlab.launch.local as local

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(3)))  # 3 cores
    assert local.cpu_share(2) == {"TF_NUM_INTRAOP_THREADS": "1"}
    assert local.cpu_share(4) == {"TF_NUM_INTRAOP_THREADS": "1"}  # fewer cores than workers: 1 each
    assert local.cpu_share(1) == {}
    monkeypatch.delattr(os, "sched_getaffinity")  # not Linux: every core the OS reports
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert local.cpu_share(2) == {"TF_NUM_INTRAOP_THREADS": "4"}
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one core
    assert local.cpu_share(2) == {"TF_NUM_INTRAOP_THREADS": "1"}


def test_stopping_gives_the_workers_one_grace_period_together_then_sigkill(monkeypatch):
    """Stand-in workers that ignore SIGTERM, on a fake clock: the first waits the whole 5 s grace
    period, the second none more (the period is shared), then both are killed and reaped."""
    import genlab.launch.local as local

    clock = [1000.0]
    sent = []
    monkeypatch.setattr(local.time, "time", lambda: clock[0])
    monkeypatch.setattr(local.os, "killpg", lambda pid, sig: sent.append((pid, sig)))

    class Stubborn:
        def __init__(self, pid):
            self.pid, self.waits = pid, []

        def poll(self):
            return None

        def wait(self, timeout=None):
            self.waits.append(timeout)
            if timeout is None:  # after SIGKILL
                return -signal.SIGKILL
            clock[0] += timeout  # it outlives any timeout
            raise subprocess.TimeoutExpired("worker", timeout)

    procs = [Stubborn(11), Stubborn(12)]
    LocalLauncher._stop(procs)
    assert procs[0].waits == [5.0, None] and procs[1].waits == [0.0, None]
    term, kill = signal.SIGTERM, signal.SIGKILL
    assert sent == [(11, term), (12, term), (11, kill), (12, kill)]


def test_the_launcher_polls_often_and_never_waits_long_on_a_workers_output(fake, tmp_path, monkeypatch):
    """A worker's exit is seen within 0.2 s; the threads that copy its output are daemons joined for
    at most 5 s: a process the worker left behind can hold the pipe open for ever, and must neither
    hang the launcher nor keep it alive at exit."""
    import threading

    import genlab.launch.local as local

    real_sleep, sleeps, threads = time.sleep, [], []

    def record_sleep(seconds):
        sleeps.append(seconds)
        real_sleep(seconds)

    class Recorded(threading.Thread):
        def join(self, timeout=None):
            threads.append((self.daemon, timeout))
            super().join(timeout)

    monkeypatch.setattr(local.time, "sleep", record_sleep)
    monkeypatch.setattr(local.threading, "Thread", Recorded)
    env = {"FAKE_DIR": str(tmp_path), "FAKE_SLEEP": "0.5"}
    LocalLauncher(python=str(fake), env=env, stream=io.StringIO()).run(job(2))
    assert sleeps and set(sleeps) == {0.2}
    assert threads == [(True, 5), (True, 5)]
    env["FAKE_FAIL_INDEX"] = "1"
    threads.clear()
    with pytest.raises(LaunchError):
        LocalLauncher(python=str(fake), env=env, stream=io.StringIO()).run(job(2))
    assert threads == [(True, 5), (True, 5)]  # on a failure too


def test_of_two_signalled_workers_the_first_by_index_is_blamed(fake, tmp_path, monkeypatch):
    """Worker 0 dies by SIGKILL (-9) and worker 1 by SIGTERM (-15) before the same poll: the report
    names worker 0, by index, not the lower exit code."""
    go = hold_first_poll(tmp_path, monkeypatch)
    env = {"FAKE_DIR": str(tmp_path), "FAKE_GO": str(go), "FAKE_GO_SIGNALS": "9,15"}
    with pytest.raises(LaunchError, match="worker 0 of job 't' failed with exit code -9"):
        LocalLauncher(python=str(fake), env=env, stream=io.StringIO()).run(job(2))


def test_worker_lines_are_relayed_verbatim_but_for_the_newline(fake, tmp_path):
    out = io.StringIO()
    env = {"FAKE_DIR": str(tmp_path), "FAKE_VERBATIM": "1"}
    LocalLauncher(python=str(fake), env=env, stream=out).run(job(1))
    lines = out.getvalue().splitlines()
    assert "[worker-0] padded  " in lines and "[worker-0] ends in X" in lines


def test_a_new_launcher_has_no_attempts_and_no_workers():
    launcher = LocalLauncher()
    assert launcher.attempts == 0 and launcher.pids == []


def test_a_restart_waits_one_second_by_default(fake, tmp_path, monkeypatch):
    import genlab.launch.local as local

    real_sleep, sleeps = time.sleep, []

    def record_sleep(seconds):  # the polls still wait; the restart delay is only recorded
        sleeps.append(seconds)
        real_sleep(seconds if seconds != 1.0 else 0)

    monkeypatch.setattr(local.time, "sleep", record_sleep)
    env = {"FAKE_DIR": str(tmp_path), "FAKE_FAIL_ONCE": str(tmp_path / "failed")}
    LocalLauncher(python=str(fake), env=env, stream=io.StringIO(), max_restarts=1).run(job(1))
    assert sleeps.count(1.0) == 1 and set(sleeps) <= {1.0, 0.2}
