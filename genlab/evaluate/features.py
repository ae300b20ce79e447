"""The feature extractor for FID/KID/precision-recall: a small classifier trained on the dataset.

Inception features mean nothing for 28x28 grayscale garments and cannot be downloaded here,
so each dataset gets its own extractor: a seeded convnet trained on the train split, cached by
the dataset's checksum (the same data always gives the same features, and trains once).
Its 128-d penultimate layer is the feature space.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from genlab.data.sources import cache_dir

ARCH_VERSION = 1  # bump when the architecture changes, so old caches are not reused
FEATURE_LAYER = "features"


def build_classifier(shape: tuple[int, ...], num_classes: int) -> keras.Model:
    image = keras.Input(shape, name="image")
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(image)  # (h, w, 32)
    x = layers.MaxPooling2D()(x)  # (h/2, w/2, 32)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)  # (h/2, w/2, 64)
    x = layers.MaxPooling2D()(x)  # (h/4, w/4, 64)
    x = layers.Conv2D(128, 3, padding="same", activation="relu")(x)  # (h/4, w/4, 128)
    x = layers.GlobalAveragePooling2D()(x)  # (128,)
    x = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)  # (128,) the feature space
    logits = layers.Dense(max(num_classes, 1), name="logits")(x)
    return keras.Model(image, logits, name="feature_classifier")


class FeatureExtractor:
    def __init__(self, classifier: keras.Model):
        self.classifier = classifier
        self.features_model = keras.Model(classifier.input, classifier.get_layer(FEATURE_LAYER).output)

    def features(self, images: np.ndarray, batch: int = 500) -> np.ndarray:
        return np.concatenate(
            [
                np.asarray(self.features_model(images[i : i + batch], training=False))
                for i in range(0, len(images), batch)
            ]
        )

    def predict(self, images: np.ndarray, batch: int = 500) -> np.ndarray:
        return np.concatenate(
            [
                np.asarray(self.classifier(images[i : i + batch], training=False)).argmax(-1)
                for i in range(0, len(images), batch)
            ]
        )


def cache_path(checksum: str, epochs: int) -> Path:
    return cache_dir() / "features" / f"{checksum[:16]}-v{ARCH_VERSION}-e{epochs}.weights.h5"


def get_extractor(
    manifest, train_images: np.ndarray, train_labels: np.ndarray, epochs: int, seed: int = 0, log=print
) -> FeatureExtractor:
    """Load the cached extractor for this dataset, or train it (seeded) and cache it atomically."""
    classifier = build_classifier(tuple(manifest.shape), manifest.num_classes)
    path = cache_path(manifest.checksum, epochs)
    if path.is_file():
        classifier.load_weights(path)
        log(f"feature extractor: cached {path}")
        return FeatureExtractor(classifier)
    log(f"feature extractor: training on {len(train_images)} images for {epochs} epoch(s)")
    keras.utils.set_random_seed(seed)
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    classifier.fit(train_images, train_labels, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".features-", suffix=".weights.h5", dir=path.parent)
    os.close(fd)
    try:
        classifier.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # gone after the rename; removed if saving failed
    return FeatureExtractor(classifier)
