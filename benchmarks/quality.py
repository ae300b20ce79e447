"""Quality at a fixed CPU budget: each registered family's preset (``benchmarks.families``) trained for a stated number of seconds (converted to
steps with genlab's measured examples/s), then ``genlab.evaluate.evaluate`` — FID/KID in the project's
feature space next to the real-data floor (real train vs test images) for image models, bits/dim for
PixelCNN and the VAEs, perplexity for text, pitch-class histogram distance for music, the loss
reduction of style transfer and DeepDream. One worker, in this process, presets otherwise unchanged.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from benchmarks import families
from benchmarks.common import check_scale, experiment, prepared, with_changes

KEYS = (
    *("fid", "fid_floor", "kid", "kid_floor", "bits_per_dim", "elbo", "nll", "perplexity", "bits_per_char"),
    *("pitch_class_distance", "pitch_class_distance_floor"),  # music (genlab.evaluate.music_metrics)
    # image-to-image (genlab.evaluate.translation)
    *("l1", "ssim", "fid_ab", "fid_ab_floor", "fid_ba", "fid_ba_floor", "cycle_l1_a", "cycle_l1_b"),
    *("loss_reduction", "dream_gain"),  # image optimisation (genlab.models.feature_network)
)

SIZES = {  # presets, CPU seconds of training per preset, extra overrides
    "tiny": (
        ["dcgan_tiny"],
        0,
        {"train": {"steps": 2}, "evaluate": {"num_samples": 64}, "data": {"max_train": 256, "max_test": 128}},
    ),
    "quick": (["dcgan_tiny"], 0, {}),
    "full": (None, 180, {}),  # None: every family's preset (benchmarks.families)
}


def budget_steps(exp, budget_s: float, examples_per_s: float | None) -> int:
    """Steps that fit ``budget_s`` at ``examples_per_s`` (never more than the preset's own steps)."""
    if not budget_s or not examples_per_s:
        return exp.train.steps
    return max(1, min(exp.train.steps or 10**9, math.floor(budget_s * examples_per_s / exp.train.batch_size)))


def measure(preset: str, scale: str, workdir: Path, rates: dict) -> dict:
    from genlab.evaluate import evaluate
    from genlab.train import train

    _, budget_s, overrides = SIZES[scale]
    exp = with_changes(
        experiment(preset), **{**overrides, "train": {**overrides.get("train", {}), "workers": 1}}
    )
    steps = budget_steps(exp, budget_s, rates.get(preset))
    exp = with_changes(exp, train={"steps": steps, "checkpoint_every": steps})
    data_uri = prepared(exp, workdir)
    model_dir = tempfile.mkdtemp(prefix="model-", dir=workdir)
    t0 = time.perf_counter()
    result = train(exp, data_uri, model_dir)
    train_s = time.perf_counter() - t0
    metrics = evaluate(exp, data_uri, model_dir)
    return {
        "preset": preset,
        "family": exp.model.family,
        "steps": steps,
        "batch": exp.train.batch_size,
        "budget_s": budget_s if rates.get(preset) else 0,  # no measured rate: the preset's own steps
        "train_s": train_s,
        "examples_per_s": result.examples_per_sec,
        "metrics": {k: metrics[k] for k in KEYS if k in metrics},
    }


def run(scale: str = "quick", workdir: str | Path | None = None, rates: dict | None = None) -> dict:
    """``rates``: preset -> genlab examples/s (from the throughput benchmark) to size each budget."""
    from genlab import config

    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-quality-"))
    presets, budget_s, _ = SIZES[scale]
    presets = presets or list(families.presets().values())
    have = set(config.preset_names())
    rows, skipped = [], []
    for preset in presets:
        if preset not in have:
            skipped.append({"preset": preset, "reason": "preset not in pipelines/configs"})
            continue
        try:
            rows.append(measure(preset, scale, workdir, rates or {}))
        except Exception as e:  # one family failing must not hide the others' numbers
            skipped.append({"preset": preset, "reason": f"{type(e).__name__}: {e}"[:300]})
    return {
        "budget_s_per_preset": budget_s,
        "rows": rows,
        "skipped": skipped,
        "note": "budget 0 = the preset's own step count (quick/tiny sizes)",
    }
