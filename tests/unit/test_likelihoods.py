"""The VAE's output distributions: the discretized logistic against a brute-force float64 computation
(every bin, the edges, the far tails), the categorical, the pictures, and bits/dim in paper units."""

import math

import numpy as np
import pytest
import tensorflow as tf

from genlab.config import EvaluateConfig, TrainConfig
from genlab.models import likelihoods
from genlab.models.base import DataSpec
from genlab.models.vae import VAE, VAEConfig


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def brute_force_mass(k: int, mean: float, scale: float) -> float:
    """P(k) in float64 straight from the logistic CDF F over the bin [c - 1/255, c + 1/255], c = 2k/255 - 1,
    with the edge bins open. Above the location the upper-tail form (1 - F(b)) - (1 - F(a)) is used, so
    bins far out in either tail keep their digits."""
    c = 2.0 * k / 255.0 - 1.0
    a = (c + 1.0 / 255.0 - mean) / scale  # upper edge, standardised
    b = (c - 1.0 / 255.0 - mean) / scale  # lower edge
    if k == 0:
        return _sigmoid(a)
    if k == 255:
        return _sigmoid(-b)
    return _sigmoid(-b) - _sigmoid(-a) if b > 0 else _sigmoid(a) - _sigmoid(b)


def ours(k, mean, log_scale) -> np.ndarray:
    k = tf.constant(np.asarray(k), tf.int32)
    return likelihoods.discretized_logistic_log_mass(
        k, tf.fill(k.shape, np.float32(mean)), tf.fill(k.shape, np.float32(log_scale))
    ).numpy()


@pytest.mark.parametrize("mean,log_scale", [(0.0, -3.0), (0.37, -5.0), (-0.8, -1.0), (1.3, -4.0), (0.0, 2.0)])
def test_discretized_logistic_matches_brute_force_and_sums_to_one(mean, log_scale):
    levels = np.arange(256)
    log_mass = ours(levels, mean, log_scale)
    expected = np.array([brute_force_mass(k, mean, math.exp(log_scale)) for k in levels])
    assert np.all(np.isfinite(log_mass))
    np.testing.assert_allclose(np.exp(log_mass), expected, rtol=2e-4, atol=1e-7)
    assert np.exp(log_mass.astype(np.float64)).sum() == pytest.approx(1.0, abs=1e-5)


def test_log_scale_is_clipped_and_pixels_read_as_clipped_8_bit_levels():
    levels = np.arange(0, 256, 15)
    np.testing.assert_array_equal(ours(levels, 0.1, -9.0), ours(levels, 0.1, likelihoods.MIN_LOG_SCALE))
    np.testing.assert_array_equal(ours(levels, 0.1, 9.0), ours(levels, 0.1, likelihoods.MAX_LOG_SCALE))
    assert not np.array_equal(ours(levels, 0.1, -6.0), ours(levels, 0.1, -7.0))  # inside: no clip
    x = tf.constant([-0.2, 0.0, 0.3, 0.5, 1.0, 1.3])
    np.testing.assert_array_equal(likelihoods.pixel_levels(x).numpy(), [0, 0, 76, 128, 255, 255])


def test_edge_bins_take_the_tails():
    # Location far below 0: almost all mass is in bin 0, whose bin runs to -inf.
    assert ours([0], -3.0, -3.0)[0] == pytest.approx(0.0, abs=1e-6)
    assert ours([255], 3.0, -3.0)[0] == pytest.approx(0.0, abs=1e-6)
    # A location exactly on an edge value: the edge bin holds F(c + 1/255), more than half.
    p0 = math.exp(ours([0], -1.0, -4.0)[0])
    assert p0 == pytest.approx(_sigmoid((1.0 / 255.0) / math.exp(-4.0)), rel=1e-5) and p0 > 0.5
    p255 = math.exp(ours([255], 1.0, -4.0)[0])
    assert p255 == pytest.approx(p0, rel=1e-5)  # symmetric


def test_far_tail_is_finite_and_accurate_where_the_naive_difference_is_zero():
    mean, log_scale, k = -0.9, -5.0, 200  # bin centre ~217 scales above the location
    scale = math.exp(log_scale)
    c = 2.0 * k / 255.0 - 1.0
    a = np.float32((c + 1.0 / 255.0 - mean) / scale)
    b = np.float32((c - 1.0 / 255.0 - mean) / scale)
    naive = _sigmoid(a) - _sigmoid(b)  # what log(cdf_plus - cdf_minus) sees in float32/float64
    assert naive == 0.0
    expected = math.log(brute_force_mass(k, mean, scale))
    assert expected < -200  # truly far out
    assert ours([k], mean, log_scale)[0] == pytest.approx(expected, rel=1e-4)
    # and the far lower tail, mirrored
    assert ours([255 - k], -mean, log_scale)[0] == pytest.approx(expected, rel=1e-4)
    # gradients stay finite there
    m = tf.Variable([mean], dtype=tf.float32)
    s = tf.Variable([log_scale], dtype=tf.float32)
    with tf.GradientTape() as tape:
        lp = likelihoods.discretized_logistic_log_mass(tf.constant([k]), m, s)
    assert all(np.all(np.isfinite(g.numpy())) for g in tape.gradient(lp, [m, s]))


