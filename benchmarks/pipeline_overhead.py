"""Pipeline overhead: the wall time of a ``kfp.local`` run against the same four steps called directly.

Pipeline: ``pipelines.genlab_pipeline.run_local`` (kfp.local SubprocessRunner: each step is a fresh
Python process that imports TensorFlow, reads and writes artifacts). Direct: ``genlab.steps.prepare_data
-> train_model -> evaluate_model -> generate_samples`` in this process (training still starts its worker
processes through the local launcher, as in the pipeline). Each run gets a fresh ``GENLAB_CACHE`` so both
pay for the evaluation's feature extractor; overhead = pipeline / direct - 1 (medians over repeats).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import check_scale, experiment, with_changes

SIZES = {  # preset, overrides (with the reason stated in RESULTS.md), repeats
    "tiny": (
        "dcgan_tiny",
        {
            "train": {"steps": 2, "workers": 1},
            "evaluate": {"num_samples": 64},
            "data": {"max_train": 256, "max_test": 128},
        },
        1,
    ),
    "quick": ("dcgan_tiny", {}, 1),
    "full": ("dcgan_fashion_mnist", {}, 1),  # the demo preset as it is: one pair of runs takes ~20 min
}


class _fresh_cache:  # noqa: N801 - used as a context manager
    def __init__(self, root: Path):
        self.root = root

    def __enter__(self):
        self.old = os.environ.get("GENLAB_CACHE")
        os.environ["GENLAB_CACHE"] = tempfile.mkdtemp(prefix="cache-", dir=self.root)

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("GENLAB_CACHE", None)
        else:
            os.environ["GENLAB_CACHE"] = self.old


def pipeline_seconds(exp, workdir: Path) -> float:
    from pipelines.genlab_pipeline import run_local

    runs = tempfile.mkdtemp(prefix="runs-", dir=workdir)
    with _fresh_cache(workdir):
        t0 = time.perf_counter()
        run = run_local(exp, runs)
        seconds = time.perf_counter() - t0
    if not run.report_html.is_file():
        raise RuntimeError(f"the pipeline wrote no report at {run.report_html}")
    return seconds


def direct_seconds(exp, workdir: Path) -> dict[str, float]:
    """Seconds of each step called directly, in order."""
    from genlab import steps

    root = Path(tempfile.mkdtemp(prefix="direct-", dir=workdir))
    cfg = exp.to_json()
    dataset, model = str(root / "dataset"), str(root / "model")
    times = {}
    with _fresh_cache(workdir):
        t0 = time.perf_counter()
        steps.prepare_data(cfg, dataset)
        times["prepare_data"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        steps.train_model(
            cfg, dataset, model, workers=exp.train.workers, gpus_per_worker=0, steps=0, launcher="local"
        )
        times["train_model"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics = steps.evaluate_model(cfg, dataset, model)
        times["evaluate_model"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        steps.generate_samples(cfg, dataset, model, metrics, str(root / "samples"), str(root / "report.html"))
        times["generate_samples"] = time.perf_counter() - t0
    return times


def run(scale: str = "quick", workdir: str | Path | None = None) -> dict:
    check_scale(scale)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="genlab-bench-pipeline-"))
    preset, overrides, repeats = SIZES[scale]
    exp = with_changes(experiment(preset), **overrides) if overrides else experiment(preset)
    pipe, direct = [], []
    for _ in range(repeats):  # alternate, so a slow period of the machine hits both
        direct.append(direct_seconds(exp, workdir))
        pipe.append(pipeline_seconds(exp, workdir))
    direct_total = statistics.median(sum(d.values()) for d in direct)
    pipeline_total = statistics.median(pipe)
    return {
        "preset": preset,
        "overrides": overrides,
        "repeats": repeats,
        "workers": exp.train.workers,
        "train_steps": exp.train.steps,
        "pipeline_s": pipeline_total,
        "direct_s": direct_total,
        "direct_steps_s": {k: statistics.median(d[k] for d in direct) for k in direct[0]},
        "overhead": pipeline_total / direct_total - 1.0,
        "overhead_s": pipeline_total - direct_total,
    }
