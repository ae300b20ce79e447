"""Training throughput per model family: genlab's loop against a plain Keras baseline, same run, same machine.

genlab: ``genlab.train.train`` itself (one worker, in this process), reading
``TrainResult.examples_per_sec`` (the median over logged intervals; the first interval, which holds
tracing and the shuffle buffer's fill, is skipped).

Baseline (the same for every family, so it is the same networks, optimizers and ``train_step``
maths): the textbook custom loop of the Keras guide "Writing a training loop from scratch" —
a ``tf.data`` pipeline from in-memory arrays (``from_tensor_slices -> shuffle -> repeat -> batch``,
no prefetch, no parallel map) and one ``@tf.function`` call per step, no distribution strategy.
``model.fit`` is not used because every family here either has several networks and optimizers
(GANs, VAEs with flows) or a custom loss, and Keras 3's ``fit`` cannot run under the
MultiWorkerMirroredStrategy genlab needs (README, "Distributed training"). In ``full`` scale an eager
``GradientTape`` loop (no ``tf.function``) is reported too, as the slowest textbook form.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import families
from benchmarks.common import check_scale, experiment, prepared, with_changes

# steps timed per measurement (after one warm-up interval) and steps per logged interval
SIZES = {"tiny": (4, 1), "quick": (8, 2), "full": (60, 10)}
MAX_TRAIN = {"tiny": 256, "quick": 4096, "full": 0}
REPEATS = {"tiny": 1, "quick": 1, "full": 3}  # (genlab, baseline) pairs per family


def presets_for_run(names: list[str] | None = None) -> dict[str, str]:
    """label -> preset: every registered family's preset (benchmarks.families), or the named presets."""
    from genlab import config

    if names:
        have = set(config.preset_names())
        return {families.label_of(name): name for name in names if name in have}
    return families.presets()


def bench_experiment(preset: str, scale: str, **train_changes):
    """The preset at its own model size and batch, one worker, trained for the scale's step count."""
    steps, log_every = SIZES[scale]
    exp = experiment(preset)
    return with_changes(
        exp,
        train={
            "steps": steps,
            "log_every": log_every,
            "checkpoint_every": steps,
            "workers": 1,
            **train_changes,
        },
        data={"max_train": MAX_TRAIN[scale], "max_test": 256 if scale != "full" else 0},
    )


def genlab_rate(exp, data_uri: str, workdir: Path) -> float:
    """Examples/s of ``genlab.train.train`` (median of the logged intervals after the first)."""
    return _train(exp, data_uri, workdir).examples_per_sec


def genlab_rate_and_cpu(exp, data_uri: str, workdir: Path) -> tuple[float, float]:
    """Examples/s, and CPU milliseconds (all of this process's threads) per example of
    ``genlab.train.train``: the CPU time of the run minus that of a run of ``log_every`` steps, so
    start-up and tracing cancel. Unlike wall time, CPU time hardly changes when other processes load
    the machine."""
    short = with_changes(exp, train={"steps": exp.train.log_every, "checkpoint_every": exp.train.log_every})
    c0 = time.process_time()
    _train(short, data_uri, workdir)
    c1 = time.process_time()
    rate = _train(exp, data_uri, workdir).examples_per_sec
    c2 = time.process_time()
    examples = (exp.train.steps - exp.train.log_every) * exp.train.batch_size
    return rate, 1000 * max((c2 - c1) - (c1 - c0), 0.0) / examples


