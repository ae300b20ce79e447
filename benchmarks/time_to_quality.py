"""Time to quality: FID against training wall-clock seconds, genlab's preset against the textbook.

For each image family (DCGAN, cGAN, the conv VAE) one run of each, one after the other on the same
machine in the same ``make bench`` run:

- genlab: the preset as a user runs it (its workers, batch, learning rate, networks) through the
  real local launcher, with ``train.fid_samples`` on; the points are ``fid_curve.json``'s, whose
  ``train_s`` is the chief's training-loop time with the curve's own scoring left out. The run is
  cut at ``SIZES``' step cap (a prefix of the preset's run: there is no schedule that the cap
  changes), and checkpoints come more often than the preset's so the curve has points.
- textbook: the keras.io example of the family (``benchmarks.textbook``) trained with
  ``model.fit`` for as many training seconds as genlab's run took, scored as often, by the same
  ``FidCurve`` (same pinned extractor, same test images, same number of samples, same seed).

FID here is on ``fid_samples`` samples (biased upwards at small counts), so the real-data floor is
measured at the same count: the same test images against as many train images. The target is
3x that floor; where a curve never reaches it, the section also reports the time each needs to
reach a quality both reach (the worse of the two best FIDs). A time is the checkpoint's at which
the curve first reaches the level (no interpolation).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.common import check_scale, experiment, prepared, save_figure, with_changes

PNG = "time_to_quality.png"
FULL_PRESETS = ["dcgan_fashion_mnist", "cgan_fashion_mnist", "vae_fashion_mnist"]
SIZES = {  # presets, genlab step cap (0: the preset's), checkpoint every, FID samples, max_train
    "tiny": (["dcgan_tiny"], 4, 2, 64, 256),
    "quick": (["dcgan_fashion_mnist"], 300, 100, 256, 0),
    "full": (FULL_PRESETS, 1000, 125, 500, 0),  # ~15 minutes in all on 2 cores
}
TINY_WORKERS = 1  # the tests: one worker process, not the preset's two
TARGET = 3.0  # FID <= TARGET x the real-data floor (issue 16)


def genlab_curve(exp, data_uri: str, workdir: Path) -> dict:
    """The preset through the real launcher with its own worker count; fid_curve.json's points."""
    import json

    from benchmarks.distributed import train_with_workers
    from genlab.train.fid_curve import FILE

    folder = Path(tempfile.mkdtemp(prefix="genlab-", dir=workdir))  # holds this run's model folder only
    run = train_with_workers(exp, data_uri, exp.train.workers, folder)
    (model_dir,) = folder.glob("model-*")
    points = json.loads((model_dir / FILE).read_text())
    return {"points": points, "wall_s": run["wall_s"], "examples_per_s": run["examples_per_s"]}


def textbook_curve(exp, data_uri: str, workdir: Path, budget_s: float, points: int) -> tuple[dict, float]:
    """The keras.io baseline for ``budget_s`` training seconds; its curve and the real-data floor."""
    import numpy as np

    from benchmarks import textbook
    from genlab import data
    from genlab.evaluate.metrics import fid
    from genlab.log import log
    from genlab.train.fid_curve import FidCurve

    manifest = data.load_manifest(data_uri)
    model_dir = tempfile.mkdtemp(prefix="textbook-", dir=workdir)
    curve = FidCurve(exp, data_uri, manifest, model_dir, 0, log)  # genlab's chief builds the same one
    train_x, train_y = data.load_arrays(data_uri, "train", manifest=manifest)
    rng = np.random.default_rng(exp.evaluate.seed + 1)
    real_train = train_x[rng.choice(len(train_x), len(curve.real_features), replace=False)]
    floor = float(fid(curve.real_features, curve.extractor.features(real_train)))
    steps, batch = textbook.train_curve(
        exp.model.family, train_x, train_y, manifest.num_classes, curve, budget_s, points, exp.train.seed
    )
    return {"points": curve.points, "steps": steps, "batch": batch}, floor


def first_time(points: list[dict], level: float) -> float | None:
    """Training seconds at the first point with FID <= level (None: never)."""
    return next((p["train_s"] for p in points if p["fid"] <= level), None)


def compare(genlab: list[dict], textbook: list[dict], floor: float) -> dict:
    """Times to 3x floor and to the common level, and their ratios (textbook / genlab)."""
    target = TARGET * floor
    g, t = first_time(genlab, target), first_time(textbook, target)
    common = max(min(p["fid"] for p in genlab), min(p["fid"] for p in textbook))
    gc, tc = first_time(genlab, common), first_time(textbook, common)
    return {
        "floor": floor,
        "target": target,
        "genlab_s_to_target": g,
        "textbook_s_to_target": t,
        "ratio_to_target": t / g if g and t else None,
        "common_fid": common,
        "genlab_s_to_common": gc,
        "textbook_s_to_common": tc,
        "ratio_to_common": tc / gc if gc and tc else None,
    }


