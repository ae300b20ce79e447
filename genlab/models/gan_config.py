"""The GAN families' (dcgan, cgan, wgan_gp) config dataclasses: validated when a config is loaded,
without importing TensorFlow (``genlab run`` fails fast). The networks are in ``gan.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from genlab.config_checks import check_min
from genlab.errors import ConfigError


@dataclass(frozen=True)
class DCGANConfig:
    family: str = "dcgan"
    mixed_precision: ClassVar[bool] = True  # checked under bfloat16: output layers stay float32
    bf16_safe: ClassVar[bool] = True  # auto -> bfloat16: benchmarks/RESULTS.md, "8. bfloat16 parity"
    latent_dim: int = 64
    width: int = 32  # filters of the generator's last block; earlier blocks double it
    dropout: float = 0.2  # before the discriminator's classifier
    label_noise: float = 0.05  # uniform noise added to the discriminator's targets
    beta_1: float = 0.5  # Adam, as in Radford et al.
    batchnorm: bool = (
        True  # BatchNorm + ReLU in the generator (Radford et al.); false: Chollet's LeakyReLU only
    )

    def __post_init__(self):
        check_min(self, "model", latent_dim=1, width=1)


@dataclass(frozen=True)
class CGANConfig(DCGANConfig):
    """DCGAN's fields plus the size of the label embedding given to the generator."""

    family: str = "cgan"
    bf16_safe: ClassVar[bool] = True  # measured on its own: benchmarks/RESULTS.md, "8. bfloat16 parity"
    embed_dim: int = 16  # the label embedding concatenated to z

    def __post_init__(self):
        super().__post_init__()
        check_min(self, "model", embed_dim=1)


@dataclass(frozen=True)
class WGANGPConfig:
    family: str = "wgan_gp"
    mixed_precision: ClassVar[bool] = True  # checked under bfloat16: output layers stay float32
    bf16_safe: ClassVar[bool] = True  # auto -> bfloat16: benchmarks/RESULTS.md, "8. bfloat16 parity"
    latent_dim: int = 64
    width: int = 32  # as DCGAN: filters of the generator's last block
    critic_steps: int = 5  # n_critic: critic updates per generator update (paper: 5)
    gp_weight: float = 10.0  # lambda, the gradient penalty's weight (paper: 10)
    beta_1: float = 0.0  # Adam, as in Gulrajani et al. (with train.learning_rate 1e-4)
    beta_2: float = 0.9
    batchnorm: bool = True  # in the generator only, as in the paper; the critic has none

    def __post_init__(self):
        check_min(self, "model", latent_dim=1, width=1, critic_steps=1)
        if self.gp_weight < 0:
            raise ConfigError(f"model.gp_weight: expected a number >= 0, got {self.gp_weight}")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name}: expected a number in [0, 1), got {getattr(self, name)}")


CONFIGS = {"dcgan": DCGANConfig, "cgan": CGANConfig, "wgan_gp": WGANGPConfig}
