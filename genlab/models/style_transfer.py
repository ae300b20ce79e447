"""Neural style transfer: Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
Networks" (CVPR 2016), in the form of Chollet, *Deep Learning with Python* (2nd ed.), ch. 12.

Starting from the content image, the pixels are optimised (Adam) to keep the content image's
feature map at one layer (content loss), take on the style image's Gram matrices at several
layers (style loss) and stay smooth (total-variation loss). The feature network (VGG19 weights, or
a small convnet trained on the dataset) and the run-once shape: ``genlab.models.feature_network``.

Losses (documented normalisations, so one set of weights serves VGG19 and the small convnet):
  Gram matrix      G(F) = F^T F / (H W), F the (H W, C) matrix of one feature map
  content loss     mean((F_x - F_c)^2) / mean(F_c^2) at the content layer
  style loss       mean over style layers of mean((G_x - G_s)^2) / mean(G_s^2)
  total variation  mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]|   (pixels in [0, 1])
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from genlab.errors import ConfigError
from genlab.models.base import DataSpec
from genlab.models.feature_network import CONVNET_LAYERS, VGG19, FeatureNetwork, Optimisation
from genlab.models.image_inputs import first_of_class, html_table, load_image, resize, side_by_side
from genlab.models.style_config import CONFIGS, StyleTransferConfig  # noqa: F401 (re-exported)

LOSSES = ("content_loss", "style_loss", "tv_loss", "total_loss")


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


def most_textured(images: np.ndarray, labels: np.ndarray, cls: int, key: str, among: int = 50) -> int:
    """The test image of class ``cls`` (among its first ``among``) with the most fine detail."""
    first_of_class(images, labels, cls, key)
    idx = np.flatnonzero(labels == cls)[:among]
    detail = [float(total_variation(images[i][None])) for i in idx]
    return int(idx[int(np.argmax(detail))])


# --- the model --------------------------------------------------------------------------------


@dataclass
class TransferResult:
    image: np.ndarray  # (h, w, c) in [0, 1]
    history: list[dict] = field(default_factory=list)  # per iteration 0..N: content, style, tv, total
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)


class StyleTransfer(FeatureNetwork):
    family = "style_transfer"
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

    # --- run once after training; evaluate and the report read the result ---
    def optimise(self, images: np.ndarray, labels: np.ndarray) -> Optimisation:
        content, style, where = self.pair(images, labels)
        result = self.stylize(content, style)
        first, last = result.history[0], result.history[-1]
        metrics = {
            **{k: last[k] for k in LOSSES},
            "style_loss_initial": first["style_loss"],
            "loss_reduction": last["total_loss"] / max(first["total_loss"], 1e-12),
        }
        pictures = {"content": content, "style": style, "result": result.image}
        pictures.update({f"snapshot_{i}": img for i, img in result.snapshots})
        record = {"where": where, "history": result.history, "snapshots": [i for i, _ in result.snapshots]}
        return Optimisation(metrics, record, pictures)

    def render(self, out_dir: str) -> list[tuple[str, str]]:
        from genlab import io, report

        pics, record = self.result.pictures, self.result.record
        history, steps = record["history"], record["snapshots"]
        content = pics["content"]
        pictures = side_by_side([content, pics["style"], pics["result"]])
        io.write_bytes(io.join(out_dir, "style_transfer.png"), pictures)
        progress = side_by_side([content] + [pics[f"snapshot_{i}"] for i in steps])
        io.write_bytes(io.join(out_dir, "style_transfer_progress.png"), progress)
        curve = report.curves_png(
            {k: (range(len(history)), [h[k] for h in history]) for k in LOSSES},
            "iteration",
            "loss",
            log_y=True,
        )
        io.write_bytes(io.join(out_dir, "style_transfer_losses.png"), curve)
        n = len(history) - 1
        marks = sorted({0, n // 4, n // 2, 3 * n // 4, n})
        table = html_table(
            ["iteration", *LOSSES], [[i, *(f"{history[i][k]:.4g}" for k in LOSSES)] for i in marks]
        )
        intro = (
            f"<p>Feature network: {html.escape(self.backbone_description())}. Content layer "
            f"{self.content_layer}, style layers {', '.join(self.style_layers)}; {n} Adam steps from the "
            f"content image. {html.escape(record['where'])}.</p>"
        )
        return [
            (
                "Style transfer: content, style, result",
                intro + report.img_tag(pictures, "content, style, result"),
            ),
            (
                "Style transfer: progress (content, then the image after "
                + ", ".join(str(i) for i in steps)
                + " steps)",
                report.img_tag(progress, "progress"),
            ),
            ("Style transfer: loss per iteration", report.img_tag(curve, "loss per iteration") + table),
        ]


def build(cfg, spec: DataSpec, train_cfg) -> StyleTransfer:
    return StyleTransfer(cfg, spec, train_cfg)
