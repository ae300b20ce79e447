"""The VAE family's config dataclasses: validated when a config is loaded,
without importing TensorFlow (``genlab run`` fails fast). The networks are in ``vae.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from genlab.config_checks import check_min
from genlab.errors import ConfigError

ENCODERS = ("conv", "mlp")
LIKELIHOODS = ("bernoulli", "discretized_logistic", "categorical256")  # genlab.models.likelihoods


@dataclass(frozen=True)
class VAEConfig:
    family: str = "vae"
    mixed_precision: ClassVar[bool] = True  # checked under bfloat16: output layers stay float32
    # auto -> bfloat16 (not with flow_steps, which refuse it): benchmarks/RESULTS.md, "8. bfloat16 parity"
    bf16_safe: ClassVar[bool] = True
    latent_dim: int = 16
    encoder: str = "conv"  # conv | mlp: the encoder's architecture; the decoder mirrors it
    width: int = 32  # conv: filters of the first conv block; the second has twice as many
    hidden: int = 500  # mlp: units of the one tanh hidden layer (the paper's 500)
    # p(x|z): bernoulli (with data.binarize, for true nats) | discretized_logistic | categorical256
    # (on the 8-bit values: bits/dim in the units papers report for colour images)
    likelihood: str = "bernoulli"
    flow_steps: int = 0  # K steps of inverse autoregressive flow (0 = the plain Gaussian posterior)
    flow_hidden: int = 320  # units of each of the two hidden layers of an IAF step's MADE
    context_dim: int = 64  # size of the encoder's context h that feeds every IAF step

    def __post_init__(self):
        check_min(self, "model", latent_dim=1, width=1, hidden=1, flow_steps=0, flow_hidden=1, context_dim=1)
        if self.encoder not in ENCODERS:
            raise ConfigError(f"model.encoder: expected one of {', '.join(ENCODERS)}, got {self.encoder!r}")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(
                f"model.likelihood: expected one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}"
            )


CONFIGS = {"vae": VAEConfig}


def check_experiment(exp) -> None:
    """Called by ``genlab.models.check`` when a config is loaded."""
    if exp.data.binarize and exp.model.likelihood != "bernoulli":
        raise ConfigError(
            f"data.binarize: model.likelihood {exp.model.likelihood} models the 256 8-bit values of a "
            "pixel, binarized pixels have 2; set data.binarize false or model.likelihood bernoulli"
        )
    if exp.train.mixed_precision is True and exp.model.flow_steps:
        raise ConfigError(
            "train.mixed_precision: not supported with model.flow_steps > 0 "
            "(the flow's log-determinant is kept in float32); set it to auto or false"
        )
