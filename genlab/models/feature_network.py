"""The fixed feature network of the image-optimisation families (style transfer, DeepDream), and
what they share: an optimisation over an input image, run once after training, whose numbers and
images are saved with the model.

The feature network: ``model.weights_file`` names Keras weights without the top
(``keras.applications.VGG19(weights=<path>, include_top=False)`` for style transfer,
``keras.applications.InceptionV3(weights=<path>, include_top=False)`` for DeepDream). Nothing is
downloaded. Without a weights file, a small convnet classifier is trained on the dataset and its
conv layers (``conv1``..``conv3``) are the feature layers.

Training is real in both cases. Without weights, ``train_step`` trains the small convnet with
cross-entropy on the dataset's labels. With weights, the pretrained network stays frozen and
``train_step`` fits a linear probe on its pooled last feature map (a few hundred steps is
plenty); the probe's test accuracy is the ``feature_accuracy`` metric, which says how well the
features separate this dataset's classes. The pretrained network is reloaded from the weights
file whenever the model is built, so it is never copied into checkpoints.

Then, once (``after_training``, on the chief), the family runs its optimisation on its input images
and ``save`` writes the result beside the weights: ``optimisation.json`` (the metrics and what the
report tabulates) and ``optimisation.npz`` (the pictures). ``evaluate`` reads the numbers and
``report`` renders the pictures; neither optimises again.
"""

from __future__ import annotations

import abc
import io as _io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.errors import ConfigError, DataError
from genlab.models.base import DataSpec, FamilyModel, StepContext

CONVNET_LAYERS = ("conv1", "conv2", "conv3")
NUMBERS_FILE = "optimisation.json"
PICTURES_FILE = "optimisation.npz"


@dataclass
class Optimisation:
    """What an optimisation keeps: metrics (evaluate), a JSON record and pictures (the report)."""

    metrics: dict[str, float]
    record: dict = field(default_factory=dict)  # e.g. the loss per iteration, where the inputs came from
    pictures: dict[str, np.ndarray] = field(default_factory=dict)  # name -> float32 array


# --- the feature network ----------------------------------------------------------------------


@dataclass(frozen=True)
class Backbone:
    """A pretrained Keras application used as the feature network."""

    name: str  # the keras.applications constructor
    weights_name: str  # the file Keras publishes for include_top=False
    min_size: int  # smaller images are resized up before the network
    preprocess: str  # "caffe" (VGG: BGR, 0-255, mean-centred) | "tf" (Inception: [-1, 1])


VGG19 = Backbone("VGG19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", 32, "caffe")
INCEPTION_V3 = Backbone("InceptionV3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", 75, "tf")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def build_convnet(cfg, channels: int, num_classes: int) -> keras.Model:
    """The fallback feature network: three conv blocks and a classifier (any input size)."""
    image = keras.Input((None, None, channels), name="image")
    x = layers.Conv2D(cfg.width, 3, padding="same", activation="relu", name="conv1")(image)  # (h, w, w)
    x = layers.AveragePooling2D(2)(x)  # (h/2, w/2, w); average pooling, as Gatys et al. prefer
    x = layers.Conv2D(cfg.width * 2, 3, padding="same", activation="relu", name="conv2")(x)  # (h/2, w/2, 2w)
    x = layers.AveragePooling2D(2)(x)  # (h/4, w/4, 2w)
    x = layers.Conv2D(cfg.width * 4, 3, padding="same", activation="relu", name="conv3")(x)  # (h/4, w/4, 4w)
    x = layers.GlobalAveragePooling2D()(x)  # (4w,)
    logits = layers.Dense(max(num_classes, 1), name="logits")(x)  # (classes,)
    return keras.Model(image, logits, name="classifier")


def _local_weights(path: str, backbone: Backbone) -> str:
    """The weights file as a local path (gs:// is copied to a temporary file); missing -> ConfigError."""
    expected = (
        f"Keras {backbone.name} weights without the top ({backbone.weights_name}), as "
        f"keras.applications.{backbone.name}(weights=<path>, include_top=False) loads"
    )
    if not tf.io.gfile.exists(path):
        raise ConfigError(f"model.weights_file: {path} not found; expected {expected}")
    if "://" not in path:
        return path
    fd, local = tempfile.mkstemp(prefix="genlab-weights-", suffix=Path(path).name)
    os.close(fd)
    tf.io.gfile.copy(path, local, overwrite=True)
    return local


