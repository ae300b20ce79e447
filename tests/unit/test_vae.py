"""The VAE family: presets, network shapes, a loss that falls, ELBO <= importance-sampled log p(x),
metrics, and save/load, for the MLP and conv networks with and without inverse autoregressive flow,
with each likelihood, on grey and colour images."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab import config, data
from genlab.config import EvaluateConfig, TrainConfig
from genlab.errors import ConfigError
from genlab.models.base import DataSpec, StepContext
from genlab.models.vae import VAE, VAEConfig, gaussian_log_prob, kl_to_standard_normal

SPEC = DataSpec((28, 28, 1), num_classes=10, binarize=True)
GREY_8BIT = DataSpec((28, 28, 1), num_classes=10)
PRESETS = {  # preset -> the DataSpec its data gives
    "vae_fashion_mnist": SPEC,
    "vae_mlp_fashion_mnist": SPEC,
    "vae_iaf_fashion_mnist": SPEC,
    "vae_iaf_mnist": SPEC,
    "vae_iaf_fashion_mnist_8bit": GREY_8BIT,
    "vae_iaf_cifar10": DataSpec((32, 32, 3), num_classes=10),
}


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """512 train and 128 test Fashion-MNIST images, prepared as the pipeline does."""
    out = str(tmp_path_factory.mktemp("fashion"))
    exp = config.load("vae_fashion_mnist", {"data": {"max_train": 512, "max_test": 128, "shards": 1}})
    data.prepare(exp, out)
    train_x, _ = data.load_arrays(out, "train")
    test_x, _ = data.load_arrays(out, "test")
    return train_x, test_x


def train(model: VAE, images: np.ndarray, steps: int, batch: int = 64, seed: int = 0) -> list[float]:
    model.build_optimizers()
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def one_step(x):
        ctx = StepContext(batch, step, seed)
        loss = model.train_step({"image": x, "label": tf.zeros([batch], tf.int32)}, ctx)["loss"]
        step.assign_add(1)
        return loss

    losses = []
    for s in range(steps):
        i = (s * batch) % (len(images) - batch + 1)
        losses.append(float(one_step(images[i : i + batch])))
    return losses


def binarized(images: np.ndarray, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(images.shape) < images).astype(np.float32)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_load_and_build(name):
    exp = config.load(name)
    spec = PRESETS[name]
    assert exp.model.family == "vae" and exp.description
    assert exp.data.binarize == (exp.model.likelihood == "bernoulli")
    assert exp.data.image_size == spec.shape[0]
    model = VAE(exp.model, spec, exp.train)
    x = np.zeros((2, *spec.shape), np.float32)
    assert model.encode(x).shape == (2, exp.model.latent_dim)
    assert model.sample(3, seed=0).shape == (3, *spec.shape)
    assert ("flow" in model.networks) == (exp.model.flow_steps > 0)


def test_8bit_likelihoods_refuse_binarized_data():
    with pytest.raises(ConfigError, match="data.binarize: model.likelihood discretized_logistic"):
        config.load("vae_iaf_fashion_mnist", {"model": {"likelihood": "discretized_logistic"}})
    exp = config.load("vae_iaf_fashion_mnist_8bit", {"model": {"likelihood": "categorical256"}})
    assert exp.model.likelihood == "categorical256"


@pytest.mark.parametrize(
    "likelihood,channels", [("bernoulli", 3), ("discretized_logistic", 6), ("categorical256", 768)]
)
def test_colour_conv_vae_shapes(likelihood, channels):
    keras.utils.set_random_seed(0)
    cfg = VAEConfig(width=4, latent_dim=3, flow_steps=2, flow_hidden=8, context_dim=4, likelihood=likelihood)
    model = VAE(cfg, DataSpec((32, 32, 3)), TrainConfig())
    assert model.networks["decoder"].output.shape[1:] == (32, 32, channels)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32) / 255.0
    assert model.encode(x).shape == (2, 3)
    samples = model.sample(2, seed=0)
    assert samples.shape == (2, 32, 32, 3) and samples.min() >= 0.0 and samples.max() <= 1.0
    loss = model.negative_elbo(x, np.zeros((2, 3), np.float32), training=False).numpy()
    assert loss.shape == (2,) and np.all(np.isfinite(loss)) and np.all(loss > 0)
    serve, _ = model.serving_function()  # the exported SavedModel draws the same pictures
    z = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(serve(tf.constant(z))["image"].numpy(), model.decode(z), atol=1e-6)


def test_default_preset_is_the_plain_conv_vae():
    exp = config.load("vae_fashion_mnist")
    assert (exp.model.encoder, exp.model.flow_steps, exp.model.likelihood) == ("conv", 0, "bernoulli")


def test_mlp_networks_are_the_papers():
    cfg = VAEConfig(encoder="mlp", hidden=500, latent_dim=20)
    model = VAE(cfg, SPEC, TrainConfig())
    enc, dec = model.networks["encoder"], model.networks["decoder"]
    assert enc.count_params() == (784 * 500 + 500) + 2 * (500 * 20 + 20)
    assert dec.count_params() == (20 * 500 + 500) + (500 * 784 + 784)
    assert dec.output.shape[1:] == (28, 28, 1)


def test_mlp_vae_accepts_sizes_the_conv_vae_cannot():
    model = VAE(VAEConfig(encoder="mlp", hidden=8, latent_dim=2), DataSpec((10, 10, 1)), TrainConfig())
    assert model.sample(2, seed=0).shape == (2, 10, 10, 1)
    with pytest.raises(
        ConfigError, match="data.image_size: expected a multiple of 4 for the conv VAE, got 10"
    ):
        VAE(VAEConfig(encoder="conv"), DataSpec((10, 10, 1)), TrainConfig())


def test_one_sample_kl_estimate_matches_the_closed_form():
    keras.utils.set_random_seed(0)
    model = VAE(VAEConfig(encoder="mlp", hidden=16, latent_dim=4), SPEC, TrainConfig())
    x = np.repeat(np.random.default_rng(0).random((1, 28, 28, 1)).astype(np.float32), 4000, axis=0)
    mean, log_var, h = model.posterior_params(x, training=False)
    eps = np.random.default_rng(1).normal(size=(4000, 4)).astype(np.float32)
    z, log_q = model.posterior_sample(mean, log_var, h, eps, training=False)
    estimate = float(tf.reduce_mean(log_q - gaussian_log_prob(z, 0.0, 0.0)))
    exact = float(kl_to_standard_normal(mean, log_var)[0])
    assert estimate == pytest.approx(exact, abs=0.1)


@pytest.mark.parametrize(
    "cfg",
    [
        VAEConfig(encoder="mlp", hidden=64, latent_dim=8),
        VAEConfig(encoder="conv", width=8, latent_dim=8, flow_steps=2, flow_hidden=32, context_dim=16),
    ],
    ids=["mlp", "conv_iaf"],
)
def test_loss_falls(fashion, cfg):
    keras.utils.set_random_seed(0)
    model = VAE(cfg, SPEC, TrainConfig(learning_rate=2e-3))
    losses = train(model, fashion[0], steps=40)
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 60  # nats per image


@pytest.mark.parametrize("likelihood", ["discretized_logistic", "categorical256"])
def test_loss_falls_on_8bit_pixels(fashion, likelihood):
    keras.utils.set_random_seed(0)
    cfg = VAEConfig(width=8, latent_dim=8, flow_steps=1, flow_hidden=16, context_dim=8, likelihood=likelihood)
    model = VAE(cfg, GREY_8BIT, TrainConfig(learning_rate=2e-3))
    losses = train(model, fashion[0], steps=30)
    assert all(math.isfinite(v) for v in losses)
    start, end = np.mean(losses[:3]), np.mean(losses[-3:])
    assert end < 784 * 8 * math.log(2)  # better than uniform over the 256 grey levels
    assert end < start - 300  # nats per image


@pytest.fixture(scope="module")
def trained_iaf(fashion):
    keras.utils.set_random_seed(1)
    cfg = VAEConfig(encoder="mlp", hidden=64, latent_dim=8, flow_steps=2, flow_hidden=32, context_dim=16)
    model = VAE(cfg, SPEC, TrainConfig(learning_rate=2e-3))
    train(model, fashion[0], steps=60)
    return model


@pytest.mark.slow  # trains the shared tiny IAF model (~10 s)
def test_elbo_is_below_importance_sampled_log_likelihood(fashion, trained_iaf):
    x = binarized(fashion[1][:64])
    eps = np.random.default_rng(2).normal(size=(64, 8)).astype(np.float32)
    elbo = float(np.mean(-trained_iaf.negative_elbo(x, eps, training=False)))
    ll_1 = float(np.mean(trained_iaf.log_likelihood(x, k=1, seed=3)))
    ll_50 = float(np.mean(trained_iaf.log_likelihood(x, k=50, seed=3)))
    assert elbo == pytest.approx(ll_1, abs=3.0)  # k = 1 is the ELBO itself, with other noise
    assert elbo < ll_50 and ll_1 < ll_50
    assert ll_50 < 0


@pytest.mark.slow  # trains the shared tiny IAF model (~10 s)
def test_likelihood_metrics(fashion, trained_iaf):
    test_x = fashion[1]
    metrics = trained_iaf.likelihood_metrics(
        test_x, EvaluateConfig(num_samples=len(test_x), nll_importance_samples=20)
    )
    assert set(metrics) == {"elbo", "nll", "bits_per_dim"}
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["nll"] <= -metrics["elbo"]  # same images, same binarization
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll"] / (784 * math.log(2)))
    assert 0.05 < metrics["bits_per_dim"] < 1.0  # better than coin flips after 60 steps
    without_k = trained_iaf.likelihood_metrics(test_x, EvaluateConfig(num_samples=len(test_x)))
    assert set(without_k) == {"elbo", "bits_per_dim"} and without_k["elbo"] == metrics["elbo"]


@pytest.mark.slow  # trains the shared tiny IAF model (~10 s)
def test_save_and_load_round_trip(tmp_path, fashion, trained_iaf):
    trained_iaf.save(str(tmp_path))
    keras.utils.set_random_seed(7)
    fresh = VAE(trained_iaf.cfg, SPEC, TrainConfig())
    x = fashion[1][:4]
    assert not np.allclose(fresh.encode(x), trained_iaf.encode(x))
    fresh.load(str(tmp_path))
    np.testing.assert_allclose(fresh.encode(x), trained_iaf.encode(x), atol=1e-6)
    np.testing.assert_allclose(fresh.sample(3, seed=1), trained_iaf.sample(3, seed=1), atol=1e-6)


@pytest.mark.slow  # trains the shared tiny IAF model (~10 s)
def test_encode_is_the_flowed_posterior_mean(fashion, trained_iaf):
    x = fashion[1][:5]
    mean, log_var, h = trained_iaf.posterior_params(x, training=False)
    z_t, _ = trained_iaf.networks["flow"]([mean, h])
    np.testing.assert_allclose(trained_iaf.encode(x), z_t.numpy(), atol=1e-5)
