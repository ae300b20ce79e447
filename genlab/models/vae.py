"""Variational autoencoders: the VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", 2014)
and the VAE with inverse autoregressive flow (Kingma et al., "Improved Variational Inference with
Inverse Autoregressive Flow", 2016).

An encoder q(z_0|x) = N(mu, diag(sigma^2)), a decoder p(x|z) with a Bernoulli likelihood on
(dynamically binarized) pixels, and the reparameterisation trick. Both networks are either the
original paper's MLPs (one tanh hidden layer of ``hidden`` units) or convolutional.

With ``flow_steps: K > 0`` the posterior sample goes through K steps of inverse autoregressive
flow. The encoder also emits a context vector h, and each step is

    (m, s) = AutoregressiveNN(z, h)       # MADE (Germain et al. 2015): m_i, s_i see only z_<i and h
    sigma = sigmoid(s);  z = sigma * z + (1 - sigma) * m
    log q(z|x) -= sum_i log sigma_i       # the Jacobian is triangular with diagonal sigma

and the ordering of z is reversed between steps. The loss is the negative ELBO in nats per image,
-E_q[log p(x|z_T) + log p(z_T) - log q(z_T|x)]; without a flow the KL term is the closed form.
Test metrics: the ELBO, the importance-sampled log-likelihood (Burda et al. 2016) with k samples,
and bits/dim; all use the flow's log q(z_T|x).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from genlab.errors import ConfigError
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.image import ImageModel
from genlab.models.vae_config import CONFIGS, VAEConfig, check_experiment  # noqa: F401 (re-exported)

LOG_2PI = math.log(2 * math.pi)

# --- encoder and decoder -----------------------------------------------------------------------


def build_encoder(cfg: VAEConfig, shape: tuple[int, ...]) -> keras.Model:
    """x -> [mean, log_var] (+ the context h when there is a flow)."""
    image = keras.Input(shape, name="image")
    if cfg.encoder == "conv":
        x = layers.Conv2D(cfg.width, 3, strides=2, padding="same", activation="relu")(image)  # (h/2, w/2, w)
        x = layers.Conv2D(cfg.width * 2, 3, strides=2, padding="same", activation="relu")(x)  # (h/4, w/4, 2w)
        x = layers.Flatten()(x)
        x = layers.Dense(256, activation="relu")(x)  # (256,)
    else:
        x = layers.Flatten()(image)  # (h*w*c,)
        x = layers.Dense(cfg.hidden, activation="tanh")(x)  # (hidden,)
    mean = layers.Dense(cfg.latent_dim, name="mean", dtype="float32")(x)  # (d,)
    log_var = layers.Dense(cfg.latent_dim, name="log_var", dtype="float32")(x)  # (d,)
    outputs = [mean, log_var]
    if cfg.flow_steps:
        outputs.append(layers.Dense(cfg.context_dim, name="context")(x))  # (context_dim,) h
    return keras.Model(image, outputs, name="encoder")


def build_decoder(cfg: VAEConfig, shape: tuple[int, ...]) -> keras.Model:
    """z -> Bernoulli logits per pixel."""
    h, w, c = shape
    z = keras.Input((cfg.latent_dim,), name="z")
    if cfg.encoder == "conv":
        x = layers.Dense(256, activation="relu")(z)
        x = layers.Dense((h // 4) * (w // 4) * cfg.width * 2, activation="relu")(x)
        x = layers.Reshape((h // 4, w // 4, cfg.width * 2))(x)  # (h/4, w/4, 2w)
        x = layers.Conv2DTranspose(cfg.width * 2, 3, strides=2, padding="same", activation="relu")(
            x
        )  # (h/2, w/2, 2w)
        x = layers.Conv2DTranspose(cfg.width, 3, strides=2, padding="same", activation="relu")(x)  # (h, w, w)
        logits = layers.Conv2D(c, 3, padding="same", name="logits", dtype="float32")(x)  # (h, w, c)
    else:
        x = layers.Dense(cfg.hidden, activation="tanh")(z)  # (hidden,)
        x = layers.Dense(h * w * c, dtype="float32")(x)  # (h*w*c,) float32 under mixed precision
        logits = layers.Reshape((h, w, c), name="logits", dtype="float32")(x)  # (h, w, c)
    return keras.Model(z, logits, name="decoder")


# --- inverse autoregressive flow -------------------------------------------------------------


def made_masks(latent_dim: int, hidden: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MADE masks (Germain et al. 2015) for inputs and outputs in the order 1..d.

    Input and output i have degree i; hidden unit k has a degree in 1..d-1. A hidden unit sees
    inputs of degree <= its own; output i sees hidden units of degree < i. So output i depends
    only on inputs 1..i-1 (output 1 on none: only on biases and the context).
    """
    d = latent_dim
    inp = np.arange(1, d + 1)  # (d,)
    hid = 1 + np.arange(hidden) % max(d - 1, 1)  # (hidden,)
    to_hidden = (hid[None, :] >= inp[:, None]).astype(np.float32)  # (d, hidden)
    hidden_to_hidden = (hid[None, :] >= hid[:, None]).astype(np.float32)  # (hidden, hidden)
    to_output = (inp[None, :] > hid[:, None]).astype(np.float32)  # (hidden, d)
    return to_hidden, hidden_to_hidden, to_output


