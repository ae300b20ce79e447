"""The VAE's losses and samplers against hand computations on tiny untrained models (no training):
the Gaussian densities and KL in closed form, the negative ELBO with and without a flow, the
importance-weighted bound, and what ``sample``/``encode`` feed the decoder."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab.config import TrainConfig
from genlab.models import iaf, likelihoods
from genlab.models.base import DataSpec
from genlab.models.vae import VAE, VAEConfig, gaussian_log_prob, kl_to_standard_normal

SHAPE = (4, 4, 1)


def tiny(flow_steps: int = 0, likelihood: str = "bernoulli", seed: int = 0) -> VAE:
    keras.utils.set_random_seed(seed)
    cfg = VAEConfig(
        encoder="mlp",
        hidden=8,
        latent_dim=3,
        likelihood=likelihood,
        flow_steps=flow_steps,
        flow_hidden=8,
        context_dim=4,
    )
    model = VAE(cfg, DataSpec(SHAPE), TrainConfig())
    rng = np.random.default_rng(seed + 1)
    for net in model.networks.values():  # weights and biases that are nowhere zero
        for w in net.weights:
            w.assign(rng.normal(0.0, 0.5, w.shape).astype(np.float32))
    return model


def images(n: int = 5, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, *SHAPE)) < 0.5).astype(np.float32)


def normal_log_pdf(z, mean, var):  # float64, one dimension at a time
    return -0.5 * (np.log(2 * np.pi * var) + (z - mean) ** 2 / var)


def test_gaussian_log_prob_and_kl_are_the_closed_forms():
    rng = np.random.default_rng(0)
    z, mean, log_var = (rng.normal(size=(4, 3)) for _ in range(3))
    got = gaussian_log_prob(*(tf.constant(a, tf.float32) for a in (z, mean, log_var))).numpy()
    np.testing.assert_allclose(got, normal_log_pdf(z, mean, np.exp(log_var)).sum(-1), rtol=1e-5)
    # KL(N(m, s^2) || N(0, 1)) per dimension = (s^2 + m^2 - 1 - ln s^2) / 2
    kl = kl_to_standard_normal(tf.constant(mean, tf.float32), tf.constant(log_var, tf.float32)).numpy()
    var = np.exp(log_var)
    np.testing.assert_allclose(kl, (0.5 * (var + mean**2 - 1.0 - log_var)).sum(-1), rtol=1e-5)


def test_negative_elbo_without_flow_is_reconstruction_plus_closed_form_kl():
    model = tiny()
    x = images()
    eps = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    mean, log_var = (a.numpy().astype(np.float64) for a in model.networks["encoder"](x))
    z = mean + np.exp(0.5 * log_var) * eps
    logits = model.networks["decoder"](z.astype(np.float32)).numpy().astype(np.float64)
    log_px = (x * -np.logaddexp(0, -logits) + (1 - x) * -np.logaddexp(0, logits)).sum(axis=(1, 2, 3))
    var = np.exp(log_var)
    kl = (0.5 * (var + mean**2 - 1.0 - log_var)).sum(-1)
    got = model.negative_elbo(x, eps, training=False).numpy()
    np.testing.assert_allclose(got, -log_px + kl, rtol=1e-4)


def test_negative_elbo_with_flow_uses_log_q_of_the_flowed_sample():
    model = tiny(flow_steps=2)
    x = images()
    eps = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    out = model.networks["encoder"](x)
    h = out[2]
    mean, log_var = (a.numpy().astype(np.float64) for a in out[:2])
    z0 = mean + np.exp(0.5 * log_var) * eps
    z_t, log_det = (
        a.numpy().astype(np.float64) for a in model.networks["flow"]([tf.constant(z0, tf.float32), h])
    )
    log_q = normal_log_pdf(z0, mean, np.exp(log_var)).sum(-1) - log_det
    log_p_z = normal_log_pdf(z_t, 0.0, 1.0).sum(-1)
    log_px = likelihoods.log_prob("bernoulli", x, model.networks["decoder"](z_t.astype(np.float32)))
    expected = -log_px.numpy() - log_p_z + log_q
    np.testing.assert_allclose(model.negative_elbo(x, eps, training=False).numpy(), expected, rtol=1e-4)
    z, got_log_q = model.posterior_sample(
        tf.constant(mean, tf.float32), tf.constant(log_var, tf.float32), h, eps, training=False
    )
    np.testing.assert_allclose(z.numpy(), z_t, atol=1e-5)
    np.testing.assert_allclose(got_log_q.numpy(), log_q, rtol=1e-5)


@pytest.mark.parametrize("flow_steps", [0, 1])
def test_log_likelihood_is_the_importance_weighted_bound_of_its_draws(flow_steps):
    """log (1/k) sum_i p(x, z_i) / q(z_i|x), with z_i from the seeded generator's i-th normal draw."""
    model, x, k, seed = tiny(flow_steps), images(4), 3, 11
    mean, log_var, h = model.posterior_params(x, training=False)
    rng = tf.random.Generator.from_seed(seed)
    weights = []
    for _ in range(k):
        eps = rng.normal(tf.shape(mean))
        z, log_q = model.posterior_sample(mean, log_var, h, eps, training=False)
        log_px = likelihoods.log_prob("bernoulli", x, model.networks["decoder"](z))
        weights.append(np.exp((log_px + gaussian_log_prob(z, 0.0, 0.0) - log_q).numpy().astype(np.float64)))
    expected = np.log(np.mean(weights, axis=0))
    got = model.log_likelihood(x, k, seed).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sample_decodes_seeded_normals_and_encode_the_posterior_mean():
    model = tiny(flow_steps=1, likelihood="discretized_logistic")
    z = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    expected = likelihoods.picture("discretized_logistic", model.networks["decoder"](z), 1).numpy()
    np.testing.assert_array_equal(model.sample(2, seed=4), expected)
    x = images(2)
    mean, _, h = (a.numpy() for a in model.networks["encoder"](x))
    np.testing.assert_allclose(model.encode(x), model.networks["flow"]([mean, h])[0].numpy(), atol=1e-6)


