"""Progressive GAN: the schedule, the fade-in of both networks, equalized learning rate, pixel norm,
minibatch stddev, config errors, and a resume across a phase change."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab import config, models
from genlab.errors import ConfigError
from genlab.models.base import DataSpec, StepContext
from genlab.models.progan_layers import (
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStddev,
    PixelNorm,
    phase_at,
)
from genlab.train import train
from genlab.train.loop import load_model

TINY = {"family": "progan", "latent_dim": 8, "width": 4, "fade_steps": 4, "stable_steps": 3}


def build(**changes):
    exp = config.experiment_from_dict(
        {"name": "pg", "model": {**TINY, **changes}, "train": {"batch_size": 8}}
    )
    keras.utils.set_random_seed(0)
    return models.build(exp, DataSpec(shape=(28, 28, 1)))


def test_schedule_at_and_around_the_boundaries():
    # levels 4x4, 8x8, 16x16, 32x32; stable 3, fade 4: 4x4 alone for steps 0-2, then each level
    # fades in over 4 steps (alpha 0, .25, .5, .75) and trains alone for 3.
    expected = {
        0: (0, 1.0), 2: (0, 1.0),
        3: (1, 0.0), 4: (1, 0.25), 6: (1, 0.75), 7: (1, 1.0), 9: (1, 1.0),
        10: (2, 0.0), 13: (2, 0.75), 14: (2, 1.0), 16: (2, 1.0),
        17: (3, 0.0), 20: (3, 0.75), 21: (3, 1.0), 23: (3, 1.0),
        24: (3, 1.0), 10_000: (3, 1.0),  # past the last fade: the top level, alpha 1
    }  # fmt: skip
    for step, want in expected.items():
        level, alpha = phase_at(step, fade_steps=4, stable_steps=3, levels=4)
        assert (float(level), float(alpha)) == want, step
    # one level only: never a fade
    assert [float(v) for v in phase_at(50, 4, 3, levels=1)] == [0.0, 1.0]


def set_step(model, step):
    model.schedule.step.assign(step)
    return model.schedule.phase()


def nearest(x, f):
    return np.repeat(np.repeat(np.asarray(x), f, axis=1), f, axis=2)


@pytest.mark.parametrize("step", [10, 11, 12, 13])  # level 2 (16x16) fading in: alpha 0 .. 0.75
def test_generator_fade_in_is_the_papers_mix(step):
    model = build()
    level, alpha = set_step(model, step)
    assert float(level) == 2 and float(alpha) == (step - 10) / 4
    gen = model.networks["generator"]
    z = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    h = gen.get_layer("g_block_1")(gen.get_layer("g_block_0")(z))  # (8, 8, width)
    old = gen.get_layer("to_rgb_1")(h)  # (8, 8, 1)
    new = gen.get_layer("to_rgb_2")(gen.get_layer("g_block_2")(h))  # (16, 16, 1)
    a = float(alpha)
    want = (1 - a) * nearest(old, 2) + a * np.asarray(new)  # at 16x16
    np.testing.assert_allclose(gen(z), nearest(want, 2), rtol=1e-6, atol=1e-6)  # shown at 32x32


@pytest.mark.parametrize("step", [10, 12])
def test_discriminator_fade_in_mirrors_the_generator(step):
    model = build()
    level, alpha = set_step(model, step)
    disc = model.networks["discriminator"]
    x = np.random.default_rng(2).uniform(-1, 1, (4, 32, 32, 1)).astype(np.float32)
    x16 = tf.nn.avg_pool2d(x, 2, 2, "VALID")  # the image at the current resolution
    a = float(alpha)
    new = disc.get_layer("d_block_2")(disc.get_layer("from_rgb_2")(x16))  # (8, 8, width)
    old = disc.get_layer("from_rgb_1")(tf.nn.avg_pool2d(x16, 2, 2, "VALID"))
    h = disc.get_layer("d_block_1")(a * new + (1 - a) * old)  # (4, 4, width)
    want = disc.get_layer("d_head")(h)
    phase = np.tile([[float(level), a]], (4, 1)).astype(np.float32)
    np.testing.assert_allclose(disc([x, phase]), want, rtol=1e-5, atol=1e-5)


def test_real_images_fade_like_the_generator():
    model = build()
    _, alpha = set_step(model, 11)  # level 2, alpha 0.25
    x = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    phase = np.tile([[2.0, 0.25]], (2, 1)).astype(np.float32)
    x16 = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    x8 = tf.nn.avg_pool2d(x16, 2, 2, "VALID")
    want = nearest(0.75 * nearest(x8, 2) + 0.25 * np.asarray(x16), 2)
    np.testing.assert_allclose(model.fade_images(x, phase), want, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_is_taken_at_the_current_resolution():
    model = build()
    level, _ = set_step(model, 14)  # level 2 (16x16) alone
    x16 = tf.constant(np.random.default_rng(8).uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32))
    phase = tf.constant([[2.0, 1.0]] * 4)
    with tf.GradientTape() as tape:  # the paper's critic input: the 16x16 image itself
        tape.watch(x16)
        score = model.networks["discriminator"]([tf.repeat(tf.repeat(x16, 2, 1), 2, 2), phase])
    norm = np.sqrt((tape.gradient(score, x16).numpy() ** 2).sum(axis=(1, 2, 3)))
    full = tf.repeat(tf.repeat(x16, 2, 1), 2, 2)
    gp = model.gradient_penalty(full, full, tf.ones((4, 1, 1, 1)), phase, level)
    np.testing.assert_allclose(gp, 10.0 * (norm - 1.0) ** 2, rtol=1e-4, atol=1e-5)


def test_equalized_dense_scales_a_unit_normal_kernel_by_he_constant():
    layer = EqualizedDense(512)
    x = np.random.default_rng(4).standard_normal((5, 256)).astype(np.float32)
    y = layer(x)
    kernel = layer.kernel.numpy()
    assert abs(kernel.mean()) < 0.01 and abs(kernel.std() - 1.0) < 0.01  # stored ~ N(0, 1)
    want = x @ (kernel * math.sqrt(2 / 256)) + layer.bias.numpy()
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_equalized_conv_scales_a_unit_normal_kernel_by_he_constant():
    layer = EqualizedConv2D(64, 3)
    x = np.random.default_rng(5).standard_normal((2, 8, 8, 32)).astype(np.float32)
    y = layer(x)
    kernel = layer.kernel.numpy()  # (3, 3, 32, 64): fan_in 3 * 3 * 32
    assert abs(kernel.mean()) < 0.02 and abs(kernel.std() - 1.0) < 0.02
    plain = keras.layers.Conv2D(64, 3, padding="same")  # an ordinary convolution with the effective kernel
    plain.build(x.shape)
    plain.set_weights([kernel * math.sqrt(2 / (3 * 3 * 32)), layer.bias.numpy()])
    np.testing.assert_allclose(y, plain(x), rtol=1e-4, atol=1e-4)


def test_pixel_norm_matches_the_formula():
    a = np.random.default_rng(6).standard_normal((2, 3, 3, 5)).astype(np.float32)
    want = a / np.sqrt((a**2).mean(axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(PixelNorm()(a), want, rtol=1e-5)


def test_minibatch_stddev_over_groups_of_examples():
    x = np.random.default_rng(7).standard_normal((8, 2, 2, 3)).astype(np.float32)
    y = np.asarray(MinibatchStddev(group_size=4)(x))
    assert y.shape == (8, 2, 2, 4)
    np.testing.assert_array_equal(y[..., :3], x)
    for m in range(2):  # 8 examples, groups of 4: example i is in group i mod 2
        members = x[m::2]
        value = np.sqrt(members.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[m::2, :, :, 3], value, rtol=1e-5)


def test_samples_are_at_the_datasets_size_in_unit_range():
    model = build()
    set_step(model, 30)
    images = model.sample(5, seed=0)
    assert images.shape == (5, 28, 28, 1) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(images, model.sample(5, seed=0))


def test_colour_images_train_and_sample_in_colour():
    """CIFAR-10's shape (progan_cifar10): no padding, three channels through both networks."""
    exp = config.experiment_from_dict({"name": "pg", "model": TINY, "train": {"batch_size": 8}})
    keras.utils.set_random_seed(0)
    model = models.build(exp, DataSpec(shape=(32, 32, 3)))
    model.build_optimizers()
    real = np.random.default_rng(7).uniform(0, 1, (8, 32, 32, 3)).astype(np.float32)
    losses = model.train_step({"image": real}, StepContext(8, step=11, seed=0))  # fading into 16x16
    assert all(np.isfinite(float(v)) for v in losses.values())
    images = model.sample(4, seed=0)
    assert images.shape == (4, 32, 32, 3) and images.min() >= 0 and images.max() <= 1
    assert np.abs(images[..., 0] - images[..., 2]).max() > 0  # the channels are not copies of one


