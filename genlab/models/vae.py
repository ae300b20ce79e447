"""Variational autoencoders: the VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", 2014)
and the VAE with inverse autoregressive flow (Kingma et al., "Improved Variational Inference with
Inverse Autoregressive Flow", 2016).

An encoder q(z_0|x) = N(mu, diag(sigma^2)), a decoder p(x|z), and the reparameterisation trick.
Both networks are either the original paper's MLPs (one tanh hidden layer of ``hidden`` units) or
convolutional (any H x W divisible by 4, any number of channels, e.g. 32x32x3 CIFAR-10).
``model.likelihood`` picks p(x|z) (genlab.models.likelihoods): ``bernoulli`` on dynamically
binarized pixels, or ``discretized_logistic`` / ``categorical256`` on the 8-bit values, so that
bits/dim is in the units papers report for colour images.

With ``flow_steps: K > 0`` the posterior sample goes through K steps of inverse autoregressive
flow (genlab.models.iaf). The encoder also emits a context vector h, and each step is

    (m, s) = AutoregressiveNN(z, h)       # MADE (Germain et al. 2015): m_i, s_i see only z_<i and h
    sigma = sigmoid(s);  z = sigma * z + (1 - sigma) * m
    log q(z|x) -= sum_i log sigma_i       # the Jacobian is triangular with diagonal sigma

and the ordering of z is reversed between steps. The loss is the negative ELBO in nats per image,
-E_q[log p(x|z_T) + log p(z_T) - log q(z_T|x)]; without a flow the KL term is the closed form.
Test metrics (nats per image, all with the flow's log q(z_T|x)): ``elbo``, the mean ELBO over the
test split; ``nll``, minus the k-sample importance-weighted bound (Burda et al. 2016; k =
``evaluate.nll_importance_samples``) on the first ``evaluate.num_samples`` test images; and
``bits_per_dim`` = nll / (H*W*C ln 2) from that importance-weighted bound, or -elbo / (H*W*C ln 2)
when k = 0. Both are upper bounds on the true bits/dim, as the papers' "<=" numbers are.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.models import likelihoods
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.iaf import build_flow
from genlab.models.image import ImageModel, check_multiple_of_4
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
    """z -> the parameters of p(x|z) per pixel, (h, w, param_channels) (genlab.models.likelihoods)."""
    h, w, c = shape
    out = likelihoods.param_channels(cfg.likelihood, c)
    z = keras.Input((cfg.latent_dim,), name="z")
    if cfg.encoder == "conv":
        x = layers.Dense(256, activation="relu")(z)
        x = layers.Dense((h // 4) * (w // 4) * cfg.width * 2, activation="relu")(x)
        x = layers.Reshape((h // 4, w // 4, cfg.width * 2))(x)  # (h/4, w/4, 2w)
        x = layers.Conv2DTranspose(cfg.width * 2, 3, strides=2, padding="same", activation="relu")(
            x
        )  # (h/2, w/2, 2w)
        x = layers.Conv2DTranspose(cfg.width, 3, strides=2, padding="same", activation="relu")(x)  # (h, w, w)
        params = layers.Conv2D(out, 3, padding="same", name="logits", dtype="float32")(x)  # (h, w, out)
    else:
        x = layers.Dense(cfg.hidden, activation="tanh")(z)  # (hidden,)
        x = layers.Dense(h * w * out, dtype="float32")(x)  # (h*w*out,) float32 under mixed precision
        params = layers.Reshape((h, w, out), name="logits", dtype="float32")(x)  # (h, w, out)
    return keras.Model(z, params, name="decoder")


# --- densities ----------------------------------------------------------------------------------


def gaussian_log_prob(z, mean, log_var):
    return -0.5 * tf.reduce_sum(LOG_2PI + log_var + (z - mean) ** 2 * tf.exp(-log_var), axis=-1)


def kl_to_standard_normal(mean, log_var):
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


class VAE(ImageModel):
    family = "vae"
    sampling_networks = ("decoder", "encoder")  # the flow (IAF) stays in the weights files

    def __init__(self, cfg: VAEConfig, spec: DataSpec, train_cfg):
        super().__init__(cfg, spec, train_cfg)
        if cfg.encoder == "conv":
            check_multiple_of_4(spec.shape, "the conv VAE")
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
        params = self.networks["decoder"](z, training=training)
        if self.cfg.flow_steps:
            kl = log_q - gaussian_log_prob(z, 0.0, 0.0)  # one-sample estimate: no closed form with a flow
        else:
            kl = kl_to_standard_normal(mean, log_var)
        return -likelihoods.log_prob(self.cfg.likelihood, x, params) + kl

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

    def picture(self, params):
        """Decoder output -> the picture of p(x|z) in [0, 1] (likelihoods.picture: a mean or median)."""
        return likelihoods.picture(self.cfg.likelihood, params, self.spec.shape[-1])

    def decode(self, z) -> np.ndarray:
        return np.asarray(self.picture(self.networks["decoder"](np.asarray(z, np.float32), training=False)))

    def serving_function(self):
        net = self.networks["decoder"]

        def serve(z):  # (n, latent_dim) -> the picture of p(x|z) (n, h, w, c), as ``sample``
            return {"image": self.picture(net(z, training=False))}

        return serve, [tf.TensorSpec((None, self.cfg.latent_dim), tf.float32, name="z")]

    def encode(self, images) -> np.ndarray:
        """The decoder's input for eps = 0: the posterior mean, pushed through the flow if there is one."""
        mean, log_var, h = self.posterior_params(np.asarray(images, np.float32), training=False)
        return np.asarray(self.posterior_sample(mean, log_var, h, tf.zeros_like(mean), training=False)[0])

    def sample(self, n: int, seed: int, labels=None) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal((n, self.cfg.latent_dim)).astype(np.float32)
        return self.decode(z)  # the decoder's mean (or median): the usual picture of a VAE sample

    # --- evaluation ---
    def log_likelihood(self, x, k: int, seed: int):
        """Importance-sampled log p(x) with k samples from q(z_T|x), per example (Burda et al. 2016)."""
        mean, log_var, h = self.posterior_params(x, training=False)
        rng = tf.random.Generator.from_seed(seed)
        terms = []
        for _ in range(k):
            z, log_q = self.posterior_sample(mean, log_var, h, rng.normal(tf.shape(mean)), training=False)
            log_px = likelihoods.log_prob(self.cfg.likelihood, x, self.networks["decoder"](z, training=False))
            terms.append(log_px + gaussian_log_prob(z, 0.0, 0.0) - log_q)
        return tf.reduce_logsumexp(tf.stack(terms), axis=0) - math.log(k)

    def likelihood_metrics(self, images: np.ndarray, eval_cfg) -> dict[str, float]:
        """``elbo``, ``nll`` and ``bits_per_dim`` as in the module docstring: bits/dim from the
        k-sample importance-weighted bound when k = nll_importance_samples > 0, else from the ELBO."""
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
        metrics = {"elbo": elbo, "bits_per_dim": likelihoods.bits_per_dim(-elbo, dims)}
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
            metrics["bits_per_dim"] = likelihoods.bits_per_dim(metrics["nll"], dims)
        return metrics


def build(cfg, spec: DataSpec, train_cfg) -> GenerativeModel:
    return {"vae": VAE}[cfg.family](cfg, spec, train_cfg)
