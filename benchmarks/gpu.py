"""The GPU run (``benchmarks/gpu.sh``, ``python -m benchmarks.run --gpu``): throughput with float32 vs
mixed precision and XLA off vs on for the GAN and VAE presets, then a short time-to-quality run
(DCGAN: FID in the pinned feature space at every checkpoint, against training seconds).

Results go to ``gpu_results.json`` and ``gpu_results.md`` beside RESULTS.md. Without a GPU
(``--dry-run``) the same code runs on the CPU at the tiny scale, so the tests cover it; its numbers
say nothing about a GPU. Sizes are chosen so the quick scale fits in a few minutes on one GPU.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks import throughput
from benchmarks.common import check_scale, experiment, prepared, with_changes

PRESETS = {"tiny": ["dcgan_tiny", "vae_fashion_mnist"], "quick": ["dcgan_fashion_mnist", "vae_fashion_mnist"]}
QUALITY = {  # preset, steps, checkpoint every, FID samples per checkpoint, max_train
    "tiny": ("dcgan_tiny", 2, 1, 64, 256),
    "quick": ("dcgan_fashion_mnist", 1500, 250, 1000, 0),
}


def device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU x{len(gpus)}" if gpus else "CPU"


def time_to_quality(scale: str, workdir: Path) -> dict:
    """Train the DCGAN preset once with the FID curve on; the curve, the wall time and the final FID."""
    from genlab import io
    from genlab.evaluate import evaluate
    from genlab.train import train
    from genlab.train.fid_curve import FILE

    preset, steps, every, samples, max_train = QUALITY[scale]
    exp = with_changes(
        experiment(preset, {"train": {"fid_samples": samples}}),
        train={"steps": steps, "checkpoint_every": every, "log_every": every, "workers": 1},
        data={"max_train": max_train, "max_test": 256 if max_train else 0},
        evaluate={"num_samples": samples},
    )
    data_uri = prepared(exp, workdir)
    model_dir = tempfile.mkdtemp(prefix="model-", dir=workdir)
    t0 = time.perf_counter()
    result = train(exp, data_uri, model_dir)
    train_s = time.perf_counter() - t0  # includes the FID curve's scoring and the export
    metrics = evaluate(exp, data_uri, model_dir)
    curve = io.read_json(io.join(model_dir, FILE))
    target = 3 * metrics["fid_floor"]
    reached = next((p["step"] for p in curve if p["fid"] <= target), None)
    rate = result.examples_per_sec
    return {
        "preset": preset,
        "steps": steps,
        "train_seconds": train_s,
        "examples_per_s": rate,
        "fid": metrics["fid"],
        "fid_floor": metrics["fid_floor"],
        "curve": curve,
        "step_at_3x_floor": reached,
        # training time to that step at the measured rate (the curve's own scoring left out)
        "seconds_at_3x_floor": reached * exp.train.batch_size / rate if reached and rate else None,
    }


def run(scale: str = "quick", workdir: str | Path | None = None) -> dict:
    check_scale(scale)
    if scale == "full":
        raise ValueError("benchmarks.gpu: scale 'full' does not fit the GPU run's 8 minutes; use quick")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-gpu-"))
    rows = []
    for preset in PRESETS[scale]:
        rows += throughput.variants(preset, scale, workdir, every_combo=True)
    return {
        "device": device(),
        "scale": scale,
        "throughput": rows,
        "time_to_quality": time_to_quality(scale, workdir),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def markdown(r: dict) -> str:
    lines = [
        f"# GPU run ({r['device']}, scale {r['scale']}, {r['date']})",
        "",
        "Written by `benchmarks/gpu.sh` (`python -m benchmarks.run --gpu`).",
        "",
        "| preset | XLA | mixed precision | ex/s | vs float32 without XLA |",
        "|---|---|---|---|---|",
    ]
    for row in r["throughput"]:
        lines.append(
            f"| {row['preset']} | {row['xla']} | {row['mixed_precision']} | "
            f"{row['genlab_examples_per_s']:.0f} | {row['ratio_vs_plain']:.2f}x |"
        )
    q = r["time_to_quality"]
    lines += [
        "",
        f"Time to quality: {q['preset']}, {q['steps']} steps, {q['train_seconds']:.0f} s of training "
        f"({q['examples_per_s']:.0f} ex/s); final FID {q['fid']:.3g} (floor {q['fid_floor']:.3g}); "
        + (
            f"FID <= 3x floor at step {q['step_at_3x_floor']} (~{q['seconds_at_3x_floor']:.0f} s)."
            if q["step_at_3x_floor"]
            else "FID did not reach 3x the floor."
        ),
        "",
        "| step | FID (curve samples) |",
        "|---|---|",
        *[f"| {p['step']} | {p['fid']:.3g} |" for p in q["curve"]],
    ]
    return "\n".join(lines) + "\n"


def write(r: dict, folder: Path) -> tuple[Path, Path]:
    """``gpu_results.json`` and ``gpu_results.md`` in ``folder``, each written whole."""
    from benchmarks.report import _atomic_write

    json_path, md_path = Path(folder) / "gpu_results.json", Path(folder) / "gpu_results.md"
    _atomic_write(json_path, (json.dumps(r, indent=1) + "\n").encode())
    _atomic_write(md_path, markdown(r).encode())
    return json_path, md_path
