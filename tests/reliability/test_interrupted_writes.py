"""Every writer interrupted: data preparation, checkpoints, the model, the report and single files.

An interruption never leaves something that looks complete (a manifest, a ``model.json``, a
``report.html``), an earlier complete result survives, and running the step again succeeds.
Interruptions are real where a process can be killed cheaply (``SIGKILL`` of ``genlab prepare``
and of a training worker) and injected where they must land at an exact point (a failing
rename, a ``KeyboardInterrupt`` halfway through a stream).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import genlab.data as data_module
from genlab import data, io
from genlab.errors import DataError
from genlab.generate import generate
from genlab.train import train
from genlab.train.loop import MODEL_MARKER, load_model
from tests.conftest import make_idx_folder
from tests.reliability.helpers import checkpoint_steps, tiny_exp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


def idx_exp(source: Path, **data_cfg):
    from genlab import config

    return config.experiment_from_dict(
        {"name": "w", "model": {"family": "dcgan"}, "data": {"source": str(source), "shards": 2, **data_cfg}}
    )


def staging_dirs(parent: Path) -> list[Path]:
    return sorted(parent.glob(".genlab-prepare-*"))


# --- data preparation --------------------------------------------------------------------------


def interrupt_split(monkeypatch, split: str, exc: BaseException):
    """The source stream of ``split`` yields its first chunk, then the process is 'interrupted'."""
    real = data_module._idx_split

    def split_then_fail(folder, ds, name, limit, size):
        for i, chunk in enumerate(real(folder, ds, name, limit, size)):
            if name == split and i == 1:
                raise exc
            yield chunk

    monkeypatch.setattr(data_module, "_idx_split", split_then_fail)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError(28, "No space left on device")], ids=repr)
def test_prepare_interrupted_midway_leaves_nothing_and_a_rerun_succeeds(tmp_path, monkeypatch, exc):
    raw = make_idx_folder(tmp_path / "raw", n_train=300, n_test=250)
    exp = idx_exp(raw)
    out = tmp_path / "prepared" / "data"
    monkeypatch.setattr("genlab.data.idx.iter_idx.__defaults__", (100,))  # chunks of 100 records
    with monkeypatch.context() as patch:
        interrupt_split(patch, "test", exc)  # the train split is already on disk when it stops
        with pytest.raises(type(exc)):
            data.prepare(exp, str(out))
    assert not out.exists()  # no manifest, no half-written shards where readers look
    assert staging_dirs(out.parent) == []  # the staging folder is cleaned up too
    manifest = data.prepare(exp, str(out))
    assert manifest.count("train") == 300 and manifest.count("test") == 250
    data.verify(str(out))


def test_prepare_interrupted_over_an_earlier_dataset_keeps_it_whole(tmp_path, monkeypatch):
    raw = make_idx_folder(tmp_path / "raw", n_train=300, n_test=64)
    out = tmp_path / "data"
    before = data.prepare(idx_exp(raw, max_train=200), str(out))
    monkeypatch.setattr("genlab.data.idx.iter_idx.__defaults__", (100,))
    interrupt_split(monkeypatch, "train", KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        data.prepare(idx_exp(raw), str(out))
    assert data.verify(str(out)).checksum == before.checksum  # the old dataset, intact and whole
    assert staging_dirs(tmp_path) == []


@pytest.mark.slow
def test_prepare_sigkilled_for_real_then_rerun(tmp_path):
    """``genlab prepare`` on the real Fashion-MNIST, SIGKILLed while it writes shards."""
    out = tmp_path / "data"
    args = ["prepare", "dcgan_tiny", "--set", "data.max_train=10000", "--set", "data.max_test=1000",
            "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "genlab.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    shards = []
    while time.time() < deadline and proc.poll() is None:
        shards = [p for d in staging_dirs(tmp_path) for p in d.glob("train-*.tfrecord") if p.stat().st_size]
        if shards:
            break
        time.sleep(0.01)
    assert shards and proc.poll() is None, proc.stdout.read().decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # half-written shards only ever lived in the hidden staging folder
    from genlab.cli import main

    assert main(args) == 0  # the re-run succeeds, and removes the dead run's staging folder
    manifest = data.verify(str(out))
    assert manifest.count("train") == 10000 and manifest.count("test") == 1000
    assert staging_dirs(tmp_path) == []


def test_prepare_removes_staging_of_dead_writers_only(tmp_path):
    raw = make_idx_folder(tmp_path / "raw", n_train=100, n_test=50)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".genlab-prepare-{int(dead.stdout)}-abc"  # its writer has exited
    running = tmp_path / f".genlab-prepare-{os.getpid()}-xyz"  # a concurrent writer, still alive
    for folder in (stale, running):
        folder.mkdir()
        (folder / "train-00000-of-00002.tfrecord").write_bytes(b"partial")
    data.prepare(idx_exp(raw), str(tmp_path / "data"))
    assert staging_dirs(tmp_path) == [running]


# --- checkpoints -------------------------------------------------------------------------------


@pytest.mark.slow
def test_worker_sigkilled_while_checkpointing_resumes_from_a_complete_checkpoint(tiny_fashion, tmp_path):
    """One worker writes a checkpoint every step; SIGKILL it as soon as a checkpoint write is in flight."""
    exp = tiny_exp("dcgan", steps=20, checkpoint_every=1)
    model_dir = tmp_path / "model"
    cmd = [sys.executable, "-m", "genlab.train.worker", "--config", exp.to_json(), "--data", str(tiny_fashion),
           "--model", str(model_dir)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = model_dir / "checkpoints"
    mid_write = False
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        names = [p.name for p in ckpts.iterdir()] if ckpts.is_dir() else []
        steps = checkpoint_steps(model_dir)
        mid_write = any(n.endswith("_temp") for n in names) and bool(steps) and steps[-1] >= 3
        if mid_write or (steps and steps[-1] >= 8):
            proc.kill()
            break
        time.sleep(0.002)
    assert proc.wait() == -signal.SIGKILL, "the worker finished before it could be killed"
    latest = tf.train.latest_checkpoint(str(ckpts))
    assert latest, "no checkpoint survived"
    kept = int(latest.rsplit("-", 1)[1])
    reader = tf.train.load_checkpoint(latest)  # the checkpoint the state file names is complete
    assert int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == kept
    assert not (model_dir / MODEL_MARKER).exists()

    result = train(exp, str(tiny_fashion), str(model_dir))
    assert result.resumed_from == kept and result.steps == 20
    assert json.loads((model_dir / MODEL_MARKER).read_text())["steps"] == 20
    print(f"killed with a checkpoint write in flight: {mid_write}; resumed from step {kept}")


# --- the trained model -------------------------------------------------------------------------


def fail_once(monkeypatch, module, name: str, when):
    """Replace ``module.name`` so that its first call matching ``when(*args)`` raises an OSError."""
    real = getattr(module, name)
    state = {"failed": False}

    def maybe_fail(*args, **kwargs):
        if not state["failed"] and when(*args):
            state["failed"] = True
            raise OSError(5, "Input/output error (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, maybe_fail)
    return state


def test_model_save_interrupted_over_an_earlier_model_never_looks_complete(
    tiny_fashion, tmp_path, monkeypatch
):
    model_dir = tmp_path / "model"
    train(tiny_exp("dcgan", steps=6, checkpoint_every=3), str(tiny_fashion), str(model_dir))
    assert json.loads((model_dir / MODEL_MARKER).read_text())["steps"] == 6

    longer = tiny_exp("dcgan", steps=9, checkpoint_every=3)  # train on into the same folder
    with monkeypatch.context() as patch:
        state = fail_once(patch, tf.io.gfile, "rename", lambda src, dst, *a: "weights" in str(dst))
        with pytest.raises(OSError, match="injected"):
            train(longer, str(tiny_fashion), str(model_dir))
    assert state["failed"]
    # Weights may now be half old, half new: the old marker must not vouch for them.
    assert not (model_dir / MODEL_MARKER).exists()
    with pytest.raises(DataError, match="model.json missing"):
        load_model(str(model_dir), str(tiny_fashion))

    result = train(longer, str(tiny_fashion), str(model_dir))  # re-run: resumes at the final checkpoint
    assert result.resumed_from == 9 and result.steps == 9
    assert json.loads((model_dir / MODEL_MARKER).read_text())["steps"] == 9
    _, model = load_model(str(model_dir), str(tiny_fashion))
    assert np.isfinite(model.sample(4, seed=0)).all()


# --- the report and single files ---------------------------------------------------------------


def test_report_write_interrupted_then_rerun(tiny_fashion, tmp_path, monkeypatch):
    exp = tiny_exp("dcgan", steps=3, checkpoint_every=3)
    model_dir, out = tmp_path / "model", tmp_path / "samples"
    train(exp, str(tiny_fashion), str(model_dir))
    with monkeypatch.context() as patch:
        state = fail_once(patch, os, "replace", lambda src, dst: str(dst).endswith("report.html"))
        with pytest.raises(OSError, match="injected"):
            generate(exp, str(model_dir), str(tiny_fashion), str(out), {"fid": 1.0})
    assert state["failed"]
    assert not (out / "report.html").exists()
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []  # no temporary left behind

    samples = generate(exp, str(model_dir), str(tiny_fashion), str(out), {"fid": 1.0})
    text = Path(samples.report_html).read_text()
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    assert Path(samples.report_md).read_text().startswith("# genlab:")


def test_single_file_write_interrupted_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    io.write_json(str(path), {"fid": 1.0})

    def interrupted(fd):  # Ctrl-C after the bytes are written, before they are synced and renamed
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            io.write_json(str(path), {"fid": 2.0, "kid": 0.5})
    assert json.loads(path.read_text()) == {"fid": 1.0}  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # and no temporary
    io.write_json(str(path), {"fid": 2.0})
    assert json.loads(path.read_text()) == {"fid": 2.0}
