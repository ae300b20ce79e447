"""Neural style transfer and DeepDream: images optimised against a convnet's feature maps.

Style transfer: Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
Networks" (CVPR 2016), in the form of Chollet, *Deep Learning with Python* (2nd ed.), ch. 12.
Starting from the content image, the pixels are optimised (Adam) to keep the content image's
feature map at one layer (content loss), take on the style image's Gram matrices at several
layers (style loss) and stay smooth (total-variation loss).

DeepDream: Mordvintsev, Olah & Tyka, "Inceptionism: Going Deeper into Neural Networks" (2015),
as in Chollet ch. 12: gradient *ascent* on the image to raise the mean squared activation of
chosen layers, over octaves (successively larger scales), re-injecting after each octave the
detail that shrinking the original image lost.

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
file by every step (evaluate, generate), so it is never copied into checkpoints.

Losses (documented normalisations, so one set of weights serves VGG19 and the small convnet):
  Gram matrix      G(F) = F^T F / (H W), F the (H W, C) matrix of one feature map
  content loss     mean((F_x - F_c)^2) / mean(F_c^2) at the content layer
  style loss       mean over style layers of mean((G_x - G_s)^2) / mean(G_s^2)
  total variation  mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]|   (pixels in [0, 1])
  DeepDream        sum over dream layers of weight * mean(activation^2)
"""

from __future__ import annotations

import html
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
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.style_config import CONFIGS, DeepDreamConfig, StyleTransferConfig  # noqa: F401 (re-exported)

CONVNET_LAYERS = ("conv1", "conv2", "conv3")


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


# --- the feature network ----------------------------------------------------------------------


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


# --- losses -----------------------------------------------------------------------------------


def gram_matrix(feature_map):
    """(h, w, c) -> (c, c): G = F^T F / (h w), with F the (h w, c) matrix of the map."""
    c = tf.shape(feature_map)[-1]
    f = tf.reshape(feature_map, [-1, c])  # (h w, c)
    return tf.matmul(f, f, transpose_a=True) / tf.cast(tf.shape(f)[0], f.dtype)  # (c, c)


def relative_error(x, target):
    """mean((x - target)^2) / mean(target^2): scale-free, so weights carry across networks."""
    return tf.reduce_mean(tf.square(x - target)) / (tf.reduce_mean(tf.square(target)) + 1e-8)


def total_variation(images):
    """Mean absolute difference between neighbouring pixels (b, h, w, c) -> scalar."""
    dy = tf.reduce_mean(tf.abs(images[:, 1:, :, :] - images[:, :-1, :, :]))
    dx = tf.reduce_mean(tf.abs(images[:, :, 1:, :] - images[:, :, :-1, :]))
    return dx + dy


def octave_shapes(size: tuple[int, int], octaves: int, scale: float) -> list[tuple[int, int]]:
    """Smallest first: size / scale^(octaves-1), ..., size (Chollet's successive shapes)."""
    return [tuple(max(1, round(d / scale**i)) for d in size) for i in reversed(range(octaves))]


# --- images -----------------------------------------------------------------------------------


def load_image(path: str, key: str, size: int, channels: int) -> np.ndarray:
    """A PNG/JPEG file -> (size, size, channels) float32 in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    from genlab import io

    if not io.exists(path):
        raise ConfigError(f"model.{key}: {path} not found; expected a PNG or JPEG image file")
    try:
        img = Image.open(_io.BytesIO(io.read_bytes(path)))
        img = img.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError) as e:
        raise ConfigError(f"model.{key}: {path} is not a readable PNG or JPEG image ({e})") from None
    return (np.asarray(img, np.float32) / 255.0).reshape(size, size, channels)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w, c) -> (size, size, c), bilinear; unchanged when already that size."""
    if image.shape[0] == size and image.shape[1] == size:
        return image.astype(np.float32)
    return np.clip(tf.image.resize(image[None], (size, size), method="bilinear")[0].numpy(), 0, 1)


def first_of_class(images: np.ndarray, labels: np.ndarray, cls: int, key: str) -> int:
    idx = np.flatnonzero(labels == cls)
    if not len(idx):
        raise DataError(
            f"the test split has no image of class {cls} (model.{key}); "
            f"raise data.max_test or choose another class"
        )
    return int(idx[0])


