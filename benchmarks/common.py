"""Helpers shared by the benchmark modules: sizes, experiments, prepared datasets, subprocesses.

Every module exposes ``run(scale, workdir) -> dict`` where ``scale`` is ``"tiny"`` (the tests: seconds),
``"quick"`` (``make bench-quick``: minutes in all) or ``"full"`` (``make bench``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

SCALES = ("tiny", "quick", "full")
ROOT = Path(__file__).resolve().parents[1]


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    return scale


def experiment(preset: str, overrides: dict | None = None):
    from genlab import config

    # No FID curve during training: the benchmarks time training alone (train.fid_samples).
    return config.load(preset, config.merge({"train": {"fid_samples": 0}}, overrides or {}))


def with_changes(exp, **sections):
    """``exp`` with nested changes, e.g. ``with_changes(exp, train={"steps": 10})``, validated again."""
    from genlab import config

    return config.experiment_from_dict(config.merge(exp.to_dict(), sections), f"benchmark {exp.name}")


def prepared(exp, workdir: Path) -> str:
    """Prepare ``exp``'s dataset once per distinct data config (cached under ``workdir``)."""
    from genlab import data

    key = json.dumps(
        {"data": exp.to_dict()["data"], "seq_len": getattr(exp.model, "seq_len", None)}, sort_keys=True
    )
    folder = Path(workdir) / "data" / hashlib.sha256(key.encode()).hexdigest()[:12]
    if not (folder / "manifest.json").is_file():
        data.prepare(exp, str(folder))
    return str(folder)


def run_python(args: list[str], env: dict | None = None, timeout: float = 600) -> str:
    """Run ``python args...`` in the repo root with the same interpreter; return stdout (raise on failure)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def last_json_line(text: str, prefix: str = "") -> dict:
    """The last line of ``text`` that starts with ``prefix`` and parses as a JSON object."""
    for line in reversed(text.splitlines()):
        if line.startswith(prefix):
            try:
                return json.loads(line[len(prefix) :])
            except json.JSONDecodeError:
                continue
    raise ValueError(f"no JSON line starting with {prefix!r} in the output")


def save_figure(fig, path: Path, dpi: int = 80) -> None:
    """A matplotlib figure as a PNG, written atomically (a reader never sees half a picture); closes it."""
    import io

    import matplotlib.pyplot as plt

    from genlab.io import write_bytes

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    write_bytes(str(path), buf.getvalue())
