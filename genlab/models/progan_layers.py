"""The progressive GAN's layers and its growth schedule (Karras et al., "Progressive Growing of GANs
for Improved Quality, Stability, and Variation", 2018).

- Equalized learning rate (section 4.1): weights are stored ~ N(0, 1) and scaled at run time by
  He's constant gain / sqrt(fan_in), so Adam's per-weight step sizes see weights of one scale.
- Pixel norm (section 4.2): each pixel's feature vector divided by its root mean square.
- Minibatch standard deviation (section 3), over groups as the authors' code does
  (tkarras/progressive_growing_of_gans, networks.py, ``minibatch_stddev_layer``).
- The schedule: the phase (which resolution) and the fade-in alpha are pure functions of the
  global step, so a resume mid-fade and 1 or N workers follow the same curve.

Every block exists from the start and runs at every step; a block outside the current phase
enters the output with weight 0 (so its gradient is exactly 0). This costs the top resolution's
compute in the early phases, but keeps one traced step for the whole run under ``tf.distribute``.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

# --- the schedule --------------------------------------------------------------------------------


def phase_at(step, fade_steps: int, stable_steps: int, levels: int):
    """(level, alpha) of a global step, as float32 tensors.

    Level 0 (the start resolution) trains alone for ``stable_steps``; then each level l >= 1 fades
    in over ``fade_steps`` (alpha = 0, 1/fade, ..., (fade-1)/fade) and trains alone (alpha = 1)
    for ``stable_steps``. After the last level's fade, alpha stays 1.
    """
    s = tf.cast(step, tf.int64)
    cycle = fade_steps + stable_steps
    t = s - stable_steps  # steps since the first fade began
    grown = tf.minimum(tf.math.floordiv(tf.maximum(t, 0), cycle) + 1, levels - 1)
    level = tf.where(t < 0, tf.constant(0, tf.int64), grown)
    within = t - (level - 1) * cycle  # steps into this level's fade
    alpha = tf.clip_by_value(tf.cast(within, tf.float32) / fade_steps, 0.0, 1.0)
    alpha = tf.where(t < 0, 1.0, alpha)
    return tf.cast(level, tf.float32), alpha


def fade_weights(phase, k: int):
    """Per-example weights of level k's paths, from ``phase`` (b, 2) = (level, alpha):

    - ``out``: its RGB output in the generator's image (alpha at the new level, 1 - alpha at the one
      below, 0 elsewhere); real images are faded with the same weights;
    - ``skip``: the discriminator's from-RGB input at level k (1 at the top level, 1 - alpha below);
    - ``through``: the discriminator's path from level k + 1 down through its block (alpha from the
      new level, 1 further down, 0 above the top).
    Each is (b, 1, 1, 1).
    """
    level = tf.reshape(phase[:, 0], (-1, 1, 1, 1))
    alpha = tf.reshape(phase[:, 1], (-1, 1, 1, 1))
    zero, one = tf.zeros_like(alpha), tf.ones_like(alpha)
    at, below_new = tf.equal(level, k), tf.equal(level, k + 1)
    out = tf.where(at, alpha, tf.where(below_new, 1.0 - alpha, zero))
    skip = tf.where(at, one, tf.where(below_new, 1.0 - alpha, zero))
    through = tf.where(level > k + 1, one, tf.where(below_new, alpha, zero))
    return out, skip, through


@keras.saving.register_keras_serializable(package="genlab")
class Schedule(layers.Layer):
    """Holds the global step the generator was last trained at; outputs (level, alpha) per example.

    The step is a (non-trainable) weight of the generator, so a saved or checkpointed generator
    samples at the phase it was trained to."""

    def __init__(self, fade_steps: int, stable_steps: int, levels: int, **kwargs):
        super().__init__(**kwargs)
        self.fade_steps, self.stable_steps, self.levels = fade_steps, stable_steps, levels

    def build(self, input_shape):
        # Every replica writes the same value: the first replica's is kept.
        self.step = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="step",
            aggregation="only_first_replica",
        )  # fmt: skip

    def phase(self):
        return phase_at(self.step, self.fade_steps, self.stable_steps, self.levels)

    def call(self, z):
        level, alpha = self.phase()
        return tf.tile(tf.stack([level, alpha])[None], [tf.shape(z)[0], 1])  # (b, 2)

    def get_config(self):
        return {
            **super().get_config(),
            "fade_steps": self.fade_steps,
            "stable_steps": self.stable_steps,
            "levels": self.levels,
        }


@keras.saving.register_keras_serializable(package="genlab")
class GeneratorFade(layers.Layer):
    """The generator's image: sum_k out_k * rgb_k over the levels' RGB images (all at full size,
    nearest-upsampled), i.e. (1 - alpha) * upsample(old_rgb) + alpha * new_rgb during a fade."""

    def call(self, inputs):
        *rgbs, phase = inputs
        return tf.add_n([fade_weights(phase, k)[0] * rgb for k, rgb in enumerate(rgbs)])


@keras.saving.register_keras_serializable(package="genlab")
class DiscriminatorFade(layers.Layer):
    """Level k's features in the discriminator: skip_k * from_rgb_k(image at level k)
    + through_k * block_{k+1}(features of level k + 1), the generator's fade mirrored."""

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, inputs):
        *through, skip, phase = inputs
        _, w_skip, w_through = fade_weights(phase, self.k)
        h = w_skip * skip
        return h + w_through * through[0] if through else h

    def get_config(self):
        return {**super().get_config(), "k": self.k}


