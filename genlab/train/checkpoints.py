"""Which checkpoint to resume from: the newest one that reads back whole.

``tf.train.latest_checkpoint`` trusts the ``checkpoint`` state file. If the newest checkpoint's
data file was cut short afterwards (a storage fault, a writer on a preempted node), every
restore fails with ``IndexError: Read less bytes than requested`` and each restart repeats it,
while older intact checkpoints sit unused. So each candidate, newest first, is read back tensor
by tensor before it is used (the bundle reader checks every tensor's size and CRC32C).

Every worker makes this choice from the chief's folder, so all of them restore the same step.
Only the chief changes that folder: it moves the unreadable checkpoints into ``corrupt/`` (kept
for inspection, never deleted) and rewrites the state file without them, so neither
``latest_checkpoint`` nor the ``CheckpointManager`` that saves next lists them again. A worker
that reads while the chief moves a bad checkpoint finds it unreadable or gone: the same choice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import tensorflow as tf
from google.protobuf import text_format

from genlab import io

CORRUPT_DIR = "corrupt"
STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's default latest_filename


def unreadable(prefix: str) -> str | None:
    """Why the checkpoint at ``prefix`` cannot be read back whole; None when every tensor reads."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as e:  # IndexError (short read), DataLossError (CRC), NotFoundError, ...
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return f"{type(e).__name__}: {first}"
    return None


def _candidates(directory: str):
    """(state proto or None, checkpoint prefixes newest first)."""
    state = tf.train.get_checkpoint_state(directory)  # None when missing or unparsable
    if state is not None:
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        if state.model_checkpoint_path not in paths:
            paths.append(state.model_checkpoint_path)
        return state, paths[::-1]
    # No readable state file: the index files on disk are all there is to go on.
    numbered = []
    for index in tf.io.gfile.glob(io.join(directory, "ckpt-*.index")):
        m = re.search(r"ckpt-(\d+)\.index$", index)
        if m:
            numbered.append((int(m.group(1)), index[: -len(".index")]))
    return None, [p for _, p in sorted(numbered, reverse=True)]


def _move_aside(directory: str, prefix: str) -> str:
    """Move ``prefix``'s files into ``directory/corrupt/<name>[.N]/``; the folder it went to."""
    base = io.join(directory, CORRUPT_DIR, os.path.basename(prefix))
    dest, n = base, 0
    while tf.io.gfile.exists(dest):
        n += 1
        dest = f"{base}.{n}"
    tf.io.gfile.makedirs(dest)
    for f in tf.io.gfile.glob(prefix + ".*"):
        tf.io.gfile.rename(f, io.join(dest, os.path.basename(f)))
    return dest


def _rewrite_state(directory: str, state, keep: list[str]) -> None:
    """The state file without the moved checkpoints, written atomically (relative names, as
    CheckpointManager writes them, so the folder can be copied or mounted elsewhere)."""
    path = io.join(directory, STATE_FILE)
    if not keep:  # an empty model_checkpoint_path is "invalid" to get_checkpoint_state
        if tf.io.gfile.exists(path):
            tf.io.gfile.rename(path, io.join(directory, CORRUPT_DIR, STATE_FILE), overwrite=True)
        return
    stamps = dict(zip(state.all_model_checkpoint_paths, state.all_model_checkpoint_timestamps, strict=False))
    new = type(state)()
    new.model_checkpoint_path = os.path.basename(keep[-1])
    for p in keep:
        new.all_model_checkpoint_paths.append(os.path.basename(p))
        if p in stamps:
            new.all_model_checkpoint_timestamps.append(stamps[p])
    if len(new.all_model_checkpoint_timestamps) != len(keep):
        del new.all_model_checkpoint_timestamps[:]
    new.last_preserved_timestamp = state.last_preserved_timestamp
    io.write_text(path, text_format.MessageToString(new))


def resume_checkpoint(directory: str, *, is_chief: bool, log: Callable[[str], None] = print) -> str | None:
    """The newest checkpoint in ``directory`` that reads back whole, or None to start at step 0."""
    state, candidates = _candidates(directory)
    bad: list[str] = []
    chosen = None
    for prefix in candidates:
        problem = unreadable(prefix)
        if problem is None:
            chosen = prefix
            break
        bad.append(prefix)
        log(f"warning: checkpoint {prefix} does not read back whole ({problem}); skipping it")
    if is_chief and bad:
        for prefix in bad:
            log(f"moved the unreadable checkpoint {prefix} aside to {_move_aside(directory, prefix)}")
        if state is not None:
            kept = [p for p in state.all_model_checkpoint_paths if p not in bad and p != chosen]
            _rewrite_state(directory, state, [*kept, chosen] if chosen else [])
    if bad and chosen is None:
        log(f"warning: no checkpoint in {directory} reads back whole; training starts again from step 0")
    return chosen
