"""A folder of PNG/JPEG images as a dataset (``data.dataset: images``, ``data.source: FOLDER``).

Layout: one subfolder per class (the label is the subfolder's name, classes sorted by name)::

    FOLDER/cat/0001.png  FOLDER/dog/0002.jpg  ...

or ``FOLDER/train/<class>/...`` and ``FOLDER/test/<class>/...`` for a fixed split; otherwise every
10th image of each class is held out as the test split. Every image must have the same size and
mode (``L`` grayscale or ``RGB``); the headers are checked before anything is written, so a folder
with one odd image fails at once, naming that file and the size or mode expected. Images are
resized to ``data.image_size`` (area averaging) and written like any other prepared dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genlab.errors import DataError

SUFFIXES = {".png", ".jpg", ".jpeg"}
MODES = {"L": 1, "RGB": 3}  # PIL mode -> channels
TEST_EVERY = 10  # without train/ and test/ subfolders, the test split is every 10th image of a class
CHUNK = 256  # images decoded at a time: memory stays bounded whatever the folder's size


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def _classes(root: Path) -> dict[str, list[Path]]:
    """Class name -> its image files, for a folder with one subfolder per class."""
    classes = {
        d.name: _images_in(d) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")
    }
    classes = {name: files for name, files in classes.items() if files}
    if not classes:
        loose = _images_in(root)
        hint = f" ({len(loose)} images lie directly in it)" if loose else ""
        raise DataError(
            f"data.source: {root} has no class subfolders holding .png/.jpg images{hint}; "
            f"expected {root}/<class name>/<image>.png"
        )
    return classes


def _round_robin(classes: dict[str, list[Path]], names: list[str]) -> list[tuple[Path, int]]:
    """(file, label) taking one image of each class in turn, so the first N hold every class."""
    out, lists = [], [classes.get(n, []) for n in names]
    for i in range(max(len(files) for files in lists)):
        out += [(files[i], label) for label, files in enumerate(lists) if i < len(files)]
    return out


def list_images(source: str) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """Class names and, per split, the (file, label) pairs in the order they are written."""
    root = Path(source)
    if not source or not root.is_dir():
        raise DataError(
            f"data.source: folder {source!r} not found (expected a folder of class "
            f"subfolders of .png/.jpg images)"
        )
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, test = _classes(root / "train"), _classes(root / "test")
        names = sorted(set(train) | set(test))
        return names, {"train": _round_robin(train, names), "test": _round_robin(test, names)}
    classes = _classes(root)
    names = sorted(classes)
    train = {
        n: [f for i, f in enumerate(files) if i % TEST_EVERY != TEST_EVERY - 1]
        for n, files in classes.items()
    }
    test = {
        n: [f for i, f in enumerate(files) if i % TEST_EVERY == TEST_EVERY - 1]
        for n, files in classes.items()
    }
    return names, {"train": _round_robin(train, names), "test": _round_robin(test, names)}


def check_headers(files: list[Path]) -> tuple[tuple[int, int], str]:
    """The common (width, height) and mode of ``files``; the first that differs is a DataError."""
    from PIL import Image, UnidentifiedImageError

    expected = None
    for path in files:
        try:
            with Image.open(path) as im:  # reads the header only
                found = (im.size, im.mode)
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"{path}: not a readable PNG/JPEG image: {e}") from None
        if found[1] not in MODES:
            raise DataError(
                f"{path}: image mode {found[1]}; expected grayscale (L) or RGB: convert the folder first"
            )
        if expected is None:
            expected, first = found, path
        elif found != expected:
            (w, h), mode = expected
            raise DataError(
                f"{path}: image is {found[0][0]}x{found[0][1]} {found[1]}, but {first.name} "
                f"and the images before it are {w}x{h} {mode}; every image in the folder "
                f"must have the same size and mode"
            )
    if expected is None:
        raise DataError("data.source: no images")
    return expected


def _decode(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im, dtype=np.uint8)
    except OSError as e:  # a header that reads but data that is cut short
        raise DataError(f"{path}: corrupt image data: {e}") from None


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Area-resize a uint8 chunk (N, H, W, C) to (N, size, size, C)."""
    import tensorflow as tf

    x = tf.image.resize(images.astype(np.float32), (size, size), method="area")
    return np.clip(np.round(x.numpy()), 0, 255).astype(np.uint8)


def iter_split(
    pairs: list[tuple[Path, int]], size: int, limit: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of (images uint8 NHWC at size x size, labels) for ``prepare``'s writer."""
    pairs = pairs[:limit] if limit else pairs
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        images = np.stack([_decode(p) for p, _ in chunk])
        if images.ndim == 3:  # grayscale: add the channel axis
            images = images[..., None]
        if images.shape[1:3] != (size, size):
            images = _resize(images, size)
        yield images, np.array([label for _, label in chunk], np.int64)


def prepare_folder(exp, out_uri: str):
    """Validate the whole folder, then write it as a prepared dataset (see ``genlab.data.prepare``)."""
    from genlab.data.records import write_dataset

    cfg = exp.data
    names, splits = list_images(cfg.source)
    (_, mode) = check_headers([p for pairs in splits.values() for p, _ in pairs])
    for split, pairs in splits.items():
        if not pairs:
            raise DataError(
                f"data.source: {cfg.source} has no images for the {split} split (without train/ and test/ "
                f"subfolders every {TEST_EVERY}th image of a class is held out for testing)"
            )
    return write_dataset(
        out_uri,
        dataset="images",
        source=str(Path(cfg.source).resolve()),
        shape=(cfg.image_size, cfg.image_size, MODES[mode]),
        class_names=tuple(names),
        splits={
            "train": iter_split(splits["train"], cfg.image_size, cfg.max_train),
            "test": iter_split(splits["test"], cfg.image_size, cfg.max_test),
        },
        shards=cfg.shards,
    )
