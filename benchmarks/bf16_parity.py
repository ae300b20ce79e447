"""bfloat16 parity: each mixed-precision family's quality after the same steps in float32 and in
bfloat16, three seeds each (one worker, in this process), so ``train.mixed_precision: auto`` turns
bfloat16 on only where it leaves quality within the seed-to-seed spread.

Criterion (``within_spread``): for every metric of a family, |mean(bf16) - mean(float32)| <=
max(range of the float32 seeds, range of the bfloat16 seeds). The seeds' range is what changing only
the seed already moves the metric by in either precision; a precision effect smaller than that cannot
be told apart from seed noise at this many seeds, and a larger one is called a change.

The metrics come from ``genlab.evaluate.evaluate`` with a fixed ``evaluate.seed`` (the same samples'
noise for every run): FID in the pinned feature space for the image GANs, bits/dim (the test ELBO)
and FID for the VAE. Evaluation always runs in float32 (a fresh build loads the float32 variables).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import check_scale, experiment, prepared, save_figure, with_changes

# preset -> (steps, metrics). Steps: a few hundred generator updates (WGAN-GP's 100 steps are 500
# critic batches), sized for the section to take ~25 minutes on 2 cores.
FULL = {
    "dcgan_fashion_mnist": (300, ("fid",)),
    "cgan_fashion_mnist": (300, ("fid",)),
    "wgan_gp_fashion_mnist": (100, ("fid",)),
    "vae_fashion_mnist": (600, ("bits_per_dim", "fid")),
}
SIZES = {  # presets, seeds, evaluate.num_samples, data overrides
    "tiny": ({"dcgan_tiny": (2, ("fid",))}, (0, 1), 64, {"max_train": 256, "max_test": 128}),
    "quick": ({"dcgan_tiny": (20, ("fid",))}, (0, 1, 2), 256, {"max_train": 2048, "max_test": 512}),
    "full": (FULL, (0, 1, 2), 1000, {"max_test": 2000}),
}
NOT_MEASURED_REASON = (
    "not measured: its preset's dataset and step cost did not fit this section's ~25-minute budget on "
    "2 cores; train.mixed_precision: auto keeps it in float32"
)


def _range(values: list[float]) -> float:
    return max(values) - min(values)


def within_spread(f32: list[float], bf16: list[float]) -> dict:
    """The criterion of the module docstring for one metric's per-seed values."""
    spread = max(_range(f32), _range(bf16))
    diff = statistics.fmean(bf16) - statistics.fmean(f32)
    return {
        "float32_mean": statistics.fmean(f32),
        "bf16_mean": statistics.fmean(bf16),
        "diff": diff,
        "allowed": spread,
        "within": abs(diff) <= spread,
    }


def _run(exp, data_uri: str, workdir: Path) -> tuple[dict, float]:
    import keras

    from genlab.evaluate import evaluate
    from genlab.train import train

    model_dir = tempfile.mkdtemp(prefix="model-", dir=workdir)
    t0 = time.perf_counter()
    try:
        train(exp, data_uri, model_dir)
    finally:
        keras.mixed_precision.set_global_policy("float32")  # evaluation and the next run start in float32
    seconds = time.perf_counter() - t0
    return evaluate(exp, data_uri, model_dir), seconds


