"""Generative adversarial networks.

DCGAN: Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks" (2016), in the form of Chollet, *Deep Learning
with Python* (2nd ed.), ch. 12: strided (transposed) convolutions, LeakyReLU, no pooling,
a sigmoid output in [0, 1], and a little noise on the discriminator's labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.models.base import DataSpec, GenerativeModel, StepContext


@dataclass(frozen=True)
class DCGANConfig:
    family: str = "dcgan"
    latent_dim: int = 64
    width: int = 32  # filters of the generator's last block; earlier blocks double it
    dropout: float = 0.2  # before the discriminator's classifier
    label_noise: float = 0.05  # uniform noise added to the discriminator's targets
    beta_1: float = 0.5  # Adam, as in Radford et al.

    def __post_init__(self):
        from genlab.config import _check_min

        _check_min(self, "model", latent_dim=1, width=1)


CONFIGS = {"dcgan": DCGANConfig}


def build_generator(cfg: DCGANConfig, shape: tuple[int, ...]) -> keras.Model:
    h, w, c = shape
    s = h // 4  # two stride-2 upsamplings reach the full size
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense(s * s * cfg.width * 4)(z)  # (s*s*4w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((s, s, cfg.width * 4))(x)  # (s, s, 4w)
    x = layers.Conv2DTranspose(cfg.width * 2, 4, strides=2, padding="same")(x)  # (2s, 2s, 2w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2DTranspose(cfg.width, 4, strides=2, padding="same")(x)  # (4s, 4s, w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(c, 5, padding="same", activation="sigmoid")(x)  # (h, w, c) in [0, 1]
    return keras.Model(z, x, name="generator")


def build_discriminator(cfg: DCGANConfig, shape: tuple[int, ...]) -> keras.Model:
    image = keras.Input(shape, name="image")
    x = layers.Conv2D(cfg.width * 2, 4, strides=2, padding="same")(image)  # (h/2, w/2, 2w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(cfg.width * 4, 4, strides=2, padding="same")(x)  # (h/4, w/4, 4w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(cfg.width * 4, 4, strides=2, padding="same")(x)  # (h/8, w/8, 4w)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(cfg.dropout)(x)
    logit = layers.Dense(1)(x)  # (1,) a logit: the loss applies the sigmoid stably
    return keras.Model(image, logit, name="discriminator")


def bce(targets, logits):
    """Per-example binary cross-entropy on logits."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), axis=-1)


class DCGAN(GenerativeModel):
    family = "dcgan"

    def __init__(self, cfg: DCGANConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if spec.shape[0] % 4 or spec.shape[1] % 4:
            from genlab.errors import ConfigError

            raise ConfigError(f"data.image_size: DCGAN needs a multiple of 4, got {spec.shape[0]}")
        self.networks = {
            "generator": build_generator(cfg, spec.shape),
            "discriminator": build_discriminator(cfg, spec.shape),
        }
        lr = train_cfg.learning_rate
        self.optimizers = {
            "generator": keras.optimizers.Adam(lr, beta_1=cfg.beta_1),
            "discriminator": keras.optimizers.Adam(lr, beta_1=cfg.beta_1),
        }

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        gen, disc = self.networks["generator"], self.networks["discriminator"]
        real = batch["image"]  # (b, h, w, c)
        ones = tf.ones((tf.shape(real)[0], 1))

        # Discriminator: real -> 1, fake -> 0, with noisy targets (Chollet's trick).
        z = ctx.normal([self.cfg.latent_dim])
        noise_real = self.cfg.label_noise * ctx.uniform([1])
        noise_fake = self.cfg.label_noise * ctx.uniform([1])
        with tf.GradientTape() as tape:
            fake = gen(z, training=True)
            d_real = disc(real, training=True)
            d_fake = disc(fake, training=True)
            d_loss = ctx.mean(bce(ones - noise_real, d_real) + bce(noise_fake, d_fake))
        grads = tape.gradient(d_loss, disc.trainable_variables)
        self.optimizers["discriminator"].apply_gradients(zip(grads, disc.trainable_variables))

        # Generator: make the discriminator say 1.
        z = ctx.normal([self.cfg.latent_dim])
        with tf.GradientTape() as tape:
            g_loss = ctx.mean(bce(ones, disc(gen(z, training=True), training=True)))
        grads = tape.gradient(g_loss, gen.trainable_variables)
        self.optimizers["generator"].apply_gradients(zip(grads, gen.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}

    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def decode(self, z) -> np.ndarray:
        return np.asarray(self.networks["generator"](np.asarray(z, np.float32), training=False))

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        return self.decode(z)


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"dcgan": DCGAN}[cfg.family](cfg, spec, train_cfg)
