"""CIFAR-10 (Krizhevsky 2009) from its binary archive: ``data.dataset: cifar10``.

The "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html) unpacks to
``cifar-10-batches-bin/``: ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train), ``test_batch.bin``
and ``batches.meta.txt`` (the class names, one a line). Each batch is a run of 3073-byte records:
one label byte (0..9), then 3072 pixel bytes: the 1024 red values of the 32x32 image in row-major
order, then the 1024 green, then the 1024 blue.

``data.source``: "" (the official https archive, sha256-checked and cached), another https URL of
the same archive, a local or ``gs://`` ``.tar.gz``, or a local or ``gs://`` folder holding the
files (or holding ``cifar-10-batches-bin/``). Every file is checked (present, a whole number of
records) before anything is written, and batches are read a chunk of records at a time, so memory
stays bounded whatever the file size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from genlab.errors import DataError

# The sha256 and size TensorFlow Datasets records for this URL
# (tensorflow/datasets tensorflow_datasets/url_checksums/cifar10.txt: 170052171 bytes).
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
META = "batches.meta.txt"
SIDE, CHANNELS = 32, 3
PIXELS = SIDE * SIDE * CHANNELS  # 3072
RECORD = 1 + PIXELS  # label byte + R plane + G plane + B plane
NUM_CLASSES = 10
CHUNK = 1000  # records read at a time: ~3 MB, whatever the file size
AIR_GAPPED = (
    f"point data.source at a local or gs:// copy of cifar-10-binary.tar.gz or of its {FOLDER}/ folder "
    "(docs/cifar10.md)"
)


def _cache() -> Path:
    from genlab.data.sources import cache_dir

    return cache_dir() / "datasets" / "cifar10"


def _check_sha256(archive: Path, expected: str, where: str) -> None:
    from genlab.data.sources import sha256_file

    got = sha256_file(archive)
    if expected and got != expected:
        raise DataError(f"{where}: sha256 mismatch: expected {expected}, got {got}; check data.source")


def _from_archive(archive: Path, expected: str, where: str) -> Path:
    """Extract a checked .tar.gz once into the cache (keyed by its sha256) and find the batches."""
    from genlab.data.archive import extract
    from genlab.data.sources import sha256_file

    _check_sha256(archive, expected, where)
    return batches_folder(extract(archive, _cache() / "extracted" / sha256_file(archive)[:16]))


def fetch_cifar10(source: str, sha256: str = "") -> Path:
    """The local folder holding the CIFAR-10 batch files, downloading and extracting as needed.

    An https archive is always checked (``data.sha256``, else the official archive's); a local or
    ``gs://`` archive only when ``data.sha256`` is given (a copy you made may be repacked)."""
    from genlab.data import archive as arc
    from genlab.data.sources import _download_https, sha256_file

    source = source or URL
    if source.startswith(("https://", "http://")):
        expected = sha256 or (SHA256 if source == URL else "")
        if not expected:
            raise DataError(
                f"data.sha256: required for the https archive {source} (the official archive's is {SHA256})"
            )
        archive = _cache() / f"{expected[:16]}.tar.gz"
        if not (archive.is_file() and sha256_file(archive) == expected):
            _download_https(source, archive, expected, hint=AIR_GAPPED)
        return _from_archive(archive, expected, source)
    if source.startswith("gs://"):
        key = source.rstrip("/").rsplit("/", 1)[-1]
        if source.endswith((".tar.gz", ".tgz")):
            archive = _cache() / "gcs" / key
            arc._copy_gcs_file(source, archive)
            return _from_archive(archive, sha256, source)
        dest = _cache() / "gcs" / "folders" / source[len("gs://") :].rstrip("/").replace("/", "__")
        arc._copy_gcs_folder(source, dest)
        return batches_folder(dest)
    path = Path(source)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return _from_archive(path, sha256, str(path))
    if not path.is_dir():
        raise DataError(
            f"data.source: {source} not found (expected the CIFAR-10 binary archive "
            f"cifar-10-binary.tar.gz or a folder holding {FOLDER}/)"
        )
    return batches_folder(path)


def batches_folder(folder: Path) -> Path:
    """``folder`` itself or its ``cifar-10-batches-bin`` subfolder, whichever holds the batches."""
    for candidate in (folder, folder / FOLDER):
        if (candidate / TEST_FILES[0]).is_file():
            return candidate
    raise DataError(
        f"data.source: {folder} holds neither {TEST_FILES[0]} nor {FOLDER}/{TEST_FILES[0]}; expected "
        f"the CIFAR-10 binary version: {FOLDER}/ with {', '.join(TRAIN_FILES + TEST_FILES)} and {META}"
    )


def class_names(folder: Path) -> tuple[str, ...]:
    """The class names in ``batches.meta.txt``, one a line (the file ends with blank lines)."""
    path = folder / META
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected the {NUM_CLASSES} class names, one a line)")
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(names) != NUM_CLASSES:
        raise DataError(f"{path}: {len(names)} class names; expected {NUM_CLASSES}, one a line")
    return names


