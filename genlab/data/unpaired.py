"""Unpaired image-to-image datasets (CycleGAN): images of domain A and images of domain B.

Storage: like ``genlab.data.paired``, one record holds an A image's channels followed by a B
image's, shape (s, s, 2c). Record i pairs A[i mod nA] with B[i mod nB] for i < max(nA, nB), so
the first nA records hold every A image once, in order, and the first nB every B image (the
manifest's ``extra["counts"]`` gives nA and nB per split). The pairing carries no meaning:
CycleGAN's losses never compare an A image with the B image of the same record, and a batch of
shuffled records is a random batch of A images beside a random batch of B images (the reference
implementation, too, draws B at random for each A: ``unaligned_dataset.py`` in
junyanz/pytorch-CycleGAN-and-pix2pix).

Sources:

- ``data.dataset: sneakers2boots`` (offline): Fashion-MNIST sneakers (A) and ankle boots (B).
- ``data.dataset: unpaired``: ``trainA/ trainB/ testA/ testB/`` folders (the horse2zebra layout),
  local, a ``.zip`` (local, or https with ``data.sha256``), or ``gs://``.
- ``data.dataset: horse2zebra``: the CycleGAN paper's dataset from its official archive (sha256 as
  recorded by TensorFlow Datasets' ``url_checksums/cycle_gan.txt``); ``data.source`` may point
  at a local copy of the zip or the extracted folder instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genlab.errors import DataError

HORSE2ZEBRA_URL = "https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/horse2zebra.zip"
HORSE2ZEBRA_SHA256 = "a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1"
SNEAKER, ANKLE_BOOT = 7, 9  # Fashion-MNIST class indices
FOLDERS = ("trainA", "trainB", "testA", "testB")


def pair_indices(n_a: int, n_b: int, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Record i pairs A[i mod nA] with B[i mod nB], i < max(nA, nB) (or ``limit``)."""
    if not n_a or not n_b:
        raise DataError("unpaired data: both domains need at least one image")
    n = max(n_a, n_b)
    n = min(n, limit) if limit else n
    i = np.arange(n)
    return i % n_a, i % n_b


def counts(n_a: int, n_b: int, limit: int = 0) -> list[int]:
    """How many distinct A and B images the written records hold."""
    n = min(max(n_a, n_b), limit) if limit else max(n_a, n_b)
    return [min(n_a, n), min(n_b, n)]


# --- Fashion-MNIST sneakers <-> ankle boots --------------------------------------------------


def _two_classes(folder, ds, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """All sneakers and all ankle boots of a split (at most 12,000 small images)."""
    from genlab.data import _idx_split

    a, b = [], []
    for images, labels in _idx_split(folder, ds, split, 0, size):
        a.append(images[labels == SNEAKER])
        b.append(images[labels == ANKLE_BOOT])
    return np.concatenate(a), np.concatenate(b)


def prepare_sneakers2boots(exp, out_uri: str):
    from genlab.data.records import write_dataset
    from genlab.data.sources import FASHION_MNIST, fetch_idx

    cfg = exp.data
    folder = fetch_idx(FASHION_MNIST, cfg.source)
    splits, n = {}, {}
    for split, limit in (("train", cfg.max_train), ("test", cfg.max_test)):
        a, b = _two_classes(folder, FASHION_MNIST, split, cfg.image_size)
        ia, ib = pair_indices(len(a), len(b), limit)
        records = np.concatenate([a[ia], b[ib]], axis=-1)
        splits[split] = iter([(records, np.zeros(len(records), np.int64))])
        n[split] = counts(len(a), len(b), limit)
    return write_dataset(
        out_uri,
        dataset="sneakers2boots",
        source=str(folder),
        shape=(cfg.image_size, cfg.image_size, 2),
        class_names=(),
        splits=splits,
        shards=cfg.shards,
        extra={"kind": "unpaired", "channels": 1, "domains": ["sneaker", "ankle boot"], "counts": n},
    )


# --- trainA/ trainB/ testA/ testB/ folders ---------------------------------------------------------


def check_domain(files: list[Path], where: Path) -> tuple[tuple[int, int], int]:
    """The common (width, height) of a domain's images and 3 if any is RGB (grayscale ones are
    then converted, as the reference loader does: horse2zebra holds a few grayscale photos) else 1."""
    from PIL import Image, UnidentifiedImageError

    if not files:
        raise DataError(f"data.source: {where} holds no .png/.jpg images; both domains need images")
    size, channels, first = None, 1, files[0]
    for path in files:
        try:
            with Image.open(path) as im:
                found, mode = im.size, im.mode
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"{path}: not a readable PNG/JPEG image: {e}") from None
        if mode not in ("L", "RGB"):
            raise DataError(f"{path}: image mode {mode}; expected grayscale (L) or RGB: convert it first")
        channels = 3 if mode == "RGB" else channels
        if size is None:
            size = found
        elif found != size:
            raise DataError(
                f"{path}: image is {found[0]}x{found[1]}, but {first.name} and the images before it "
                f"are {size[0]}x{size[1]}; every image of a domain must have the same size"
            )
    return size, channels