def most_textured(images: np.ndarray, labels: np.ndarray, cls: int, key: str, among: int = 50) -> int:
    """The test image of class ``cls`` (among its first ``among``) with the most fine detail."""
    first_of_class(images, labels, cls, key)
    idx = np.flatnonzero(labels == cls)[:among]
    detail = [float(total_variation(images[i][None])) for i in idx]
    return int(idx[int(np.argmax(detail))])


def side_by_side(images: list[np.ndarray], scale: int = 4) -> bytes:
    from genlab.generate.images import grid, to_png

    return to_png(grid(np.stack(images), 1, len(images)), scale=scale)


def _table(header: list[str], rows: list[list]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


# --- the shared model: feature network + its training ---------------------------------------


class FeatureModel(GenerativeModel):
    """A feature network (trained small convnet, or a frozen pretrained one with a linear probe)."""

    backbone: Backbone = VGG19
    default_backbone_layers: tuple[str, ...] = ()

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
        return list(out) if isinstance(out, list | tuple) else [out]

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

    def _test_split(self, data_uri: str):
        from genlab import data

        images, labels = data.load_arrays(data_uri, "test")
        return images, labels


# --- style transfer ---------------------------------------------------------------------------


@dataclass
class TransferResult:
    image: np.ndarray  # (h, w, c) in [0, 1]
    history: list[dict] = field(default_factory=list)  # per iteration 0..N: content, style, tv, total
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)


