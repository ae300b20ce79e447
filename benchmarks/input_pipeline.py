"""Input pipeline: what ``genlab.data.train_input`` delivers against what training consumes, and the peak
memory of data preparation as the dataset grows (it streams, so memory should stay flat).

Delivery: iterate the training stream alone (no model) for N batches after the first (which holds the
shuffle buffer's fill), median of repeats. Consumption: genlab's training examples/s for the same batch
(from the throughput benchmark when it ran, else measured here). Memory: ``genlab.data.prepare`` in a
fresh process per size, reporting its own peak resident set (``VmHWM``), after imports and after preparing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import check_scale, experiment, last_json_line, prepared, run_python, with_changes

SIZES = {  # batches timed, repeats, prepare sizes (data.max_train)
    "tiny": (10, 1, (256, 1024)),
    "quick": (100, 3, (2000, 10000)),
    "full": (300, 5, (5000, 20000, 60000)),
}
PRESET = "dcgan_fashion_mnist"


def delivery_rate(exp, data_uri: str, batches: int, repeats: int) -> float:
    """Examples/s that ``train_input`` yields (global batch, one worker), median over repeats."""
    from genlab import data

    manifest = data.load_manifest(data_uri)
    ds = data.train_input(data_uri, manifest, global_batch=exp.train.batch_size, seed=exp.train.seed)
    it = iter(ds)
    next(it)  # the shuffle buffer fills and the cache is written here
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        rates.append(batches * exp.train.batch_size / (time.perf_counter() - t0))
    return statistics.median(rates)


def prepare_peak_mb(max_train: int, workdir: Path) -> dict:
    out = tempfile.mkdtemp(prefix=f"prep-{max_train}-", dir=workdir)
    stdout = run_python(["-m", "benchmarks.input_pipeline", "--prepare-peak", str(max_train), "--out", out])
    return last_json_line(stdout, "PEAK ")


def peak_rss_mb() -> float:
    """This process's peak resident set in MB. Linux: ``VmHWM`` (reset by exec; ``ru_maxrss`` is not, so a
    child forked from a big parent would report the parent's size); elsewhere ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _prepare_peak_main(max_train: int, out: str) -> None:
    from genlab import data

    before = peak_rss_mb()
    exp = with_changes(experiment(PRESET), data={"max_train": max_train, "max_test": 1000})
    t0 = time.perf_counter()
    manifest = data.prepare(exp, out + "/dataset")
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(
        "PEAK "
        + json.dumps(
            {
                "max_train": max_train,
                "examples": manifest.count("train"),
                "peak_rss_mb": peak,
                "before_prepare_mb": before,
                "seconds": seconds,
            }
        ),
        flush=True,
    )


def run(
    scale: str = "quick", workdir: str | Path | None = None, train_examples_per_s: float | None = None
) -> dict:
    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-input-"))
    batches, repeats, prep_sizes = SIZES[scale]
    max_train = 1024 if scale == "tiny" else 0
    exp = with_changes(experiment(PRESET), data={"max_train": max_train, "max_test": 256})
    data_uri = prepared(exp, workdir)
    delivered = delivery_rate(exp, data_uri, batches, repeats)
    source = "throughput benchmark (genlab, dcgan_fashion_mnist)"
    if train_examples_per_s is None:
        from benchmarks.throughput import bench_experiment, genlab_rate

        train_exp = bench_experiment(PRESET, scale)
        train_examples_per_s = genlab_rate(train_exp, prepared(train_exp, workdir), workdir)
        source = "measured here (genlab, dcgan_fashion_mnist)"
    memory = [prepare_peak_mb(n, workdir) for n in prep_sizes]
    peaks = [m["peak_rss_mb"] for m in memory]
    return {
        "preset": PRESET,
        "batch": exp.train.batch_size,
        "batches_timed": batches,
        "repeats": repeats,
        "train_examples": max_train or "all",
        "delivered_examples_per_s": delivered,
        "training_examples_per_s": train_examples_per_s,
        "training_rate_source": source,
        "headroom": delivered / train_examples_per_s,
        "prepare_memory": memory,
        "peak_growth": peaks[-1] / peaks[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="peak memory of genlab.data.prepare (one size)")
    parser.add_argument("--prepare-peak", type=int, required=True, help="data.max_train")
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    _prepare_peak_main(a.prepare_peak, a.out)
