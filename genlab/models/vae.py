"""Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", 2014).

A convolutional encoder q(z|x) = N(mu, diag(sigma^2)), a convolutional decoder p(x|z) with a
Bernoulli likelihood on (dynamically binarized) pixels, and the reparameterisation trick.
The loss is the negative ELBO in nats per image:  -E_q[log p(x|z)] + KL(q(z|x) || N(0, I)).
Test metrics: the ELBO, the importance-sampled log-likelihood (Burda et al. 2016) with k
samples, and bits/dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.models.base import DataSpec, GenerativeModel, StepContext

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VAEConfig:
    family: str = "vae"
    latent_dim: int = 16
    width: int = 32  # filters of the first conv block; the second has twice as many

    def __post_init__(self):
        from genlab.config import _check_min

        _check_min(self, "model", latent_dim=1, width=1)


CONFIGS = {"vae": VAEConfig}


def build_encoder(cfg: VAEConfig, shape: tuple[int, ...]) -> keras.Model:
    image = keras.Input(shape, name="image")
    x = layers.Conv2D(cfg.width, 3, strides=2, padding="same", activation="relu")(image)  # (h/2, w/2, w)
    x = layers.Conv2D(cfg.width * 2, 3, strides=2, padding="same", activation="relu")(x)  # (h/4, w/4, 2w)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)  # (256,)
    mean = layers.Dense(cfg.latent_dim, name="mean")(x)  # (d,)
    log_var = layers.Dense(cfg.latent_dim, name="log_var")(x)  # (d,)
    return keras.Model(image, [mean, log_var], name="encoder")


def build_decoder(cfg: VAEConfig, shape: tuple[int, ...]) -> keras.Model:
    h, w, c = shape
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense(256, activation="relu")(z)
    x = layers.Dense((h // 4) * (w // 4) * cfg.width * 2, activation="relu")(x)
    x = layers.Reshape((h // 4, w // 4, cfg.width * 2))(x)  # (h/4, w/4, 2w)
    x = layers.Conv2DTranspose(cfg.width * 2, 3, strides=2, padding="same", activation="relu")(x)  # (h/2, w/2, 2w)
    x = layers.Conv2DTranspose(cfg.width, 3, strides=2, padding="same", activation="relu")(x)  # (h, w, w)
    logits = layers.Conv2D(c, 3, padding="same", name="logits")(x)  # (h, w, c) Bernoulli logits
    return keras.Model(z, logits, name="decoder")


def bernoulli_log_prob(x, logits):
    """log p(x|z) summed over pixels, per example (nats)."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=[1, 2, 3])


def gaussian_log_prob(z, mean, log_var):
    return -0.5 * tf.reduce_sum(LOG_2PI + log_var + (z - mean) ** 2 * tf.exp(-log_var), axis=-1)


def kl_to_standard_normal(mean, log_var):
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


class VAE(GenerativeModel):
    family = "vae"

    def __init__(self, cfg: VAEConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if spec.shape[0] % 4 or spec.shape[1] % 4:
            from genlab.errors import ConfigError

            raise ConfigError(f"data.image_size: the VAE needs a multiple of 4, got {spec.shape[0]}")
        self.networks = {"encoder": build_encoder(cfg, spec.shape), "decoder": build_decoder(cfg, spec.shape)}
        self.optimizers = {"vae": keras.optimizers.Adam(train_cfg.learning_rate)}

    def trainable_for(self, optimizer_name: str):
        return self.networks["encoder"].trainable_variables + self.networks["decoder"].trainable_variables

    def negative_elbo(self, x, eps, training: bool):
        """Per-example -ELBO (nats) with reparameterised z = mean + sigma * eps."""
        mean, log_var = self.networks["encoder"](x, training=training)
        z = mean + tf.exp(0.5 * log_var) * eps
        logits = self.networks["decoder"](z, training=training)
        return -bernoulli_log_prob(x, logits) + kl_to_standard_normal(mean, log_var)

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        x = batch["image"]  # (b, h, w, c) in [0, 1]
        if self.spec.binarize:
            x = tf.cast(ctx.uniform(self.spec.shape) < x, tf.float32)  # dynamic binarization
        eps = ctx.normal([self.cfg.latent_dim])
        variables = self.trainable_for("vae")
        with tf.GradientTape() as tape:
            loss = ctx.mean(self.negative_elbo(x, eps, training=True))
        grads = tape.gradient(loss, variables)
        self.optimizers["vae"].apply_gradients(zip(grads, variables))
        return {"loss": loss}

    # --- generation ---
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def decode(self, z) -> np.ndarray:
        return np.asarray(tf.sigmoid(self.networks["decoder"](np.asarray(z, np.float32), training=False)))

    def encode(self, images) -> np.ndarray:
        return np.asarray(self.networks["encoder"](np.asarray(images, np.float32), training=False)[0])

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        return self.decode(z)  # pixel probabilities: the usual picture of a Bernoulli decoder

    # --- evaluation ---
    def log_likelihood(self, x, k: int, seed: int):
        """Importance-sampled log p(x) with k samples from q(z|x), per example."""
        mean, log_var = self.networks["encoder"](x, training=False)
        rng = tf.random.Generator.from_seed(seed)
        terms = []
        for _ in range(k):
            z = mean + tf.exp(0.5 * log_var) * rng.normal(tf.shape(mean))
            logits = self.networks["decoder"](z, training=False)
            terms.append(bernoulli_log_prob(x, logits) + gaussian_log_prob(z, 0.0, 0.0)
                         - gaussian_log_prob(z, mean, log_var))
        return tf.reduce_logsumexp(tf.stack(terms), axis=0) - math.log(k)

    def likelihood_metrics(self, images: np.ndarray, eval_cfg) -> dict[str, float]:
        rng = np.random.default_rng(eval_cfg.seed)
        x = (rng.random(images.shape) < images).astype(np.float32) if self.spec.binarize else images
        dims = int(np.prod(self.spec.shape))
        eps_rng = np.random.default_rng(eval_cfg.seed + 1)
        elbos = [-np.asarray(self.negative_elbo(x[i:i + 500], eps_rng.standard_normal(
            (len(x[i:i + 500]), self.cfg.latent_dim)).astype(np.float32), training=False))
            for i in range(0, len(x), 500)]
        elbo = float(np.concatenate(elbos).mean())
        metrics = {"elbo": elbo, "bits_per_dim": -elbo / (dims * math.log(2))}
        k = eval_cfg.nll_importance_samples
        if k:
            subset = x[: eval_cfg.num_samples]
            ll = np.concatenate([np.asarray(self.log_likelihood(subset[i:i + 250], k, eval_cfg.seed))
                                 for i in range(0, len(subset), 250)])
            metrics["nll"] = float(-ll.mean())
            metrics["bits_per_dim"] = metrics["nll"] / (dims * math.log(2))
        return metrics


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"vae": VAE}[cfg.family](cfg, spec, train_cfg)
