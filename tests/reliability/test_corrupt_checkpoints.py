"""A corrupt newest checkpoint: training resumes from the newest one that reads back whole.

Before the fix a truncated ``ckpt-N.data-*`` made every restore fail with ``IndexError: Read
less bytes than requested`` and each restart repeated it. The unit tests here use a bare
``tf.train.Checkpoint`` (milliseconds); one test trains a tiny DCGAN for real.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from genlab.train import train
from genlab.train.checkpoints import resume_checkpoint, unreadable
from genlab.train.loop import load_model
from tests.reliability.helpers import tiny_exp


@pytest.fixture(autouse=True)
def one_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


def save_checkpoints(folder, steps=(3, 6, 9)):
    step = tf.Variable(0, dtype=tf.int64)
    weights = tf.Variable(tf.zeros([4096]))
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(step=step, w=weights), str(folder), max_to_keep=3
    )
    for s in steps:
        step.assign(s)
        weights.assign(tf.fill([4096], float(s)))
        manager.save(checkpoint_number=s)
    return folder


def data_file(folder, step):
    (path,) = folder.glob(f"ckpt-{step}.data-*")
    return path


def truncate(path):
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return size // 2


def test_truncated_newest_is_skipped_moved_aside_and_dropped_from_the_state_file(tmp_path):
    folder = save_checkpoints(tmp_path / "checkpoints")
    half = truncate(data_file(folder, 9))
    lines = []
    chosen = resume_checkpoint(str(folder), is_chief=True, log=lines.append)
    assert chosen == str(folder / "ckpt-6")
    assert lines[0].startswith(
        f"warning: checkpoint {folder / 'ckpt-9'} does not read back whole (IndexError"
    )
    assert "Read less bytes than requested" in lines[0]
    assert (
        lines[1]
        == f"moved the unreadable checkpoint {folder / 'ckpt-9'} aside to {folder / 'corrupt' / 'ckpt-9'}"
    )
    kept = folder / "corrupt" / "ckpt-9"
    assert (kept / "ckpt-9.index").is_file() and data_file(
        kept, 9
    ).stat().st_size == half  # kept, not deleted
    assert not list(folder.glob("ckpt-9.*"))
    assert tf.train.latest_checkpoint(str(folder)) == str(folder / "ckpt-6")
    state = tf.train.get_checkpoint_state(str(folder))
    assert list(state.all_model_checkpoint_paths) == [str(folder / "ckpt-3"), str(folder / "ckpt-6")]
    assert len(state.all_model_checkpoint_timestamps) == 2
    assert '"ckpt-6"' in (folder / "checkpoint").read_text()  # relative names, as TF writes them
    # A CheckpointManager opened now (as the loop does next) no longer lists the bad one.
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), str(folder), max_to_keep=3)
    assert manager.checkpoints == [str(folder / "ckpt-3"), str(folder / "ckpt-6")]


def test_a_flipped_byte_is_caught_by_the_tensor_checksums(tmp_path):
    folder = save_checkpoints(tmp_path / "checkpoints")
    path = data_file(folder, 9)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert "checksum" in unreadable(str(folder / "ckpt-9")).lower()
    assert unreadable(str(folder / "ckpt-6")) is None
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) == str(folder / "ckpt-6")


def test_workers_make_the_chiefs_choice_and_leave_the_folder_alone(tmp_path):
    folder = save_checkpoints(tmp_path / "checkpoints")
    truncate(data_file(folder, 9))
    before = sorted(p.name for p in folder.iterdir())
    lines = []
    assert resume_checkpoint(str(folder), is_chief=False, log=lines.append) == str(folder / "ckpt-6")
    assert sorted(p.name for p in folder.iterdir()) == before and "skipping it" in lines[0]
    # the chief moves it aside; a worker reading now (or while it moves) still picks ckpt-6
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) == str(folder / "ckpt-6")
    assert resume_checkpoint(str(folder), is_chief=False, log=lambda s: None) == str(folder / "ckpt-6")


def test_no_intact_checkpoint_starts_from_step_zero_with_a_warning(tmp_path):
    folder = save_checkpoints(tmp_path / "checkpoints", steps=(3, 6))
    truncate(data_file(folder, 3))
    truncate(data_file(folder, 6))
    lines = []
    assert resume_checkpoint(str(folder), is_chief=True, log=lines.append) is None
    assert (
        lines[-1] == f"warning: no checkpoint in {folder} reads back whole; training starts again from step 0"
    )
    assert tf.train.latest_checkpoint(str(folder)) is None
    assert sorted(p.name for p in (folder / "corrupt").iterdir()) == ["checkpoint", "ckpt-3", "ckpt-6"]


def test_an_unparsable_state_file_falls_back_to_the_index_files(tmp_path):
    folder = save_checkpoints(tmp_path / "checkpoints")
    (folder / "checkpoint").write_text("model_checkpoint_path: ")  # cut short
    truncate(data_file(folder, 9))
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) == str(folder / "ckpt-6")


def test_a_checkpoint_moved_aside_twice_keeps_both(tmp_path):
    folder = save_checkpoints(tmp_path / "checkpoints")
    truncate(data_file(folder, 9))
    resume_checkpoint(str(folder), is_chief=True, log=lambda s: None)
    save_checkpoints(folder, steps=(9,))  # training went on and wrote ckpt-9 again; it is cut too
    truncate(data_file(folder, 9))
    resume_checkpoint(str(folder), is_chief=True, log=lambda s: None)
    assert sorted(p.name for p in (folder / "corrupt").iterdir()) == ["ckpt-9", "ckpt-9.1"]


@pytest.mark.slow
def test_training_resumes_from_the_previous_checkpoint_and_reaches_the_final_step(
    tiny_fashion, tmp_path, capsys
):
    model_dir = tmp_path / "model"
    exp = tiny_exp("dcgan", steps=6, checkpoint_every=3, log_every=3)
    train(exp, str(tiny_fashion), str(model_dir))
    ckpts = model_dir / "checkpoints"
    truncate(data_file(ckpts, 6))
    capsys.readouterr()

    result = train(
        tiny_exp("dcgan", steps=9, checkpoint_every=3, log_every=3), str(tiny_fashion), str(model_dir)
    )
    out = capsys.readouterr().out
    assert result.resumed_from == 3 and result.steps == 9
    assert f"checkpoint {ckpts / 'ckpt-6'} does not read back whole (IndexError: Read less bytes" in out
    assert (ckpts / "corrupt" / "ckpt-6" / "ckpt-6.index").is_file()
    assert tf.train.latest_checkpoint(str(ckpts)) == str(ckpts / "ckpt-9")
    assert unreadable(str(ckpts / "ckpt-6")) is None  # written again, whole, on the way to step 9
    history = json.loads((model_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [3, 6, 9]
    _, model = load_model(str(model_dir), str(tiny_fashion))
    assert np.isfinite(model.sample(2, seed=0)).all()


@pytest.mark.slow
def test_two_workers_resume_from_the_same_intact_checkpoint(tiny_fashion, tmp_path, lines):
    """Real TensorFlow workers: both read the chief's folder, skip the cut ckpt-6, restore ckpt-3."""
    import re

    from genlab.launch import TrainJob
    from genlab.launch.local import LocalLauncher

    model_dir = tmp_path / "model"

    # The first run in-process (cheaper): checkpoints do not depend on the strategy.
    train(tiny_exp("dcgan", steps=6, checkpoint_every=3, log_every=3), str(tiny_fashion), str(model_dir))
    ckpts = model_dir / "checkpoints"
    truncate(data_file(ckpts, 6))
    exp = tiny_exp("dcgan", steps=9, workers=2, checkpoint_every=3, log_every=3)
    job = TrainJob(exp.to_json(), str(tiny_fashion), str(model_dir), workers=2)
    LocalLauncher(stream=lines, max_restarts=0).run(job)
    out = lines.text()
    done = [json.loads(m) for m in re.findall(r"\] done: (\{.*\})", out)]
    assert [d["resumed_from"] for d in done] == [3, 3] and [d["steps"] for d in done] == [9, 9]
    assert done[0]["weights_sha256"] == done[1]["weights_sha256"]
    for w in (0, 1):
        assert f"[worker-{w}] warning: checkpoint {ckpts / 'ckpt-6'} does not read back whole" in out
        assert f"[worker-{w}] resumed from {ckpts / 'ckpt-3'} at step 3" in out
    assert out.count("aside to") == 1 and "[worker-0] moved the unreadable checkpoint" in out  # chief only
    assert (ckpts / "corrupt" / "ckpt-6" / "ckpt-6.index").is_file()
