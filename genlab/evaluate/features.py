"""The feature extractor for FID/KID/precision-recall: a small classifier trained on the dataset.

Inception features mean nothing for 28x28 grayscale garments and cannot be downloaded here,
so each dataset gets its own extractor: a seeded convnet trained on the train split. Its 128-d
penultimate layer is the feature space.

It is pinned: trained once per dataset checksum (and architecture version, epochs, seed) and
stored in the feature store, from where evaluate and generate of every later run load it. The
store is ``$GENLAB_FEATURE_STORE`` (a folder or ``gs://`` prefix; the trainer images set it to
``/mnt/genlab/features`` on the volume every pipeline step mounts), else
``~/.cache/genlab/features``. Each extractor is a folder holding
``classifier-<sha256[:12]>.weights.h5`` and, written last, ``extractor.json`` (which weights file,
its sha256, test accuracy and what it was trained on). The sha256 goes into every Metrics
artifact and report, so two runs' FIDs are comparable exactly when they name the same extractor.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from genlab import io
from genlab.data.sources import cache_dir
from genlab.log import log

ARCH_VERSION = 2  # bump when the architecture or training changes, so stored extractors are not reused
FEATURE_LAYER = "features"
WEIGHTS = "classifier-{sha12}.weights.h5"  # named by content: two runs storing at once cannot mix files
MARKER = "extractor.json"
BATCH = 128


def build_classifier(shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Two conv stages with BatchNorm, then a dense feature layer over the whole 1/4-size map.

    Version 1 pooled the map globally before the feature layer and reached 0.76 on the
    Fashion-MNIST test split in 2 epochs; keeping where things are (Flatten), BatchNorm and a
    cosine learning-rate decay (``train_classifier``) reach 0.91 at the same 2 epochs
    (benchmarks/features.md)."""
    image = keras.Input(shape, name="image")
    x = image
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)  # (h, w, f)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)  # (h/2, w/2, f)
    x = layers.Flatten()(x)  # (h/4 * w/4 * 64,)
    x = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)  # (128,) the feature space
    logits = layers.Dense(max(num_classes, 1), name="logits", dtype="float32")(x)
    return keras.Model(image, logits, name="feature_classifier")


def train_classifier(classifier: keras.Model, images, labels, epochs: int, seed: int = 0) -> None:
    """Seeded Adam with the learning rate decayed to 0 over the run (cosine), batch 128."""
    keras.utils.set_random_seed(seed)
    steps = epochs * math.ceil(len(images) / BATCH)
    classifier.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, max(steps, 1))),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    classifier.fit(images, labels, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=True)


@dataclass(frozen=True)
class ExtractorInfo:
    uri: str  # the extractor's folder in the store
    sha256: str  # of classifier.weights.h5: the feature space's identity
    test_accuracy: float | None  # on the dataset's test split, when it was trained (None: not measured)


class FeatureExtractor:
    def __init__(self, classifier: keras.Model, info: ExtractorInfo | None = None):
        self.classifier = classifier
        self.info = info
        self.features_model = keras.Model(classifier.input, classifier.get_layer(FEATURE_LAYER).output)

    @property
    def checksum(self) -> str:
        return self.info.sha256 if self.info else ""

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


def store_root() -> str:
    return os.environ.get("GENLAB_FEATURE_STORE") or str(cache_dir() / "features")


def store_uri(checksum: str, epochs: int, seed: int = 0) -> str:
    """The extractor's folder: one per dataset checksum, architecture version, epochs and seed."""
    return io.join(store_root(), f"{checksum[:16]}-v{ARCH_VERSION}-e{epochs}-s{seed}")


def get_extractor(
    manifest,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    epochs: int,
    seed: int = 0,
    log=log,
    test: tuple[np.ndarray, np.ndarray] | None = None,
) -> FeatureExtractor:
    """The stored extractor for this dataset, or train it (seeded) and store it.

    ``test`` (images, labels): the test split, whose accuracy is recorded when training."""
    classifier = build_classifier(tuple(manifest.shape), manifest.num_classes)
    uri = store_uri(manifest.checksum, epochs, seed)
    marker = io.join(uri, MARKER)
    if io.exists(marker):
        meta = io.read_json(marker)
        weights = io.read_bytes(io.join(uri, meta["weights"]))
        if hashlib.sha256(weights).hexdigest() != meta["sha256"]:
            from genlab.errors import DataError

            raise DataError(
                f"{uri}/{meta['weights']}: its sha256 does not match {MARKER}; delete {uri} to train the "
                "extractor again"
            )
        _load_weights(classifier, weights)
        log(f"feature extractor: {uri} (sha256 {meta['sha256'][:12]}, test accuracy {meta['test_accuracy']})")
        return FeatureExtractor(classifier, ExtractorInfo(uri, meta["sha256"], meta["test_accuracy"]))

    log(f"feature extractor: training on {len(train_images)} images for {epochs} epoch(s)")
    train_classifier(classifier, train_images, train_labels, epochs, seed)
    extractor = FeatureExtractor(classifier)
    accuracy = float((extractor.predict(test[0]) == test[1]).mean()) if test is not None else None
    weights = _weights_bytes(classifier)
    info = ExtractorInfo(uri, hashlib.sha256(weights).hexdigest(), accuracy)
    io.makedirs(uri)
    name = WEIGHTS.format(sha12=info.sha256[:12])
    io.write_bytes(io.join(uri, name), weights)
    io.write_json(  # last: a folder without it is incomplete, and is trained again
        marker,
        {
            "sha256": info.sha256,
            "weights": name,
            "test_accuracy": accuracy,
            "dataset": manifest.dataset,
            "dataset_checksum": manifest.checksum,
            "train_examples": len(train_images),
            "arch_version": ARCH_VERSION,
            "epochs": epochs,
            "seed": seed,
        },
    )
    log(f"feature extractor: stored {uri} (sha256 {info.sha256[:12]}, test accuracy {accuracy})")
    return FeatureExtractor(classifier, info)


def _weights_bytes(classifier: keras.Model) -> bytes:
    fd, tmp = tempfile.mkstemp(suffix=".weights.h5")
    os.close(fd)
    try:
        classifier.save_weights(tmp)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)


def _load_weights(classifier: keras.Model, weights: bytes) -> None:
    fd, tmp = tempfile.mkstemp(suffix=".weights.h5")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(weights)
        classifier.load_weights(tmp)
    finally:
        os.unlink(tmp)
