"""Utilisation against the machine's own limit: achieved FLOP/s of each family's training step as a
fraction of the peak TensorFlow reaches on this machine, and where a DCGAN step's time goes.

- Peaks: a large square matmul in float32 and in bfloat16, and every convolution of the DCGAN preset
  (its generator's and discriminator's Conv2D/Conv2DTranspose layers, input shapes read from the built
  networks, at the preset's batch), each alone in a ``tf.function``; FLOP/s = FLOPs / median seconds.
  The conv peak is the fastest of those layers: the best this machine does on the preset's own sizes.
- FLOPs of a step: TensorFlow's profiler (``float_operation``) on the graph of the traced
  ``train_step`` (forward, gradients and optimizer updates), counted from each op's registered
  statistics (tensorflow/python/profiler/internal/flops_registry.py: 2 per multiply-add). "Dense"
  FLOPs are the convolutions' and matmuls' alone, the work the peaks measure.
- Achieved FLOP/s = dense FLOPs per step x steps/s of ``genlab.train.train`` (one worker,
  ``benchmarks.throughput.genlab_rate``), measured in the same run as the peaks.
- Where a step's time goes: ``tf.profiler.experimental`` traces DCGAN's training; the trace
  (``*.xplane.pb``) is cut at the Python thread's ``distributed_steps`` calls (one step per call
  here), and each step's wall time is split into input (the ``IteratorGetNext`` op: waiting for a batch), all-reduce (collective
  ops), kernels (every other op, as the union of their intervals on TensorFlow's compute threads) and
  Python/dispatch (the rest: the loop's own code, function dispatch, idle gaps between ops).
"""

from __future__ import annotations

import glob
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import check_scale, prepared, save_figure, with_changes
from benchmarks.throughput import bench_experiment, genlab_rate

DENSE_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul", "BatchMatMulV2")
# the GAN presets the goal is about (by preset: the benchmarks name no family, tests/unit/test_family_contract.py)
GAN_PRESETS = ("dcgan_tiny", "dcgan_fashion_mnist", "cgan_fashion_mnist", "wgan_gp_fashion_mnist")
CONV_CALLS = 10  # convs per timed call
GOAL = 0.40  # of the measured conv peak, for the GAN families
SIZES = {  # presets, matmul size, timing repeats, throughput repeats, (warm-up, profiled) steps
    "tiny": (("dcgan_tiny",), 256, 3, 1, (4, 4)),
    "quick": (("dcgan_fashion_mnist", "cgan_fashion_mnist", "wgan_gp_fashion_mnist"), 1024, 5, 1, (10, 10)),
    "full": (
        (
            "dcgan_fashion_mnist",
            "cgan_fashion_mnist",
            "wgan_gp_fashion_mnist",
            "vae_fashion_mnist",
            "pixelcnn_fashion_mnist_16",
        ),
        2048,
        10,
        3,
        (20, 30),
    ),
}


def graph_flops(concrete_fn, op_types: tuple[str, ...] | None = None) -> int:
    """FLOPs of one call of a traced ``tf.function`` (its concrete function), as TensorFlow's profiler
    counts them; only the ops of ``op_types`` when given."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    builder = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
    if op_types:
        builder = builder.account_displayed_op_only(False)
        opts = builder.with_empty_output().build()
        opts["account_type_regexes"] = [f"^{t}$" for t in op_types]
    else:
        opts = builder.with_empty_output().build()
    return int(model_analyzer.profile(concrete_fn.graph, options=opts).total_float_ops)


def _repeated(body, times: int):
    """A tf.function running ``body(x)`` ``times`` times in a loop: one dispatch for many kernels
    (a loop, not copies of ``body``: the graph optimizer would merge identical copies)."""
    import tensorflow as tf

    @tf.function
    def fn(x):
        total = tf.constant(0.0)
        for _ in tf.range(times):
            total += body(x)
        return total

    return fn


def _seconds(fn, args, repeats: int) -> float:
    """Median seconds of ``fn(*args)`` (results fetched, so the work is done), after one warm-up call."""
    fn(*args).numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args).numpy()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_peak(n: int, dtype: str, repeats: int) -> dict:
    """FLOP/s of an n x n matmul: four chained products per call, so dispatch is a small share."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((n, n), (1, 2), dtype=tf.float32)
    a = tf.cast(a / n**0.5, dtype)

    @tf.function
    def chain(x):
        for _ in range(4):
            x = tf.matmul(x, a)
        return tf.reduce_sum(tf.cast(x[:1, :1], tf.float32))

    flops = graph_flops(chain.get_concrete_function(a), ("MatMul",))
    assert flops == 4 * 2 * n**3, flops  # the profiler's count is the textbook one
    return {"n": n, "dtype": dtype, "flops": flops, "flop_per_s": flops / _seconds(chain, (a,), repeats)}


