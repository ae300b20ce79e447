"""Helpers for the reliability tests: tiny experiments, process lookups, thread-safe log capture."""

import os
import re
import threading
from pathlib import Path

from genlab import config


def tiny_exp(family: str = "dcgan", **train) -> config.Experiment:
    """A seconds-long experiment on the session's tiny Fashion-MNIST (tests/conftest.py)."""
    model = {"family": family, "latent_dim": 8}
    if family == "dcgan":
        model.update(width=8, dropout=0.0)
    settings = {
        "steps": 12,
        "batch_size": 32,
        "workers": 1,
        "log_every": 1,
        "checkpoint_every": 3,
        "learning_rate": 1e-3,
        "mixed_precision": False,  # about faults, not precision: the same numerics on every CI machine
        **train,
    }
    return config.experiment_from_dict({"name": "reliability", "model": model, "train": settings})


def checkpoint_steps(model_dir: Path) -> list[int]:
    """Steps of the complete checkpoints in ``model_dir/checkpoints`` (an index file is written last)."""
    folder = model_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(
        int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"ckpt-(\d+)\.index", p.name))
    )


def processes_mentioning(text: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``text``: orphan detection."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "status").read_text()
        except OSError:  # exited while we looked
            continue
        if text in cmdline and "State:\tZ" not in state:
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


class Lines:
    """A stream for LocalLauncher that keeps every line (the launcher writes from several threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def lines(self) -> list[str]:
        return self.text().splitlines()
