"""The text families' (char_lstm, transformer) config dataclasses: validated when a config is loaded,
without importing TensorFlow (``genlab run`` fails fast). The networks are in ``text.py``."""

from __future__ import annotations

from dataclasses import dataclass

from genlab.config_checks import check_min
from genlab.errors import ConfigError


def _check_sampling(cfg):
    check_min(cfg, "model", seq_len=2, embed_dim=1, layers=1, top_k=1, sample_chars=1, prompt_chars=1)


@dataclass(frozen=True)
class CharLSTMConfig:
    family: str = "char_lstm"
    seq_len: int = 100  # characters per training window (the data step cuts windows of seq_len + 1)
    embed_dim: int = 64
    units: int = 256  # LSTM units per layer
    layers: int = 1
    top_k: int = 10  # the report's top-k samples keep the k most likely characters
    sample_chars: int = 400  # characters generated per report sample
    prompt_chars: int = 40  # prompt taken from the validation text

    def __post_init__(self):
        _check_sampling(self)
        check_min(self, "model", units=1)


@dataclass(frozen=True)
class TransformerConfig:
    family: str = "transformer"
    seq_len: int = 128  # the context: positions are learned up to seq_len
    embed_dim: int = 128
    num_heads: int = 4
    ff_dim: int = 512  # hidden width of each block's feed-forward
    layers: int = 2  # decoder blocks
    top_k: int = 10
    sample_chars: int = 400
    prompt_chars: int = 40

    def __post_init__(self):
        _check_sampling(self)
        check_min(self, "model", num_heads=1, ff_dim=1)
        if self.embed_dim % self.num_heads:
            raise ConfigError(
                f"model.embed_dim: {self.embed_dim} must be a multiple of model.num_heads ({self.num_heads})"
            )


CONFIGS = {"char_lstm": CharLSTMConfig, "transformer": TransformerConfig}
