"""Pick the tf.distribute strategy from ``TF_CONFIG`` (the contract a TFJob and the local launcher share)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

from genlab.errors import LaunchError


@dataclass(frozen=True)
class Role:
    task_type: str  # worker | chief
    index: int
    num_workers: int  # workers + chief

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (
            self.task_type == "worker" and self.index == 0 and not self._has_chief
        )

    _has_chief: bool = False


def read_tf_config() -> dict | None:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return None
    try:
        cfg = json.loads(raw)
        cluster, task = cfg["cluster"], cfg["task"]
        task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise LaunchError(
            f"TF_CONFIG: expected {{'cluster': {{...}}, 'task': {{'type', 'index'}}}}: {e}"
        ) from None
    if not cluster.get("worker") and not cluster.get("chief"):
        raise LaunchError("TF_CONFIG: cluster has no 'worker' or 'chief' addresses")
    return cfg


def role_from_env() -> Role:
    cfg = read_tf_config()
    if cfg is None:
        return Role("worker", 0, 1)
    cluster, task = cfg["cluster"], cfg["task"]
    n = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return Role(task["type"], int(task["index"]), n, _has_chief=bool(cluster.get("chief")))


def make_strategy(role: Role) -> tf.distribute.Strategy:
    """MultiWorkerMirrored across processes; Mirrored across local GPUs; else the default."""
    if role.num_workers > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
