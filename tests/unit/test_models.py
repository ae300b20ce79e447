"""Shapes, parameter counts, and losses that fall, for the foundation's DCGAN and VAE."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab import config, models
from genlab.models.base import DataSpec, StepContext

SPEC = DataSpec(shape=(28, 28, 1), num_classes=10, class_names=tuple("abcdefghij"))


def build(family, spec=SPEC, seed=0, **model):
    keras.utils.set_random_seed(seed)  # initial weights independent of the tests run before
    exp = config.experiment_from_dict(
        {"name": "t", "model": {"family": family, **model}, "train": {"learning_rate": 1e-3}}
    )
    return exp, models.build(exp, spec)


def test_dcgan_shapes_and_parameter_counts():
    _, m = build("dcgan", latent_dim=16, width=8)
    g, d = m.networks["generator"], m.networks["discriminator"]
    assert g.output_shape == (None, 28, 28, 1)
    assert d.output_shape == (None, 1)
    w = 8
    # BatchNorm replaces the biases: 4 parameters per channel (gamma, beta, moving mean and variance).
    expected_g = (
        (16 * 7 * 7 * 4 * w + 4 * 7 * 7 * 4 * w)
        + (4 * 4 * 4 * w * 2 * w + 4 * 2 * w)
        + (4 * 4 * 2 * w * w + 4 * w)
        + (5 * 5 * w * 1 + 1)
    )
    assert g.count_params() == expected_g
    bns = [layer for layer in g.layers if "batch_normalization" in layer.name]
    assert len(bns) == 3 and all(layer.synchronized for layer in bns)
    samples = m.sample(5, seed=0)
    assert samples.shape == (5, 28, 28, 1) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, m.sample(5, seed=0))  # seeded


def test_vae_shapes_and_sampling():
    _, m = build("vae", latent_dim=4, width=8)
    assert m.networks["encoder"].output_shape == [(None, 4), (None, 4)]
    assert m.networks["decoder"].output_shape == (None, 28, 28, 1)
    assert m.encode(np.zeros((3, 28, 28, 1), np.float32)).shape == (3, 4)
    assert m.sample(3, seed=1).shape == (3, 28, 28, 1)


def test_image_size_must_be_a_multiple_of_4():
    from genlab.errors import ConfigError

    with pytest.raises(ConfigError, match="data.image_size"):
        build("dcgan", spec=DataSpec(shape=(30, 30, 1)))


def images(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28, 1), np.float32)
    for i, r in enumerate(rng.integers(0, 20, n)):
        x[i, r : r + 6, 4:24] = 1.0
    return x


def run_steps(m, batch, steps, global_batch):
    m.build_optimizers()
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def one():
        out = m.train_step(batch, StepContext(global_batch, step, 0))
        step.assign_add(1)
        return out

    return [{k: float(v) for k, v in one().items()} for _ in range(steps)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vae_loss_falls_on_a_few_batches(seed):
    _, m = build("vae", seed=seed, latent_dim=4, width=8)
    batch = {"image": tf.constant(images()), "label": tf.zeros(32, tf.int32)}
    losses = [h["loss"] for h in run_steps(m, batch, 60, 32)]
    assert losses[-1] < 0.7 * losses[0]


def test_dcgan_discriminator_learns_on_a_few_batches():
    _, m = build("dcgan", latent_dim=8, width=8, dropout=0.0)
    batch = {"image": tf.constant(images()), "label": tf.zeros(32, tf.int32)}
    history = run_steps(m, batch, 15, 32)
    assert history[-1]["d_loss"] < history[0]["d_loss"]
    assert all(np.isfinite(v) for h in history for v in h.values())


def test_vae_elbo_is_a_bound_on_the_importance_sampled_likelihood():
    exp, m = build("vae", spec=DataSpec(shape=(28, 28, 1), binarize=True), latent_dim=4, width=8)
    batch = {"image": tf.constant(images()), "label": tf.zeros(32, tf.int32)}
    run_steps(m, batch, 20, 32)
    cfg = config.EvaluateConfig(num_samples=32, nll_importance_samples=20)
    metrics = m.likelihood_metrics(images(), cfg)
    assert metrics["elbo"] <= -metrics["nll"] + 1e-3  # ELBO <= log p(x)
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll"] / (784 * np.log(2)))


def test_step_context_noise_is_sliced_like_the_data():
    """Replica r of n gets rows r, r+n, ... of the global noise: the same numbers as one worker."""
    ctx = StepContext(8, tf.constant(3), seed=5)
    full = ctx.normal([2]).numpy()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert full.shape == (8, 2)
    with strategy.scope():
        again = strategy.run(lambda: StepContext(8, tf.constant(3), seed=5).normal([2]))
    np.testing.assert_array_equal(strategy.experimental_local_results(again)[0], full)
