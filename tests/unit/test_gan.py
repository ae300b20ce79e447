"""GAN families: DCGAN shapes and sizes, the conditional GAN's labels, WGAN-GP's gradient penalty."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab import config
from genlab.config import TrainConfig
from genlab.errors import ConfigError
from genlab.models import gan
from genlab.models.base import DataSpec, StepContext

SPEC = DataSpec(shape=(28, 28, 1), num_classes=10, class_names=tuple(f"class-{i}" for i in range(10)))


def striped_batch(n: int, seed: int = 0) -> dict:
    """A labelled toy dataset: class k is a bright vertical stripe at column 2k."""
    labels = np.random.default_rng(seed).integers(0, 10, n).astype(np.int32)
    images = np.zeros((n, 28, 28, 1), np.float32)
    for i, k in enumerate(labels):
        images[i, :, 2 * k : 2 * k + 6] = 1.0
    return {"image": images, "label": labels}


def stepper(model, global_batch: int, seed: int = 0, compiled: bool = True):
    """A train step with a step counter, as the training loop runs it (one replica).

    Tracing the WGAN-GP step (critic steps x double backprop) costs more than a few eager steps.
    """
    step = tf.Variable(0, dtype=tf.int64)

    def run(batch):
        out = model.train_step(batch, StepContext(global_batch, step, seed))
        step.assign_add(1)
        return out

    run = tf.function(run) if compiled else run

    return lambda batch: {k: float(v) for k, v in run(batch).items()}


def conv_params(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


# --- DCGAN ------------------------------------------------------------------------------------


def test_dcgan_networks_have_the_expected_shapes_and_parameter_counts():
    keras.utils.set_random_seed(0)
    cfg = gan.DCGANConfig(latent_dim=16, width=8, batchnorm=False)
    g, d = gan.build_generator(cfg, (28, 28, 1)), gan.build_discriminator((28, 28, 1), cfg.width, cfg.dropout)
    assert g.output_shape == (None, 28, 28, 1)
    assert d.output_shape == (None, 1)
    s = 7  # 28 / 4
    assert g.count_params() == (16 + 1) * s * s * 32 + conv_params(4, 32, 16) + conv_params(
        4, 16, 8
    ) + conv_params(5, 8, 1)
    assert d.count_params() == conv_params(4, 1, 16) + conv_params(4, 16, 32) + conv_params(4, 32, 32) + (
        4 * 4 * 32 + 1
    )  # 28 -> 14 -> 7 -> 4 ("same" padding rounds up)
    x = np.asarray(g(np.zeros((3, 16), np.float32)))
    assert x.min() >= 0.0 and x.max() <= 1.0


# --- conditional GAN --------------------------------------------------------------------------


def tiny_cgan(**kw) -> gan.ConditionalGAN:
    keras.utils.set_random_seed(0)
    cfg = gan.CGANConfig(**{"latent_dim": 8, "width": 4, "embed_dim": 4, "dropout": 0.0, **kw})
    model = gan.build(cfg, SPEC, TrainConfig(batch_size=32, learning_rate=1e-3))
    model.build_optimizers()
    return model


def test_cgan_networks_add_the_label_embedding_to_dcgan():
    model = tiny_cgan()
    g, d = model.networks["generator"], model.networks["discriminator"]
    base = gan.DCGANConfig(latent_dim=8 + 4, width=4)
    assert g.count_params() == gan.build_generator(base, (28, 28, 1)).count_params() + 10 * 4
    assert d.count_params() == gan.build_discriminator((28, 28, 1 + 10), 4).count_params()  # one-hot maps
    assert g.output_shape == (None, 28, 28, 1) and d.output_shape == (None, 1)
    assert model.has_labels and model.latent_dim() == 8


def test_class_blocks_put_one_class_per_grid_row_and_balance_classes():
    np.testing.assert_array_equal(gan.class_blocks(100, 10), np.repeat(np.arange(10), 10))
    counts = np.bincount(gan.class_blocks(2000, 10), minlength=10)
    assert (counts == 200).all()
    labels = gan.class_blocks(64, 10)
    assert (np.diff(labels) >= 0).all() and set(labels) == set(range(10))


def test_cgan_sample_shape_and_label_handling():
    model = tiny_cgan()
    x = model.sample(12, seed=3)
    assert x.shape == (12, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # labels=None requests class_blocks(n); explicit labels with the same seed reproduce it.
    np.testing.assert_allclose(x, model.sample(12, seed=3, labels=gan.class_blocks(12, 10)), atol=1e-6)
    assert not np.allclose(x, model.sample(12, seed=3, labels=np.full(12, 9)))
    with pytest.raises(ConfigError, match="labels: expected 12"):
        model.sample(12, seed=3, labels=np.zeros(5, np.int32))
    with pytest.raises(ConfigError, match=r"\[0, 10\)"):
        model.sample(3, seed=3, labels=[0, 1, 10])


def test_cgan_requested_labels_reach_the_generator():
    model = tiny_cgan()
    # Give each class a very different embedding so its effect is unmistakable.
    emb = model.networks["generator"].get_layer("label_embedding")
    emb.set_weights([np.arange(10 * 4, dtype=np.float32).reshape(10, 4) * 3.0])
    z = np.repeat(np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32), 4, axis=0)
    out = model.decode(z, labels=np.array([2, 2, 7, 5]))
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # same z, same label -> same image
    assert np.abs(out[0] - out[2]).max() > 1e-3 and np.abs(out[2] - out[3]).max() > 1e-3


class FakeExtractor:
    """Predicts the class of each sample from a fixed answer list (the feature classifier's role)."""

    def __init__(self, answers):
        self.answers = np.asarray(answers)
        self.seen = None

    def predict(self, images):
        self.seen = images
        return self.answers


def test_cgan_sample_metrics_compare_predictions_with_the_requested_classes():
    model = tiny_cgan()
    requested = gan.class_blocks(40, 10)  # 4 per class
    answers = requested.copy()
    answers[requested == 2] = 3  # class 2 never recognised
    answers[np.flatnonzero(requested == 5)[:1]] = 0  # one of four class-5 samples wrong
    samples = model.sample(40, seed=0)
    metrics = model.sample_metrics(samples, FakeExtractor(answers))
    assert metrics["class_accuracy_2"] == 0.0
    assert metrics["class_accuracy_5"] == 0.75
    assert metrics["class_accuracy_0"] == 1.0
    assert metrics["class_accuracy"] == pytest.approx(35 / 40)
    assert set(metrics) == {"class_accuracy"} | {f"class_accuracy_{k}" for k in range(10)}


def test_cgan_report_section_has_one_row_per_class_named(tmp_path):
    model = tiny_cgan()
    exp = SimpleNamespace(generate=SimpleNamespace(cols=3, seed=1))
    [(title, fragment)] = model.report_sections(str(tmp_path), exp, data_uri="unused")
    assert title == "Samples by class"
    assert fragment.count("<tr><td>") == 10
    for name in SPEC.class_names:
        assert f"<td>{name}</td>" in fragment
    assert fragment.count("<img") == 10
    assert (tmp_path / "samples_by_class.png").stat().st_size > 100


@pytest.mark.slow
def test_cgan_discriminator_loss_falls_on_a_few_batches():
    model = tiny_cgan()
    step = stepper(model, 32)
    batch = striped_batch(32)
    losses = [step(batch)["d_loss"] for _ in range(20)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < losses[0] - 0.3, losses


@pytest.mark.parametrize("family", ["dcgan", "cgan", "wgan_gp"])
def test_image_sides_must_divide_by_4(family):
    cfg = gan.CONFIGS[family]()
    for shape, got in [((30, 30, 1), "got 30"), ((28, 30, 1), "got 28x30")]:
        with pytest.raises(
            ConfigError, match=f"data.image_size: expected a multiple of 4 for {family}.*{got}"
        ):
            gan.build(cfg, dataclasses.replace(SPEC, shape=shape), TrainConfig(batch_size=40))


def test_cgan_needs_labels():
    with pytest.raises(ConfigError, match="labelled dataset"):
        gan.build(gan.CGANConfig(), DataSpec(shape=(28, 28, 1)), TrainConfig())


# --- WGAN-GP ------------------------------------------------------------------------------------


def linear_critic(w: np.ndarray, bias: float = 0.3) -> keras.Model:
    """f(x) = w . flatten(x) + b, so grad_x f = w everywhere."""
    image = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(1)
    out = dense(keras.layers.Flatten()(image))
    dense.set_weights([w.reshape(16, 1).astype(np.float32), np.array([bias], np.float32)])
    return keras.Model(image, out)


@pytest.mark.parametrize("scale", [0.0, 0.25, 1.0, 3.0])  # 0: a flat critic, penalised lambda, not NaN
def test_gradient_penalty_of_a_linear_critic_is_exact(scale):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(16)
    w *= scale / np.linalg.norm(w)  # ||w|| = scale
    critic = linear_critic(w)
    real, fake = (rng.uniform(size=(6, 4, 4, 1)).astype(np.float32) for _ in range(2))
    eps = rng.uniform(size=(6, 1, 1, 1)).astype(np.float32)
    gp = np.asarray(gan.gradient_penalty(critic, real, fake, eps, weight=10.0))
    assert gp.shape == (6,)
    np.testing.assert_allclose(gp, 10.0 * (scale - 1.0) ** 2, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_gradient_reaches_the_critic_weights():
    # d/dw lambda (||w|| - 1)^2 = 2 lambda (||w|| - 1) w / ||w||: the penalty is trained through.
    w = np.array([2.0] + [0.0] * 15)
    critic = linear_critic(w)
    x = np.random.default_rng(1).uniform(size=(3, 4, 4, 1)).astype(np.float32)
    with tf.GradientTape() as tape:
        gp = tf.reduce_mean(
            gan.gradient_penalty(critic, x, x[::-1], np.full((3, 1, 1, 1), 0.5, np.float32), 10.0)
        )
    grad_w, grad_b = tape.gradient(gp, critic.trainable_variables)
    np.testing.assert_allclose(float(gp), 10.0, rtol=1e-5)
    expected = 2 * 10.0 * (2.0 - 1.0) * w / 2.0
    np.testing.assert_allclose(np.asarray(grad_w).ravel(), expected, atol=1e-4)
    assert grad_b is None  # the bias does not move the gradient w.r.t. x


def tiny_wgan(batch_size=32, workers=1, **kw) -> gan.WGANGP:
    keras.utils.set_random_seed(0)
    cfg = gan.WGANGPConfig(**{"latent_dim": 8, "width": 4, "critic_steps": 4, **kw})
    model = gan.build(cfg, SPEC, TrainConfig(batch_size=batch_size, workers=workers, learning_rate=1e-3))
    model.build_optimizers()
    return model


def test_wgan_gp_critic_has_no_sigmoid_and_optimizers_follow_the_paper():
    model = tiny_wgan()
    critic = model.networks["critic"]
    assert critic.output_shape == (None, 1)
    assert critic.layers[-1].get_config()["activation"] == "linear"
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization | keras.layers.Dropout) for layer in critic.layers
    )
    opt = model.optimizers["critic"]
    assert (float(opt.beta_1), float(opt.beta_2)) == (0.0, 0.9)
    defaults = gan.WGANGPConfig()
    assert (defaults.critic_steps, defaults.gp_weight) == (5, 10.0)


@pytest.mark.slow
def test_wgan_gp_critic_improves_on_a_few_batches():
    model = tiny_wgan()
    step = stepper(model, 32, compiled=False)
    batch = striped_batch(32)
    history = [step(batch) for _ in range(8)]
    assert all(np.isfinite(list(h.values())).all() for h in history)
    assert set(history[0]) == {"d_loss", "g_loss", "gp", "wasserstein"}
    # The critic learns to tell real from fake: its Wasserstein estimate grows, its loss falls.
    # (The BatchNorm generator improves too, so the estimate's rise is modest; the loss is the clear signal.)
    assert history[-1]["wasserstein"] > history[0]["wasserstein"], history
    assert history[-1]["d_loss"] < history[0]["d_loss"] - 1.0, history
    for h in history:  # d_loss = -wasserstein + gp, averaged over the critic steps
        assert h["d_loss"] == pytest.approx(h["gp"] - h["wasserstein"], abs=1e-3)


@pytest.mark.slow
def test_wgan_gp_uses_only_step_context_randomness():
    batch = striped_batch(32)
    runs = []
    for global_seed in (1, 2):
        model = tiny_wgan()
        tf.random.set_seed(global_seed)  # would change anything drawn outside StepContext
        step = stepper(model, 32, seed=5, compiled=False)
        runs.append([step(batch) for _ in range(2)])
    assert runs[0] == runs[1]


def test_wgan_gp_batch_must_split_into_critic_batches():
    with pytest.raises(ConfigError, match="train.batch_size.*critic_steps"):
        tiny_wgan(batch_size=30)
    with pytest.raises(ConfigError, match="= 8, got 36"):
        tiny_wgan(batch_size=36, workers=2)
    assert tiny_wgan(batch_size=40, workers=2, critic_steps=5).sample(4, seed=0).shape == (4, 28, 28, 1)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"critic_steps": 0}, "model.critic_steps"),
        ({"gp_weight": -1.0}, "model.gp_weight"),
        ({"beta_2": 1.0}, "model.beta_2"),
    ],
)
def test_wgan_gp_config_is_checked(bad, match):
    with pytest.raises(ConfigError, match=match):
        gan.WGANGPConfig(**bad)


# --- presets ------------------------------------------------------------------------------------


def test_presets_load_and_fit_the_families():
    cgan = config.load("cgan_fashion_mnist")
    assert isinstance(cgan.model, gan.CGANConfig) and cgan.generate.rows == 10  # one class per row
    wgan = config.load("wgan_gp_fashion_mnist")
    assert isinstance(wgan.model, gan.WGANGPConfig)
    assert wgan.train.learning_rate == 1e-4
    assert wgan.train.batch_size % (wgan.model.critic_steps * wgan.train.workers) == 0
    with pytest.raises(ConfigError, match="model.embed_dim"):
        config.load("cgan_fashion_mnist", {"model": {"embed_dim": 0}})
