"""Attribute vectors: class means, the pair choice, shifted latents, and the report section for an
encoder model (VAE: real encoded images) and a GAN (classifier-labelled random latents)."""

import html
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from genlab import config, data
from genlab.data.sources import FASHION_MNIST
from genlab.generate.latent import (
    attribute_sections,
    attribute_vector,
    choose_pair,
    class_means,
    has_encoder,
    shifted_latents,
)
from genlab.models import build
from genlab.models.base import DataSpec
from genlab.models.image import ImageModel

NAMES = FASHION_MNIST.class_names


def test_class_means_and_vector():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 4)) * 5
    labels = rng.integers(0, 3, 600)
    latents = (centers[labels] + rng.normal(size=(600, 4)) * 0.01).astype(np.float32)
    means, counts = class_means(latents, labels, 4)
    assert counts.tolist() == [*np.bincount(labels, minlength=3).tolist(), 0]
    np.testing.assert_allclose(means[:3], centers, atol=0.01)
    np.testing.assert_array_equal(means[3], 0.0)
    np.testing.assert_allclose(attribute_vector(latents, labels, 2, 0), centers[2] - centers[0], atol=0.01)


def test_choose_pair_prefers_named_classes_then_largest_separation():
    means = np.zeros((10, 2), np.float32)
    means[1], means[8] = [10.0, 0.0], [-10.0, 0.0]  # Trouser and Bag lie farthest apart
    counts = np.full(10, 50)
    assert choose_pair(NAMES, means, counts) == (2, 0)  # Pullover - T-shirt/top
    counts[0] = 2  # too few T-shirts: the next preferred pair
    assert choose_pair(NAMES, means, counts) == (7, 5)  # Sneaker - Sandal
    digits = tuple(str(i) for i in range(10))
    assert choose_pair(digits, means, np.full(10, 50)) == (8, 1)
    assert choose_pair(digits, means, np.array([50] + [0] * 9)) is None


def test_shifted_latents_rows_walk_along_the_vector():
    base = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    out = shifted_latents(base, np.array([2.0, -1.0], np.float32), np.array([0.0, 0.5, 1.0], np.float32))
    assert out.shape == (6, 2)
    np.testing.assert_allclose(out[:3], [[0, 0], [1, -0.5], [2, -1]])
    np.testing.assert_allclose(out[3:], [[1, 1], [2, 0.5], [3, 0]])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("data"))
    exp = config.load("vae_fashion_mnist", {"data": {"max_train": 300, "max_test": 300, "shards": 1}})
    data.prepare(exp, out)
    return out


def _section(model, exp, prepared, out: Path):
    sections = attribute_sections(model, exp, prepared, str(out))
    assert len(sections) == 1
    title, fragment = sections[0]
    png = out / "attribute_vector.png"
    assert png.is_file() and png.stat().st_size > 0
    assert "<img" in fragment and "data:image/png;base64," in fragment
    return title, html.unescape(fragment)


@pytest.mark.slow
def test_vae_section_uses_real_encoded_images(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    keras.utils.set_random_seed(0)
    exp = config.load(
        "vae_mlp_fashion_mnist",
        {
            "model": {"hidden": 32, "latent_dim": 4},
            "evaluate": {"feature_epochs": 1},
            "generate": {"rows": 3, "interpolation_steps": 4},
        },
    )
    manifest = data.load_manifest(prepared)
    model = build(exp, data.data_spec(manifest, exp))
    assert has_encoder(model)
    title, text = _section(model, exp, prepared, tmp_path / "out")
    assert title == "Attribute vector: Pullover \u2212 T-shirt/top"
    assert "real test images, encoded" in text
    counts = [int(c) for c in re.findall(r"\((\d+)\)", text)[:2]]
    _, labels = data.load_arrays(prepared, "test")
    assert counts == [int((labels == 2).sum()), int((labels == 0).sum())]
    # 3 rows x (the real image + 4 alphas), 28-pixel tiles with 2-pixel padding, scaled 3x
    from PIL import Image

    assert Image.open(tmp_path / "out" / "attribute_vector.png").size == (3 * (5 * 30 + 2), 3 * (3 * 30 + 2))
    assert (tmp_path / "cache" / "features").is_dir()  # the extractor was cached where told


class LookupGenerator(ImageModel):
    """A stand-in GAN: z[0] picks one of some real images sorted by label, so each class is a band of z[0]."""

    family = "lookup"

    def __init__(self, images: np.ndarray):
        super().__init__(None, DataSpec(images.shape[1:]), None)
        self.images = images

    def train_step(self, batch, ctx):
        return {}

    def latent_dim(self) -> int:
        return 3

    def decode(self, z) -> np.ndarray:
        u = (np.asarray(z)[:, 0] + 3.0) / 6.0  # z[0] in [-3, 3] -> [0, 1], linearly
        return self.images[np.clip((u * len(self.images)).astype(int), 0, len(self.images) - 1)]

    def sample(self, n, seed, labels=None):
        return self.decode(np.random.default_rng(seed).standard_normal((n, 3)))


class OracleExtractor:
    """A feature classifier that knows each real image's true label (so the test checks the latent
    arithmetic, not a tiny classifier's accuracy)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.labels = {img.tobytes(): int(y) for img, y in zip(images, labels, strict=True)}

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.array([self.labels[img.tobytes()] for img in images])


def test_gan_section_labels_random_latents(prepared, tmp_path, monkeypatch):
    from genlab.evaluate import features

    images, labels = data.load_arrays(prepared, "train")
    order = np.argsort(labels, kind="stable")
    monkeypatch.setattr(features, "get_extractor", lambda *a, **k: OracleExtractor(images, labels))
    exp = config.load(
        "dcgan_tiny", {"generate": {"rows": 8, "interpolation_steps": 7}}
    )  # alpha = 0, 0.25 .. 1.5
    model = LookupGenerator(images[order])
    assert not has_encoder(model)
    title, text = _section(model, exp, prepared, tmp_path / "out")
    assert title == "Attribute vector: Pullover \u2212 T-shirt/top"
    assert "2000 random latents, labelled by the feature classifier" in text
    # moving a T-shirt latent along the vector makes a pullover, as the classifier sees it
    before, after = (
        int(p) for p in re.search(r"calls (\d+)% of them .+ at alpha = 0 and (\d+)% at", text).groups()
    )
    assert before == 0 and after >= 75


def test_dcgan_has_no_encoder():
    exp = config.load("dcgan_tiny")
    model = build(exp, DataSpec((28, 28, 1), num_classes=10))
    assert not has_encoder(model) and model.latent_dim() == 16 and not model.has_labels
