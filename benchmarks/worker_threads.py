"""2 workers on one machine's cores: the launcher's thread split against TensorFlow's defaults, and
against 1 worker, in one run.

    python -m benchmarks.worker_threads [--steps 48] [--repeats 3]

dcgan_fashion_mnist (dropout 0, global batch 64, 4,096 training examples) through the real
``LocalLauncher``. The three runs alternate, ``--repeats`` rounds, so a busy spell of the machine
hits all of them; each run's examples/s is worker 0's median over its logged intervals (the first,
with tracing, left out), and the ratios are medians of the per-round ratios. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import prepared, with_changes
from benchmarks.distributed import _experiment, train_with_workers

RUNS = {  # name -> (workers, extra env)
    "1_worker": (1, {}),
    "2_workers_split": (2, {}),  # the launcher's default (genlab.launch.local.cpu_share)
    "2_workers_tf_default": (2, {"TF_NUM_INTRAOP_THREADS": "0"}),  # 0: all cores per worker
}


def run(steps: int = 48, repeats: int = 3) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="genlab-bench-threads-"))
    exp = with_changes(
        _experiment("quick"), train={"steps": steps, "log_every": steps // 6, "checkpoint_every": steps}
    )
    data_uri = prepared(exp, workdir)
    rates = {name: [] for name in RUNS}
    for _ in range(repeats):
        for name, (workers, env) in RUNS.items():
            rates[name].append(train_with_workers(exp, data_uri, workers, workdir, env=env)["examples_per_s"])

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(rates[a], rates[b], strict=True))

    return {
        "preset": exp.name,
        "steps": steps,
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "examples_per_s": rates,
        "median_examples_per_s": {k: statistics.median(v) for k, v in rates.items()},
        "split_vs_1_worker": ratio("2_workers_split", "1_worker"),
        "tf_default_vs_1_worker": ratio("2_workers_tf_default", "1_worker"),
        "split_vs_tf_default": ratio("2_workers_split", "2_workers_tf_default"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    a = parser.parse_args()
    print(json.dumps(run(a.steps, a.repeats)), flush=True)