def load_backbone(path: str, backbone: Backbone) -> keras.Model:
    """A pretrained keras.applications network without the top, weights from ``path`` (frozen)."""
    local = _local_weights(path, backbone)
    constructor = getattr(keras.applications, backbone.name)
    try:
        net = constructor(weights=local, include_top=False, input_shape=(None, None, 3))
    except Exception as e:  # Keras raises ValueError / OSError / KeyError for a wrong file
        raise ConfigError(
            f"model.weights_file: {path} could not be loaded as Keras {backbone.name} weights without the "
            f"top ({backbone.weights_name}): {type(e).__name__}: {e}"
        ) from None
    net.trainable = False
    return net


def build_probe(channels: int, num_classes: int) -> keras.Model:
    """A linear classifier on the pooled last feature map of a frozen pretrained network."""
    maps = keras.Input((None, None, channels), name="feature_map")
    x = layers.GlobalAveragePooling2D()(maps)  # (channels,)
    logits = layers.Dense(max(num_classes, 1), name="logits")(x)  # (classes,)
    return keras.Model(maps, logits, name="probe")


def to_backbone_input(x, backbone: Backbone):
    """Images in [0, 1] (b, h, w, 1 or 3) -> what the pretrained network expects (differentiable)."""
    if x.shape[-1] == 1:
        x = tf.tile(x, [1, 1, 1, 3])  # grey -> RGB
    h, w = int(x.shape[1]), int(x.shape[2])
    if min(h, w) < backbone.min_size:
        k = backbone.min_size / min(h, w)
        x = tf.image.resize(x, (round(h * k), round(w * k)), method="bilinear")
    if backbone.preprocess == "caffe":
        return x[..., ::-1] * 255.0 - tf.constant(CAFFE_MEAN_BGR, x.dtype)
    return x * 2.0 - 1.0


# --- the model: feature network + its training + one optimisation ---------------------------


