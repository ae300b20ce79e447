"""The progressive GAN's config (``progan``): validated when a config is loaded, without importing
TensorFlow. The networks are in ``progan.py``; the layers and the schedule in ``progan_layers.py``."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.config_checks import check_batch_splits, check_min
from genlab.errors import ConfigError

LOSSES = ("wgan_gp", "nonsaturating")


def _power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


@dataclass(frozen=True)
class ProGANConfig:
    family: str = "progan"
    latent_dim: int = 128
    width: int = 64  # feature maps of every block (the paper: 512 up to 32x32)
    start_resolution: int = 4  # the first phase's resolution (the paper: 4)
    resolution: int = 32  # the last phase's; images are padded to it (Fashion-MNIST's 28 -> 32)
    fade_steps: int = 200  # steps over which a new block's alpha goes 0 -> 1 (the paper: 800k images)
    stable_steps: int = 200  # steps each resolution trains alone after its fade (and the first, alone)
    loss: str = "wgan_gp"  # the paper's WGAN-GP with drift; or "nonsaturating" (Goodfellow et al.)
    gp_weight: float = 10.0  # lambda (the paper: 10)
    drift: float = 0.001  # epsilon_drift * E[D(real)^2] keeps the critic's output near 0 (the paper)
    group_size: int = 4  # minibatch standard deviation over groups of this many examples
    beta_1: float = 0.0  # Adam(lr 0.001, beta_1 0, beta_2 0.99), as in the paper
    beta_2: float = 0.99

    def __post_init__(self):
        check_min(self, "model", latent_dim=1, width=1, fade_steps=1, stable_steps=1, group_size=1)
        for name in ("start_resolution", "resolution"):
            value = getattr(self, name)
            if not _power_of_two(value) or value < 4:
                raise ConfigError(f"model.{name}: expected a power of two >= 4, got {value}")
        if self.resolution < self.start_resolution:
            raise ConfigError(
                f"model.resolution: expected >= model.start_resolution ({self.start_resolution}), "
                f"got {self.resolution}"
            )
        if self.loss not in LOSSES:
            raise ConfigError(f"model.loss: expected one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("gp_weight", "drift"):
            if getattr(self, name) < 0:
                raise ConfigError(f"model.{name}: expected a number >= 0, got {getattr(self, name)}")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name}: expected a number in [0, 1), got {getattr(self, name)}")

    @property
    def levels(self) -> int:
        """How many resolutions the model grows through (4, 8, 16, 32: 4)."""
        return (self.resolution // self.start_resolution).bit_length()


def check_experiment(exp) -> None:
    """Minibatch stddev groups must not straddle workers, so 1 and N workers form the same groups."""
    cfg = exp.model
    check_batch_splits(
        exp.train,
        cfg.group_size,
        "group_size",
        f"progan forms minibatch-stddev groups of model.group_size ({cfg.group_size}) on each worker",
    )


CONFIGS = {"progan": ProGANConfig}
