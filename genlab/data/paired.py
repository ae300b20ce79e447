"""Paired image-to-image datasets (pix2pix): each example is an (input A, target B) pair.

Storage: a pair is one record whose image holds A's channels followed by B's, shape (s, s, 2c),
so the sharded writer, the manifest and the training stream serve it unchanged; the manifest's
``extra`` says ``{"kind": "paired", "channels": c, "domains": [A, B]}``.

Sources:

- ``data.dataset: edges2fashion`` (offline): Fashion-MNIST garments resized to ``data.image_size``,
  their edge maps (a thresholded Sobel gradient magnitude) as inputs, like the classic
  edges2shoes (whose edges came from a detector run on each photo). The label is the garment class.
- ``data.dataset: paired``: the pix2pix datasets' layout, a folder (local, https archive with
  ``data.sha256``, or ``gs://``) of side-by-side ``A|B`` images, ``train/`` and ``test/`` (or
  ``val/``) subfolders; every image the same size, twice as wide as high.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genlab.errors import DataError

EDGE_THRESHOLD = 0.25  # of the maximal Sobel magnitude in [0, 1] images: keeps outlines, drops texture


def edge_maps(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 1) garments -> uint8 (N, H, W, 1) binary edge maps (255 on an edge).

    Sobel gradient magnitude of the [0, 1] image, normalised by its largest possible value (4 * sqrt 2)
    and thresholded.
    """
    from scipy import ndimage

    x = images[..., 0].astype(np.float32) / 255.0
    kx = np.array([[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]], np.float32)  # (1, 3, 3): one image at a time
    gx = ndimage.correlate(x, kx, mode="nearest")  # (ndimage.sobel would also smooth across the batch)
    gy = ndimage.correlate(x, kx.transpose(0, 2, 1), mode="nearest")
    magnitude = np.hypot(gx, gy) / (4.0 * np.sqrt(2.0))
    return np.where(magnitude > EDGE_THRESHOLD, 255, 0).astype(np.uint8)[..., None]


def _edges2fashion_split(folder, ds, split: str, limit: int, size: int) -> Iterator:
    from genlab.data import _idx_split  # the same reader and resize as data.dataset: fashion_mnist

    for garments, labels in _idx_split(folder, ds, split, limit, size):
        yield np.concatenate([edge_maps(garments), garments], axis=-1), labels


def prepare_edges2fashion(exp, out_uri: str):
    from genlab.data.idx import idx_count
    from genlab.data.records import write_dataset
    from genlab.data.sources import FASHION_MNIST, fetch_idx

    cfg = exp.data
    folder = fetch_idx(FASHION_MNIST, cfg.source)
    for split in ("train", "test"):  # every header checked before anything is written
        _ = [idx_count(folder / f, nd) for f, nd in zip(FASHION_MNIST.files(split), (3, 1), strict=True)]
    return write_dataset(
        out_uri,
        dataset="edges2fashion",
        source=str(folder),
        shape=(cfg.image_size, cfg.image_size, 2),
        class_names=FASHION_MNIST.class_names,
        splits={
            split: _edges2fashion_split(folder, FASHION_MNIST, split, limit, cfg.image_size)
            for split, limit in (("train", cfg.max_train), ("test", cfg.max_test))
        },
        shards=cfg.shards,
        extra={"kind": "paired", "channels": 1, "domains": ["edges", "garment"]},
    )


# --- side-by-side A|B folders --------------------------------------------------------------------


LAYOUT = "train/ and test/ (or val/) subfolders of side-by-side A|B images (the pix2pix datasets' layout)"


def _split_folders(root: Path) -> dict[str, Path]:
    test = root / "test" if (root / "test").is_dir() else root / "val"
    if not (root / "train").is_dir() or not test.is_dir():
        raise DataError(f"data.source: {root} must hold {LAYOUT}")
    return {"train": root / "train", "test": test}


def _halves(chunk: np.ndarray, size: int) -> np.ndarray:
    """(N, H, 2H, C) side-by-side images -> (N, size, size, 2C): A's channels then B's."""
    from genlab.data.folder import _resize

    w = chunk.shape[2] // 2
    a, b = chunk[:, :, :w], chunk[:, :, w:]
    if a.shape[1:3] != (size, size):
        a, b = _resize(a, size), _resize(b, size)
    return np.concatenate([a, b], axis=-1)


def _iter_pairs(files: list[Path], size: int, limit: int) -> Iterator:
    from genlab.data.folder import CHUNK, _decode

    files = files[:limit] if limit else files
    for start in range(0, len(files), CHUNK):  # bounded memory: CHUNK images decoded at a time
        chunk = np.stack([_decode(p) for p in files[start : start + CHUNK]])
        if chunk.ndim == 3:
            chunk = chunk[..., None]
        yield _halves(chunk, size), np.zeros(len(chunk), np.int64)


def prepare_paired_folder(exp, out_uri: str):
    from genlab.data.archive import local_folder
    from genlab.data.folder import MODES, _images_in, check_headers
    from genlab.data.records import write_dataset

    cfg = exp.data
    root = local_folder(cfg.source, cfg.sha256, marker=("train",), layout=LAYOUT)
    files = {split: _images_in(folder) for split, folder in _split_folders(root).items()}
    for split, found in files.items():
        if not found:
            raise DataError(f"data.source: {root}/{split}: no .png/.jpg images")
    (w, h), mode = check_headers([p for found in files.values() for p in found])
    if w != 2 * h:
        raise DataError(
            f"data.source: {root}: images are {w}x{h}; expected side-by-side A|B pairs twice as wide "
            f"as high (e.g. 512x256)"
        )
    c = MODES[mode]
    return write_dataset(
        out_uri,
        dataset="paired",
        source=str(root),
        shape=(cfg.image_size, cfg.image_size, 2 * c),
        class_names=(),
        splits={
            "train": _iter_pairs(files["train"], cfg.image_size, cfg.max_train),
            "test": _iter_pairs(files["test"], cfg.image_size, cfg.max_test),
        },
        shards=cfg.shards,
        extra={"kind": "paired", "channels": c, "domains": ["A", "B"]},
    )
