"""Distributed training: 1 vs 2 local workers (``LocalLauncher``, MultiWorkerMirroredStrategy on loopback).

Both runs use the same config (DCGAN, dropout 0, same global batch, steps and seed), so they see the
same examples in the same order and the same noise: their logged losses must agree up to
floating-point summation order. A GAN's training amplifies such rounding differences step by step,
so the yardstick is a rounding reference: the same 1-worker run with oneDNN off
(``TF_ENABLE_ONEDNN_OPTS=0``: other kernels, other summation order, the same maths). The workers
agree when their losses are within 1e-3 of each other, or no further apart than 10x the reference.
Examples/s is worker 0's ``TrainResult.examples_per_sec``.

Communication overhead per step is measured directly: two processes with
MultiWorkerMirroredStrategy all-reduce tensors the size of each network's gradients (DCGAN applies
two gradient updates per step, the discriminator's and the generator's), timed as the median of
repeated ``all_reduce`` calls in a ``tf.function``. The losses' reductions (a few scalars) are left out.
The launcher splits the cores between CPU workers (``genlab.launch.local.cpu_share``:
``TF_NUM_INTRAOP_THREADS`` = cores / workers); a second 2-worker run with TensorFlow's own default
(every worker sizes its intra-op pool to all cores) shows what the split changes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, check_scale, experiment, last_json_line, prepared, with_changes

SIZES = {  # preset, steps, log_every, max_train, all-reduce repeats
    "tiny": ("dcgan_tiny", 4, 2, 256, 5),
    "quick": ("dcgan_fashion_mnist", 24, 6, 4096, 20),
    "full": ("dcgan_fashion_mnist", 200, 25, 0, 50),
}


def _experiment(scale: str):
    preset, steps, log_every, max_train, _ = SIZES[scale]
    exp = experiment(preset)
    return with_changes(
        exp,
        model={"dropout": 0.0},
        # float32 pinned: the loss agreement is about the all-reduce, not bfloat16 rounding (auto)
        train={"steps": steps, "log_every": log_every, "checkpoint_every": steps, "mixed_precision": False},
        data={"max_train": max_train, "max_test": 256},
    )


def train_with_workers(exp, data_uri: str, workers: int, workdir: Path, env: dict | None = None) -> dict:
    """Run the real launcher; return worker 0's TrainResult, its history and the wall time."""
    from genlab.launch import TrainJob
    from genlab.launch.local import LocalLauncher

    model_dir = tempfile.mkdtemp(prefix=f"model-w{workers}-", dir=workdir)
    job = TrainJob(
        config_json=with_changes(exp, train={"workers": workers}).to_json(),
        data_uri=data_uri,
        model_uri=model_dir,
        workers=workers,
        name=f"bench-{workers}w",
    )
    log = io.StringIO()
    t0 = time.perf_counter()
    LocalLauncher(stream=log, env=env).run(job)
    wall = time.perf_counter() - t0
    result = last_json_line(log.getvalue(), "[worker-0] done: ")
    history = json.loads((Path(model_dir) / "history.json").read_text())
    return {
        "examples_per_s": result["examples_per_sec"],
        "wall_s": wall,
        "final_losses": result["final_losses"],
        "history": history,
        "weights_sha256": result["weights_sha256"],
    }


def _step_diffs(h1: list[dict], h2: list[dict]) -> dict[int, tuple[float, float]]:
    """step -> (largest absolute, largest relative) difference of the losses logged at that step."""
    by_step = {h["step"]: h for h in h2}
    out = {}
    for h in h1:
        other = by_step.get(h["step"])
        if other is None:
            continue
        diffs = {k: abs(v - other[k]) for k, v in h.items() if k not in ("step", "examples_per_sec")}
        out[h["step"]] = (max(diffs.values()), max(d / max(abs(h[k]), 1e-12) for k, d in diffs.items()))
    return out


def _loss_agreement(one: list[dict], two: list[dict], reference: list[dict]) -> dict:
    """1 vs 2 workers next to the rounding reference (1 worker, oneDNN on vs off), at every logged step."""
    dist, rounding = _step_diffs(one, two), _step_diffs(one, reference)
    steps = sorted(dist)
    max_rel, max_ref = max(dist[s][1] for s in steps), max(rounding[s][1] for s in steps)
    return {
        "max_abs_loss_diff": max(dist[s][0] for s in steps),
        "max_rel_loss_diff": max_rel,
        "max_rel_rounding_diff": max_ref,
        "per_step": [
            {"step": s, "rel_2_vs_1_workers": dist[s][1], "rel_rounding_reference": rounding[s][1]}
            for s in steps
        ],
        "agree": max_rel <= 1e-3 or max_rel <= 10 * max_ref,
    }


