"""The one interface both launchers implement.

A launcher runs ``python -m genlab.train.worker`` on ``job.workers`` workers with a
``TF_CONFIG`` that names all of them, waits, and raises ``LaunchError`` (or
``ClusterError``) with the failing worker's exit code and last log lines.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from genlab.errors import ConfigError


@dataclass(frozen=True)
class TrainJob:
    config_json: str  # the whole experiment config, as JSON
    data_uri: str  # the prepared dataset (a folder or gs:// prefix)
    model_uri: str  # where worker 0 writes checkpoints and the final model
    workers: int = 1
    gpus_per_worker: int = 0
    name: str = "genlab-train"


def worker_args(job: TrainJob) -> list[str]:
    """Arguments after the interpreter: the same on a laptop and in a TFJob pod."""
    return [
        "-m",
        "genlab.train.worker",
        "--config",
        job.config_json,
        "--data",
        job.data_uri,
        "--model",
        job.model_uri,
    ]


class Launcher(Protocol):
    def run(self, job: TrainJob) -> None:
        """Run the job to completion; raise a GenlabError naming what failed."""


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def get_launcher(kind: str, **options) -> Launcher:
    """``local``, ``tfjob``, or ``auto`` (a TFJob when running inside a cluster)."""
    if kind == "auto":
        kind = "tfjob" if in_cluster() else "local"
    if kind == "local":
        from genlab.launch.local import LocalLauncher

        return LocalLauncher(**options)
    if kind == "tfjob":
        from genlab.launch.tfjob import TFJobLauncher

        return TFJobLauncher(**options)
    raise ConfigError(f"launcher: expected one of 'local', 'tfjob', 'auto', got {kind!r}")
