"""The ``cluster`` section of an experiment: each TFJob worker pod's resources, labels, node
selectors and tolerations, checked against Kubernetes' own syntax when the config is loaded."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from genlab.errors import ConfigError

# Kubernetes syntax (k8s.io/apimachinery pkg/util/validation/validation.go: IsQualifiedName,
# IsValidLabelValue, IsDNS1123Subdomain) and the Toleration enums (k8s.io/api core/v1 types.go).
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")


def _check_label_key(key: str, where: str) -> None:
    prefix, _, name = key.rpartition("/")
    ok = len(name) <= 63 and _LABEL_NAME.match(name)
    if prefix:
        ok = ok and len(prefix) <= 253 and _DNS_SUBDOMAIN.match(prefix)
    if not ok:
        raise ConfigError(
            f"{where}: {key!r} is not a Kubernetes label key (an optional DNS prefix and '/', then "
            "up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
        )


def _check_label_value(value: str, where: str) -> None:
    if value and not (len(value) <= 63 and _LABEL_NAME.match(value)):
        raise ConfigError(
            f"{where}: {value!r} is not a Kubernetes label value (up to 63 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit)"
        )


def _check_labels(section: str, **maps: dict) -> None:
    for name, mapping in maps.items():
        for key, value in mapping.items():
            _check_label_key(key, f"{section}.{name}")
            _check_label_value(value, f"{section}.{name}.{key}")


def _quantity(value: str, key: str, unit: str):
    """A Kubernetes resource quantity (``500m``, ``2``, ``1536Mi``, ``4Gi``) as a Decimal."""
    from kubernetes.utils import parse_quantity

    try:
        q = parse_quantity(value)
    except (ValueError, TypeError):
        q = None
    if q is None or q <= 0:
        raise ConfigError(f"{key}: expected a Kubernetes quantity > 0 such as {unit}, got {value!r}")
    return q


@dataclass(frozen=True)
class Toleration:
    """A pod toleration (Kubernetes core/v1 Toleration)."""

    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # "" (all) | NoSchedule | PreferNoSchedule | NoExecute

    def __post_init__(self):
        if self.operator not in TOLERATION_OPERATORS:
            raise ConfigError(
                f"cluster.tolerations: operator: expected one of {', '.join(TOLERATION_OPERATORS)}, "
                f"got {self.operator!r}"
            )
        if self.effect not in TAINT_EFFECTS:
            raise ConfigError(
                f"cluster.tolerations: effect: expected one of NoSchedule, PreferNoSchedule, NoExecute "
                f"or '' (all), got {self.effect!r}"
            )
        if self.operator == "Exists" and self.value:
            raise ConfigError(f"cluster.tolerations: key {self.key!r}: operator Exists takes no value")
        if not self.key and self.operator != "Exists":
            raise ConfigError(
                "cluster.tolerations: an empty key needs operator Exists (it tolerates every taint)"
            )
        if self.key:
            _check_label_key(self.key, "cluster.tolerations.key")


@dataclass(frozen=True)
class ClusterConfig:
    """Each TFJob worker pod on a cluster, and how the train step watches the job (the local
    launcher ignores this section).

    GPUs per worker are ``train.gpus_per_worker``. GPU workers also get the ``nvidia.com/gpu``
    limit and a toleration for the ``nvidia.com/gpu`` taint of GPU node pools.
    """

    # Kubernetes quantities; a YAML number (``cpu: 2``) is kept as its string.
    cpu: str | int = "1"  # CPU request per worker
    memory: str | int = "4Gi"  # memory request per worker
    cpu_limit: str | int = ""  # "" = no CPU limit (a limit throttles; the request schedules)
    memory_limit: str | int = ""  # "" = the memory request (a worker past it is OOM-killed, not its node)
    labels: dict[str, str] = field(default_factory=dict)  # extra pod labels
    node_selector: dict[str, str] = field(default_factory=dict)  # for CPU workers
    gpu_node_selector: dict[str, str] = field(default_factory=lambda: {"genlab.io/pool": "gpu"})
    tolerations: tuple[Toleration, ...] = ()
    # How often the train step asks the API for the job's state and its pods (seconds).
    poll_seconds: float = 5.0

    def __post_init__(self):
        if not self.poll_seconds > 0:
            raise ConfigError(
                f"cluster.poll_seconds: expected a number of seconds > 0, got {self.poll_seconds}"
            )
        for name in ("cpu", "memory", "cpu_limit", "memory_limit"):
            object.__setattr__(self, name, str(getattr(self, name)))
        cpu = _quantity(self.cpu, "cluster.cpu", "'500m' or '2'")
        memory = _quantity(self.memory, "cluster.memory", "'1536Mi' or '4Gi'")
        if self.cpu_limit and _quantity(self.cpu_limit, "cluster.cpu_limit", "'2'") < cpu:
            raise ConfigError(f"cluster.cpu_limit: {self.cpu_limit} is below cluster.cpu ({self.cpu})")
        if self.memory_limit and _quantity(self.memory_limit, "cluster.memory_limit", "'4Gi'") < memory:
            raise ConfigError(
                f"cluster.memory_limit: {self.memory_limit} is below cluster.memory ({self.memory})"
            )
        _check_labels(
            "cluster",
            labels=self.labels,
            node_selector=self.node_selector,
            gpu_node_selector=self.gpu_node_selector,
        )