def measure(preset: str, steps: int, metrics: tuple, scale: str, workdir: Path) -> dict:
    _, seeds, num_samples, data_changes = SIZES[scale]
    base = with_changes(
        experiment(preset),
        train={"steps": steps, "checkpoint_every": steps, "log_every": max(1, steps // 5), "workers": 1},
        evaluate={"num_samples": num_samples, "nll_importance_samples": 0, "seed": 0},
        data=data_changes,
    )
    data_uri = prepared(base, workdir)
    values = {"float32": {m: [] for m in metrics}, "bfloat16": {m: [] for m in metrics}}
    seconds = {"float32": [], "bfloat16": []}
    for seed in seeds:  # alternate the precisions, so a busy spell of the machine hits both
        for precision in ("float32", "bfloat16"):
            exp = with_changes(base, train={"seed": seed, "mixed_precision": precision == "bfloat16"})
            found, s = _run(exp, data_uri, workdir)
            seconds[precision].append(s)
            for m in metrics:
                values[precision][m].append(float(found[m]))
    checks = {m: within_spread(values["float32"][m], values["bfloat16"][m]) for m in metrics}
    return {
        "family": base.model.family,
        "preset": preset,
        "steps": steps,
        "batch": base.train.batch_size,
        "seeds": list(seeds),
        "values": values,
        "checks": checks,
        "within": all(c["within"] for c in checks.values()),
        "train_s_median": {p: statistics.median(v) for p, v in seconds.items()},
    }


def run(scale: str = "quick", workdir: str | Path | None = None) -> dict:
    from genlab import models

    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-bf16-"))
    chosen = SIZES[scale][0]
    rows = [measure(preset, *spec, scale, workdir) for preset, spec in chosen.items()]
    measured = {r["family"] for r in rows}
    return {
        "rows": rows,
        "not_measured": {
            f: NOT_MEASURED_REASON for f in models.mixed_precision_families() if f not in measured
        },
        "criterion": "|mean(bf16) - mean(float32)| <= max(range of float32 seeds, range of bf16 seeds)",
        "evaluate_num_samples": SIZES[scale][2],
    }


def markdown(r: dict) -> list[str]:
    """The RESULTS.md section: the table, the verdict per family, and the plot beside RESULTS.md."""
    from benchmarks.report import _table

    lines = [
        "Each family's preset, one worker, trained the same steps in float32 and in bfloat16 "
        "(`train.mixed_precision`) for seeds "
        + ", ".join(str(s) for s in (r["rows"][0]["seeds"] if r["rows"] else []))
        + f"; metrics by `genlab evaluate` ({r['evaluate_num_samples']} samples, evaluate.seed 0, in float32). "
        f"Criterion: bfloat16 is within the seed-to-seed spread when {r['criterion']}, for every metric "
        "(a precision effect smaller than what the seed alone moves cannot be told from noise at three seeds). "
        "The criterion was fixed before the numbers were measured; the stricter column (float32's range "
        "alone, which a noisier bfloat16 cannot widen) is shown, not used.",
        "",
        "![bf16 parity](bf16_parity.png)",
        "",
    ]
    table = []
    for row in r["rows"]:
        for metric, c in row["checks"].items():
            table.append(
                [
                    row["family"],
                    f"{row['preset']} ({row['steps']} steps)",
                    metric,
                    ", ".join(f"{v:.3g}" for v in row["values"]["float32"][metric]),
                    ", ".join(f"{v:.3g}" for v in row["values"]["bfloat16"][metric]),
                    c["diff"],
                    c["allowed"],
                    "yes" if c["within"] else "**no**",
                    "yes" if abs(c["diff"]) <= _range(row["values"]["float32"][metric]) else "no",
                    row["train_s_median"]["float32"] / max(row["train_s_median"]["bfloat16"], 1e-9),
                ]
            )
    lines += _table(
        [
            "family",
            "preset",
            "metric",
            "float32 per seed",
            "bf16 per seed",
            "mean diff",
            "allowed",
            "within",
            "stricter: within the float32 range alone",
            "train time f32/bf16",
        ],
        table,
    )
    safe = [row["family"] for row in r["rows"] if row["within"]]
    unsafe = [row["family"] for row in r["rows"] if not row["within"]]
    lines.append(
        f"- bfloat16 within the spread: {', '.join(safe) or 'none'}; outside it: {', '.join(unsafe) or 'none'}."
    )
    lines.append(_defaults_line())
    for family, reason in sorted(r["not_measured"].items()):
        lines.append(f"- {family}: {reason}.")
    return [*lines, ""]


def _defaults_line() -> str:
    """What the code does with the table: the families whose config class sets ``bf16_safe``."""
    from genlab import models

    families = models.mixed_precision_families()
    changed = [f for f in families if getattr(models.family_config(f), "bf16_safe", False)]
    return (
        "- Default changed (the config class sets `bf16_safe = True`, so `train.mixed_precision: auto` trains "
        "in bfloat16 on CPUs with avx512_bf16/amx_bf16 and GPUs of compute capability >= 8.0, float32 "
        f"elsewhere): {', '.join(changed) or 'none'}. Default unchanged (float32; `true` still opts in): "
        f"{', '.join(f for f in families if f not in changed) or 'none'}."
    )


def plot(r: dict, path: Path) -> None:
    """One panel per (family, metric): the per-seed values of each precision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(row, m) for row in r["rows"] for m in row["checks"]]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(2.6 * max(1, len(panels)), 3), squeeze=False)
    for ax, (row, metric) in zip(axes[0], panels, strict=False):
        for x, precision in enumerate(("float32", "bfloat16")):
            ys = row["values"][precision][metric]
            ax.plot([x] * len(ys), ys, "o", alpha=0.7)
            ax.plot([x - 0.2, x + 0.2], [statistics.fmean(ys)] * 2, "k-")
        ax.set_xticks([0, 1], ["f32", "bf16"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(f"{row['family']}: {metric}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