def gradient_sizes(exp, data_uri: str) -> dict[str, int]:
    """Trainable parameters of each optimizer's variables: the floats all-reduced per update."""
    import numpy as np

    from genlab import data, models

    spec = data.data_spec(data.load_manifest(data_uri), exp)
    model = models.build(exp, spec)
    return {name: int(sum(np.prod(v.shape) for v in model.trainable_for(name))) for name in model.optimizers}


def allreduce_seconds(sizes: list[int], repeats: int) -> dict:
    """Median seconds of all-reducing float32 tensors of ``sizes`` across 2 processes (worker 0's view)."""
    from genlab.launch.local import free_ports, tf_config

    ports = free_ports(2)
    args = [
        sys.executable,
        "-m",
        "benchmarks.distributed",
        "--allreduce",
        ",".join(map(str, sizes)),
        "--repeats",
        str(repeats),
    ]
    procs = [
        subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "CUDA_VISIBLE_DEVICES": "",
                "TF_CONFIG": tf_config(ports, i),
            },
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode:
            raise RuntimeError(f"all-reduce worker failed ({p.returncode}): {err[-1500:]}")
    return last_json_line(outs[0][0], "ALLREDUCE ")


def _allreduce_main(sizes: list[int], repeats: int) -> None:
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    tensors = [tf.ones([n]) for n in sizes]

    @tf.function
    def reduce_all():
        ctx = lambda: tf.distribute.get_replica_context()  # noqa: E731
        return strategy.run(lambda: [ctx().all_reduce("SUM", t) for t in tensors])

    def once():
        out = reduce_all()
        _ = [float(tf.reduce_sum(strategy.experimental_local_results(o)[0][:1])) for o in out]

    once()  # warm-up: tracing and the collective's first handshake
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    print(
        "ALLREDUCE "
        + json.dumps({"median_s": statistics.median(times), "floats": sizes, "repeats": repeats}),
        flush=True,
    )


def run(scale: str = "quick", workdir: str | Path | None = None) -> dict:
    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-distributed-"))
    exp = _experiment(scale)
    data_uri = prepared(exp, workdir)
    one = train_with_workers(exp, data_uri, 1, workdir)
    two = train_with_workers(exp, data_uri, 2, workdir)
    cores = os.cpu_count() or 1
    tf_env = {"TF_NUM_INTRAOP_THREADS": "0"}  # 0: TensorFlow's default
    # the tiny size (the tests) leaves out the unsplit run: it only repeats the 2-worker path
    two_tf = None if scale == "tiny" else train_with_workers(exp, data_uri, 2, workdir, env=tf_env)
    reference = train_with_workers(exp, data_uri, 1, workdir, env={"TF_ENABLE_ONEDNN_OPTS": "0"})
    sizes = gradient_sizes(exp, data_uri)
    comm = allreduce_seconds(list(sizes.values()), SIZES[scale][4])
    batch = exp.train.batch_size
    step_1, step_2 = batch / one["examples_per_s"], batch / two["examples_per_s"]
    return {
        "preset": exp.name,
        "global_batch": batch,
        "steps": exp.train.steps,
        "cpu_count": cores,
        "workers_1": {k: v for k, v in one.items() if k != "history"},
        "workers_2": {k: v for k, v in two.items() if k != "history"},
        "workers_2_tf_threads": two_tf
        and {**{k: v for k, v in two_tf.items() if k != "history"}, "env": tf_env},
        "rounding_reference": {k: v for k, v in reference.items() if k != "history"},
        "speedup_2_vs_1": two["examples_per_s"] / one["examples_per_s"],
        "step_s_1": step_1,
        "step_s_2": step_2,
        "gradient_floats": sizes,
        "allreduce_s_per_step": comm["median_s"],
        "allreduce_share_of_2w_step": comm["median_s"] / step_2,
        "same_weights": one["weights_sha256"] == two["weights_sha256"],
        **_loss_agreement(one["history"], two["history"], reference["history"]),
        "method": "all-reduce of each network's gradient size between 2 MWMS processes "
        "(median of repeated tf.function calls)",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="all-reduce timing worker (run with TF_CONFIG)")
    parser.add_argument("--allreduce", required=True, help="comma-separated tensor sizes in floats")
    parser.add_argument("--repeats", type=int, default=20)
    a = parser.parse_args()
    _allreduce_main([int(s) for s in a.allreduce.split(",")], a.repeats)