def conv_layers(exp, data_uri: str) -> list[dict]:
    """The preset's conv layers: network, layer, op, input shape at the preset's batch."""
    from keras import layers

    from genlab import data, models

    spec = data.data_spec(data.load_manifest(data_uri), exp)
    model = models.build(exp, spec)
    found = []
    for net_name, net in sorted(model.networks.items()):
        for layer in net.layers:
            if isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
                shape = (exp.train.batch_size, *layer.input.shape[1:])
                found.append({"network": net_name, "layer": layer, "input_shape": shape})
    return found


def _conv(layer, x):
    """The layer's convolution alone (no bias, no activation), with its own kernel and settings."""
    from keras import layers, ops

    if isinstance(layer, layers.Conv2DTranspose):
        return ops.conv_transpose(
            x,
            layer.kernel,
            layer.strides,
            layer.padding,
            layer.output_padding,
            dilation_rate=layer.dilation_rate,
        )
    return ops.conv(x, layer.kernel, layer.strides, layer.padding, dilation_rate=layer.dilation_rate)


def conv_peaks(exp, data_uri: str, repeats: int) -> list[dict]:
    """FLOP/s of each of the preset's conv layers alone (forward, float32, its own weights)."""
    import tensorflow as tf

    rows = []
    for c in conv_layers(exp, data_uri):
        layer = c["layer"]
        x = tf.random.stateless_uniform(c["input_shape"], (3, 4))
        one = tf.function(lambda v, layer=layer: tf.reduce_sum(_conv(layer, v)))
        flops = graph_flops(one.get_concrete_function(x), DENSE_OPS)
        fn = _repeated(lambda v, layer=layer: tf.reduce_sum(_conv(layer, v)), CONV_CALLS)
        rows.append(
            {
                "network": c["network"],
                "layer": layer.name,
                "kind": type(layer).__name__,
                "input_shape": list(c["input_shape"]),
                "filters": layer.filters,
                "kernel": list(layer.kernel_size),
                "strides": list(layer.strides),
                "flops": flops,
                "flop_per_s": CONV_CALLS * flops / _seconds(fn, (x,), repeats),
            }
        )
    return rows


def step_flops(exp, data_uri: str) -> dict:
    """FLOPs of one training step of ``exp`` on one worker: all ops, and the convs' and matmuls'."""
    import keras
    import tensorflow as tf

    from genlab import data, models
    from genlab.models.base import StepContext

    manifest = data.load_manifest(data_uri)
    keras.utils.set_random_seed(exp.train.seed)
    model = models.build(exp, data.data_spec(manifest, exp))
    model.build_optimizers()
    step = tf.Variable(0, dtype=tf.int64)
    batch = next(iter(data.train_input(data_uri, manifest, global_batch=exp.train.batch_size, seed=0)))

    @tf.function
    def train_step(b):
        return model.train_step(b, StepContext(exp.train.batch_size, step, exp.train.seed))

    train_step(batch)  # the optimizers create their slots in the first call
    concrete = train_step.get_concrete_function(batch)
    return {"total": graph_flops(concrete), "dense": graph_flops(concrete, DENSE_OPS)}