def _train(exp, data_uri: str, workdir: Path):
    import keras

    from genlab.train import train

    model_dir = tempfile.mkdtemp(prefix="model-", dir=workdir)
    try:
        return train(exp, data_uri, model_dir)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _arrays(data_uri: str):
    """The train split as numpy arrays (images uint8 + labels, or int32 token windows)."""
    import numpy as np

    from genlab import data

    manifest = data.load_manifest(data_uri)
    rows = list(data.split_dataset(data_uri, manifest, "train").batch(4096).as_numpy_iterator())
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def baseline_rate(exp, data_uri: str, *, compiled: bool = True, steps: int | None = None) -> dict:
    """Examples/s and CPU ms per example of the textbook loop (see the module docstring), same model and batch."""
    import keras
    import tensorflow as tf

    from genlab import data, models
    from genlab.models.base import StepContext

    manifest = data.load_manifest(data_uri)
    spec = data.data_spec(manifest, exp)
    keras.utils.set_random_seed(exp.train.seed)
    model = models.build(exp, spec)
    batch = exp.train.batch_size
    arrays = _arrays(data_uri)
    n = len(next(iter(arrays.values())))

    def to_float(x):
        if "image" in x:
            return {"image": tf.cast(x["image"], tf.float32) / 255.0, "label": tf.cast(x["label"], tf.int32)}
        return x

    ds = tf.data.Dataset.from_tensor_slices(arrays).shuffle(n, seed=exp.train.seed).repeat()
    ds = ds.batch(batch, drop_remainder=True).map(to_float)
    step = tf.Variable(0, dtype=tf.int64, trainable=False)

    def train_step(b):
        out = model.train_step(b, StepContext(batch, step, exp.train.seed))
        step.assign_add(1)
        return out

    fn = tf.function(train_step) if compiled else train_step
    total, per_log = steps or exp.train.steps, exp.train.log_every
    it = iter(ds)
    rates, cpu = [], 0.0
    for interval in range(total // per_log):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(per_log):
            losses = fn(next(it))
        _ = {k: float(v) for k, v in losses.items()}  # the textbook prints the losses at each log
        if interval:  # the first interval holds tracing
            rates.append(per_log * batch / (time.perf_counter() - t0))
            cpu += time.process_time() - c0
    return {
        "examples_per_s": statistics.median(rates),
        "cpu_ms_per_example": 1000 * cpu / (len(rates) * per_log * batch),
    }


def _with_mixed_precision(exp):
    """``exp`` with ``train.mixed_precision`` on, or None where the config rejects it (e.g. IAF flows)."""
    from genlab.errors import ConfigError

    try:
        return with_changes(exp, train={"mixed_precision": True})
    except ConfigError:
        return None


def measure(preset: str, scale: str, workdir: Path) -> dict:
    from genlab.train import precision

    default = bench_experiment(preset, scale)  # train.mixed_precision as the preset says (auto)
    exp = with_changes(default, train={"mixed_precision": False})  # float32: the same maths as the baseline
    data_uri = prepared(exp, workdir)
    row = {
        "preset": preset,
        "family": exp.model.family,
        "batch": exp.train.batch_size,
        "steps_timed": exp.train.steps - exp.train.log_every,
        # the default configuration is one of the two measured below: bfloat16 where auto resolves to it
        "default_precision": "bfloat16" if precision.resolve(default) else "float32",
    }
    mixed = _with_mixed_precision(exp)
    pairs, bf16 = [], []  # alternate genlab and baseline, so a busy spell of the machine hits both
    for _ in range(REPEATS[scale]):
        pairs.append((genlab_rate_and_cpu(exp, data_uri, workdir), baseline_rate(exp, data_uri)))
        if mixed:  # genlab's one CPU-side speed option: bfloat16 compute (the default where auto picks it)
            bf16.append(genlab_rate(mixed, data_uri, workdir))
    row["repeats"] = len(pairs)
    row["genlab_examples_per_s"] = statistics.median(g for (g, _), _ in pairs)
    row["baseline_examples_per_s"] = statistics.median(b["examples_per_s"] for _, b in pairs)
    row["speedup"] = statistics.median(
        g / b["examples_per_s"] for (g, _), b in pairs
    )  # median of paired ratios
    row["genlab_cpu_ms_per_example"] = statistics.median(c for (_, c), _ in pairs)
    row["baseline_cpu_ms_per_example"] = statistics.median(b["cpu_ms_per_example"] for _, b in pairs)
    row["speedup_cpu_time"] = row["baseline_cpu_ms_per_example"] / max(row["genlab_cpu_ms_per_example"], 1e-9)
    if bf16:
        row["genlab_bf16_examples_per_s"] = statistics.median(bf16)
        row["speedup_bf16"] = statistics.median(
            m / b["examples_per_s"] for m, (_, b) in zip(bf16, pairs, strict=True)
        )
    if row["default_precision"] == "bfloat16":
        row["default_examples_per_s"], row["speedup_default"] = (
            row["genlab_bf16_examples_per_s"],
            row["speedup_bf16"],
        )
    else:
        row["default_examples_per_s"], row["speedup_default"] = row["genlab_examples_per_s"], row["speedup"]
    if scale == "full":
        eager_steps = max(2 * exp.train.log_every, exp.train.steps // 3)
        row["eager_examples_per_s"] = baseline_rate(exp, data_uri, compiled=False, steps=eager_steps)[
            "examples_per_s"
        ]
        row["speedup_vs_eager"] = row["genlab_examples_per_s"] / row["eager_examples_per_s"]
    return row


def variants(preset: str, scale: str, workdir: Path, every_combo: bool = False) -> list[dict]:
    """genlab with XLA (and, on a GPU, mixed precision) on vs off, for one preset. ``every_combo``:
    all four at any scale and device (the GPU run and its CPU dry run), mixed precision where the
    preset allows it."""
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))
    combos = [(False, False)] if scale == "tiny" else [(False, False), (True, False)]  # tiny: no XLA compile
    if gpu or every_combo:
        combos = [(False, False), (True, False), (False, True), (True, True)]
    mixed_ok = _with_mixed_precision(bench_experiment(preset, scale)) is not None
    rows = []
    for xla, mp in combos:
        if mp and not mixed_ok:
            continue
        exp = bench_experiment(preset, scale, xla=xla, mixed_precision=mp)
        data_uri = prepared(exp, workdir)
        rows.append(
            {
                "preset": preset,
                "device": "GPU" if gpu else "CPU",
                "xla": xla,
                "mixed_precision": mp,
                "genlab_examples_per_s": genlab_rate(exp, data_uri, workdir),
            }
        )
    base = rows[0]["genlab_examples_per_s"]
    for r in rows:
        r["ratio_vs_plain"] = r["genlab_examples_per_s"] / base
    return rows


