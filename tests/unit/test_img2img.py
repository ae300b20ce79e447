"""pix2pix and CycleGAN: U-Net skips, PatchGAN receptive field, cycle loss, history pool, training steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab import config, models
from genlab.errors import ConfigError
from genlab.models.base import DataSpec, StepContext
from genlab.models.cyclegan import HistoryPool, cycle_losses, pool_step
from genlab.models.patchgan import build_patchgan, receptive_field
from genlab.models.pix2pix import build_unet
from genlab.models.translation import from_unit, to_unit

PAIRS = DataSpec(shape=(16, 16, 2))


def exp(model: dict, dataset: str, **train):
    return config.experiment_from_dict(
        {
            "name": "t",
            "model": model,
            "data": {"dataset": dataset, "image_size": 16},
            "train": {"batch_size": 8, **train},
        }
    )


def test_unet_skips_join_encoder_and_decoder_at_the_same_resolution():
    width, size = 4, 32
    net = build_unet((size, size, 1), 1, width, dropout=0.0)
    skips = sorted((layer for layer in net.layers if layer.name.startswith("skip_")), key=lambda s: s.name)
    assert [s.name for s in skips] == [f"skip_{i}" for i in range(4)]  # log2(32) - 1 joins
    for i, skip in enumerate(skips):
        up, encoder = (tuple(t.shape) for t in skip.input)
        side = size // 2 ** (i + 1)
        filters = width * min(2**i, 8)
        assert up == (None, side, side, filters)  # decoder block i, upsampled back to e_i's size
        assert encoder == (None, side, side, filters)  # encoder layer i
    assert tuple(net.output.shape) == (None, size, size, 1)


def test_unet_output_follows_a_local_input_change_through_the_skips():
    """A pixel change moves the output near that pixel far more than far away (detail skips the bottleneck)."""
    keras.utils.set_random_seed(0)
    net = build_unet((32, 32, 1), 1, 8, dropout=0.0)
    x = np.zeros((1, 32, 32, 1), np.float32)
    y = x.copy()
    y[0, 4, 4, 0] = 1.0
    diff = np.abs(np.asarray(net(y)) - np.asarray(net(x)))[0, ..., 0]
    assert diff[2:7, 2:7].mean() > 5 * diff[20:, 20:].mean()


@pytest.mark.parametrize("n_layers", [1, 2])
def test_patchgan_receptive_field_matches_the_formula(n_layers):
    keras.utils.set_random_seed(0)
    size = 128
    disc = build_patchgan((size, size, 1), 4, n_layers, "d", norm=keras.layers.Identity)
    x = tf.Variable(tf.random.normal((1, size, size, 1)))
    with tf.GradientTape() as tape:
        logits = disc(x)
        cell = logits.shape[1] // 2
        out = logits[0, cell, cell, 0]
    grad = np.abs(tape.gradient(out, x).numpy()[0, ..., 0])
    rows, cols = np.nonzero(grad.sum(1))[0], np.nonzero(grad.sum(0))[0]
    assert rows.max() - rows.min() + 1 == receptive_field(n_layers)
    assert cols.max() - cols.min() + 1 == receptive_field(n_layers)


def test_receptive_field_of_the_papers_patchgan_is_70():
    assert [receptive_field(n) for n in (0, 1, 2, 3)] == [7, 16, 34, 70]


def test_cycle_and_identity_losses_vanish_for_identity_generators_only():
    rng = np.random.default_rng(0)
    a = tf.constant(rng.uniform(-1, 1, (3, 8, 8, 1)), tf.float32)
    b = tf.constant(rng.uniform(-1, 1, (3, 8, 8, 1)), tf.float32)
    cycle, identity = cycle_losses(lambda x: x, lambda x: x, a, b)
    np.testing.assert_allclose(cycle, 0.0, atol=1e-7)
    np.testing.assert_allclose(identity, 0.0, atol=1e-7)
    # G adds 0.1, F subtracts 0.1: a round trip is exact, but each one-way identity is off by 0.1
    cycle, identity = cycle_losses(lambda x: x + 0.1, lambda x: x - 0.1, a, b)
    np.testing.assert_allclose(cycle, 0.0, atol=1e-6)
    np.testing.assert_allclose(identity, 0.2, atol=1e-6)
    cycle, _ = cycle_losses(lambda x: x + 0.1, lambda x: x + 0.1, a, b)  # both add: off by 0.2 each way
    np.testing.assert_allclose(cycle, 0.4, atol=1e-6)


def images(values):
    return tf.constant(np.array(values, np.float32).reshape(-1, 1, 1, 1))


def test_history_pool_fills_first_then_swaps_half_for_stored_images():
    buffer, count = tf.zeros((3, 1, 1, 1)), tf.constant(0)
    never, slot0 = tf.zeros(2), tf.zeros(2)
    out, buffer, count = pool_step(buffer, count, images([1, 2]), never, slot0)  # filling: returned as is
    assert out.numpy().ravel().tolist() == [1, 2] and int(count) == 2
    assert buffer.numpy().ravel().tolist() == [1, 2, 0]
    # the third image fills the last slot whatever u says; then the pool is full
    out, buffer, count = pool_step(buffer, count, images([3, 4]), tf.constant([0.9, 0.2]), slot0)
    assert out.numpy().ravel().tolist() == [3, 4]  # 4: full, but u_swap <= 0.5 keeps it
    assert buffer.numpy().ravel().tolist() == [1, 2, 3] and int(count) == 3
    # swaps: 5 takes slot floor(0.7 * 3) = 2 (returns 3); 6 takes slot 2 again (returns 5, stored just now)
    out, buffer, count = pool_step(
        buffer, count, images([5, 6]), tf.constant([0.9, 0.6]), tf.constant([0.7, 0.9])
    )
    assert out.numpy().ravel().tolist() == [3, 5]
    assert buffer.numpy().ravel().tolist() == [1, 2, 6] and int(count) == 3


def test_history_pool_returns_old_images_about_half_the_time():
    size, rng = 10, np.random.default_rng(0)
    buffer, count = tf.zeros((size, 1, 1, 1)), tf.constant(0)
    out, buffer, count = pool_step(buffer, count, images(np.arange(size)), tf.zeros(size), tf.zeros(size))
    new = np.arange(100, 1100, dtype=np.float32)
    u = rng.random((2, len(new)), dtype=np.float32)
    out, buffer, _ = pool_step(buffer, count, images(new), tf.constant(u[0]), tf.constant(u[1]))
    returned_old = (out.numpy().ravel() != new).mean()
    assert 0.45 < returned_old < 0.55
    assert set(buffer.numpy().ravel()) <= set(new) | set(range(size))  # only images it was given


def test_history_pool_variables_follow_queries_and_size_zero_is_a_pass_through():
    ctx = StepContext(4, tf.constant(0), seed=0)
    pool = HistoryPool(6, (1, 1, 1), "p", stream=1)
    x = images([1, 2, 3, 4])
    np.testing.assert_array_equal(pool.query(x, ctx), x)  # filling
    assert int(pool.count.numpy()) == 4
    assert pool.buffer.numpy().ravel().tolist() == [1, 2, 3, 4, 0, 0]
    assert HistoryPool(0, (1, 1, 1), "q", stream=2).query(x, ctx) is x


def train_steps(model, n: int, batch: np.ndarray) -> list[dict]:
    model.build_optimizers()
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def run():
        losses = model.train_step(
            {"image": tf.constant(batch), "label": tf.zeros(len(batch), tf.int32)},
            StepContext(len(batch), step, 0),
        )
        step.assign_add(1)
        return losses

    return [{k: float(v) for k, v in run().items()} for _ in range(n)]


def paired_batch(n=8, size=16):
    """A: a bright square; B: the same square inverted (a mapping a U-Net learns fast)."""
    rng = np.random.default_rng(0)
    a = np.zeros((n, size, size, 1), np.float32)
    for i, (y, x) in enumerate(rng.integers(0, size - 6, (n, 2))):
        a[i, y : y + 6, x : x + 6] = 1.0
    return np.concatenate([a, 1.0 - a], -1)


def test_pix2pix_l1_falls_while_training():
    keras.utils.set_random_seed(0)
    model = models.build(
        exp(
            {"family": "pix2pix", "width": 8, "disc_width": 8, "patch_layers": 1, "dropout": 0.0},
            "edges2fashion",
            learning_rate=2e-3,
        ),
        PAIRS,
    )
    history = train_steps(model, 30, paired_batch())
    assert all(np.isfinite(v) for h in history for v in h.values())
    assert history[-1]["l1"] < 0.5 * history[0]["l1"]
    out = model.translate(paired_batch()[..., :1])
    assert out.shape == (8, 16, 16, 1) and 0.0 <= out.min() and out.max() <= 1.0


def test_cyclegan_cycle_loss_falls_and_pool_fills():
    keras.utils.set_random_seed(0)
    cfg = {
        "family": "cyclegan",
        "width": 4,
        "res_blocks": 1,
        "disc_width": 4,
        "patch_layers": 1,
        "pool_size": 10,
    }
    model = models.build(exp(cfg, "sneakers2boots", learning_rate=2e-3), PAIRS)
    history = train_steps(model, 12, paired_batch())
    assert all(np.isfinite(v) for h in history for v in h.values())
    assert history[-1]["cycle"] < history[0]["cycle"]
    assert int(model.pools["a"].count.numpy()) == 10 and int(model.pools["b"].count.numpy()) == 10
    assert set(model.state()) == {"pool_a_buffer", "pool_a_count", "pool_b_buffer", "pool_b_count"}
    back = model.translate(model.translate(paired_batch()[..., :1]), reverse=True)
    assert back.shape == (8, 16, 16, 1)


def test_translation_families_refuse_other_data_and_sizes():
    with pytest.raises(ConfigError, match="data.dataset: pix2pix trains on edges2fashion, paired"):
        exp({"family": "pix2pix"}, "fashion_mnist")
    with pytest.raises(ConfigError, match="data.dataset: cyclegan trains on"):
        exp({"family": "cyclegan"}, "mnist")
    with pytest.raises(ConfigError, match="power of two"):
        models.build(exp({"family": "pix2pix", "patch_layers": 1}, "paired"), DataSpec(shape=(24, 24, 2)))
    with pytest.raises(ConfigError, match="model.patch_layers"):
        models.build(exp({"family": "cyclegan", "patch_layers": 3}, "unpaired"), DataSpec(shape=(12, 12, 6)))
    with pytest.raises(
        ConfigError, match="data.image_size: expected a multiple of 4 for cyclegan's generators"
    ):
        models.build(exp({"family": "cyclegan", "patch_layers": 1}, "unpaired"), DataSpec(shape=(10, 10, 6)))
    with pytest.raises(ConfigError, match="model.direction"):
        exp({"family": "pix2pix", "direction": "up"}, "paired")
    model = models.build(
        exp({"family": "pix2pix", "width": 4, "disc_width": 4, "patch_layers": 1}, "paired"), PAIRS
    )
    with pytest.raises(ConfigError, match="translates one way only"):
        model.translate(np.zeros((1, 16, 16, 1), np.float32), reverse=True)
    with pytest.raises(ConfigError, match="genlab translate"):
        model.sample(4, seed=0)


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_bfloat16_steps_keep_float32_losses_and_outputs(family):
    """Instance norm upcasts its statistics to float32 (Keras GroupNormalization); outputs are float32."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        cfg = {"family": family, "width": 4, "disc_width": 4, "patch_layers": 1}
        cfg.update({"dropout": 0.0} if family == "pix2pix" else {"res_blocks": 1, "pool_size": 4})
        model = models.build(exp(cfg, "paired", mixed_precision=True), PAIRS)
        history = train_steps(model, 3, paired_batch())
        assert all(np.isfinite(v) for h in history for v in h.values())
        assert any(layer.compute_dtype == "bfloat16" for layer in model.networks[model.generators[0]].layers)
        assert model.translate(paired_batch()[..., :1]).dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_cli_headline_shows_each_metrics_floor(capsys):
    from genlab.cli import _print_headline

    _print_headline({"fid_ab": 0.28, "fid_ab_floor": 0.009, "cycle_l1_a": 0.035})
    out = capsys.readouterr().out
    assert "fid_ab=0.28 (real-data floor 0.009)" in out and "cycle_l1_a=0.035\n" in out
    assert "fid_ab_floor" not in out


def test_unit_range_conversions_are_inverse():
    x = np.array([-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(to_unit(x), [0.0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(from_unit(to_unit(x)), x)
