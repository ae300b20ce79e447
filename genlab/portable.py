"""``genlab.load(path)``: a trained model as one Python object, without the prepared dataset.

``path`` is a model folder (the one holding ``model.json``: a kfp Model artifact, the output of
``genlab train``), a run folder that holds exactly one (``runs/<pipeline>-<time>``), or the same on
``gs://``. The architecture comes from the saved experiment and the data facts stored in
``model.json`` (``genlab.export``), the weights from the ``<network>.weights.h5`` files.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from genlab import io
from genlab.errors import ConfigError, DataError
from genlab.models.base import GenerativeModel
from genlab.train.loop import MODEL_MARKER, load_model


def find_model(path: str) -> str:
    """The model folder at or under ``path`` (at most two levels down)."""
    path = str(path).rstrip("/") or "/"
    if io.exists(io.join(path, MODEL_MARKER)):
        return path
    if not io.exists(path):
        raise DataError(f"{path}: no such model or run folder")
    with io.storage_errors(path):
        found = sorted(
            m.rsplit("/", 1)[0]
            for pattern in ("*", "*/*")
            for m in tf.io.gfile.glob(io.join(path, pattern, MODEL_MARKER))
        )
    if not found:
        raise DataError(
            f"{path}: no trained model here ({MODEL_MARKER} not found in it or two levels below); "
            "pass a model folder or a run folder (runs/<pipeline>-<time>)"
        )
    if len(found) > 1:
        raise DataError(f"{path}: holds {len(found)} trained models; pass one of: {', '.join(found)}")
    return found[0]


class TrainedModel:
    """What a user does with a trained genlab model. Images are float32 NHWC in [0, 1]."""

    def __init__(self, path: str, experiment, model, meta: dict):
        self.path = path
        self.experiment = experiment
        self.model = model  # the genlab.models GenerativeModel (its Keras networks: .networks)
        self.family = meta["family"]
        self.steps = meta["steps"]
        self.dataset_checksum = meta.get("dataset_checksum", "")

    def __repr__(self) -> str:
        return f"TrainedModel({self.family}, {self.steps} steps, from {self.path})"

    @property
    def networks(self) -> dict:
        return self.model.networks

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim() if isinstance(self.model, GenerativeModel) else 0

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.spec.class_names

    def sample(self, n: int = 16, seed: int = 0, labels=None):
        """n samples: images, or strings for the text families. ``labels`` (class indices) for cgan."""
        if not isinstance(self.model, GenerativeModel):  # style transfer, DeepDream: one optimised image
            raise ConfigError(
                f"sample: {self.family} optimises an input image instead of sampling; its result is in the "
                f"report of `genlab generate`"
            )
        if labels is not None and not self.model.has_labels:
            raise ConfigError(f"labels: {self.family} is not conditional; sample without labels")
        return self.model.sample(n, seed=seed, labels=labels)

    def latents(self, n: int, seed: int = 0) -> np.ndarray:
        """The latent vectors ``sample(n, seed)`` decodes: z ~ N(0, I) from numpy's generator."""
        self._need_latent("latents")
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def decode(self, z, labels=None) -> np.ndarray:
        """Latent vectors (n, latent_dim) -> images."""
        self._need_latent("decode")
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"decode: expected latents of shape (n, {self.latent_dim}), got {z.shape}")
        return self.model.decode(z, labels) if self.model.has_labels else self.model.decode(z)

    def encode(self, images) -> np.ndarray:
        """Images (n, h, w, c) in [0, 1] -> latent vectors (the posterior mean); VAEs only."""
        images = np.asarray(images, np.float32)
        if images.shape[1:] != tuple(self.model.spec.shape):
            raise ConfigError(
                f"encode: expected images of shape (n, {self.model.spec.shape}), got {images.shape}"
            )
        return self.model.encode(images)

    def interpolate(self, start, end, steps: int = 8, labels=None) -> np.ndarray:
        """Images along the spherical path between two latents (or two images, encoded first)."""
        from genlab.generate.images import slerp

        self._need_latent("interpolate")
        a, b = (self._as_latent(x) for x in (start, end))
        z = np.stack([slerp(a, b, t) for t in np.linspace(0.0, 1.0, steps)]).astype(np.float32)
        if labels is not None:
            labels = np.full(steps, int(labels), np.int32)
        return self.decode(z, labels)

    def generate_text(
        self, prompt: str, num_chars: int = 200, temperature: float = 1.0, top_k: int = 0, seed: int = 0
    ) -> str:
        """The continuation of ``prompt`` (temperature 0: greedy); text families only."""
        if not hasattr(self.model, "generate_ids"):  # the text families' sampler
            raise ConfigError(f"generate_text: {self.family} is not a text model (char_lstm, transformer)")
        ids = self.model.generate_ids(self.model.encode_text(prompt), num_chars, [temperature], [top_k], seed)
        return self.model.decode_text(ids[0])

    def _as_latent(self, x) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.shape == (self.latent_dim,):
            return x
        if x.shape == tuple(self.model.spec.shape):
            return self.encode(x[None])[0]
        raise ConfigError(
            f"interpolate: expected a latent of shape ({self.latent_dim},) or an image of shape "
            f"{tuple(self.model.spec.shape)}, got {x.shape}"
        )

    def _need_latent(self, what: str) -> None:
        if not self.latent_dim:
            raise ConfigError(
                f"{what}: {self.family} has no latent space (latent models: dcgan, cgan, wgan_gp, vae)"
            )


def load(path: str, data: str | None = None) -> TrainedModel:
    """The trained model at ``path``; ``data`` (a prepared dataset) only for models saved before
    model.json held the data facts."""
    folder = find_model(path)
    experiment, model = load_model(folder, data)
    return TrainedModel(folder, experiment, model, io.read_json(io.join(folder, MODEL_MARKER)))
