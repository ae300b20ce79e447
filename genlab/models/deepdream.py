"""DeepDream: Mordvintsev, Olah & Tyka, "Inceptionism: Going Deeper into Neural Networks" (2015), as
in Chollet, *Deep Learning with Python* (2nd ed.), ch. 12: gradient *ascent* on the image to raise
the mean squared activation of chosen layers, over octaves (successively larger scales),
re-injecting after each octave the detail that shrinking the original image lost.

Objective: sum over dream layers of weight * mean(activation^2). The feature network (InceptionV3
weights, or a small convnet trained on the dataset) and the run-once shape:
``genlab.models.feature_network``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from genlab.errors import ConfigError
from genlab.models.base import DataSpec
from genlab.models.feature_network import CONVNET_LAYERS, INCEPTION_V3, FeatureNetwork, Optimisation
from genlab.models.image_inputs import first_of_class, html_table, load_image, resize
from genlab.models.style_config import CONFIGS, DeepDreamConfig  # noqa: F401 (re-exported)


def octave_shapes(size: tuple[int, int], octaves: int, scale: float) -> list[tuple[int, int]]:
    """Smallest first: size / scale^(octaves-1), ..., size (Chollet's successive shapes)."""
    return [tuple(max(1, round(d / scale**i)) for d in size) for i in reversed(range(octaves))]


# --- the model --------------------------------------------------------------------------------


@dataclass
class DreamResult:
    image: np.ndarray  # (h, w, c) in [0, 1], the full-size dream
    octaves: list[np.ndarray] = field(default_factory=list)  # the image after each octave (its own size)
    objectives: list[list[float]] = field(default_factory=list)  # per octave: the objective per step 0..N


class DeepDream(FeatureNetwork):
    family = "deepdream"
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

    # --- run once after training; evaluate and the report read the result ---
    def optimise(self, images: np.ndarray, labels: np.ndarray) -> Optimisation:
        inputs, names = self.inputs(images, labels)
        result = self.dream(inputs)
        before = float(tf.reduce_mean(self.objective(inputs)))
        after = float(tf.reduce_mean(self.objective(result.image)))
        metrics = {
            "dream_objective_initial": before,
            "dream_objective_final": after,
            "dream_gain": after / max(before, 1e-12),
        }
        pictures = {"inputs": inputs, **{f"octave_{k}": o for k, o in enumerate(result.octaves)}}
        return Optimisation(metrics, {"names": names, "objectives": result.objectives}, pictures)

    def render(self, out_dir: str) -> list[tuple[str, str]]:
        from genlab import io, report
        from genlab.generate.images import grid, to_png

        pics, record = self.result.pictures, self.result.record
        inputs, objectives = pics["inputs"], record["objectives"]
        octaves = [pics[f"octave_{k}"] for k in range(len(objectives))]
        cols = [inputs] + [np.stack([resize(o, self.size) for o in octave]) for octave in octaves]
        tiles = np.stack([cols[k][r] for r in range(len(inputs)) for k in range(len(cols))])
        picture = to_png(grid(tiles, len(inputs), len(cols)), scale=4)
        io.write_bytes(io.join(out_dir, "deepdream.png"), picture)
        flat = [v for values in objectives for v in values]
        curve = report.curves_png(
            {"objective": (range(len(flat)), flat)}, "gradient-ascent step (all octaves)", "objective"
        )
        io.write_bytes(io.join(out_dir, "deepdream_objective.png"), curve)
        shapes = [o.shape[1:3] for o in octaves]
        table = html_table(
            ["octave", "size", "objective before", "objective after"],
            [
                [k + 1, f"{h}x{w}", f"{v[0]:.4g}", f"{v[-1]:.4g}"]
                for k, ((h, w), v) in enumerate(zip(shapes, objectives, strict=True))
            ],
        )
        weights = ", ".join(f"{n} x{w:g}" for n, w in zip(self.dream_layers, self.layer_weights, strict=True))
        intro = (
            f"<p>Feature network: {html.escape(self.backbone_description())}; objective: "
            f"{html.escape(weights)} (mean squared activation). Each row: the input "
            f"({html.escape('; '.join(record['names']))}), then the image after each of {len(shapes)} "
            f"octaves, shown at full size.</p>"
        )
        return [
            (
                "DeepDream: input and the image after each octave",
                intro + report.img_tag(picture, "deepdream"),
            ),
            ("DeepDream: objective per step", report.img_tag(curve, "objective per step") + table),
        ]


def build(cfg, spec: DataSpec, train_cfg) -> DeepDream:
    return DeepDream(cfg, spec, train_cfg)