@pytest.mark.parametrize(
    "model, train, message",
    [
        ({"resolution": 48}, {}, "model.resolution: expected a power of two >= 4, got 48"),
        ({"start_resolution": 64}, {}, "model.resolution: expected >= model.start_resolution (64)"),
        ({"loss": "hinge"}, {}, "model.loss: expected one of wgan_gp, nonsaturating"),
        ({"fade_steps": 0}, {}, "model.fade_steps: expected an integer >= 1"),
        (
            {"group_size": 4},
            {"batch_size": 12, "workers": 2},
            "expected a multiple of group_size x train.workers = 8",
        ),
    ],
)
def test_config_errors_name_the_key(model, train, message):
    with pytest.raises(ConfigError) as err:
        exp = config.experiment_from_dict({"name": "pg", "model": {**TINY, **model}, "train": train})
        models.check(exp)
    assert message in str(err.value)


def test_resolution_below_the_dataset_size_is_refused():
    with pytest.raises(
        ConfigError,
        match=r"model.resolution: expected a power of two >= the dataset's image size 28x28, got 16",
    ):
        build(resolution=16)


def resume_exp(steps):
    return config.experiment_from_dict(
        {
            "name": "pg-resume",
            "model": {**TINY, "start_resolution": 8, "fade_steps": 2, "stable_steps": 2},
            "train": {"steps": steps, "batch_size": 8, "log_every": 1, "checkpoint_every": 3},
        }
    )


def test_resume_mid_fade_across_a_phase_change_matches_an_uninterrupted_run(tiny_fashion, tmp_path):
    # 8x8 for steps 0-1, 16x16 fades in at 2-3, alone at 4-5, 32x32 fades in at 6: stop at 3 (mid-fade).
    straight = train(resume_exp(7), str(tiny_fashion), str(tmp_path / "straight"))
    first = train(resume_exp(3), str(tiny_fashion), str(tmp_path / "resumed"))
    resumed = train(resume_exp(7), str(tiny_fashion), str(tmp_path / "resumed"))
    assert (first.steps, resumed.resumed_from, resumed.steps) == (3, 3, 7)
    assert resumed.weights_sha256 == straight.weights_sha256
    assert resumed.final_losses == straight.final_losses
    assert (resumed.final_losses["resolution"], resumed.final_losses["alpha"]) == (32.0, 0.0)
    _, model = load_model(str(tmp_path / "resumed"), str(tiny_fashion))
    assert model.trained_phase() == (2, 0.0)  # the saved generator samples at the phase it reached
