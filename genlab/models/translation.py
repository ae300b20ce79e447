"""What pix2pix and CycleGAN share: image-to-image models trained on records that hold an A image's
channels followed by a B image's (``genlab.data.paired`` / ``genlab.data.unpaired``).

They translate images instead of sampling from noise: evaluation reads both domains of the prepared
dataset (genlab.evaluate.translation; each family adds its own ``translation_metrics``), and
``genlab translate`` applies a trained generator to the user's own images.
"""

from __future__ import annotations

import abc

import numpy as np
import tensorflow as tf

from genlab.errors import ConfigError
from genlab.models.base import DataSpec, GenerativeModel

SPEC_FILE = "translation.json"  # the input shape, so `genlab translate` needs no prepared dataset


def to_unit(x):
    """[-1, 1] (the generators' tanh range) -> [0, 1] (images everywhere else)."""
    return (x + 1.0) / 2.0


def from_unit(x):
    """[0, 1] -> [-1, 1]."""
    return x * 2.0 - 1.0


class TranslationModel(GenerativeModel):
    generators = ("generator", "generator")  # the networks translating A -> B and B -> A

    def __init__(self, cfg, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if spec.shape[-1] % 2:
            raise ConfigError(
                f"data.dataset: {cfg.family} needs an image-to-image dataset (records of A and B "
                f"channels), got images of shape {spec.shape}"
            )
        self.channels = spec.shape[-1] // 2
        self.image_shape = (*spec.shape[:-1], self.channels)

    def split(self, pairs):
        """Records in [0, 1] -> (A, B) in [-1, 1], the generators' range (tanh outputs)."""
        c = self.channels
        return from_unit(pairs[..., :c]), from_unit(pairs[..., c:])

    def translate(self, images: np.ndarray, reverse: bool = False, batch: int = 64) -> np.ndarray:
        """Images in [0, 1] (n, h, w, c) of domain A (B when ``reverse``) -> the other domain, in [0, 1]."""
        name = self.generators[1 if reverse else 0]
        if name is None:
            raise ConfigError(f"--reverse: {self.family} translates one way only (A -> B)")
        net = self.networks[name]
        images = np.asarray(images, np.float32)
        if images.shape[1:] != self.image_shape:
            raise ConfigError(f"input: expected images of shape {self.image_shape}, got {images.shape[1:]}")
        out = [
            np.asarray(tf.cast(to_unit(net(from_unit(images[i : i + batch]), training=False)), tf.float32))
            for i in range(0, len(images), batch)
        ]
        return np.clip(np.concatenate(out), 0.0, 1.0)

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        raise ConfigError(
            f"model.family: {self.family} translates images instead of sampling them: "
            f"use `genlab translate MODEL --input IMAGES --out DIR`"
        )

    def save(self, directory: str):
        from genlab import io

        super().save(directory)
        io.write_json(f"{directory}/{SPEC_FILE}", {"shape": list(self.spec.shape)})

    def evaluate(self, data_uri: str, manifest, eval_cfg, details: dict | None = None) -> dict[str, float]:
        from genlab.evaluate.translation import load_domains

        d = load_domains(data_uri, manifest, eval_cfg)
        return {"domain_accuracy": d.domain_accuracy(), **self.translation_metrics(d, eval_cfg)}

    @abc.abstractmethod
    def translation_metrics(self, d, eval_cfg) -> dict[str, float]:
        """The family's own numbers from ``genlab.evaluate.translation.Domains``."""

    def report(self, out_dir: str, exp, data_uri: str) -> tuple[list, list[tuple[str, str]]]:
        return [], self.report_sections(out_dir, exp, data_uri)

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        return []
