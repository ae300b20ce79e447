"""pix2pix: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
Networks" (CVPR 2017), trained on paired (A, B) images.

- Generator: a U-Net (section 3.2.1): an encoder of stride-2 4x4 convolutions down to 1 x 1
  (C64-C128-C256-C512-... with filters capped at 8 x width), a mirrored decoder of stride-2
  transposed convolutions, and a skip connection concatenating encoder layer i to decoder layer
  n - i, so low-level detail (edges' positions) skips the bottleneck. Dropout in the three
  innermost decoder blocks, as the paper's noise source (here: during training only, so a trained
  model translates deterministically).
- Discriminator: a conditional PatchGAN (``genlab.models.patchgan``) on the input and the real or
  generated output concatenated on channels.
- Loss: G minimises the adversarial loss + lambda * L1(target, output), lambda = 100; D's loss is
  halved (section 3.3). One forward pass gives both losses and both networks step together. Adam(2e-4, beta_1 = 0.5). Layout after the reference ``UnetGenerator``
  (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py), instance-normalised (batch size 1 in
  the paper, see ``genlab.models.patchgan``).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from genlab.errors import ConfigError
from genlab.models.base import DataSpec, StepContext
from genlab.models.gan import adam_pair, bce
from genlab.models.patchgan import build_patchgan, check_patchgan, instance_norm
from genlab.models.pix2pix_config import CONFIGS, Pix2PixConfig, check_experiment  # noqa: F401 (re-exported)
from genlab.models.translation import TranslationModel


def build_unet(shape: tuple[int, ...], out_channels: int, width: int, dropout: float) -> keras.Model:
    """(h, w, c) in [-1, 1] -> (h, w, out_channels) in [-1, 1]; h = w a power of two."""
    depth = int(math.log2(shape[0]))  # stride-2 layers down to 1 x 1
    image = keras.Input(shape, name="image")
    skips, x = [], image
    for i in range(depth):  # encoder: e_i at h / 2^(i+1)
        outer, inner = i == 0, i == depth - 1
        if not outer:
            x = layers.LeakyReLU(0.2)(x)
        x = layers.Conv2D(width * min(2**i, 8), 4, strides=2, padding="same", use_bias=outer or inner)(x)
        if not (outer or inner):  # no norm on the input layer nor on the 1 x 1 bottleneck (as the reference)
            x = instance_norm()(x)
        skips.append(x)
    for i in reversed(range(depth - 1)):  # decoder: back to e_i's size, then concatenated with e_i
        x = layers.ReLU()(x)
        x = layers.Conv2DTranspose(width * min(2**i, 8), 4, strides=2, padding="same", use_bias=False)(x)
        x = instance_norm()(x)
        if dropout and i >= depth - 4:  # the three innermost decoder blocks
            x = layers.Dropout(dropout)(x)
        x = layers.Concatenate(name=f"skip_{i}")([x, skips[i]])  # (h / 2^(i+1), ., 2 * filters_i)
    x = layers.ReLU()(x)
    x = layers.Conv2DTranspose(out_channels, 4, strides=2, padding="same", dtype="float32")(x)
    return keras.Model(image, layers.Activation("tanh", dtype="float32")(x), name="unet")


class Pix2Pix(TranslationModel):
    family = "pix2pix"
    generators = ("generator", None)

    def __init__(self, cfg: Pix2PixConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        h, w, c = self.image_shape
        if h != w or h < 4 or h & (h - 1):
            raise ConfigError(f"data.image_size: pix2pix's U-Net needs a power of two >= 4, got {h}")
        check_patchgan(self.image_shape, cfg.patch_layers, "pix2pix")
        self.networks = {
            "generator": build_unet(self.image_shape, c, cfg.width, cfg.dropout),
            "discriminator": build_patchgan((h, w, 2 * c), cfg.disc_width, cfg.patch_layers, "patchgan"),
        }
        self.optimizers = adam_pair(train_cfg.learning_rate, cfg.beta_1)

    def split(self, pairs):
        a, b = super().split(pairs)
        return (b, a) if self.cfg.direction == "BtoA" else (a, b)

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        gen, disc = self.networks["generator"], self.networks["discriminator"]
        source, target = self.split(tf.convert_to_tensor(batch["image"]))  # (b, h, w, c) each

        def patch_bce(label: float, logits):  # per example: mean over patches
            return tf.reduce_mean(bce(tf.fill(tf.shape(logits), label), logits), axis=[1, 2])

        # One forward pass serves both updates (as TensorFlow's pix2pix tutorial): D and G step together.
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = gen(source, training=True)
            d_real = disc(tf.concat([source, target], -1), training=True)
            d_fake = disc(tf.concat([source, fake], -1), training=True)
            d_loss = ctx.mean(0.5 * (patch_bce(1.0, d_real) + patch_bce(0.0, d_fake)))
            adv = patch_bce(1.0, d_fake)
            l1 = tf.reduce_mean(tf.abs(target - tf.cast(fake, tf.float32)), axis=[1, 2, 3])
            g_loss = ctx.mean(adv + self.cfg.l1_weight * l1)
        for name, tape, loss in (("discriminator", d_tape, d_loss), ("generator", g_tape, g_loss)):
            variables = self.networks[name].trainable_variables
            grads = tape.gradient(loss, variables)
            self.optimizers[name].apply_gradients(zip(grads, variables, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss, "g_adv": ctx.mean(adv), "l1": ctx.mean(l1)}

    def translation_metrics(self, d, eval_cfg) -> dict[str, float]:
        from genlab.evaluate.translation import paired_metrics

        return paired_metrics(self, d, eval_cfg)

    def report_sections(self, out_dir: str, exp, data_uri: str) -> list[tuple[str, str]]:
        from genlab.evaluate.translation import triplet_section

        return triplet_section(self, out_dir, exp, data_uri)


def build(cfg, spec: DataSpec, train_cfg) -> Pix2Pix:
    return Pix2Pix(cfg, spec, train_cfg)
