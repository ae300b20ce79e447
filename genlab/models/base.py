"""The contract between a model family and the training loop, evaluation and generation.

A ``FamilyModel`` owns its Keras networks and optimizers. The training loop calls
``train_step`` inside ``strategy.run`` on one replica's slice of a global batch; every loss it
returns is already averaged over the *global* batch, so the loop sums replicas.
Randomness comes from ``StepContext``: noise is drawn for the whole global batch from a
stateless seed and sliced per replica, so 1 and N workers see the same numbers.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from genlab.errors import ConfigError


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data (from the dataset manifest)."""

    shape: tuple[int, ...]  # one example, e.g. (28, 28, 1)
    num_classes: int = 0
    binarize: bool = False  # dynamically binarized pixels (Bernoulli likelihood)
    class_names: tuple[str, ...] = ()
    vocab: tuple[str, ...] = ()  # text models: the character of each token id (genlab.data.text)
    tracks: tuple[str, ...] = ()  # music: the name of each track of a piano roll (genlab.data.music)
    lowest_pitch: int = 0  # music: the MIDI pitch of a piano roll's first row


class StepContext:
    """Per-step facts and replica-consistent randomness for ``train_step``."""

    def __init__(self, global_batch_size: int, step, seed: int):
        self.global_batch_size = global_batch_size
        self.step = tf.cast(step, tf.int64)
        self.seed = seed
        self._calls = 0

    def _replica(self):
        ctx = tf.distribute.get_replica_context()
        if ctx is None:  # cross-replica context: behave as one replica
            return 0, 1
        return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync

    def _seed(self):
        self._calls += 1  # a distinct stream per call site, fixed at trace time
        return tf.stack([tf.constant(self.seed * 1000 + self._calls, tf.int64), self.step])

    def _slice(self, full):
        # The data is sharded element-wise (example j goes to replica j % n): slice noise the same way.
        rid, n = self._replica()
        return full[rid::n] if n > 1 else full

    def normal(self, shape, dtype=tf.float32):
        full = tf.random.stateless_normal([self.global_batch_size, *shape], self._seed(), dtype=dtype)
        return self._slice(full)

    def uniform(self, shape, dtype=tf.float32):
        full = tf.random.stateless_uniform([self.global_batch_size, *shape], self._seed(), dtype=dtype)
        return self._slice(full)

    def mean(self, per_example):
        """Average over the global batch (replicas' results are then summed)."""
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)


class FamilyModel(abc.ABC):
    """What the training loop, ``genlab evaluate`` and ``genlab generate`` need of every family.

    Subclasses create ``self.networks`` and ``self.optimizers`` in ``__init__``. Families that sample
    (GANs, VAEs, PixelCNN, text, music, translation) subclass ``GenerativeModel``; image samplers
    ``genlab.models.image.ImageModel``; families that optimise an input image against a fixed feature
    network (style transfer, DeepDream) ``genlab.models.feature_network.FeatureNetwork``.
    """

    family = "base"
    sampling_networks: tuple[str, ...] = ()  # saved as .keras files for use outside genlab (genlab.export)
    fid_curve = False  # whether train.fid_samples can score samples at checkpoints (genlab.train.fid_curve)

    def __init__(self, cfg, spec: DataSpec, train_cfg):
        self.cfg = cfg
        self.spec = spec
        self.train_cfg = train_cfg
        self.networks: dict[str, keras.Model] = {}
        self.optimizers: dict[str, keras.optimizers.Optimizer] = {}

    # --- training ---
    def build_optimizers(self):
        """Create optimizer slots before tracing (needed under tf.distribute)."""
        for name, opt in self.optimizers.items():
            opt.build(self.trainable_for(name))

    def trainable_for(self, optimizer_name: str):
        return self.networks[optimizer_name].trainable_variables

    @abc.abstractmethod
    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        """One replica's step: compute losses, apply gradients, return scalar losses."""

    def state(self) -> dict:
        """Extra tf.Variables that checkpoints keep beside networks and optimizers (e.g. CycleGAN's
        history of generated images)."""
        return {}

    def after_training(self, data_uri: str, manifest) -> None:
        """Once, on the chief, after the last step and before ``save``: work done once with the trained
        networks whose results ``save`` keeps (style transfer and DeepDream run their optimisation)."""
        return None

    def summary_samples(self, n: int, seed: int) -> np.ndarray | None:
        """n images in [0, 1] for TensorBoard's image tab at each checkpoint, or None."""
        return None

    def serving_function(self):
        """(fn, input_signature) of the exported SavedModel's ``serving_default``, or None.

        ``fn`` takes tensors and returns a dict of named outputs (genlab.export)."""
        return None

    # --- evaluation and the report: each family provides its own (image families: ImageModel) ---
    @abc.abstractmethod
    def evaluate(
        self, data_uri: str, manifest, eval_cfg, details: dict | None = None
    ) -> dict[str, float | str]:
        """Test metrics (stable snake_case keys; strings name e.g. a feature space); ``details``, when
        given, receives what is not a scalar (e.g. a confusion matrix)."""

    @abc.abstractmethod
    def report(
        self, out_dir: str, exp, data_uri: str
    ) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]]]:
        """(pictures: (title, PNG bytes), sections: (title, HTML fragment)) for the report; files in ``out_dir``."""

    # --- persistence: the architecture comes from the config; every file ``save`` writes comes
    # back to ``load`` (genlab.train.loop keeps the list in model.json) ---
    def save(self, directory: str):
        for name, net in self.networks.items():
            net.save_weights(f"{directory}/{name}.weights.h5")

    def load(self, directory: str):
        for name, net in self.networks.items():
            net.load_weights(f"{directory}/{name}.weights.h5")


class GenerativeModel(FamilyModel):
    """A family that samples from the distribution it learned."""

    has_labels = False  # conditional models need labels to sample

    @abc.abstractmethod
    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        """n images in [0, 1], NHWC."""

    def latent_dim(self) -> int:
        return 0

    def decode(self, z) -> np.ndarray:
        """Latent vectors -> images in [0, 1] (for interpolation); latent models only."""
        raise ConfigError(f"model.family: {self.family} has no latent space to decode")

    def encode(self, images) -> np.ndarray:
        """Images -> latent means (for attribute vectors); encoder models only."""
        raise ConfigError(f"model.family: {self.family} has no encoder")