class FeatureNetwork(FamilyModel):
    """A feature network (trained small convnet, or a frozen pretrained one with a linear probe) and
    one optimisation over input images against it (``optimise``), saved with the model."""

    backbone: Backbone = VGG19

    def __init__(self, cfg, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        self.size = cfg.image_size or spec.shape[0]
        self.channels = spec.shape[-1]
        if cfg.weights_file:
            self.pretrained = load_backbone(cfg.weights_file, self.backbone)
            channels = self.pretrained.output.shape[-1]
            self.networks = {"probe": build_probe(channels, spec.num_classes)}
        else:
            self.pretrained = None
            self.networks = {"classifier": build_convnet(cfg, self.channels, spec.num_classes)}
        name = next(iter(self.networks))
        self.optimizers = {name: keras.optimizers.Adam(train_cfg.learning_rate)}
        self._extractors: dict[tuple[str, ...], keras.Model] = {}
        self.result: Optimisation | None = None  # after_training, or read back by load

    @property
    def feature_network(self) -> keras.Model:
        return self.pretrained if self.pretrained is not None else self.networks["classifier"]

    def layer_names(self) -> list[str]:
        return [
            layer.name
            for layer in self.feature_network.layers
            if isinstance(layer, layers.Conv2D) or layer.name.startswith("mixed")
        ]

    def check_layers(self, names: tuple[str, ...], key: str) -> tuple[str, ...]:
        known = self.layer_names()
        for n in names:
            if n not in known:
                raise ConfigError(
                    f"model.{key}: no layer {n!r} in the feature network; expected one of: {', '.join(known)}"
                )
        return tuple(names)

    def extractor(self, names: tuple[str, ...]) -> keras.Model:
        """A model from the feature network's input to the named layers (built once, outside tracing)."""
        if names not in self._extractors:
            net = self.feature_network
            self._extractors[names] = keras.Model(net.input, [net.get_layer(n).output for n in names])
        return self._extractors[names]

    def feature_maps(self, images, names: tuple[str, ...]) -> list:
        """Images in [0, 1] (b, h, w, c) -> the named layers' maps (differentiable in the images)."""
        x = tf.convert_to_tensor(images, tf.float32)
        if self.pretrained is not None:
            x = to_backbone_input(x, self.backbone)
        out = self.extractor(names)(x, training=False)
        out = list(out) if isinstance(out, list | tuple) else [out]
        # float32 even under train.mixed_precision: the optimisation runs after training, in its process
        return [tf.cast(m, tf.float32) for m in out]

    def logits(self, images, training: bool = False):
        if self.pretrained is None:
            return self.networks["classifier"](images, training=training)
        maps = self.pretrained(to_backbone_input(images, self.backbone), training=False)
        return self.networks["probe"](maps, training=training)

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        x, y = batch["image"], batch["label"]  # (b, h, w, c) in [0, 1], (b,)
        name = next(iter(self.networks))
        variables = self.trainable_for(name)
        with tf.GradientTape() as tape:
            logits = self.logits(x, training=True)
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(y, tf.int32), logits=logits
            )
            loss = ctx.mean(per_example)
        grads = tape.gradient(loss, variables)
        self.optimizers[name].apply_gradients(zip(grads, variables, strict=True))
        correct = tf.cast(
            tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(y, tf.int32)), tf.float32
        )
        return {"loss": loss, "accuracy": ctx.mean(correct)}

    def feature_accuracy(self, images: np.ndarray, labels: np.ndarray, batch: int = 250) -> float:
        preds = np.concatenate(
            [np.asarray(self.logits(images[i : i + batch])).argmax(-1) for i in range(0, len(images), batch)]
        )
        return float((preds == labels).mean())

    # --- the optimisation, run once ---
    @abc.abstractmethod
    def optimise(self, images: np.ndarray, labels: np.ndarray) -> Optimisation:
        """The family's optimisation over its input images (user files, else from the test split)."""

    @abc.abstractmethod
    def render(self, out_dir: str) -> list[tuple[str, str]]:
        """Report sections (title, HTML) from ``self.result``; pictures written to ``out_dir``."""

    def after_training(self, data_uri: str, manifest) -> None:
        from genlab import data

        images, labels = data.load_arrays(data_uri, "test", manifest=manifest)
        self.result = self.optimise(images, labels)

    def save(self, directory: str):
        from genlab import io

        super().save(directory)
        if self.result is not None:
            buf = _io.BytesIO()
            np.savez_compressed(buf, **self.result.pictures)
            io.write_bytes(os.path.join(directory, PICTURES_FILE), buf.getvalue())
            io.write_json(
                os.path.join(directory, NUMBERS_FILE),
                {"metrics": self.result.metrics, "record": self.result.record},
            )

    def load(self, directory: str):
        from genlab import io

        super().load(directory)
        numbers, pictures = os.path.join(directory, NUMBERS_FILE), os.path.join(directory, PICTURES_FILE)
        if io.exists(numbers) and io.exists(pictures):
            saved = io.read_json(numbers)
            with np.load(_io.BytesIO(io.read_bytes(pictures))) as arrays:
                self.result = Optimisation(saved["metrics"], saved["record"], {k: arrays[k] for k in arrays})

    def _result(self) -> Optimisation:
        if self.result is None:
            raise DataError(
                f"model.family: {self.family}: the model has no {NUMBERS_FILE} / {PICTURES_FILE} (the "
                f"optimisation runs once at the end of training); train it again with this genlab"
            )
        return self.result

    # --- evaluation and the report: read what the optimisation saved ---
    def evaluate(self, data_uri: str, manifest, eval_cfg, details: dict | None = None) -> dict[str, float]:
        from genlab import data

        images, labels = data.load_arrays(data_uri, "test", manifest=manifest)
        n = min(eval_cfg.num_samples, len(images))
        return {**self._result().metrics, "feature_accuracy": self.feature_accuracy(images[:n], labels[:n])}

    def report(self, out_dir: str, exp, data_uri: str) -> tuple[list, list[tuple[str, str]]]:
        self._result()
        return [], self.render(out_dir)

    def backbone_description(self) -> str:
        if self.pretrained is not None:
            return f"{self.backbone.name} from {self.cfg.weights_file}"
        return "the small convnet trained on the dataset"