def default_goal(rows: list[dict], met) -> list[str]:
    """Issue 16's goal: the default configuration >= 1.25x the float32 baseline, over the rows that
    allow bfloat16 (the GAN and VAE presets among them); rows without it have no precision to choose."""
    chosen = [x for x in rows if "speedup_default" in x and "speedup_bf16" in x]
    if not chosen:
        return []
    worst = min(chosen, key=lambda x: x["speedup_default"])
    others = [x["label"] for x in rows if "speedup_bf16" not in x]
    return [
        f"Goal (the default configuration >= 1.25x the float32 baseline, rows that allow bfloat16): "
        f"{met(worst['speedup_default'] >= 1.25)} (lowest {worst['speedup_default']:.2f}x, {worst['label']} "
        f"in {worst['default_precision']}; "
        + ", ".join(f"{x['label']} {x['speedup_default']:.2f}x" for x in chosen)
        + (f"; float32 only, not counted: {', '.join(others)}" if others else "")
        + ").",
        "",
    ]


def merge(previous: dict, new: dict) -> dict:
    """``previous`` with the families ``new`` measured replaced (re-measuring some presets keeps the rest)."""
    order = list(families.presets())
    fresh = {r["label"] for r in new["families"]} | {s["label"] for s in new["skipped"]}
    rows = [r for r in previous["families"] if r["label"] not in fresh] + new["families"]
    skipped = [s for s in previous["skipped"] if s["label"] not in fresh] + new["skipped"]
    rows.sort(key=lambda r: order.index(r["label"]) if r["label"] in order else len(order))
    return {**new, "families": rows, "skipped": skipped}


def run(scale: str = "quick", workdir: str | Path | None = None, presets: list[str] | None = None) -> dict:
    """{"families": [row per preset], "variants": [...], "baseline": description}."""
    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-throughput-"))
    chosen = presets_for_run(presets)
    rows, skipped = [], []
    for label, preset in chosen.items():
        try:
            rows.append({"label": label, **measure(preset, scale, workdir)})
        except Exception as e:  # a family another engineer is still changing must not sink the suite
            skipped.append({"label": label, "preset": preset, "reason": f"{type(e).__name__}: {e}"[:300]})
    variant_preset = "dcgan_tiny" if scale == "tiny" else "dcgan_fashion_mnist"
    return {
        "families": rows,
        "skipped": skipped,
        "variants": variants(variant_preset, scale, workdir),
        "steps": SIZES[scale][0],
        "log_every": SIZES[scale][1],
        "max_train": MAX_TRAIN[scale],
        "baseline": "textbook Keras custom loop: tf.data from in-memory arrays (no prefetch), one "
        "@tf.function call per step, no strategy; same networks, optimizers, batch and train_step",
    }