def measure(preset: str, scale: str, workdir: Path) -> dict:
    _, cap, every, samples, max_train = SIZES[scale]
    exp = experiment(preset, {"train": {"fid_samples": samples}})
    steps = min(exp.train.steps, cap) if cap else exp.train.steps
    train = {"steps": steps, "checkpoint_every": every, "log_every": every}
    if scale == "tiny":
        train["workers"] = TINY_WORKERS
    exp = with_changes(exp, train=train, data={"max_train": max_train, "max_test": 256} if max_train else {})
    data_uri = prepared(exp, workdir)
    genlab = genlab_curve(exp, data_uri, workdir)
    budget_s = genlab["points"][-1]["train_s"]
    textbook, floor = textbook_curve(exp, data_uri, workdir, budget_s, len(genlab["points"]))
    return {
        "preset": preset,
        "family": exp.model.family,
        "workers": exp.train.workers,
        "steps": steps,
        "batch": exp.train.batch_size,
        "learning_rate": exp.train.learning_rate,
        "fid_samples": samples,
        "genlab": genlab,
        "textbook": textbook,
        **compare(genlab["points"], textbook["points"], floor),
    }


def run(scale: str = "quick", workdir: str | Path | None = None) -> dict:
    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-ttq-"))
    rows, skipped = [], []
    for preset in SIZES[scale][0]:
        try:
            rows.append(measure(preset, scale, workdir))
        except Exception as e:  # one family failing must not hide the others' numbers
            skipped.append({"preset": preset, "reason": f"{type(e).__name__}: {e}"[:300]})
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # other jobs on the machine slow both arms alike
    return {"rows": rows, "skipped": skipped, "target_x_floor": TARGET, "load_average_at_end": load}


RECIPES = [
    "What differs (the recipe is the product): the GANs' textbook generator (keras.io) keeps 128 channels "
    "through two 4x4 transposed convolutions up to 28x28 and ends in a 7x7 convolution over 128 channels, "
    "with LeakyReLU and no normalisation, Adam(3e-4, beta_1 0.9) and a 128-d latent; genlab's presets use a "
    "DCGAN generator of width 32 (128 -> 64 -> 32 channels) with BatchNorm + ReLU (Radford et al.), "
    "Adam(2e-4, beta_1 0.5), a 64-d latent, and train on 2 workers. So a textbook step costs several "
    "times a genlab step, and BatchNorm lets genlab's generator leave the blurry phase sooner. The "
    "textbook VAE has a 2-d latent and a 16-unit bottleneck (made for plotting the latent plane), trained "
    "on grey levels; genlab's has a 16-d latent and a 256-unit layer, on dynamically binarized pixels.",
    "",
]


def _s(x, first: float) -> str:
    if x is None:
        return "never"
    return f"<= {x:.0f} s (1st point)" if x == first else f"{x:.0f} s"


def _ratio(g, t, g_first: float, t_first: float) -> str:
    """textbook / genlab; a bound where a curve got there by its first checkpoint (it may have been sooner)."""
    if g is None or t is None:
        return {(False, True): "genlab only", (True, False): "textbook only"}.get((g is None, t is None), "–")
    if g == g_first and t == t_first:
        return "– (both at 1st point)"
    bound = ">= " if g == g_first else "<= " if t == t_first else ""
    return f"{bound}{t / g:.2f}x"


def _curve_note(name: str, points: list[dict]) -> str:
    """What a curve did that the table hides: no progress after its first point, or a rise."""
    fids = [p["fid"] for p in points]
    best = min(fids)
    if len(fids) > 1 and fids.index(best) == 0:
        return f" The {name} curve never improved on its first point ({best:.3g})."
    if fids[-1] > 2 * best:
        return f" The {name} curve rose from its best {best:.3g} to {fids[-1]:.3g} (the training degraded)."
    return ""


def _verdict(rows: list[dict]) -> str:
    """The goal (>= 2x sooner to the target) per preset: met, missed, or not shown by this run."""
    met = [x["preset"] for x in rows if x["ratio_to_target"] is not None and x["ratio_to_target"] >= 2]
    missed = [x["preset"] for x in rows if x["ratio_to_target"] is not None and x["ratio_to_target"] < 2]
    unknown = [x["preset"] for x in rows if x["ratio_to_target"] is None]
    parts = [f"met for {', '.join(met)}" if met else "", f"missed for {', '.join(missed)}" if missed else ""]
    if unknown:
        parts.append(
            f"not shown for {', '.join(unknown)}: a curve did not reach the target within the run "
            "(see the common-FID columns and the FIDs at equal training time)"
        )
    return "Goal (>= 2x sooner to the target): " + "; ".join(p for p in parts if p) + "."


