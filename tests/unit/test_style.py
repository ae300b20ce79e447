"""Neural style transfer and DeepDream (genlab.models.style_transfer, deepdream, feature_network): losses,
ascent, the optimisation run once and read back, weights files, config."""

import dataclasses

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from genlab import config
from genlab.errors import ConfigError, DataError
from genlab.models.base import DataSpec, GenerativeModel, StepContext
from genlab.models.deepdream import DeepDream, DeepDreamConfig, octave_shapes
from genlab.models.image_inputs import load_image
from genlab.models.style_transfer import StyleTransfer, StyleTransferConfig, gram_matrix, total_variation

SPEC = DataSpec(shape=(28, 28, 1), num_classes=10)
TRAIN = config.TrainConfig(learning_rate=0.003)


def style_model(**kw) -> StyleTransfer:
    keras.utils.set_random_seed(0)
    return StyleTransfer(StyleTransferConfig(width=8, **kw), SPEC, TRAIN)


def dream_model(**kw) -> DeepDream:
    keras.utils.set_random_seed(0)
    return DeepDream(DeepDreamConfig(width=8, **kw), SPEC, TRAIN)


def garments(n: int = 4, seed: int = 0) -> np.ndarray:
    """Bright blocks with noise: something with edges for the feature maps to see."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.2, (n, 28, 28, 1)).astype(np.float32)
    for i in range(n):
        x[i, 4 + i : 24 - i, 6:22] += 0.7
    return x.clip(0, 1)


def stripes(period: int = 4) -> np.ndarray:
    rows = (np.arange(28) // (period // 2)) % 2
    return np.repeat(rows[:, None], 28, axis=1)[..., None].astype(np.float32)


# --- losses -----------------------------------------------------------------------------------


def test_gram_matrix_known_tensor():
    f = np.arange(12, dtype=np.float32).reshape(2, 2, 3)  # h=2, w=2, c=3
    g = gram_matrix(tf.constant(f)).numpy()
    flat = f.reshape(4, 3)
    assert g.shape == (3, 3)
    np.testing.assert_allclose(g, g.T)
    np.testing.assert_allclose(g, flat.T @ flat / 4.0, rtol=1e-6)
    assert g[0, 0] == pytest.approx((0 + 9 + 36 + 81) / 4.0)  # channel 0 holds 0, 3, 6, 9


def test_total_variation_flat_zero_stripes_positive():
    assert float(total_variation(np.full((1, 8, 8, 1), 0.5, np.float32))) == 0.0
    assert float(total_variation(stripes(2)[None])) == pytest.approx(1.0)  # every vertical step is 1


def test_style_loss_zero_for_identical_positive_otherwise():
    model = style_model()
    a, b = garments(2)
    assert model.style_loss(a, a) == pytest.approx(0.0, abs=1e-7)
    assert model.style_loss(a, b) > 1e-4
    assert model.style_loss(a, stripes()) > model.style_loss(a, b)  # stripes are further from a block


def test_stylize_lowers_total_loss_and_keeps_pixels_in_range():
    model = style_model(iterations=40, step_size=0.05)
    content, _ = garments(2)
    result = model.stylize(content, stripes())
    first, last = result.history[0], result.history[-1]
    assert len(result.history) == 41  # iterations 0..40
    assert first["content_loss"] == pytest.approx(0.0, abs=1e-7)  # starts from the content image
    assert last["total_loss"] < 0.9 * first["total_loss"]
    assert last["style_loss"] < first["style_loss"]
    assert result.image.shape == (28, 28, 1)
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    assert result.snapshots[-1][0] == 40


# --- DeepDream --------------------------------------------------------------------------------


def test_octave_shapes_smallest_first():
    assert octave_shapes((56, 56), 3, 1.4) == [(29, 29), (40, 40), (56, 56)]
    assert octave_shapes((28, 28), 1, 1.4) == [(28, 28)]


def test_gradient_ascent_raises_the_objective():
    model = dream_model(step_size=0.02)
    x = tf.constant(garments(2))
    _, values = model.gradient_ascent(x, iterations=10)
    assert len(values) == 11
    assert values[-1] > values[0] * 1.05
    assert sum(b >= a for a, b in zip(values[:-1], values[1:], strict=True)) >= 9  # rises (almost) every step


def test_dream_over_octaves_raises_the_objective():
    model = dream_model(image_size=40, octaves=3, iterations=5)
    x = garments(2)
    x40 = tf.image.resize(x, (40, 40)).numpy()
    result = model.dream(x40)
    assert [o.shape[1:3] for o in result.octaves] == [(20, 20), (29, 29), (40, 40)]
    assert result.image.shape == (2, 40, 40, 1)
    before = float(tf.reduce_mean(model.objective(x40)))
    after = float(tf.reduce_mean(model.objective(result.image)))
    assert after > before
    for values in result.objectives:
        assert values[-1] > values[0]


def test_dream_metrics_from_test_images():
    model = dream_model(iterations=3, octaves=2, num_images=3)
    images, labels = garments(4), np.array([0, 1, 2, 1])
    result = model.optimise(images, labels)
    assert set(result.metrics) == {"dream_objective_initial", "dream_objective_final", "dream_gain"}
    assert result.metrics["dream_gain"] > 1.0
    assert result.pictures["inputs"].shape == (3, 28, 28, 1)  # the first test image of classes 0, 1, 2
    assert [len(v) for v in result.record["objectives"]] == [4, 4]  # per octave: steps 0..3


# --- training the fallback feature network ----------------------------------------------------


def test_train_step_cross_entropy_falls():
    model = style_model()
    model.build_optimizers()
    labels = np.arange(32) % 4
    images = np.zeros((32, 28, 28, 1), np.float32)
    for i, y in enumerate(labels):  # a class-dependent bar
        images[i, 4 + 5 * y : 8 + 5 * y, 4:24] = 1.0
    batch = {"image": tf.constant(images), "label": tf.constant(labels, tf.int32)}
    losses = [model.train_step(batch, StepContext(32, s, seed=0)) for s in range(40)]
    assert float(losses[-1]["loss"]) < 0.5 * float(losses[0]["loss"])
    assert float(losses[-1]["accuracy"]) == pytest.approx(1.0)
    assert model.feature_accuracy(images, labels) == pytest.approx(1.0)


def test_transfer_metrics_pick_different_classes():
    model = style_model(iterations=5, content_class=1, style_class=2)
    images, labels = garments(4), np.array([0, 1, 2, 2])
    content, style, where = model.pair(images, labels)
    np.testing.assert_array_equal(content, images[1])
    assert "test image 1" in where and ("test image 2" in where or "test image 3" in where)
    metrics = model.optimise(images, labels).metrics
    for key in ("content_loss", "style_loss", "total_loss", "loss_reduction"):
        assert np.isfinite(metrics[key])
    assert metrics["loss_reduction"] < 1.0


@pytest.mark.parametrize("family", ["style_transfer", "deepdream"])
def test_the_optimisation_runs_once_and_evaluate_and_report_read_it_back(tmp_path, monkeypatch, family):
    """after_training optimises; save keeps the result; a reloaded model evaluates and reports from it
    without optimising again (the optimisation used to run in evaluate and again in generate)."""
    from genlab import data

    images, labels = garments(4), np.array([0, 1, 2, 3])
    monkeypatch.setattr(data, "load_arrays", lambda *a, **k: (images, labels))
    make = style_model if family == "style_transfer" else dream_model
    small = (
        {"iterations": 4, "style_class": 2}
        if family == "style_transfer"
        else {"iterations": 2, "octaves": 2, "num_images": 2}
    )
    model = make(**small)
    model.after_training("data", manifest=None)
    (tmp_path / "model").mkdir()
    model.save(str(tmp_path / "model"))
    again = make(**small)
    with pytest.raises(DataError, match="no optimisation.json"):  # weights alone: no result to read
        again.evaluate("data", None, config.EvaluateConfig())
    again.load(str(tmp_path / "model"))
    for name in ("stylize", "dream", "optimise"):  # nothing may optimise again
        monkeypatch.setattr(type(again), name, lambda *a, **k: pytest.fail("optimised again"), raising=False)
    metrics = again.evaluate("data", None, config.EvaluateConfig(num_samples=10))
    assert {k: v for k, v in metrics.items() if k != "feature_accuracy"} == model.result.metrics
    assert 0.0 <= metrics["feature_accuracy"] <= 1.0
    exp = config.experiment_from_dict({"model": {"family": family}})
    pictures, sections = again.report(str(tmp_path / "out"), exp, "data")
    assert pictures == [] and len(sections) >= 2
    assert all('src="data:image/png;base64,' in html for _, html in sections)
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = (
        ["deepdream.png", "deepdream_objective.png"]
        if family == "deepdream"
        else ["style_transfer.png", "style_transfer_losses.png", "style_transfer_progress.png"]
    )
    assert written == expected


# --- weights files, user images, config errors ------------------------------------------------


@pytest.mark.parametrize(
    "family_cls,cfg_cls,expected",
    [
        (StyleTransfer, StyleTransferConfig, "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        (DeepDream, DeepDreamConfig, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ],
)
def test_missing_weights_file_names_path_and_expected_weights(tmp_path, family_cls, cfg_cls, expected):
    path = str(tmp_path / "nowhere.h5")
    with pytest.raises(ConfigError) as err:
        family_cls(cfg_cls(weights_file=path), SPEC, TRAIN)
    msg = str(err.value)
    assert "model.weights_file" in msg and path in msg and expected in msg and "include_top=False" in msg


def test_unreadable_weights_file_is_a_config_error(tmp_path):
    path = tmp_path / "garbage.h5"
    path.write_bytes(b"not an HDF5 file")
    with pytest.raises(ConfigError, match="could not be loaded as Keras VGG19 weights"):
        StyleTransfer(StyleTransferConfig(weights_file=str(path)), SPEC, TRAIN)


@pytest.mark.slow
def test_vgg19_weights_file_in_keras_h5_format(tmp_path):
    """A file in the format Keras publishes (legacy HDF5, by layer) loads; the probe trains on it."""
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    keras.utils.set_random_seed(1)
    reference = keras.applications.VGG19(weights=None, include_top=False, input_shape=(None, None, 3))
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, reference)
    model = StyleTransfer(StyleTransferConfig(weights_file=str(path), iterations=3), SPEC, TRAIN)
    np.testing.assert_array_equal(
        model.pretrained.get_layer("block5_conv2").get_weights()[0],
        reference.get_layer("block5_conv2").get_weights()[0],
    )
    assert model.content_layer == "block5_conv2" and model.style_layers[0] == "block1_conv1"
    assert list(model.networks) == ["probe"]  # the frozen VGG19 is never checkpointed
    assert not model.pretrained.trainable_variables
    content, _ = garments(2)
    result = model.stylize(content, stripes())
    assert all(np.isfinite(h["total_loss"]) for h in result.history)
    model.build_optimizers()
    before = [w.copy() for w in model.pretrained.get_layer("block1_conv1").get_weights()]
    batch = {"image": tf.constant(garments(4)), "label": tf.constant([0, 1, 2, 3], tf.int32)}
    out = model.train_step(batch, StepContext(4, 0, seed=0))
    assert np.isfinite(float(out["loss"]))
    np.testing.assert_array_equal(before[0], model.pretrained.get_layer("block1_conv1").get_weights()[0])


@pytest.mark.slow
def test_inception_v3_weights_file_dream(tmp_path):
    keras.utils.set_random_seed(2)
    reference = keras.applications.InceptionV3(weights=None, include_top=False, input_shape=(None, None, 3))
    path = tmp_path / "inception.weights.h5"
    reference.save_weights(path)
    model = DeepDream(
        DeepDreamConfig(weights_file=str(path), octaves=1, iterations=2, step_size=0.05), SPEC, TRAIN
    )
    assert model.dream_layers == ("mixed4", "mixed5", "mixed6", "mixed7")
    assert model.layer_weights == (1.0, 1.5, 2.0, 2.5)  # Chollet's coefficients
    x = garments(1)
    _, values = model.gradient_ascent(tf.constant(x), iterations=2)
    assert values[-1] > values[0]


def test_user_images_load_and_missing_file_errors(tmp_path):
    png = tmp_path / "style.png"
    Image.fromarray((stripes()[..., 0] * 255).astype(np.uint8)).convert("RGB").resize((64, 64)).save(png)
    img = load_image(str(png), "style_image", 28, 1)
    assert img.shape == (28, 28, 1) and 0.0 <= img.min() and img.max() <= 1.0
    model = style_model(style_image=str(png), content_image=str(png))
    content, style, where = model.pair(None, None)
    np.testing.assert_array_equal(content, style)
    assert str(png) in where
    missing = str(tmp_path / "missing.jpg")
    with pytest.raises(ConfigError, match=f"model.content_image: {missing} not found"):
        style_model(content_image=missing).pair(None, None)
    (tmp_path / "bad.png").write_text("no picture here")
    with pytest.raises(ConfigError, match="model.input_image: .* is not a readable PNG or JPEG"):
        load_image(str(tmp_path / "bad.png"), "input_image", 28, 1)


def test_config_errors():
    with pytest.raises(ConfigError, match="model.style_class"):
        StyleTransferConfig(content_class=3, style_class=3)
    with pytest.raises(ConfigError, match="model.layer_weights"):
        DeepDreamConfig(dream_layers=("conv2",), layer_weights=(1.0, 2.0))
    with pytest.raises(ConfigError, match="model.octave_scale"):
        DeepDreamConfig(octave_scale=1.0)
    with pytest.raises(ConfigError, match="model.style_layers: no layer 'block1_conv1'.*conv1, conv2, conv3"):
        style_model(style_layers=("block1_conv1",))
    with pytest.raises(ConfigError, match="model.octaves"):
        dream_model(octaves=6)  # 28 / 1.4^5 < 8 px
    with pytest.raises(ConfigError, match="model.style_class: expected a class in 0..9"):
        style_model(style_class=12)
    exp = config.experiment_from_dict({"model": {"family": "deepdream", "octaves": 2}})
    assert dataclasses.asdict(exp.model)["octaves"] == 2


def test_image_optimisation_families_are_not_samplers():
    for model in (style_model(), dream_model()):
        assert not isinstance(model, GenerativeModel) and not hasattr(model, "sample")
