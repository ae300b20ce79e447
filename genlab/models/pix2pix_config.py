"""pix2pix's config dataclass and data rule: validated when a config is loaded, without importing
TensorFlow. The networks are in ``pix2pix.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from genlab.config_checks import check_min
from genlab.errors import ConfigError

# data.dataset values of each kind (genlab.data.paired / genlab.data.unpaired)
PAIRED = {"edges2fashion", "paired"}
UNPAIRED = {"sneakers2boots", "unpaired", "horse2zebra"}


def check_dataset(exp, allowed: set[str]) -> None:
    if exp.data.dataset not in allowed:
        raise ConfigError(
            f"data.dataset: {exp.model.family} trains on {', '.join(sorted(allowed))}; "
            f"got {exp.data.dataset!r}"
        )


@dataclass(frozen=True)
class Pix2PixConfig:
    family: str = "pix2pix"
    mixed_precision: ClassVar[bool] = True  # checked under bfloat16: output layers stay float32
    width: int = 64  # filters of the first encoder layer (paper: 64); deeper layers double, up to 8x
    patch_layers: int = 3  # the PatchGAN's stride-2 layers: 3 -> 70 x 70 patches (paper, 256 x 256)
    disc_width: int = 64
    l1_weight: float = 100.0  # lambda (paper: 100)
    dropout: float = 0.5  # in the three innermost decoder blocks (paper: 0.5)
    beta_1: float = 0.5
    direction: str = "AtoB"  # AtoB: translate the left/first image into the right/second; BtoA: reverse

    def __post_init__(self):
        check_min(self, "model", width=1, patch_layers=1, disc_width=1)
        if self.l1_weight < 0:
            raise ConfigError(f"model.l1_weight: expected a number >= 0, got {self.l1_weight}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: expected a number in [0, 1), got {self.dropout}")
        if self.direction not in ("AtoB", "BtoA"):
            raise ConfigError(f"model.direction: expected AtoB or BtoA, got {self.direction!r}")


CONFIGS = {"pix2pix": Pix2PixConfig}


def check_experiment(exp) -> None:
    check_dataset(exp, PAIRED)
