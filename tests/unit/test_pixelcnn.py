"""PixelCNN: causal masks, quantisation, likelihood, and fast sampling == naive sampling (exactly)."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab.config import EvaluateConfig, TrainConfig
from genlab.data.idx import iter_idx
from genlab.errors import ConfigError
from genlab.models import pixelcnn
from genlab.models.base import DataSpec, StepContext

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def tiny(shape=(8, 8, 1), seed=0, lr=1e-3, **overrides) -> pixelcnn.PixelCNN:
    keras.utils.set_random_seed(seed)
    cfg = pixelcnn.PixelCNNConfig(**{"filters": 16, "residual_blocks": 2, **overrides})
    return pixelcnn.PixelCNN(cfg, DataSpec(shape), TrainConfig(learning_rate=lr))


def random_bias(model: pixelcnn.PixelCNN, seed: int = 1):
    """Non-zero biases, so masked positions could leak through every path if a mask were wrong."""
    rng = np.random.default_rng(seed)
    for var in model.networks["pixelcnn"].weights:
        if "bias" in var.path:
            var.assign(rng.normal(0, 0.3, var.shape).astype(np.float32))


def test_causal_mask_pattern():
    a, b = pixelcnn.causal_mask(3, "A")[..., 0, 0], pixelcnn.causal_mask(3, "B")[..., 0, 0]
    np.testing.assert_array_equal(a, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b, [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    # defaults: one input and one output feature, one colour (every feature sees the centre for B)
    assert pixelcnn.causal_mask(3, "A").shape == (3, 3, 1, 1)
    np.testing.assert_array_equal(pixelcnn.causal_mask(3, "B", 2, 2)[1, 1], np.ones((2, 2)))


@pytest.mark.parametrize("channels", [1, 3])
def test_output_at_a_subpixel_ignores_it_its_later_colours_and_every_later_pixel(channels):
    model = tiny(shape=(8, 8, channels), residual_blocks=3)
    random_bias(model)
    net = model.networks["pixelcnn"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (2, 8, 8, channels)) / 3.0
    base = np.asarray(net(x))
    for i, j in [(0, 0), (0, 5), (3, 0), (3, 4), (5, 7), (7, 7)]:
        t = i * 8 + j
        later = np.zeros((8 * 8,), bool)
        later[t + 1 :] = True  # every later pixel in raster order
        later = later.reshape(8, 8)
        for ch in range(channels):
            changed = x.copy()
            changed[:, later] = rng.integers(0, 4, changed[:, later].shape) / 3.0
            changed[:, i, j, ch:] = 1.0 - changed[:, i, j, ch:]  # this colour and the later ones
            out = np.asarray(net(changed))
            np.testing.assert_allclose(
                out[:, i, j, ch], base[:, i, j, ch], atol=1e-5, err_msg=f"{(i, j, ch)} sees the future"
            )
            if ch > 0:  # the earlier colours of the same pixel do move it (R -> G -> B)
                same_pixel = x.copy()
                same_pixel[:, i, j, :ch] = 1.0 - same_pixel[:, i, j, :ch]
                assert np.abs(np.asarray(net(same_pixel))[:, i, j, ch] - base[:, i, j, ch]).max() > 1e-4
        if t > 0:  # changing the earlier pixels does move it: the test would see a leak
            earlier = x.copy()
            before = ~later
            before[i, j] = False
            earlier[:, before] = 1.0 - earlier[:, before] + 0.5
            assert np.abs(np.asarray(net(earlier))[:, i, j] - base[:, i, j]).max() > 1e-4


def test_gradient_of_each_output_vanishes_on_the_future():
    model = tiny(residual_blocks=2)
    random_bias(model)
    net = model.networks["pixelcnn"]
    x = tf.constant(np.random.default_rng(1).random((1, 8, 8, 1)), tf.float32)
    for i, j in [(2, 3), (4, 0), (6, 6)]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(net(x)[:, i, j] ** 2)
        grad = np.abs(np.asarray(tape.gradient(y, x))[0, ..., 0]).reshape(-1)
        t = i * 8 + j
        assert grad[t:].max() == 0.0
        assert grad[:t].max() > 0.0


def test_colour_gradient_vanishes_on_later_pixels_and_on_this_and_later_colours():
    """d logits(i, j, c) / d input is zero at every later pixel and at (i, j) for colours >= c;
    non-zero at (i, j) for colours < c and at earlier pixels."""
    model = tiny(shape=(6, 6, 3), residual_blocks=2)
    random_bias(model)
    net = model.networks["pixelcnn"]
    x = tf.constant(np.random.default_rng(1).random((1, 6, 6, 3)), tf.float32)
    for i, j in [(0, 0), (2, 3), (4, 0), (5, 5)]:
        for ch in range(3):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(net(x)[:, i, j, ch] ** 2)
            grad = np.abs(np.asarray(tape.gradient(y, x))[0]).reshape(36, 3)
            t = i * 6 + j
            assert grad[t + 1 :].max(initial=0.0) == 0.0, (i, j, ch)
            assert grad[t, ch:].max() == 0.0, (i, j, ch)
            assert ch == 0 or grad[t, :ch].min() > 0.0, (i, j, ch)
            assert t == 0 or grad[:t].max() > 0.0


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_channel_masks_at_the_centre_follow_r_g_b(mask_type):
    """A masked layer on 3 colour groups: output group c sees input groups < c (A) / <= c (B)
    at the centre pixel, and every group above and left of it."""
    mask = pixelcnn.causal_mask(3, mask_type, 6, 9, colours=3)
    groups_in, groups_out = [0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for a, g_in in enumerate(groups_in):
        for b, g_out in enumerate(groups_out):
            assert mask[1, 1, a, b] == (g_in < g_out if mask_type == "A" else g_in <= g_out)
    assert mask[0].min() == 1.0 and mask[1, 0].min() == 1.0  # the row above, the pixel to the left
    assert mask[1, 2].max() == 0.0 and mask[2].max() == 0.0  # right of the centre and below
    layer = pixelcnn.MaskedConv2D(9, 3, mask_type, colours=3)
    x = tf.constant(np.random.default_rng(2).random((1, 3, 3, 6)), tf.float32)
    for g_out in range(3):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x)[0, 1, 1, 3 * g_out : 3 * g_out + 3] ** 2)
        seen = np.abs(np.asarray(tape.gradient(y, x))[0, 1, 1]).reshape(3, 2).max(-1) > 0
        expected = [g < g_out if mask_type == "A" else g <= g_out for g in range(3)]
        assert seen.tolist() == expected, g_out


def test_logits_map_to_colours_as_they_are_reshaped():
    """The logits layer's c * levels features are colour-major: feature k is colour k // levels."""
    np.testing.assert_array_equal(pixelcnn.colour_groups(3 * 4, 3), np.arange(12) // 4)
    np.testing.assert_array_equal(pixelcnn.colour_groups(3, 3), [0, 1, 2])


def test_quantise_matches_foster_and_keeps_8_bit_values():
    v = np.arange(256, dtype=np.float32) / 255.0
    np.testing.assert_array_equal(pixelcnn.quantise(v, 4).numpy(), np.arange(256) // 64)
    np.testing.assert_array_equal(pixelcnn.quantise(v, 256).numpy(), np.arange(256))
    # above 1 (an interpolation's overshoot) stays on the top level
    np.testing.assert_array_equal(pixelcnn.quantise(np.float32([1.5]), 4).numpy(), [3])


def test_level_to_unit_spreads_the_levels_over_0_to_1():
    q = tf.constant([0, 1, 3])
    np.testing.assert_allclose(pixelcnn.level_to_unit(q, 4).numpy(), [0.0, 1 / 3, 1.0], rtol=1e-6)
    assert pixelcnn.level_to_unit(q, 4, tf.float64).dtype == tf.float64


def test_inverse_cdf_is_the_smallest_level_whose_cdf_reaches_u():
    """q = min{k : CDF(k) >= u}: u on a CDF value stays at that level; u past the last value (a CDF
    that rounds below 1) takes the top level."""
    logits = tf.zeros((7, 1, 4), tf.float64)  # uniform: the CDF is exactly 0.25, 0.5, 0.75, 1
    u = tf.constant([[0.0], [0.25], [0.2500001], [0.5], [0.74], [0.99], [1.5]], tf.float64)  # (7, 1)
    q = pixelcnn.inverse_cdf(logits, u, 1.0).numpy()  # over the last axis, whatever the rank
    np.testing.assert_array_equal(q, [[0], [0], [1], [1], [2], [3], [3]])
    # temperature 0.5 divides the logits: [0, ln 3] -> probabilities [1, 9] / 10 (at 1: [1, 3] / 4)
    logits = tf.constant([[0.0, math.log(3.0)]] * 3, tf.float64)
    u = tf.constant([0.05, 0.2, 0.3], tf.float64)
    np.testing.assert_array_equal(pixelcnn.inverse_cdf(logits, u, 0.5).numpy(), [0, 1, 1])
    np.testing.assert_array_equal(pixelcnn.inverse_cdf(logits, u, 1.0).numpy(), [0, 0, 1])


def test_float64_sampling_forward_matches_the_keras_model():
    model = tiny(shape=(6, 6, 2), levels=5)
    random_bias(model)
    params = pixelcnn.sampling_params(model.networks["pixelcnn"], model.cfg)
    x = np.random.default_rng(2).integers(0, 5, (3, 6, 6, 2)) / 4.0
    keras_out = np.asarray(model.networks["pixelcnn"](x))
    f64 = pixelcnn.forward_full(tf.constant(x, tf.float64), params, model.cfg).numpy()
    np.testing.assert_allclose(f64, keras_out, atol=1e-4)


@pytest.mark.parametrize(
    ("shape", "levels", "temperature", "kernel"),  # kernel 5: a cache padded by 2, not 1
    [((8, 8, 1), 4, 1.0, 3), ((7, 9, 1), 256, 1.0, 5), ((6, 6, 3), 3, 0.5, 3), ((5, 4, 3), 256, 1.0, 5)],
)
def test_fast_sampling_equals_naive_sampling_exactly(shape, levels, temperature, kernel):
    model = tiny(shape=shape, levels=levels, first_kernel=5, kernel=kernel)
    random_bias(model)
    params = pixelcnn.sampling_params(model.networks["pixelcnn"], model.cfg)
    u = pixelcnn.sampling_uniforms(5, shape, seed=3)
    args = (params, u) if temperature == 1.0 else (params, u, temperature)  # the default is 1
    naive = pixelcnn.naive_sampler(model.cfg)(*args)
    fast = pixelcnn.fast_sampler(model.cfg)(*args)
    assert naive.shape == (5, *shape)
    assert len(np.unique(naive)) > 1  # not a degenerate all-equal picture
    assert np.array_equal(fast, naive)


@pytest.mark.parametrize("shape", [(8, 8, 1), (5, 5, 3)])
def test_naive_samples_follow_the_model_conditionals(shape):
    """Each naive sample inverts the CDF of p(x_t | x_<t) computed on the finished picture
    (with colour, of p(x_t,c | x_<t, x_t,<c))."""
    model = tiny(shape=shape, levels=4)
    random_bias(model)
    params = pixelcnn.sampling_params(model.networks["pixelcnn"], model.cfg)
    u = pixelcnn.sampling_uniforms(3, shape, seed=4)
    q = pixelcnn.naive_sampler(model.cfg)(params, u)
    logits = pixelcnn.forward_full(tf.constant(q / 3.0, tf.float64), params, model.cfg)
    cdf = np.cumsum(tf.nn.softmax(logits, -1).numpy(), -1)
    np.testing.assert_array_equal(np.minimum((cdf < u[..., None]).sum(-1), 3), q)


def test_sample_is_seeded_in_unit_range_and_on_the_level_grid():
    model = tiny(levels=4, sample_batch=3)
    a, b, c = model.sample(5, seed=7), model.sample(5, seed=7), model.sample(5, seed=8)
    assert a.shape == (5, 8, 8, 1) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a * 3).round(6)) <= {0.0, 1.0, 2.0, 3.0}
    assert model.latent_dim() == 0


