"""``train.mixed_precision`` resolved to the precision a run trains in: ``true`` -> bfloat16,
``false`` -> float32, ``auto`` (the default) -> bfloat16 only where it is both safe and fast.

Safe: the family's config class sets ``bf16_safe = True`` (the bf16 parity table of
benchmarks/RESULTS.md found its quality within the float32 seed-to-seed spread) and the experiment
would accept ``mixed_precision: true`` (e.g. not a VAE with an IAF flow).
Fast: the hardware computes bfloat16 natively. GPUs: every visible GPU has compute capability
>= 8.0 (Ampere and later). CPUs without a GPU: the ``avx512_bf16`` or ``amx_bf16`` flag in
/proc/cpuinfo. Elsewhere bfloat16 is emulated (slower than float32); float16 would need loss
scaling, which the families' custom ``train_step``s do not do (they never call a
``LossScaleOptimizer``'s ``scale_loss``), so those machines train in float32.

It resolves in each worker process at train time, on the worker's own hardware.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from genlab.errors import ConfigError

CPUINFO = Path("/proc/cpuinfo")
CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # Linux's names for native bfloat16 (AVX-512 BF16, Intel AMX)
MIN_GPU_CAPABILITY = (8, 0)  # bfloat16 tensor cores (Ampere); below it, only float16


def cpu_native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """True when every processor's ``flags`` line in ``cpuinfo`` names a native bfloat16 extension."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:  # not Linux, or no procfs: assume none
        return False
    flag_lines = [line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")]
    return bool(flag_lines) and all(any(f in flags for f in CPU_FLAGS) for flags in flag_lines)


def gpu_capabilities() -> list[tuple[int, int]]:
    """(major, minor) compute capability of each GPU TensorFlow sees; [] without GPUs."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability") or (0, 0)))
    return found


def native_bf16(cpuinfo: Path = CPUINFO, gpus: list[tuple[int, int]] | None = None) -> bool:
    """Whether this process's training device computes bfloat16 natively (GPUs when it has any)."""
    gpus = gpu_capabilities() if gpus is None else gpus
    if gpus:
        return all(tuple(c) >= MIN_GPU_CAPABILITY for c in gpus)
    return cpu_native_bf16(cpuinfo)


def family_bf16_safe(exp) -> bool:
    """The family's parity verdict, and the experiment accepts ``mixed_precision: true``."""
    from genlab import models

    if not getattr(models.family_config(exp.model.family), "bf16_safe", False):
        return False
    try:
        models.check(exp.replace(train=dataclasses.replace(exp.train, mixed_precision=True)))
    except ConfigError:  # e.g. a family rule that refuses bfloat16 for this config
        return False
    return True


def resolve(exp, native: bool | None = None) -> bool:
    """True when ``exp`` trains in bfloat16. ``native``: the hardware answer (default: detect it)."""
    setting = exp.train.mixed_precision
    if setting != "auto":
        return setting
    return family_bf16_safe(exp) and (native_bf16() if native is None else native)


def describe(exp, bf16: bool) -> str:
    """For the log: the precision and, under auto, why."""
    name = "bfloat16" if bf16 else "float32"
    if exp.train.mixed_precision != "auto":
        return f"{name} (train.mixed_precision: {str(exp.train.mixed_precision).lower()})"
    if bf16:
        return f"{name} (auto: {exp.model.family} passed the bf16 parity check, native bfloat16 hardware)"
    why = "no native bfloat16 on this device" if family_bf16_safe(exp) else "not bf16-safe for this config"
    return f"{name} (auto: {why})"