def _load(paths: list[Path], channels: int, size: int) -> np.ndarray:
    from PIL import Image

    from genlab.data.folder import _resize

    out = []
    for path in paths:
        try:
            with Image.open(path) as im:
                out.append(np.asarray(im.convert("RGB" if channels == 3 else "L"), np.uint8))
        except OSError as e:  # a header that reads but data that is cut short
            raise DataError(f"{path}: corrupt image data: {e}") from None
    images = np.stack(out)
    images = images[..., None] if images.ndim == 3 else images
    return _resize(images, size) if images.shape[1:3] != (size, size) else images


def _iter_records(a: list[Path], b: list[Path], channels: int, size: int, limit: int) -> Iterator:
    from genlab.data.folder import CHUNK

    ia, ib = pair_indices(len(a), len(b), limit)
    for start in range(0, len(ia), CHUNK):  # bounded memory: CHUNK pairs decoded at a time
        xa = _load([a[i] for i in ia[start : start + CHUNK]], channels, size)
        xb = _load([b[i] for i in ib[start : start + CHUNK]], channels, size)
        yield np.concatenate([xa, xb], axis=-1), np.zeros(len(xa), np.int64)


def prepare_unpaired_folder(exp, out_uri: str, default_source: str = "", default_sha256: str = ""):
    from genlab.data.archive import local_folder
    from genlab.data.folder import _images_in
    from genlab.data.records import write_dataset

    cfg = exp.data
    source, sha256 = cfg.source or default_source, cfg.sha256 or (default_sha256 if not cfg.source else "")
    root = local_folder(source, sha256, marker=FOLDERS, layout="the horse2zebra layout")
    files = {name: _images_in(root / name) for name in FOLDERS}
    channels = max(check_domain(files[name], root / name)[1] for name in FOLDERS)
    n = {
        s: counts(len(files[f"{s}A"]), len(files[f"{s}B"]), lim)
        for s, lim in (("train", cfg.max_train), ("test", cfg.max_test))
    }
    return write_dataset(
        out_uri,
        dataset=cfg.dataset,
        source=str(root),
        shape=(cfg.image_size, cfg.image_size, 2 * channels),
        class_names=(),
        splits={
            s: _iter_records(files[f"{s}A"], files[f"{s}B"], channels, cfg.image_size, lim)
            for s, lim in (("train", cfg.max_train), ("test", cfg.max_test))
        },
        shards=cfg.shards,
        extra={"kind": "unpaired", "channels": channels, "domains": ["A", "B"], "counts": n},
    )


def prepare_horse2zebra(exp, out_uri: str):
    return prepare_unpaired_folder(exp, out_uri, HORSE2ZEBRA_URL, HORSE2ZEBRA_SHA256)