def record_count(path: Path) -> int:
    """Records in a batch file, from its size; a size that is not a whole number of them is an error."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a CIFAR-10 batch of {RECORD}-byte records)")
    size = path.stat().st_size
    if size == 0 or size % RECORD:
        raise DataError(
            f"{path}: {size} bytes is not a whole number of {RECORD}-byte records (1 label byte + "
            f"{PIXELS} pixel bytes); the file is truncated or not a CIFAR-10 binary batch"
        )
    return size // RECORD


def decode(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3073) uint8 records -> images (n, 32, 32, 3) uint8 HWC and labels (n,) int64."""
    planes = records[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE)  # (n, c, h, w): R plane, G, B
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), records[:, 0].astype(np.int64)


def iter_batches(
    paths: list[Path], limit: int = 0, chunk: int = CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(images, labels) chunks of up to ``chunk`` records from the files in order; the first ``limit``."""
    seen = 0
    for path in paths:
        count = record_count(path)
        with open(path, "rb") as f:
            for start in range(0, count, chunk):
                n = min(chunk, count - start, limit - seen if limit else chunk)
                raw = f.read(n * RECORD)
                if len(raw) < n * RECORD:  # shrank since it was checked
                    raise DataError(f"{path}: truncated at record {start + len(raw) // RECORD} of {count}")
                images, labels = decode(np.frombuffer(raw, np.uint8).reshape(n, RECORD))
                if labels.max() >= NUM_CLASSES:
                    bad = start + int(np.argmax(labels >= NUM_CLASSES))
                    raise DataError(
                        f"{path}: record {bad} has label {labels.max()}; expected 0..{NUM_CLASSES - 1}"
                    )
                seen += n
                yield images, labels
                if limit and seen >= limit:
                    return


def _resized(chunks: Iterator, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    from genlab.data.folder import _resize

    for images, labels in chunks:
        yield (images if size == SIDE else _resize(images, size)), labels


def prepare_cifar10(exp, out_uri: str):
    """Fetch, check every file, then write CIFAR-10 as a prepared dataset (``genlab.data.prepare``)."""
    from genlab.data.records import write_dataset

    cfg = exp.data
    folder = fetch_cifar10(cfg.source, cfg.sha256)
    names = class_names(folder)
    files = {"train": [folder / f for f in TRAIN_FILES], "test": [folder / f for f in TEST_FILES]}
    for path in files["train"] + files["test"]:
        record_count(path)  # all present and whole before anything is written
    return write_dataset(
        out_uri,
        dataset="cifar10",
        source=str(folder),
        shape=(cfg.image_size, cfg.image_size, CHANNELS),
        class_names=names,
        splits={
            "train": _resized(iter_batches(files["train"], cfg.max_train), cfg.image_size),
            "test": _resized(iter_batches(files["test"], cfg.max_test), cfg.image_size),
        },
        shards=cfg.shards,
    )