def _fashion_batch(n: int, size: int) -> np.ndarray:
    images = next(iter_idx(FASHION, 3, chunk=n))[:n]
    x = tf.image.resize(images[..., None].astype(np.float32), (size, size), method="area")
    return (np.round(x.numpy()) / 255.0).astype(np.float32)


@pytest.mark.skipif(not FASHION.is_file(), reason=f"{FASHION} not installed (Debian dataset-fashion-mnist)")
def stepper(model):
    """A traced one-step trainer on batches of 32, counting its own steps."""
    model.build_optimizers()
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def train_step(batch):
        out = model.train_step({"image": batch}, StepContext(32, step, seed=0))
        step.assign_add(1)
        return out

    return train_step


def test_bits_per_dim_finite_and_falling_on_a_few_batches():
    model = tiny(shape=(16, 16, 1), lr=3e-3, filters=32)
    x = _fashion_batch(64, 16)
    train_step = stepper(model)

    before = model.likelihood_metrics(x, EvaluateConfig())
    history = [float(train_step(x[k % 2 * 32 : k % 2 * 32 + 32])["bits_per_dim"]) for k in range(16)]
    after = model.likelihood_metrics(x, EvaluateConfig())
    assert all(math.isfinite(v) for v in history)
    assert np.mean(history[-4:]) < np.mean(history[:4])
    for m in (before, after):
        assert set(m) == {"nll", "bits_per_dim"} and all(math.isfinite(v) for v in m.values())
        assert m["bits_per_dim"] == pytest.approx(m["nll"] / (16 * 16 * math.log(2)))
    assert after["bits_per_dim"] < before["bits_per_dim"]
    assert 0.0 < after["bits_per_dim"] < 2.0 * math.log2(4)


