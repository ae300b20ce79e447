"""The one interface both launchers implement.

A launcher runs ``python -m genlab.train.worker`` on ``job.workers`` workers with a
``TF_CONFIG`` that names all of them, waits, and raises ``LaunchError`` (or
``ClusterError``) with the failing worker's exit code and last log lines.
"""

from __future__ import annotations

import inspect
import os
import secrets
import time
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


# ``unique_name``'s suffix ``-<unix seconds>-<4 hex>``: 16 characters that name shortening keeps.
SUFFIX_LEN = 16


def unique_name(base: str) -> str:
    """``<base>-<unix seconds>-<4 hex>``: distinct for a rerun within the TFJob's TTL and for
    runs started in the same second."""
    return f"{base}-{int(time.time())}-{secrets.token_hex(2)}"


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


LAUNCHERS = ("local", "tfjob")


def in_cluster() -> bool:
    """Running in a pod: the kubelet sets ``KUBERNETES_SERVICE_HOST`` in every container."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def resolve_launcher(kind: str) -> str:
    """``local`` or ``tfjob``; ``auto`` is a TFJob inside a cluster (``KUBERNETES_SERVICE_HOST`` set)."""
    if kind == "auto":
        return "tfjob" if in_cluster() else "local"
    if kind not in LAUNCHERS:
        raise ConfigError(f"launcher: expected one of 'local', 'tfjob', 'auto', got {kind!r}")
    return kind


def _launcher_class(kind: str) -> type:
    if kind == "local":
        from genlab.launch.local import LocalLauncher

        return LocalLauncher
    from genlab.launch.tfjob import TFJobLauncher

    return TFJobLauncher


def launcher_options(kind: str) -> list[str]:
    """The options launcher ``kind`` (``local`` or ``tfjob``) takes."""
    params = inspect.signature(_launcher_class(kind).__init__).parameters
    return [name for name, p in params.items() if name != "self" and p.kind is not p.VAR_KEYWORD]


def get_launcher(kind: str, **options) -> Launcher:
    """``local``, ``tfjob``, or ``auto`` (a TFJob when running inside a cluster).

    An option the chosen launcher does not take is a ``ConfigError`` naming the option and the
    launcher; resolve ``auto`` first (``resolve_launcher``) to know which options to pass.
    """
    resolved = resolve_launcher(kind)
    taken = launcher_options(resolved)
    unknown = sorted(set(options) - set(taken))
    if unknown:
        which = f"'{resolved}'" + (" (launcher 'auto' in this environment)" if kind == "auto" else "")
        raise ConfigError(
            f"launcher {which}: does not take option(s) {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(taken)}"
        )
    return _launcher_class(resolved)(**options)
