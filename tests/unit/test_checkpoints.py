"""genlab.train.checkpoints on bare tf.train.Checkpoint folders (milliseconds): the cases that
tests/reliability/test_corrupt_checkpoints.py leaves out, found by mutation testing (docs/testing.md)."""

import pytest
import tensorflow as tf
from google.protobuf import text_format

from genlab.train import checkpoints
from genlab.train.checkpoints import resume_checkpoint, unreadable
from tests.reliability.test_corrupt_checkpoints import data_file, save_checkpoints, truncate


def state_of(folder):
    return tf.train.get_checkpoint_state(str(folder))


def test_an_empty_folder_starts_fresh_without_a_word(tmp_path):
    lines = []
    assert resume_checkpoint(str(tmp_path), is_chief=True, log=lines.append) is None
    assert lines == [] and list(tmp_path.iterdir()) == []


def test_an_intact_newest_checkpoint_is_chosen_without_a_word(tmp_path):
    folder = save_checkpoints(tmp_path / "c")
    before = (folder / "checkpoint").read_text()
    lines = []
    assert resume_checkpoint(str(folder), is_chief=True, log=lines.append) == str(folder / "ckpt-9")
    assert lines == [] and (folder / "checkpoint").read_text() == before


def test_one_bad_checkpoint_gives_exactly_two_lines(tmp_path):
    folder = save_checkpoints(tmp_path / "c")
    truncate(data_file(folder, 9))
    lines = []
    resume_checkpoint(str(folder), is_chief=True, log=lines.append)
    assert len(lines) == 2 and "skipping it" in lines[0] and "aside to" in lines[1]


@pytest.mark.parametrize(
    "message, expected",
    [
        ("x" * 500 + "\nsecond line", "ValueError: " + "x" * 200),
        ("", "ValueError: "),
        ("  \n", "ValueError: "),
    ],
    ids=["long", "empty", "blank"],
)
def test_why_a_checkpoint_is_unreadable_is_one_short_line(monkeypatch, message, expected):
    def fail(prefix):
        raise ValueError(message)

    monkeypatch.setattr(tf.train, "load_checkpoint", fail)
    assert unreadable("/nowhere/ckpt-1") == expected


def test_a_checkpoint_moved_aside_three_times_keeps_all_three(tmp_path):
    folder = tmp_path / "c"
    for _ in range(3):
        folder.mkdir(exist_ok=True)
        (folder / "ckpt-9.index").write_text("i")
        (folder / "ckpt-9.data-00000-of-00001").write_text("d")
        checkpoints._move_aside(str(folder), str(folder / "ckpt-9"))
    kept = sorted(p.name for p in (folder / "corrupt").iterdir())
    assert kept == ["ckpt-9", "ckpt-9.1", "ckpt-9.2"]
    assert sorted(p.name for p in (folder / "corrupt" / "ckpt-9.2").iterdir()) == [
        "ckpt-9.data-00000-of-00001",
        "ckpt-9.index",
    ]


def test_no_intact_checkpoint_twice_replaces_the_state_file_set_aside(tmp_path):
    folder = save_checkpoints(tmp_path / "c", steps=(3,))
    truncate(data_file(folder, 3))
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) is None
    save_checkpoints(folder, steps=(4,))  # training starts again and is cut again
    truncate(data_file(folder, 4))
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) is None
    moved = state_of(folder / "corrupt")  # the state file set aside, read where it lies
    assert moved.model_checkpoint_path.endswith("ckpt-4")  # the latest state file, not the first one


def test_the_rewritten_state_keeps_timestamps_and_the_preserved_time(tmp_path):
    folder = save_checkpoints(tmp_path / "c")
    state = state_of(folder)
    state.last_preserved_timestamp = 1234.5
    (folder / "checkpoint").write_text(text_format.MessageToString(state))
    truncate(data_file(folder, 9))
    resume_checkpoint(str(folder), is_chief=True, log=lambda s: None)
    new = state_of(folder)
    assert new.last_preserved_timestamp == 1234.5
    assert list(new.all_model_checkpoint_timestamps) == list(state.all_model_checkpoint_timestamps)[:2]


def test_a_state_file_without_timestamps_is_rewritten_without_them(tmp_path):
    folder = save_checkpoints(tmp_path / "c")
    (folder / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-9"\n'
        'all_model_checkpoint_paths: "ckpt-3"\nall_model_checkpoint_paths: "ckpt-6"\n'
        'all_model_checkpoint_paths: "ckpt-9"\nall_model_checkpoint_timestamps: 1.0\n'
    )
    truncate(data_file(folder, 9))
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) == str(folder / "ckpt-6")
    new = state_of(folder)
    assert [p.rsplit("/", 1)[-1] for p in new.all_model_checkpoint_paths] == ["ckpt-3", "ckpt-6"]
    assert list(new.all_model_checkpoint_timestamps) == []  # 1 stamp for 2 paths: none is better than wrong


def test_the_state_files_newest_counts_even_when_not_listed(tmp_path):
    folder = save_checkpoints(tmp_path / "c")
    (folder / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-9"\nall_model_checkpoint_paths: "ckpt-3"\n'
    )  # only an older one listed
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) == str(folder / "ckpt-9")
    (folder / "checkpoint").write_text('model_checkpoint_path: "ckpt-6"\n')  # none listed at all
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) == str(folder / "ckpt-6")


def test_without_a_state_file_the_highest_step_wins_numerically(tmp_path):
    folder = save_checkpoints(tmp_path / "c", steps=(9, 10))  # "ckpt-10" sorts before "ckpt-9" as text
    (folder / "checkpoint").unlink()
    (folder / "ckpt-x.index").write_text("not a numbered checkpoint")
    assert resume_checkpoint(str(folder), is_chief=False, log=lambda s: None) == str(folder / "ckpt-10")


def test_the_rewritten_state_names_the_chosen_one_newest_among_three_kept(tmp_path):
    folder = tmp_path / "c"
    step = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step), str(folder), max_to_keep=4)
    for s in (3, 6, 9, 12):
        step.assign(s)
        manager.save(checkpoint_number=s)
    truncate(data_file(folder, 12))
    assert resume_checkpoint(str(folder), is_chief=True, log=lambda s: None) == str(folder / "ckpt-9")
    assert tf.train.latest_checkpoint(str(folder)) == str(folder / "ckpt-9")
    assert [p.rsplit("/", 1)[-1] for p in state_of(folder).all_model_checkpoint_paths] == [
        "ckpt-3",
        "ckpt-6",
        "ckpt-9",
    ]
