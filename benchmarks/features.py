"""The pinned feature extractor's accuracy and cost: ``python -m benchmarks.features [--quick]``.

Trains ``genlab.evaluate.features.build_classifier`` (the current version) for 1 and 2 epochs
and the version-1 architecture (global average pooling before the feature layer) for 2 epochs
with ``get_extractor``'s own ``train_classifier`` (seed 0), on the full Fashion-MNIST train split
(Debian's files), and measures test-split accuracy and training wall time. Writes
``benchmarks/features.json`` and ``benchmarks/features.md``, which the docs quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genlab.data.idx import iter_idx
from genlab.evaluate.features import ARCH_VERSION, FEATURE_LAYER, build_classifier, train_classifier

FASHION_MNIST = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
HERE = Path(__file__).parent


def build_classifier_v1(shape, num_classes):
    """Version 1 of the extractor (genlab before the feature store), for comparison."""
    image = keras.Input(shape)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(image)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    return keras.Model(image, layers.Dense(num_classes)(x))


def load(split: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images = np.concatenate(list(iter_idx(FASHION_MNIST / f"{prefix}-images-idx3-ubyte.gz", 3)))
    labels = np.concatenate(list(iter_idx(FASHION_MNIST / f"{prefix}-labels-idx1-ubyte.gz", 1)))
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images[..., None].astype(np.float32) / 255.0, labels.astype(np.int64)


def accuracy(model, test) -> float:
    logits = [np.asarray(model(test[0][i : i + 1000])) for i in range(0, len(test[0]), 1000)]
    return round(float((np.concatenate(logits).argmax(-1) == test[1]).mean()), 4)


def measure(name: str, build, epochs: int, train, test) -> dict:
    model = build((28, 28, 1), 10)
    t0 = time.perf_counter()
    train_classifier(model, *train, epochs=epochs, seed=0)
    seconds = time.perf_counter() - t0
    row = {
        "extractor": name,
        "epochs": epochs,
        "train_images": len(train[0]),
        "test_accuracy": accuracy(model, test),
        "train_seconds": round(seconds, 1),
        "parameters": int(model.count_params()),
    }
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="2,000 train images (a smoke run; writes nothing)")
    args = ap.parse_args(argv)
    limit = 2000 if args.quick else 0
    train, test = load("train", limit), load("test", 0)
    plan = [(f"v{ARCH_VERSION}", build_classifier, e) for e in ((1,) if args.quick else (1, 2))]
    plan.append(("v1", build_classifier_v1, 1 if args.quick else 2))
    rows = [measure(name, build, epochs, train, test) for name, build, epochs in plan]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "versions": f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "scale": "quick" if args.quick else "full",
        "rows": rows,
    }
    if args.quick:
        return
    (HERE / "features.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Feature extractor: accuracy and cost",
        "",
        "Written by `python -m benchmarks.features`. The extractor behind FID/KID/precision/recall "
        "(`genlab/evaluate/features.py`), trained as `get_extractor` trains it (`train_classifier`: Adam "
        "1e-3 with cosine decay, batch 128, seed 0) on the full Fashion-MNIST train split; accuracy on "
        "the 10,000-image test split. The presets train it for `evaluate.feature_epochs: 2`.",
        "",
        f"- date: {result['date']}",
        f"- machine: {result['machine']} (the machine was shared: timings are upper bounds)",
        f"- versions: {result['versions']}",
        "",
        "| extractor | epochs | test accuracy | training wall s | parameters |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['extractor']} | {r['epochs']} | {r['test_accuracy']:.4f} | {r['train_seconds']:.0f} | {r['parameters']:,} |"
        for r in rows
    ]
    lines += [
        "",
        f"v{ARCH_VERSION} is the current extractor; v1 the one it replaced. It is trained once per dataset "
        "(checksum, epochs, seed) and then loaded from the feature store.",
    ]
    (HERE / "features.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