def test_colour_bits_per_dim_are_per_subpixel():
    """A model with all-zero logits puts 1/256 on every value: exactly 8 bits per subpixel."""
    model = tiny(shape=(4, 4, 3), levels=256)
    logits = model.networks["pixelcnn"].get_layer("logits")
    for var in logits.weights:
        var.assign(np.zeros(var.shape, np.float32))
    images = np.random.default_rng(0).integers(0, 256, (6, 4, 4, 3)) / 255.0
    metrics = model.likelihood_metrics(images.astype(np.float32), EvaluateConfig())
    assert metrics["bits_per_dim"] == pytest.approx(8.0, rel=1e-5)
    assert metrics["nll"] == pytest.approx(4 * 4 * 3 * 8 * math.log(2), rel=1e-5)


def test_colour_bits_per_dim_fall_on_colour_blobs():
    """256 levels per subpixel on 8x8 colour blobs (the CIFAR-10 test files' images, shrunk)."""
    from tests.cifar10_files import blob_images

    rng = np.random.default_rng(0)
    big = blob_images(rng.integers(0, 10, 64), rng).astype(np.float32)
    x = big.reshape(64, 8, 4, 8, 4, 3).mean(axis=(2, 4)).round() / 255.0  # area-shrunk to 8x8
    model = tiny(shape=(8, 8, 3), levels=256, lr=3e-3, filters=24)
    train_step = stepper(model)

    before = model.likelihood_metrics(x, EvaluateConfig())["bits_per_dim"]
    history = [float(train_step(x[k % 2 * 32 : k % 2 * 32 + 32])["bits_per_dim"]) for k in range(20)]
    after = model.likelihood_metrics(x, EvaluateConfig())["bits_per_dim"]
    assert all(math.isfinite(v) for v in history)
    assert 7.0 < before < 9.0  # near uniform over 256 values at the start
    assert after < before - 0.5  # 8.0 -> 6.9 bits/dim when written


def test_colour_needs_a_group_of_features_per_channel():
    with pytest.raises(ConfigError, match=r"model.filters: expected at least 6 for 3-channel images"):
        tiny(shape=(8, 8, 3), filters=4)


def test_binarized_data_uses_two_levels():
    model = tiny(levels=2)
    model.spec = DataSpec((8, 8, 1), binarize=True)
    metrics = model.likelihood_metrics(np.full((4, 8, 8, 1), 0.5, np.float32), EvaluateConfig())
    assert math.isfinite(metrics["bits_per_dim"])
    with pytest.raises(ConfigError, match="model.levels"):
        pixelcnn.PixelCNN(
            pixelcnn.PixelCNNConfig(levels=4), DataSpec((8, 8, 1), binarize=True), TrainConfig()
        )


@pytest.mark.parametrize(
    ("key", "value"), [("levels", 1), ("levels", 257), ("kernel", 4), ("first_kernel", 6)]
)
def test_bad_config_names_the_key(key, value):
    with pytest.raises(ConfigError, match=f"model.{key}"):
        pixelcnn.PixelCNNConfig(**{key: value})