def markdown(r: dict) -> list[str]:
    lines = [
        "FID in the pinned feature space against training wall-clock seconds, sampled at checkpoints "
        "during one run of each: genlab's preset as a user runs it (its workers, through the local "
        "launcher) and the family's keras.io example trained with `model.fit` and the example's "
        "hyper-parameters (`benchmarks/textbook.py`), for as many training seconds as genlab's run. "
        "The clock stops while the curve scores samples (`fid_curve.json`'s `train_s`); process start-up "
        "is not counted for either. A time is that of the first checkpoint at or below the level. "
        f"Target: FID <= {r['target_x_floor']:g}x the real-data floor measured with the same sample count. "
        "Ratio = textbook time / genlab time (> 1: genlab sooner). "
        f"Load average at the end of the run: {r.get('load_average_at_end', 'not recorded')}.",
        "",
        f"![time to quality]({PNG})",
        "",
    ]
    head = ["preset", "workers", "steps", "FID samples", "floor", "target", "genlab", "textbook", "ratio"]
    head += ["common FID", "genlab", "textbook", "ratio", "final FID genlab / textbook"]
    rows = []
    for x in r["rows"]:
        g0, t0 = x["genlab"]["points"][0]["train_s"], x["textbook"]["points"][0]["train_s"]
        rows.append(
            [
                x["preset"],
                x["workers"],
                x["steps"],
                x["fid_samples"],
                f"{x['floor']:.3g}",
                f"{x['target']:.3g}",
                _s(x["genlab_s_to_target"], g0),
                _s(x["textbook_s_to_target"], t0),
                _ratio(x["genlab_s_to_target"], x["textbook_s_to_target"], g0, t0),
                f"{x['common_fid']:.3g}",
                _s(x["genlab_s_to_common"], g0),
                _s(x["textbook_s_to_common"], t0),
                _ratio(x["genlab_s_to_common"], x["textbook_s_to_common"], g0, t0),
                f"{x['genlab']['points'][-1]['fid']:.3g} / {x['textbook']['points'][-1]['fid']:.3g}",
            ]
        )
    lines += [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *["| " + " | ".join(str(c) for c in row) + " |" for row in rows],
        "",
        "Columns 6-9: time to FID <= target; 10-13: time to the common FID (the worse of the two best "
        "FIDs, a level both reach); a time at a curve's first checkpoint is an upper bound, so a ratio "
        "involving one is a bound. The last column compares the two at equal training time.",
        "",
    ]
    for x in r["rows"]:
        g, t = x["genlab"], x["textbook"]
        g_s, t_s = g["points"][-1]["train_s"], t["points"][-1]["train_s"]
        lines.append(
            f"- {x['preset']}: genlab {x['steps']} steps of batch {x['batch']} in {g_s:.0f} s of training "
            f"({x['steps'] * x['batch'] / g_s:.0f} examples/s; {g['wall_s']:.0f} s wall with start-up and "
            f"scoring); textbook {t['steps']} steps of batch {t['batch']} in {t_s:.0f} s "
            f"({t['steps'] * t['batch'] / t_s:.0f} examples/s)."
            + _curve_note("genlab", g["points"])
            + _curve_note("textbook", t["points"])
        )
    lines += ["", _verdict(r["rows"]), "", *RECIPES]
    for s in r.get("skipped", []):
        lines.append(f"- skipped {s['preset']}: {s['reason']}")
    return [*lines, ""]


def plot(r: dict, path: Path) -> None:
    """The curves, one panel per preset, beside RESULTS.md (nothing when the section has no rows)."""
    rows = r.get("rows", [])
    if not rows:
        return

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 4), squeeze=False)
    for ax, x in zip(axes[0], rows, strict=True):
        for name in ("genlab", "textbook"):
            pts = x[name]["points"]
            ax.plot([p["train_s"] for p in pts], [p["fid"] for p in pts], "o-", label=name)
        ax.axhline(x["target"], color="grey", ls="--", label=f"{TARGET:g}x floor")
        ax.set_yscale("log")
        ax.set_xlabel("training seconds")
        ax.set_ylabel(f"FID ({x['fid_samples']} samples)")
        ax.set_title(x["preset"])
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