def test_log_prob_sums_over_pixels_and_reads_8_bit_values():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, size=(2, 3, 3, 3))
    x = tf.constant(values / 255.0, tf.float32)
    params = rng.normal(0.0, 0.5, size=(2, 3, 3, 6)).astype(np.float32)
    got = likelihoods.log_prob("discretized_logistic", x, params).numpy()
    expected = np.zeros(2)
    for idx in np.ndindex(values.shape):
        n, i, j, ch = idx
        mean, log_scale = params[n, i, j, ch], params[n, i, j, 3 + ch]
        expected[n] += math.log(brute_force_mass(values[idx], mean, math.exp(max(log_scale, -7.0))))
    np.testing.assert_allclose(got, expected, rtol=1e-4)

    logits = rng.normal(size=(2, 3, 3, 3 * 256)).astype(np.float32)
    got = likelihoods.log_prob("categorical256", x, logits).numpy()
    per = logits.reshape(2, 3, 3, 3, 256)
    log_softmax = per - np.log(np.exp(per.astype(np.float64)).sum(-1, keepdims=True))
    expected = np.take_along_axis(log_softmax, values[..., None], axis=-1).sum(axis=(1, 2, 3, 4))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_pictures_are_the_mean_or_the_median():
    params = np.zeros((1, 1, 1, 2), np.float32)
    params[..., 0] = 0.1  # location on [-1, 1] -> (0.1 + 1) / 2 * 255 = 140.25 -> level 140
    assert likelihoods.picture("discretized_logistic", params, 1).numpy().item() == pytest.approx(140 / 255)
    params[..., 0] = 5.0  # beyond the top edge: the median is 255
    assert likelihoods.picture("discretized_logistic", params, 1).numpy().item() == 1.0
    logits = np.full((1, 1, 1, 256), -1e9, np.float32)
    logits[..., [10, 30]] = 0.0  # half on 10, half on 30: mean 20
    assert likelihoods.picture("categorical256", logits, 1).numpy().item() == pytest.approx(20 / 255)
    logits = np.full((1, 1, 2, 2 * 256), -1e9, np.float32)  # two pixels of two channels each
    for pixel, channel, value in [(0, 0, 10), (0, 1, 200), (1, 0, 0), (1, 1, 255)]:
        logits[0, 0, pixel, channel * 256 + value] = 0.0
    expected = np.array([[[[10, 200], [0, 255]]]]) / 255
    np.testing.assert_allclose(likelihoods.picture("categorical256", logits, 2).numpy(), expected, rtol=1e-6)


def _constant_decoder_vae(likelihood: str, pixel_params: np.ndarray, shape=(4, 4, 3)) -> VAE:
    """A VAE whose encoder says q(z|x) = N(0, I) = p(z) and whose decoder ignores z and outputs
    ``pixel_params`` at every pixel: then ELBO = importance-weighted bound = log p(x) exactly."""
    model = VAE(
        VAEConfig(encoder="mlp", hidden=4, latent_dim=2, likelihood=likelihood),
        DataSpec(shape),
        TrainConfig(),
    )
    for net in model.networks.values():
        for w in net.weights:
            w.assign(np.zeros(w.shape, np.float32))
    last = model.networks["decoder"].layers[-2]  # Dense(h*w*out) before the reshape
    last.bias.assign(np.tile(pixel_params.astype(np.float32), shape[0] * shape[1]))
    return model


def test_uniform_categorical_is_exactly_8_bits_per_dim():
    """A uniform distribution over the 256 values: 8 bits/dim, which is the 0 nats of the uniform
    density on [0, 1] plus the ln 256 per dimension that turns a density on [0, 1] into a mass on
    the 256 bins; our metric counts it without any rescaling."""
    model = _constant_decoder_vae("categorical256", np.zeros(3 * 256))
    images = np.random.default_rng(1).integers(0, 256, size=(10, 4, 4, 3)) / 255.0
    metrics = model.likelihood_metrics(
        images.astype(np.float32), EvaluateConfig(num_samples=10, nll_importance_samples=3)
    )
    assert metrics["bits_per_dim"] == pytest.approx(8.0, abs=1e-5)
    assert metrics["nll"] == pytest.approx(-metrics["elbo"], abs=1e-3)
    assert metrics["nll"] == pytest.approx(48 * math.log(256), rel=1e-6)


def test_bits_per_dim_is_nll_over_dims_ln2_against_brute_force():
    mean, log_scale = np.array([0.2, -0.5, 0.9]), np.array([-2.0, -3.0, -1.5])  # one per channel
    model = _constant_decoder_vae("discretized_logistic", np.concatenate([mean, log_scale]))
    values = np.random.default_rng(2).integers(0, 256, size=(10, 4, 4, 3))
    metrics = model.likelihood_metrics(
        (values / 255.0).astype(np.float32), EvaluateConfig(num_samples=10, nll_importance_samples=2)
    )
    nll = -np.mean(
        [
            sum(
                math.log(brute_force_mass(v, mean[idx[-1]], math.exp(log_scale[idx[-1]])))
                for idx, v in np.ndenumerate(img)
            )
            for img in values
        ]
    )
    assert metrics["nll"] == pytest.approx(nll, rel=1e-5)
    assert metrics["bits_per_dim"] == pytest.approx(nll / (4 * 4 * 3 * math.log(2)), rel=1e-5)
