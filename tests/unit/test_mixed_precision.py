"""train.mixed_precision (bfloat16): supported families train with float32 losses; others refuse clearly."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from genlab import config, models
from genlab.errors import ConfigError
from genlab.models.base import DataSpec, StepContext

SPEC = DataSpec(shape=(28, 28, 1), num_classes=10, binarize=True)


@pytest.fixture
def bfloat16_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def exp(model):
    return config.experiment_from_dict(
        {"name": "mp", "model": model, "train": {"mixed_precision": True, "batch_size": 16}}
    )


@pytest.mark.parametrize(
    "model",
    [
        {"family": "dcgan", "latent_dim": 8, "width": 8},
        {"family": "vae", "latent_dim": 4, "width": 8},
        {"family": "vae", "latent_dim": 4, "encoder": "mlp", "hidden": 32},
    ],
)
def test_supported_families_train_in_bfloat16_with_float32_losses(bfloat16_policy, model):
    m = models.build(exp(model), SPEC)
    m.build_optimizers()
    x = np.random.default_rng(0).random((16, 28, 28, 1)).astype(np.float32)
    losses = tf.function(
        lambda: m.train_step(
            {"image": tf.constant(x), "label": tf.zeros(16, tf.int32)}, StepContext(16, tf.constant(0), 0)
        )
    )()
    for value in losses.values():
        assert value.dtype == tf.float32 and np.isfinite(float(value))
    assert any(layer.compute_dtype == "bfloat16" for net in m.networks.values() for layer in net.layers)
    assert m.sample(2, seed=0).dtype == np.float32


def test_unsupported_configs_refuse_before_building(bfloat16_policy):
    with pytest.raises(ConfigError, match="train.mixed_precision: not supported with model.flow_steps > 0"):
        models.build(exp({"family": "vae", "latent_dim": 4, "flow_steps": 2}), SPEC)
    with pytest.raises(ConfigError, match="train.mixed_precision: not supported for model.family 'pixelcnn'"):
        models.build(exp({"family": "pixelcnn"}), DataSpec(shape=(28, 28, 1), num_classes=10))


def test_unsupported_configs_refuse_when_loaded():
    from genlab import config

    with pytest.raises(
        ConfigError,
        match=r"^--set train.mixed_precision=true: train.mixed_precision: not supported with model",
    ):
        config.load("vae_iaf_fashion_mnist", {"train": {"mixed_precision": True}})
    with pytest.raises(ConfigError, match="not supported for model.family 'char_lstm'"):
        config.load("char_lstm_fortunes", {"train": {"mixed_precision": True}})


@pytest.mark.parametrize(
    "model",
    [
        {"family": "style_transfer", "width": 8, "iterations": 2, "style_class": 1},
        {"family": "deepdream", "width": 8, "iterations": 2, "octaves": 1, "num_images": 2},
    ],
)
def test_image_optimisation_runs_in_float32_after_bfloat16_training(bfloat16_policy, model):
    """The optimisation runs at the end of training, in the training process, under its policy."""
    m = models.build(exp(model), DataSpec(shape=(28, 28, 1), num_classes=10))
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    result = m.optimise(images, np.array([0, 1, 2, 3]))
    assert result.metrics and all(np.isfinite(v) for v in result.metrics.values())
    assert all(p.dtype == np.float32 for p in result.pictures.values())
