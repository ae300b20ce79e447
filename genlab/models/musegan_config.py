"""The musegan family's config dataclass and its rules against the data section: validated when a
config is loaded, without importing TensorFlow. The networks are in ``musegan.py``."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.config_checks import check_min
from genlab.errors import ConfigError


@dataclass(frozen=True)
class MuseGANConfig:
    family: str = "musegan"
    z_dim: int = 32  # size of each noise vector: chords, style, and per track melody and groove
    width: int = 32  # filters of the bar generators' last block and the critic's first
    critic_steps: int = 5  # critic updates per generator update (paper: 5)
    gp_weight: float = 10.0  # gradient penalty weight (paper: 10)
    beta_1: float = 0.5  # Adam, as in Dong et al.
    beta_2: float = 0.9
    sampling: str = "threshold"  # threshold | bernoulli: how samples are binarised
    threshold: float = 0.5
    sample_phrases: int = 4  # phrases drawn in the report and written as MIDI files

    def __post_init__(self):
        check_min(self, "model", z_dim=1, width=1, critic_steps=1, sample_phrases=1)
        if self.gp_weight < 0:
            raise ConfigError(f"model.gp_weight: expected a number >= 0, got {self.gp_weight}")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name}: expected a number in [0, 1), got {getattr(self, name)}")
        if self.sampling not in ("threshold", "bernoulli"):
            raise ConfigError(f"model.sampling: expected threshold or bernoulli, got {self.sampling!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"model.threshold: expected a number in (0, 1), got {self.threshold}")


CONFIGS = {"musegan": MuseGANConfig}


def check_experiment(exp) -> None:
    if exp.data.dataset != "music":
        raise ConfigError(
            f"data.dataset: musegan needs piano rolls (data.dataset: music), got {exp.data.dataset!r}"
        )
    m = exp.data.music
    if m.steps_per_bar % 4 or m.pitches % 4:
        raise ConfigError(
            f"data.music: musegan's bar generator upsamples twice by 2: steps_per_bar ({m.steps_per_bar}) "
            f"and pitches ({m.pitches}) must be multiples of 4"
        )