def family_row(preset: str, scale: str, workdir: Path, peaks: dict) -> dict:
    repeats = SIZES[scale][3]
    exp = bench_experiment(preset, scale)
    data_uri = prepared(exp, workdir)
    flops = step_flops(exp, data_uri)
    rate = statistics.median(genlab_rate(exp, data_uri, workdir) for _ in range(repeats))
    steps_per_s = rate / exp.train.batch_size
    achieved = flops["dense"] * steps_per_s
    return {
        "preset": preset,
        "family": exp.model.family,
        "batch": exp.train.batch_size,
        "step_flops": flops["total"],
        "step_dense_flops": flops["dense"],
        "examples_per_s": rate,
        "steps_per_s": steps_per_s,
        "achieved_flop_per_s": achieved,
        "achieved_all_ops_flop_per_s": flops["total"] * steps_per_s,
        "of_conv_peak": achieved / peaks["conv"],
        "of_matmul_f32_peak": achieved / peaks["matmul_float32"],
    }


# ---- where a step's time goes: the profiler's trace ----


def _union(intervals: list[tuple[int, int]]) -> int:
    """Length of the union of [start, end) intervals."""
    total, end = 0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def _clip(intervals, lo: int, hi: int) -> list[tuple[int, int]]:
    return [(max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi]


def step_breakdown(xplane: str, skip: int) -> dict:
    """Split each step after the first ``skip`` (and before the last, which holds the final checkpoint)
    into input, all-reduce, kernels and Python/dispatch; means over those steps, in milliseconds."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(xplane).read_bytes())
    (host,) = [p for p in space.planes if p.name == "/host:CPU"]
    names = {k: m.name for k, m in host.event_metadata.items()}
    # an op's event is named "node_name:OpType" and displayed as its OpType
    op_types = {
        k: m.display_name
        for k, m in host.event_metadata.items()
        if m.display_name and m.name.endswith(f":{m.display_name}")
    }
    starts, ops = [], {"input": [], "allreduce": [], "kernels": []}
    for line in host.lines:
        t0 = line.timestamp_ns * 1000  # picoseconds, like the events' offsets
        if not line.name.startswith("tf_"):  # the Python thread that called the step (named "python" or not)
            starts += [t0 + e.offset_ps for e in line.events if names[e.metadata_id] == "distributed_steps"]
        if line.name.startswith("tf_data_iterator_get_next"):  # IteratorGetNext runs async, on its own thread
            ops["input"] += [
                (t0 + e.offset_ps, t0 + e.offset_ps + e.duration_ps)
                for e in line.events
                if names[e.metadata_id] == "IteratorGetNextOp::DoCompute"
            ]
        if not line.name.startswith("tf_Compute"):
            continue
        for e in line.events:
            op_type = op_types.get(e.metadata_id)
            if op_type is None:
                continue
            part = "input" if op_type.startswith("IteratorGetNext") else "kernels"
            part = "allreduce" if op_type.startswith(("Collective", "NcclAllReduce")) else part
            ops[part].append((t0 + e.offset_ps, t0 + e.offset_ps + e.duration_ps))
    starts.sort()
    if len(starts) < skip + 2:
        raise ValueError(f"{xplane}: {len(starts)} distributed_steps calls traced, expected over {skip + 1}")
    parts = {k: [] for k in ("wall", "input", "allreduce", "kernels", "python")}
    for lo, hi in zip(starts[skip:-1], starts[skip + 1 :], strict=False):
        busy = {k: _clip(v, lo, hi) for k, v in ops.items()}
        parts["wall"].append(hi - lo)
        parts["input"].append(_union(busy["input"]))
        parts["allreduce"].append(_union(busy["allreduce"]))
        # kernels: op time not already counted as input or all-reduce
        all_ops = _union(busy["input"] + busy["allreduce"] + busy["kernels"])
        parts["kernels"].append(all_ops - parts["input"][-1] - parts["allreduce"][-1])
        parts["python"].append(hi - lo - all_ops)
    out = {f"{k}_ms": statistics.fmean(v) / 1e9 for k, v in parts.items()}  # means: the parts add up
    out["steps"] = len(parts["wall"])
    out["input_ops_traced"] = len(ops["input"])  # 0: the trace has no IteratorGetNext to time
    return out


def profile_dcgan(scale: str, workdir: Path) -> dict:
    """Trace DCGAN's training (one worker, genlab.train.train) and break its steps down."""
    import keras
    import tensorflow as tf

    from genlab.train import train

    warm, timed = SIZES[scale][4]
    preset = SIZES[scale][0][0]
    steps = warm + timed + 1
    exp = with_changes(
        bench_experiment(preset, scale),
        train={"steps": steps, "log_every": steps, "checkpoint_every": steps, "steps_per_call": 1},
    )
    data_uri = prepared(exp, workdir)
    logdir = tempfile.mkdtemp(prefix="profile-", dir=workdir)
    tf.profiler.experimental.start(logdir)
    try:
        result = train(exp, data_uri, tempfile.mkdtemp(prefix="model-", dir=workdir))
    finally:
        tf.profiler.experimental.stop()
        keras.mixed_precision.set_global_policy("float32")
    (xplane,) = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    return {"preset": preset, "workers": result.workers, **step_breakdown(xplane, warm)}


def run(scale: str = "quick", workdir: str | Path | None = None, allreduce: dict | None = None) -> dict:
    """``allreduce``: section 2's result (its directly timed all-reduce of DCGAN's gradients), if run."""
    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-utilisation-"))
    presets, n, repeats, _, _ = SIZES[scale]
    matmuls = [matmul_peak(n, dtype, repeats) for dtype in ("float32", "bfloat16")]
    conv_exp = bench_experiment(presets[0], scale)
    convs = conv_peaks(conv_exp, prepared(conv_exp, workdir), repeats)
    peaks = {
        "matmul_float32": matmuls[0]["flop_per_s"],
        "matmul_bfloat16": matmuls[1]["flop_per_s"],
        "conv": max(c["flop_per_s"] for c in convs),
    }
    rows = [family_row(p, scale, workdir, peaks) for p in presets]
    gans = [r for r in rows if r["preset"] in GAN_PRESETS]
    return {
        "peaks": peaks,
        "matmuls": matmuls,
        "convs": convs,
        "conv_preset": presets[0],
        "families": rows,
        "goal_of_conv_peak": GOAL,
        "goal_met": bool(gans) and all(r["of_conv_peak"] >= GOAL for r in gans),
        "profile": profile_dcgan(scale, workdir),
        "allreduce": {k: allreduce[k] for k in ("allreduce_s_per_step", "allreduce_share_of_2w_step")}
        if allreduce
        else None,
    }


# ---- RESULTS.md and utilisation.png ----


def _g(x: float) -> str:
    return f"{x / 1e9:.3g}"


def markdown(r: dict) -> list[str]:
    p = r["peaks"]
    lines = [
        "Peak GFLOP/s this machine reaches with TensorFlow: matmul "
        f"{r['matmuls'][0]['n']}x{r['matmuls'][0]['n']} float32 **{_g(p['matmul_float32'])}**, bfloat16 "
        f"**{_g(p['matmul_bfloat16'])}**; conv (the fastest of {r['conv_preset']}'s own conv layers, "
        f"forward, float32) **{_g(p['conv'])}**. Achieved = the step's conv and matmul FLOPs (counted "
        "by TensorFlow's profiler on the traced `train_step`) x genlab's measured steps/s, one worker, "
        "float32. Method: `benchmarks/utilisation.py`.",
        "",
        "![utilisation](utilisation.png)",
        "",
        "| preset | batch | GFLOP/step (conv+matmul / all ops) | steps/s | achieved GFLOP/s | of conv peak "
        "| of f32 matmul peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in r["families"]:
        lines.append(
            f"| {f['preset']} | {f['batch']} | {_g(f['step_dense_flops'])} / {_g(f['step_flops'])} | "
            f"{f['steps_per_s']:.2f} | {_g(f['achieved_flop_per_s'])} | {100 * f['of_conv_peak']:.0f}% | "
            f"{100 * f['of_matmul_f32_peak']:.0f}% |"
        )
    gans = [f for f in r["families"] if f["preset"] in GAN_PRESETS]
    shares = ", ".join(f"{f['family']} {100 * f['of_conv_peak']:.0f}%" for f in gans)
    lines += [
        "",
        f"Goal >= {100 * r['goal_of_conv_peak']:.0f}% of the conv peak for the GAN families: "
        f"**{'met' if r['goal_met'] else 'not met'}** ({shares}).",
        "",
        "Conv layers of the peak (forward alone, the preset's batch):",
        "",
        "| network | layer | input | filters, kernel, strides | GFLOP | GFLOP/s |",
        "|---|---|---|---|---|---|",
    ]
    for c in r["convs"]:
        lines.append(
            f"| {c['network']} | {c['kind']} | {'x'.join(map(str, c['input_shape']))} | {c['filters']}, "
            f"{'x'.join(map(str, c['kernel']))}, {'x'.join(map(str, c['strides']))} | {_g(c['flops'])} | "
            f"{_g(c['flop_per_s'])} |"
        )
    b = r["profile"]
    wall = b["wall_ms"]
    lines += [
        "",
        f"Where a step goes ({b['preset']}, {b['workers']} worker, TensorFlow profiler trace of "
        f"`genlab.train.train`, mean of {b['steps']} steps; tracing slows a step, so the wall time is "
        f"above 1 / steps/s): wall {wall:.1f} ms = kernels {b['kernels_ms']:.1f} ms "
        f"({100 * b['kernels_ms'] / wall:.0f}%) + input wait "
        + (
            f"{b['input_ms']:.2f} ms ({100 * b['input_ms'] / wall:.0f}%)"
            if b["input_ops_traced"]
            else "unmeasured (no IteratorGetNext op in the trace)"
        )
        + f" + all-reduce {b['allreduce_ms']:.2f} ms + Python/dispatch "
        f"{b['python_ms']:.1f} ms ({100 * b['python_ms'] / wall:.0f}%).",
    ]
    a = r.get("allreduce")
    if a:
        lines.append(
            f"One worker has no all-reduce; with 2 workers section 2 times it directly: "
            f"{1000 * a['allreduce_s_per_step']:.1f} ms per step, {100 * a['allreduce_share_of_2w_step']:.1f}% "
            "of a 2-worker step."
        )
    else:
        lines.append("One worker has no all-reduce; section 2 (not in this run) times the 2-worker one.")
    return [*lines, ""]


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    p = r["peaks"]
    names = ["matmul f32", "matmul bf16", "conv peak"] + [f["family"] for f in r["families"]]
    values = [p["matmul_float32"], p["matmul_bfloat16"], p["conv"]]
    values += [f["achieved_flop_per_s"] for f in r["families"]]
    ax.bar(names, [v / 1e9 for v in values], color=["grey"] * 3 + ["tab:blue"] * len(r["families"]))
    ax.axhline(r["goal_of_conv_peak"] * p["conv"] / 1e9, color="tab:red", ls="--", label="goal: 40% of conv")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("peaks and achieved (conv+matmul FLOPs)")
    ax.tick_params(axis="x", rotation=30)
    ax.legend()
    b = r["profile"]
    left = 0.0
    for key, colour in (("kernels", "tab:blue"), ("input", "tab:green"), ("allreduce", "tab:orange")):
        ax2.barh([0], [b[f"{key}_ms"]], left=left, color=colour, label=key)
        left += b[f"{key}_ms"]
    ax2.barh([0], [b["python_ms"]], left=left, color="tab:grey", label="Python/dispatch")
    ax2.set_yticks([])
    ax2.set_xlabel("ms per step (traced)")
    ax2.set_title(f"{b['preset']}: one step")
    ax2.legend()
    fig.tight_layout()
    save_figure(fig, path)