def test_bits_per_dim_and_bernoulli_picture():
    assert likelihoods.bits_per_dim(2 * 784 * math.log(2), 784) == pytest.approx(2.0)
    logits = np.array([[[[-2.0], [0.0], [3.0]]]], np.float32)
    np.testing.assert_allclose(
        likelihoods.picture("bernoulli", logits, 1).numpy(), 1 / (1 + np.exp(-logits)), rtol=1e-6
    )


def elu(a):
    return np.where(a > 0, a, np.expm1(np.minimum(a, 0)))


def test_made_is_the_masked_two_layer_network_plus_the_context():
    """AutoregressiveNN by hand from its weights and masks (which the causality tests cannot pin:
    a flipped sign or a dropped term keeps the Jacobian triangular)."""
    made = iaf.AutoregressiveNN(latent_dim=3, hidden=5)
    rng = np.random.default_rng(5)
    z, h = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    made(tf.constant(z, tf.float32), tf.constant(h, tf.float32))
    for w in made.weights:
        w.assign(rng.normal(0.0, 0.5, w.shape).astype(np.float32))

    def dense(layer, a):  # a MaskedDense in float64
        return a @ (layer.kernel.numpy() * layer.kernel_mask) + layer.bias.numpy()

    x = elu(dense(made.z_in, z) + h @ made.h_in.kernel.numpy())
    x = elu(dense(made.middle, x))
    m, s = made(tf.constant(z, tf.float32), tf.constant(h, tf.float32))
    np.testing.assert_allclose(m.numpy(), dense(made.m_out, x) + h @ made.m_context.kernel.numpy(), rtol=1e-4)
    np.testing.assert_allclose(s.numpy(), dense(made.s_out, x) + h @ made.s_context.kernel.numpy(), rtol=1e-4)


@pytest.mark.parametrize("reverse", [False, True])
def test_iaf_step_is_the_gated_update_of_the_paper(reverse):
    """z' = sigma * z + (1 - sigma) * m (Kingma et al. 2016, section 4, with sigma = sigmoid(s)),
    on the (optionally reversed) z; the Jacobian tests see only the diagonal sigma, not m's share."""
    step = iaf.IAFStep(3, hidden=6, reverse=reverse)
    rng = np.random.default_rng(6)
    z = tf.constant(rng.normal(size=(4, 3)), tf.float32)
    h = tf.constant(rng.normal(size=(4, 2)), tf.float32)
    step(z, h)
    for w in step.weights:
        w.assign(rng.normal(0.0, 0.5, w.shape).astype(np.float32))
    seen = z.numpy()[:, ::-1] if reverse else z.numpy()
    m, s = (a.numpy().astype(np.float64) for a in step.made(tf.constant(seen.copy()), h))
    sigma = 1.0 / (1.0 + np.exp(-s))
    z_next, log_det = step(z, h)
    np.testing.assert_allclose(z_next.numpy(), sigma * seen + (1.0 - sigma) * m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_det.numpy(), np.log(sigma).sum(-1), rtol=1e-5)
