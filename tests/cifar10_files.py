"""Files in the exact CIFAR-10 binary format, written by the tests (no copy of CIFAR-10 is reachable).

``write_batch`` builds each 3073-byte record byte by byte, independently of the reader's reshape:
the label, then the red plane, the green plane, the blue plane, each row-major 32x32. The images
are class-dependent colour blobs on a dim noisy background, so a classifier (the FID feature
extractor) and a generator have something to learn.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# one colour per class (R, G, B)
COLOURS = np.array(
    [
        (230, 40, 40),
        (40, 230, 40),
        (40, 40, 230),
        (230, 230, 40),
        (230, 40, 230),
        (40, 230, 230),
        (250, 150, 40),
        (150, 40, 250),
        (250, 250, 250),
        (120, 120, 120),
    ],
    np.int64,
)


def blob_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 32, 32, 3) uint8: a disc of the class's colour at a random place, on noise."""
    n = len(labels)
    rows, cols = np.mgrid[:32, :32]
    images = rng.integers(0, 50, (n, 32, 32, 3))
    for k, y in enumerate(labels):
        cy, cx, r = rng.integers(9, 23), rng.integers(9, 23), rng.integers(5, 9)
        disc = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
        images[k][disc] = COLOURS[y] - rng.integers(0, 20, 3)
    return images.astype(np.uint8)


def write_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """A CIFAR-10 batch: per image, 1 label byte + 1024 R + 1024 G + 1024 B bytes, rows in order."""
    with open(path, "wb") as f:
        for image, label in zip(images, labels, strict=True):
            record = bytearray([int(label)])
            for channel in range(3):
                for row in range(32):
                    record += bytes(int(v) for v in image[row, :, channel])
            f.write(record)


def make_cifar10_folder(root: Path, per_batch: int = 40, n_test: int = 100, seed: int = 0) -> dict:
    """``root/cifar-10-batches-bin/`` with 5 train batches, the test batch and the class names.

    Returns {"train": (images, labels), "test": (images, labels)} as written, in file order."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    written = {"train": ([], []), "test": ([], [])}
    names = [(f"data_batch_{i}.bin", "train", per_batch) for i in range(1, 6)] + [
        ("test_batch.bin", "test", n_test)
    ]
    for name, split, n in names:
        labels = rng.integers(0, 10, n)
        images = blob_images(labels, rng)
        write_batch(folder / name, images, labels)
        written[split][0].append(images)
        written[split][1].append(labels)
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n\n")  # blank lines end the real file
    return {split: (np.concatenate(x), np.concatenate(y)) for split, (x, y) in written.items()}


def make_cifar10_archive(path: Path, **kwargs) -> dict:
    """A ``cifar-10-binary.tar.gz`` laid out like the official one (one top folder)."""
    staging = path.parent / "cifar10-staging"
    written = make_cifar10_folder(staging, **kwargs)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(staging / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    return written