class StyleTransfer(FeatureModel):
    family = "style_transfer"
    output_kind = "transfer"  # no FID: the output is one restyled image, not samples of the data
    backbone = VGG19

    def __init__(self, cfg: StyleTransferConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        pretrained = self.pretrained is not None
        self.content_layer = self.check_layers(
            (cfg.content_layer or ("block5_conv2" if pretrained else "conv3"),), "content_layer"
        )[0]
        default_style = tuple(f"block{i}_conv1" for i in range(1, 6)) if pretrained else CONVNET_LAYERS
        self.style_layers = self.check_layers(cfg.style_layers or default_style, "style_layers")
        for key in ("content_class", "style_class"):
            if spec.num_classes and getattr(cfg, key) >= spec.num_classes:
                raise ConfigError(
                    f"model.{key}: expected a class in 0..{spec.num_classes - 1}, got {getattr(cfg, key)}"
                )
        for names in ((self.content_layer,), self.style_layers, (self.content_layer, *self.style_layers)):
            self.extractor(names)

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        raise ConfigError(
            "model.family: style_transfer restyles a content image with a style image and has "
            "no sampler; its pictures are in the report of `genlab generate`"
        )

    # --- losses ---
    def style_targets(self, style: np.ndarray) -> list:
        return [gram_matrix(m[0]) for m in self.feature_maps(style[None], self.style_layers)]

    def losses(self, image, content_map, style_grams) -> dict:
        """The loss terms of one image (1, h, w, c) against precomputed targets."""
        maps = self.feature_maps(image, (self.content_layer, *self.style_layers))
        content = relative_error(maps[0], content_map)
        style = tf.add_n(
            [relative_error(gram_matrix(m[0]), g) for m, g in zip(maps[1:], style_grams, strict=True)]
        )
        style = style / len(style_grams)
        tv = total_variation(image)
        cfg = self.cfg
        total = cfg.content_weight * content + cfg.style_weight * style + cfg.tv_weight * tv
        return {"content_loss": content, "style_loss": style, "tv_loss": tv, "total_loss": total}

    def style_loss(self, image: np.ndarray, style: np.ndarray) -> float:
        """The style loss of ``image`` against ``style`` (both (h, w, c) in [0, 1])."""
        maps = self.feature_maps(np.asarray(image, np.float32)[None], self.style_layers)
        grams = self.style_targets(np.asarray(style, np.float32))
        return float(
            tf.add_n([relative_error(gram_matrix(m[0]), g) for m, g in zip(maps, grams, strict=True)])
            / len(grams)
        )

    def stylize(
        self, content: np.ndarray, style: np.ndarray, iterations: int | None = None, snapshots: int = 4
    ) -> TransferResult:
        """Optimise the pixels, starting from the content image; losses at every iteration 0..N."""
        iterations = iterations or self.cfg.iterations
        content = np.asarray(content, np.float32)
        content_map = self.feature_maps(content[None], (self.content_layer,))[0]
        style_grams = self.style_targets(np.asarray(style, np.float32))
        image = tf.Variable(content[None])
        opt = keras.optimizers.Adam(self.cfg.step_size)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                terms = self.losses(image, content_map, style_grams)
            grad = tape.gradient(terms["total_loss"], image)
            opt.apply_gradients([(grad, image)])
            image.assign(tf.clip_by_value(image, 0.0, 1.0))
            return terms

        every = max(1, iterations // snapshots)
        result = TransferResult(image=content)
        for i in range(iterations):
            result.history.append({k: float(v) for k, v in step().items()})  # the image after i steps
            if (i + 1) % every == 0 and i + 1 < iterations:
                result.snapshots.append((i + 1, image.numpy()[0].copy()))
        final = self.losses(image, content_map, style_grams)
        result.history.append({k: float(v) for k, v in final.items()})
        result.image = image.numpy()[0]
        result.snapshots.append((iterations, result.image))
        return result

    # --- the pair of pictures ---
    def pair(
        self, images: np.ndarray | None, labels: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """(content, style, description): user files where configured, else from the test split."""
        cfg, parts = self.cfg, []
        if cfg.content_image:
            content = load_image(cfg.content_image, "content_image", self.size, self.channels)
            parts.append(f"content: {cfg.content_image}")
        else:
            i = first_of_class(images, labels, cfg.content_class, "content_class")
            content = resize(images[i], self.size)
            parts.append(f"content: test image {i} ({self._class_name(cfg.content_class)})")
        if cfg.style_image:
            style = load_image(cfg.style_image, "style_image", self.size, self.channels)
            parts.append(f"style: {cfg.style_image}")
        else:
            i = most_textured(images, labels, cfg.style_class, "style_class")
            style = resize(images[i], self.size)
            parts.append(
                f"style: test image {i} ({self._class_name(cfg.style_class)}, the most textured of its class)"
            )
        return content, style, "; ".join(parts)

    def _class_name(self, cls: int) -> str:
        names = self.spec.class_names
        return names[cls] if cls < len(names) else f"class {cls}"

    # --- evaluation and report ---
    def labelled_metrics(self, images: np.ndarray, labels: np.ndarray, eval_cfg) -> dict[str, float]:
        content, style, _ = self.pair(images, labels)
        result = self.stylize(content, style)
        first, last = result.history[0], result.history[-1]
        n = min(eval_cfg.num_samples, len(images))
        return {
            "content_loss": last["content_loss"],
            "style_loss": last["style_loss"],
            "tv_loss": last["tv_loss"],
            "total_loss": last["total_loss"],
            "style_loss_initial": first["style_loss"],
            "loss_reduction": last["total_loss"] / max(first["total_loss"], 1e-12),
            "feature_accuracy": self.feature_accuracy(images[:n], labels[:n]),
        }

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        from genlab import io, report

        images, labels = self._test_split(data_uri)
        content, style, where = self.pair(images, labels)
        result = self.stylize(content, style)
        pictures = side_by_side([content, style, result.image])
        io.write_bytes(io.join(out_dir, "style_transfer.png"), pictures)
        progress = side_by_side([content] + [img for _, img in result.snapshots])
        io.write_bytes(io.join(out_dir, "style_transfer_progress.png"), progress)
        keys = ("content_loss", "style_loss", "tv_loss", "total_loss")
        curve = report.curves_png(
            {k: (range(len(result.history)), [h[k] for h in result.history]) for k in keys},
            "iteration",
            "loss",
            log_y=True,
        )
        io.write_bytes(io.join(out_dir, "style_transfer_losses.png"), curve)
        n = len(result.history) - 1
        marks = sorted({0, n // 4, n // 2, 3 * n // 4, n})
        table = _table(
            ["iteration", *keys], [[i, *(f"{result.history[i][k]:.4g}" for k in keys)] for i in marks]
        )
        backbone = (
            f"VGG19 from {self.cfg.weights_file}"
            if self.pretrained is not None
            else "the small convnet trained on the dataset"
        )
        intro = (
            f"<p>Feature network: {html.escape(backbone)}. Content layer {self.content_layer}, style layers "
            f"{', '.join(self.style_layers)}; {n} Adam steps from the content image. "
            f"{html.escape(where)}.</p>"
        )
        return [
            (
                "Style transfer: content, style, result",
                intro + report.img_tag(pictures, "content, style, result"),
            ),
            (
                "Style transfer: progress (content, then the image after "
                + ", ".join(str(i) for i, _ in result.snapshots)
                + " steps)",
                report.img_tag(progress, "progress"),
            ),
            ("Style transfer: loss per iteration", report.img_tag(curve, "loss per iteration") + table),
        ]


# --- DeepDream --------------------------------------------------------------------------------


@dataclass
class DreamResult:
    image: np.ndarray  # (h, w, c) in [0, 1], the full-size dream
    octaves: list[np.ndarray] = field(default_factory=list)  # the image after each octave (its own size)
    objectives: list[list[float]] = field(default_factory=list)  # per octave: the objective per step 0..N


class DeepDream(FeatureModel):
    family = "deepdream"
    output_kind = "dream"  # no FID: the output is a transformed input image
    backbone = INCEPTION_V3

    def __init__(self, cfg: DeepDreamConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        pretrained = self.pretrained is not None
        default = ("mixed4", "mixed5", "mixed6", "mixed7") if pretrained else CONVNET_LAYERS[1:]
        self.dream_layers = self.check_layers(cfg.dream_layers or default, "dream_layers")
        if cfg.layer_weights:
            self.layer_weights = tuple(cfg.layer_weights)
        elif cfg.dream_layers:
            self.layer_weights = (1.0,) * len(self.dream_layers)
        else:
            self.layer_weights = tuple(1.0 + 0.5 * i for i in range(len(self.dream_layers)))
        self.extractor(self.dream_layers)
        smallest = min(octave_shapes((self.size, self.size), cfg.octaves, cfg.octave_scale)[0])
        if smallest < 8:
            raise ConfigError(
                f"model.octaves: {cfg.octaves} octaves of scale {cfg.octave_scale} shrink a "
                f"{self.size}px image to {smallest}px; expected at least 8px (fewer octaves, a "
                f"smaller octave_scale or a larger image_size)"
            )

    def objective(self, images):
        """sum_k weight_k * mean(activation_k^2), per image: (b, h, w, c) -> (b,)."""
        maps = self.feature_maps(images, self.dream_layers)
        terms = [
            w * tf.reduce_mean(tf.square(m), axis=[1, 2, 3])
            for w, m in zip(self.layer_weights, maps, strict=True)
        ]
        return tf.add_n(terms)

    def gradient_ascent(self, image, iterations: int) -> tuple[tf.Tensor, list[float]]:
        """Raise the objective of a batch (b, h, w, c); the objective after each step 0..N."""
        step_size = self.cfg.step_size

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = tf.reduce_sum(self.objective(x))
            grad = tape.gradient(value, x)
            grad /= (
                tf.reduce_mean(tf.abs(grad), axis=[1, 2, 3], keepdims=True) + 1e-8
            )  # mean |step| = step_size
            return tf.clip_by_value(x + step_size * grad, 0.0, 1.0), value

        values = []
        for _ in range(iterations):
            image, value = step(image)
            values.append(float(value) / int(image.shape[0]))
        values.append(float(tf.reduce_mean(self.objective(image))))
        return image, values

    def dream(self, images: np.ndarray, iterations: int | None = None) -> DreamResult:
        """DeepDream over octaves for a batch (b, h, w, c) in [0, 1]; Chollet's detail re-injection."""
        iterations = iterations or self.cfg.iterations
        original = tf.convert_to_tensor(np.asarray(images, np.float32))
        shapes = octave_shapes(tuple(original.shape[1:3]), self.cfg.octaves, self.cfg.octave_scale)
        shrunk = tf.image.resize(original, shapes[0])
        image = original
        result = DreamResult(image=np.asarray(images))
        for shape in shapes:
            image = tf.image.resize(image, shape)
            image, values = self.gradient_ascent(image, iterations)
            if self.cfg.detail_reinjection:  # what shrinking lost, at this octave's size
                lost = tf.image.resize(original, shape) - tf.image.resize(shrunk, shape)
                image = tf.clip_by_value(image + lost, 0.0, 1.0)
                shrunk = tf.image.resize(original, shape)
            result.octaves.append(image.numpy())
            result.objectives.append(values)
        result.image = image.numpy()
        return result

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        """Dreams from seeded grey noise: what the dream layers respond to, with no input image."""
        rng = np.random.default_rng(seed)
        noise = (0.5 + 0.1 * rng.standard_normal((n, self.size, self.size, self.channels))).clip(0, 1)
        return self.dream(noise.astype(np.float32)).image

    def inputs(self, images: np.ndarray | None, labels: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
        """The images to dream: the user's file, else the first test image of classes 0, 1, ..."""
        if self.cfg.input_image:
            return load_image(self.cfg.input_image, "input_image", self.size, self.channels)[None], [
                self.cfg.input_image
            ]
        classes = sorted(set(labels.tolist()))[: self.cfg.num_images]
        idx = [first_of_class(images, labels, c, "num_images") for c in classes]
        names = [
            self.spec.class_names[c] if c < len(self.spec.class_names) else f"class {c}" for c in classes
        ]
        return np.stack([resize(images[i], self.size) for i in idx]), [
            f"test image {i} ({n})" for i, n in zip(idx, names, strict=True)
        ]

    def labelled_metrics(self, images: np.ndarray, labels: np.ndarray, eval_cfg) -> dict[str, float]:
        inputs, _ = self.inputs(images, labels)
        result = self.dream(inputs)
        before = float(tf.reduce_mean(self.objective(inputs)))
        after = float(tf.reduce_mean(self.objective(result.image)))
        n = min(eval_cfg.num_samples, len(images))
        return {
            "dream_objective_initial": before,
            "dream_objective_final": after,
            "dream_gain": after / max(before, 1e-12),
            "feature_accuracy": self.feature_accuracy(images[:n], labels[:n]),
        }

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        from genlab import io, report
        from genlab.generate.images import grid, to_png

        images, labels = self._test_split(data_uri)
        inputs, names = self.inputs(images, labels)
        result = self.dream(inputs)
        cols = [inputs] + [np.stack([resize(o, self.size) for o in octave]) for octave in result.octaves]
        tiles = np.stack([cols[k][r] for r in range(len(inputs)) for k in range(len(cols))])
        picture = to_png(grid(tiles, len(inputs), len(cols)), scale=4)
        io.write_bytes(io.join(out_dir, "deepdream.png"), picture)
        flat = [v for values in result.objectives for v in values]
        curve = report.curves_png(
            {"objective": (range(len(flat)), flat)}, "gradient-ascent step (all octaves)", "objective"
        )
        io.write_bytes(io.join(out_dir, "deepdream_objective.png"), curve)
        shapes = [o.shape[1:3] for o in result.octaves]
        table = _table(
            ["octave", "size", "objective before", "objective after"],
            [
                [k + 1, f"{h}x{w}", f"{v[0]:.4g}", f"{v[-1]:.4g}"]
                for k, ((h, w), v) in enumerate(zip(shapes, result.objectives, strict=True))
            ],
        )
        backbone = (
            f"InceptionV3 from {self.cfg.weights_file}"
            if self.pretrained is not None
            else "the small convnet trained on the dataset"
        )
        weights = ", ".join(f"{n} x{w:g}" for n, w in zip(self.dream_layers, self.layer_weights, strict=True))
        intro = (
            f"<p>Feature network: {html.escape(backbone)}; objective: {html.escape(weights)} "
            f"(mean squared activation). Each row: the input ({html.escape('; '.join(names))}), then the "
            f"image after each of {len(shapes)} octaves, shown at full size.</p>"
        )
        return [
            (
                "DeepDream: input and the image after each octave",
                intro + report.img_tag(picture, "deepdream"),
            ),
            ("DeepDream: objective per step", report.img_tag(curve, "objective per step") + table),
        ]


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"style_transfer": StyleTransfer, "deepdream": DeepDream}[cfg.family](cfg, spec, train_cfg)
