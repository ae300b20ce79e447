"""GAN train steps checked against the formulas, on stand-in networks whose outputs the test can
compute: which target goes with real and fake, and the WGAN-GP penalty at the interpolation
weights ``train_step`` itself draws (one per example), not weights the test supplies."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genlab.config import TrainConfig
from genlab.models import gan
from genlab.models.base import DataSpec, StepContext

SHAPE = (4, 4, 1)
SPEC = DataSpec(shape=SHAPE, num_classes=3, class_names=("a", "b", "c"))
LATENT, BATCH, SEED, STEP = 4, 8, 3, 5


def softplus(x):
    return np.logaddexp(0.0, x)


def bce(target, logit):  # sigmoid cross-entropy on logits, written out
    return softplus(logit) - target * logit


def batch():
    rng = np.random.default_rng(0)
    return {
        "image": rng.uniform(size=(BATCH, *SHAPE)).astype(np.float32),
        "label": rng.integers(0, 3, BATCH).astype(np.int32),
    }


def linear_generator(conditional: bool) -> keras.Model:
    z = keras.Input((LATENT,))
    inputs, x = [z], z
    if conditional:
        label = keras.Input((1,), dtype="int32")
        inputs.append(label)
        x = keras.layers.Concatenate()([z, keras.layers.CategoryEncoding(3, output_mode="one_hot")(label)])
    out = keras.layers.Reshape(SHAPE)(keras.layers.Dense(16, activation="sigmoid")(x))
    return keras.Model(inputs if conditional else z, out)


def linear_discriminator(conditional: bool) -> keras.Model:
    image = keras.Input(SHAPE)
    inputs, x = [image], keras.layers.Flatten()(image)
    if conditional:
        label = keras.Input((1,), dtype="int32")
        inputs.append(label)
        x = keras.layers.Concatenate()([x, keras.layers.CategoryEncoding(3, output_mode="one_hot")(label)])
    return keras.Model(inputs if conditional else image, keras.layers.Dense(1)(x))


def stand_in(model, conditional: bool):
    keras.utils.set_random_seed(1)
    model.networks = {
        "generator": linear_generator(conditional),
        "discriminator": linear_discriminator(conditional),
    }
    model.build_optimizers()
    return model


@pytest.mark.parametrize("family", ["dcgan", "cgan"])
def test_gan_step_losses_follow_the_formulas_with_real_as_one_and_fake_as_zero(family):
    conditional = family == "cgan"
    cfg = (gan.CGANConfig if conditional else gan.DCGANConfig)(latent_dim=LATENT, width=4, label_noise=0.3)
    model = stand_in(gan.build(cfg, SPEC, TrainConfig(batch_size=BATCH, learning_rate=0.01)), conditional)
    gen, disc = model.networks["generator"], model.networks["discriminator"]
    b = batch()
    labels = b["label"].reshape(-1, 1)

    def g(z, net=gen):
        return net([z, labels] if conditional else z).numpy()

    def d(x):
        return disc([x, labels] if conditional else x).numpy()

    draws = StepContext(BATCH, STEP, SEED)  # the same draws, in train_step's order
    z = draws.normal([LATENT]).numpy()
    noise_real, noise_fake = (0.3 * draws.uniform([1]).numpy() for _ in range(2))
    z2 = draws.normal([LATENT]).numpy()
    gen_before = keras.models.clone_model(gen)
    gen_before.set_weights(gen.get_weights())
    fake = g(z)
    d_real, d_fake = d(b["image"]), d(fake)
    expected_d = np.mean(bce(1.0 - noise_real, d_real) + bce(noise_fake, d_fake))

    out = model.train_step(b, StepContext(BATCH, STEP, SEED))

    assert float(out["d_loss"]) == pytest.approx(expected_d, rel=1e-5)
    # The generator's loss is taken with the updated discriminator and asks it to say "real".
    assert float(out["g_loss"]) == pytest.approx(np.mean(bce(1.0, d(g(z2, gen_before)))), rel=1e-5)
    # The step went downhill on those losses (a first-order fact for a small Adam step).
    assert np.mean(bce(1.0 - noise_real, d(b["image"])) + bce(noise_fake, d(fake))) < expected_d
    assert np.mean(bce(1.0, d(g(z2)))) < np.mean(bce(1.0, d(g(z2, gen_before))))


C = 0.5  # the stand-in critic f(x) = C/2 |x|^2 (+ a zero linear part): grad f(x) = C x


def quadratic_critic() -> keras.Model:
    image = keras.Input(SHAPE)
    flat = keras.layers.Flatten()(image)
    square = keras.layers.Lambda(lambda v: 0.5 * C * keras.ops.sum(v * v, axis=-1, keepdims=True))(flat)
    linear = keras.layers.Dense(1, kernel_initializer="zeros")(flat)
    return keras.Model(image, keras.layers.Add()([square, linear]))


def test_wgan_gp_step_penalizes_each_example_at_its_own_interpolation_weight():
    cfg = gan.WGANGPConfig(latent_dim=LATENT, width=4, critic_steps=2, gp_weight=10.0)
    model = gan.build(cfg, SPEC, TrainConfig(batch_size=BATCH, learning_rate=0.05))
    keras.utils.set_random_seed(1)
    model.networks = {"generator": linear_generator(False), "critic": quadratic_critic()}
    model.build_optimizers()
    model.optimizers["critic"].learning_rate = 0.0  # a fixed critic: every chunk sees the same f
    gen, critic = model.networks["generator"], model.networks["critic"]
    real = batch()["image"]

    draws = StepContext(BATCH, STEP, SEED)
    z_all = draws.normal([LATENT]).numpy()
    eps = draws.uniform([1, 1, 1]).numpy()  # (b, 1, 1, 1)
    z_gen = draws.normal([LATENT]).numpy()[: BATCH // 2]
    assert len(np.unique(eps)) == BATCH  # the check below needs distinct weights
    fake = gen(z_all).numpy()
    x_hat = eps * real + (1 - eps) * fake
    gp = 10.0 * (C * np.linalg.norm(x_hat.reshape(BATCH, -1), axis=1) - 1.0) ** 2
    f_real, f_fake = (critic(x).numpy()[:, 0] for x in (real, fake))
    expected_g = -np.mean(critic(gen(z_gen)).numpy())

    out = {k: float(v) for k, v in model.train_step({"image": real}, StepContext(BATCH, STEP, SEED)).items()}

    assert out["gp"] == pytest.approx(np.mean(gp), rel=1e-4)
    assert out["wasserstein"] == pytest.approx(np.mean(f_real - f_fake), rel=1e-4)
    assert out["d_loss"] == pytest.approx(np.mean(f_fake - f_real + gp), rel=1e-4)
    assert out["g_loss"] == pytest.approx(expected_g, rel=1e-4)


class TrainingProbe(keras.layers.Layer):
    """Passes x through and records the ``training`` flag Keras hands it."""

    def __init__(self, seen: list, **kwargs):
        super().__init__(**kwargs)
        self.record = seen.append  # not the list itself: Keras would track (copy) it

    def call(self, x, training=None):
        self.record(training)
        return x


def probed(net: keras.Model, seen: list) -> keras.Model:
    inputs = net.inputs if len(net.inputs) > 1 else net.inputs[0]
    return keras.Model(inputs, TrainingProbe(seen)(net.outputs[0]))


@pytest.mark.parametrize("family", ["dcgan", "cgan", "wgan_gp"])
def test_every_network_call_of_a_train_step_is_in_training_mode(family):
    """BatchNorm (the generator's batch statistics) and dropout (the discriminator's) depend on it;
    the linear stand-ins above cannot tell training from inference, these probes can."""
    conditional = family == "cgan"
    cfg = {
        "dcgan": gan.DCGANConfig(latent_dim=LATENT, width=4),
        "cgan": gan.CGANConfig(latent_dim=LATENT, width=4),
        "wgan_gp": gan.WGANGPConfig(latent_dim=LATENT, width=4, critic_steps=2),
    }[family]
    model = gan.build(cfg, SPEC, TrainConfig(batch_size=BATCH))
    seen: list = []
    critic = "critic" if family == "wgan_gp" else "discriminator"
    model.networks = {
        "generator": probed(linear_generator(conditional), seen),
        critic: probed(linear_discriminator(conditional), seen),
    }
    model.build_optimizers()
    seen.clear()  # building the models called the probes symbolically
    model.train_step(batch(), StepContext(BATCH, STEP, SEED))
    # dcgan/cgan: G, D(real), D(fake), then D(G(z)); wgan_gp: per critic batch G, f(real), f(fake), f(x_hat)
    assert len(seen) == {"dcgan": 5, "cgan": 5, "wgan_gp": 10}[family]
    assert all(t is True for t in seen), seen