class MaskedDense(layers.Layer):
    """A dense layer whose kernel is multiplied by a fixed 0/1 mask (in, out)."""

    def __init__(self, kernel_mask: np.ndarray, bias_init: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.kernel_mask = np.asarray(kernel_mask, np.float32)
        self.bias_init = bias_init

    def build(self, input_shape):
        n_in, n_out = self.kernel_mask.shape
        self.kernel = self.add_weight(shape=(n_in, n_out), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(
            shape=(n_out,), initializer=keras.initializers.Constant(self.bias_init), name="bias"
        )

    def call(self, x):
        return ops.matmul(x, self.kernel * self.kernel_mask) + self.bias


class AutoregressiveNN(layers.Layer):
    """(z, h) -> (m, s), each (d,): a two-hidden-layer MADE; the context h feeds the first hidden
    layer and, unmasked, the outputs (so the first dimension, which sees no z, still sees h)."""

    def __init__(self, latent_dim: int, hidden: int, **kwargs):
        super().__init__(**kwargs)
        to_hidden, hidden_to_hidden, to_output = made_masks(latent_dim, hidden)
        self.z_in = MaskedDense(to_hidden, name="z_in")  # (hidden,)
        self.h_in = layers.Dense(hidden, use_bias=False, name="h_in")  # (hidden,)
        self.middle = MaskedDense(hidden_to_hidden, name="middle")  # (hidden,)
        self.m_out = MaskedDense(to_output, name="m_out")  # (d,)
        # s starts positive so sigma = sigmoid(s) starts near 1: each step starts close to the
        # identity (the paper's "forget gate bias").
        self.s_out = MaskedDense(to_output, bias_init=1.0, name="s_out")  # (d,)
        self.m_context = layers.Dense(latent_dim, use_bias=False, name="m_context")  # (d,)
        self.s_context = layers.Dense(latent_dim, use_bias=False, name="s_context")  # (d,)

    def call(self, z, h):
        x = ops.elu(self.z_in(z) + self.h_in(h))
        x = ops.elu(self.middle(x))
        return self.m_out(x) + self.m_context(h), self.s_out(x) + self.s_context(h)


class IAFStep(layers.Layer):
    """One IAF step: (z, h) -> (z', sum_i log sigma_i). ``reverse`` flips z's order first."""

    def __init__(self, latent_dim: int, hidden: int, reverse: bool, **kwargs):
        super().__init__(**kwargs)
        self.reverse = reverse
        self.made = AutoregressiveNN(latent_dim, hidden, name="made")

    def call(self, z, h):
        if self.reverse:
            z = ops.flip(z, axis=-1)  # a permutation: |det| = 1
        m, s = self.made(z, h)
        sigma = ops.sigmoid(s)
        z = sigma * z + (1.0 - sigma) * m
        return z, ops.sum(ops.log_sigmoid(s), axis=-1)


def build_flow(cfg: VAEConfig) -> keras.Model:
    """[z_0, h] -> [z_K, sum over steps and dims of log sigma] = log |det dz_K / dz_0|."""
    z0 = keras.Input((cfg.latent_dim,), name="z0")
    h = keras.Input((cfg.context_dim,), name="context")
    z, log_det = z0, None
    for t in range(cfg.flow_steps):
        z, step_log_det = IAFStep(cfg.latent_dim, cfg.flow_hidden, reverse=t > 0, name=f"iaf_{t}")(z, h)
        log_det = step_log_det if log_det is None else log_det + step_log_det  # (,) per example
    return keras.Model([z0, h], [z, log_det], name="flow")


# --- densities ----------------------------------------------------------------------------------


def bernoulli_log_prob(x, logits):
    """log p(x|z) summed over pixels, per example (nats)."""
    return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=[1, 2, 3])


def gaussian_log_prob(z, mean, log_var):
    return -0.5 * tf.reduce_sum(LOG_2PI + log_var + (z - mean) ** 2 * tf.exp(-log_var), axis=-1)


def kl_to_standard_normal(mean, log_var):
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


class VAE(ImageModel):
    family = "vae"
    sampling_networks = ("decoder", "encoder")  # the flow (IAF) stays in the weights files

    def __init__(self, cfg: VAEConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if cfg.encoder == "conv" and (spec.shape[0] % 4 or spec.shape[1] % 4):
            raise ConfigError(f"data.image_size: the conv VAE needs a multiple of 4, got {spec.shape[0]}")
        self.networks = {"encoder": build_encoder(cfg, spec.shape), "decoder": build_decoder(cfg, spec.shape)}
        if cfg.flow_steps:
            self.networks["flow"] = build_flow(cfg)
        self.optimizers = {"vae": keras.optimizers.Adam(train_cfg.learning_rate)}

    def trainable_for(self, optimizer_name: str):
        return [v for net in self.networks.values() for v in net.trainable_variables]

    def posterior_params(self, x, training: bool):
        """(mean, log_var, h) of q(z_0|x); h is None without a flow."""
        out = self.networks["encoder"](x, training=training)
        return out[0], out[1], (out[2] if self.cfg.flow_steps else None)

    def posterior_sample(self, mean, log_var, h, eps, training: bool):
        """z_T from the noise eps, and log q(z_T|x) per example (nats)."""
        z = mean + tf.exp(0.5 * log_var) * eps  # z_0
        log_q = -0.5 * tf.reduce_sum(LOG_2PI + log_var + eps**2, axis=-1)  # log N(z_0; mean, sigma^2)
        if self.cfg.flow_steps:
            z, log_det = self.networks["flow"]([z, h], training=training)
            log_q = log_q - log_det
        return z, log_q

    def negative_elbo(self, x, eps, training: bool):
        """Per-example -ELBO (nats) from one reparameterised sample per example."""
        mean, log_var, h = self.posterior_params(x, training)
        z, log_q = self.posterior_sample(mean, log_var, h, eps, training)
        logits = self.networks["decoder"](z, training=training)
        if self.cfg.flow_steps:
            kl = log_q - gaussian_log_prob(z, 0.0, 0.0)  # one-sample estimate: no closed form with a flow
        else:
            kl = kl_to_standard_normal(mean, log_var)
        return -bernoulli_log_prob(x, logits) + kl

    def train_step(self, batch: dict, ctx: StepContext) -> dict:
        x = batch["image"]  # (b, h, w, c) in [0, 1]
        if self.spec.binarize:
            x = tf.cast(ctx.uniform(self.spec.shape) < x, tf.float32)  # dynamic binarization
        eps = ctx.normal([self.cfg.latent_dim])
        variables = self.trainable_for("vae")
        with tf.GradientTape() as tape:
            loss = ctx.mean(self.negative_elbo(x, eps, training=True))
        grads = tape.gradient(loss, variables)
        self.optimizers["vae"].apply_gradients(zip(grads, variables, strict=True))
        return {"loss": loss}

    # --- generation ---
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def decode(self, z) -> np.ndarray:
        return np.asarray(tf.sigmoid(self.networks["decoder"](np.asarray(z, np.float32), training=False)))

    def serving_function(self):
        net = self.networks["decoder"]

        def serve(z):  # (n, latent_dim) -> pixel probabilities (n, h, w, c), as ``sample``
            return {"image": tf.sigmoid(tf.cast(net(z, training=False), tf.float32))}

        return serve, [tf.TensorSpec((None, self.cfg.latent_dim), tf.float32, name="z")]

    def encode(self, images) -> np.ndarray:
        """The decoder's input for eps = 0: the posterior mean, pushed through the flow if there is one."""
        mean, log_var, h = self.posterior_params(np.asarray(images, np.float32), training=False)
        return np.asarray(self.posterior_sample(mean, log_var, h, tf.zeros_like(mean), training=False)[0])

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        return self.decode(z)  # pixel probabilities: the usual picture of a Bernoulli decoder

    # --- evaluation ---
    def log_likelihood(self, x, k: int, seed: int):
        """Importance-sampled log p(x) with k samples from q(z_T|x), per example (Burda et al. 2016)."""
        mean, log_var, h = self.posterior_params(x, training=False)
        rng = tf.random.Generator.from_seed(seed)
        terms = []
        for _ in range(k):
            z, log_q = self.posterior_sample(mean, log_var, h, rng.normal(tf.shape(mean)), training=False)
            logits = self.networks["decoder"](z, training=False)
            terms.append(bernoulli_log_prob(x, logits) + gaussian_log_prob(z, 0.0, 0.0) - log_q)
        return tf.reduce_logsumexp(tf.stack(terms), axis=0) - math.log(k)

    def likelihood_metrics(self, images: np.ndarray, eval_cfg) -> dict[str, float]:
        """``elbo`` (nats, mean over the test split), ``nll`` (k-sample importance sampling on the first
        ``num_samples`` images) and ``bits_per_dim`` (from the NLL when k > 0, else from the ELBO)."""
        rng = np.random.default_rng(eval_cfg.seed)
        x = (rng.random(images.shape) < images).astype(np.float32) if self.spec.binarize else images
        dims = int(np.prod(self.spec.shape))
        eps_rng = np.random.default_rng(eval_cfg.seed + 1)
        elbos = []
        for i in range(0, len(x), 500):
            chunk = x[i : i + 500]
            eps = eps_rng.standard_normal((len(chunk), self.cfg.latent_dim)).astype(np.float32)
            elbos.append(-np.asarray(self.negative_elbo(chunk, eps, training=False)))
        elbo = float(np.concatenate(elbos).mean())
        metrics = {"elbo": elbo, "bits_per_dim": -elbo / (dims * math.log(2))}
        k = eval_cfg.nll_importance_samples
        if k:
            subset = x[: eval_cfg.num_samples]
            ll = np.concatenate(
                [
                    np.asarray(self.log_likelihood(subset[i : i + 250], k, eval_cfg.seed))
                    for i in range(0, len(subset), 250)
                ]
            )
            metrics["nll"] = float(-ll.mean())
            metrics["bits_per_dim"] = metrics["nll"] / (dims * math.log(2))
        return metrics


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"vae": VAE}[cfg.family](cfg, spec, train_cfg)