# --- equalized learning rate ---------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="genlab")
class EqualizedDense(layers.Layer):
    """Dense with weights ~ N(0, 1) scaled by gain / sqrt(fan_in) at run time (gain sqrt(2): He)."""

    def __init__(self, units: int, gain: float = math.sqrt(2), **kwargs):
        super().__init__(**kwargs)
        self.units, self.gain = units, gain

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.gain / math.sqrt(fan_in)
        normal = keras.initializers.RandomNormal(0.0, 1.0)
        self.kernel = self.add_weight(shape=(fan_in, self.units), initializer=normal, name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, x):
        return tf.matmul(x, self.kernel * self.scale) + self.bias

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gain": self.gain}


@keras.saving.register_keras_serializable(package="genlab")
class EqualizedConv2D(layers.Layer):
    """A 'same'-padded, stride-1 convolution with equalized learning rate (fan_in = k * k * c_in)."""

    def __init__(self, filters: int, kernel_size: int, gain: float = math.sqrt(2), **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.gain = filters, kernel_size, gain

    def build(self, input_shape):
        k, c_in = self.kernel_size, int(input_shape[-1])
        self.scale = self.gain / math.sqrt(k * k * c_in)
        normal = keras.initializers.RandomNormal(0.0, 1.0)
        self.kernel = self.add_weight(shape=(k, k, c_in, self.filters), initializer=normal, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        return tf.nn.conv2d(x, self.kernel * self.scale, strides=1, padding="SAME") + self.bias

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "gain": self.gain,
        }


# --- normalisation -------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="genlab")
class PixelNorm(layers.Layer):
    """b_xy = a_xy / sqrt(mean_j (a_xy^j)^2 + 1e-8) over the feature axis (section 4.2)."""

    def call(self, x):
        return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + 1e-8)


@keras.saving.register_keras_serializable(package="genlab")
class MinibatchStddev(layers.Layer):
    """Appends one feature map: the standard deviation of each feature and pixel over a group of
    examples, averaged to one number per group.

    As in the authors' code, the batch is reshaped to (group, M, ...), so example i is in group
    i mod M. With the data sharded element-wise across workers, this gives 1 and N workers the
    same groups (when each worker's batch is a multiple of the group size)."""

    def __init__(self, group_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size

    def call(self, x):
        g = tf.minimum(self.group_size, tf.shape(x)[0])
        _, h, w, c = x.shape
        y = tf.reshape(x, [g, -1, h, w, c])  # (G, M, h, w, c)
        y = y - tf.reduce_mean(y, axis=0, keepdims=True)
        y = tf.sqrt(tf.reduce_mean(tf.square(y), axis=0) + 1e-8)  # (M, h, w, c)
        y = tf.reduce_mean(y, axis=[1, 2, 3], keepdims=True)  # (M, 1, 1, 1)
        y = tf.tile(y, [g, h, w, 1])  # (b, h, w, 1): example i gets group i mod M
        return tf.concat([x, y], axis=-1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size}
