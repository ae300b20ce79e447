"""CycleGAN's config dataclass and data rule: validated when a config is loaded, without importing
TensorFlow. The networks are in ``cyclegan.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from genlab.config_checks import check_min
from genlab.errors import ConfigError
from genlab.models.pix2pix_config import PAIRED, UNPAIRED, check_dataset


@dataclass(frozen=True)
class CycleGANConfig:
    family: str = "cyclegan"
    mixed_precision: ClassVar[bool] = True  # checked under bfloat16: output layers stay float32
    width: int = 64  # filters of the generators' first layer (paper: 64)
    res_blocks: int = 9  # paper: 6 for 128 x 128 images, 9 for 256 x 256
    patch_layers: int = 3  # the PatchGAN's stride-2 layers: 3 -> 70 x 70 patches
    disc_width: int = 64
    cycle_weight: float = 10.0  # lambda (paper: 10)
    identity_weight: float = 0.5  # times lambda (reference default: 0.5; 0 turns it off)
    pool_size: int = 50  # generated images remembered for the discriminators (paper: 50; 0: none)
    beta_1: float = 0.5

    def __post_init__(self):
        check_min(self, "model", width=1, res_blocks=0, patch_layers=1, disc_width=1, pool_size=0)
        for name in ("cycle_weight", "identity_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"model.{name}: expected a number >= 0, got {getattr(self, name)}")


CONFIGS = {"cyclegan": CycleGANConfig}


def check_experiment(exp) -> None:
    check_dataset(exp, PAIRED | UNPAIRED)  # paired data trains it too: the pairing is ignored
