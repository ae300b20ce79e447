"""Data preparation: raw sources -> sharded TFRecords + manifest. ``prepare`` is the entry point."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import numpy as np

from genlab.data.idx import idx_count, iter_idx
from genlab.data.records import (
    DatasetManifest,
    load_arrays,
    load_manifest,
    split_dataset,
    train_input,
    verify,
    write_dataset,
)
from genlab.data.sources import IDX_DATASETS, fetch_idx
from genlab.errors import ConfigError, DataError

# data.dataset -> "module:function" under genlab.data, for image datasets with their own reader
IMAGE_DATASETS = {"cifar10": "cifar10:prepare_cifar10"}
# data.dataset -> "module:function" under genlab.data, for paired and unpaired image pairs
IMG2IMG_DATASETS = {
    "edges2fashion": "paired:prepare_edges2fashion",
    "paired": "paired:prepare_paired_folder",
    "sneakers2boots": "unpaired:prepare_sneakers2boots",
    "unpaired": "unpaired:prepare_unpaired_folder",
    "horse2zebra": "unpaired:prepare_horse2zebra",
}

__all__ = [
    "DatasetManifest",
    "load_arrays",
    "load_manifest",
    "prepare",
    "split_dataset",
    "train_input",
    "verify",
    "data_spec",
]


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Area-resize a uint8 chunk (N, H, W) to (N, size, size, 1)."""
    import tensorflow as tf

    x = tf.image.resize(images[..., None].astype(np.float32), (size, size), method="area")
    return np.clip(np.round(x.numpy()), 0, 255).astype(np.uint8)


def _idx_split(folder, ds, split: str, limit: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    image_file, label_file = (folder / name for name in ds.files(split))
    n_images = idx_count(image_file, 3)[0]
    n_labels = idx_count(label_file, 1)[0]
    if n_images != n_labels:
        raise DataError(f"{image_file}: {n_images} images but {label_file.name} has {n_labels} labels")
    chunks = zip(iter_idx(image_file, 3), iter_idx(label_file, 1), strict=True)  # counts checked above
    seen = 0
    for images, labels in chunks:
        if limit:
            images, labels = images[: limit - seen], labels[: limit - seen]
        if labels.max(initial=0) >= len(ds.class_names):
            raise DataError(f"{label_file}: label {labels.max()} out of range 0..{len(ds.class_names) - 1}")
        seen += len(images)
        native = images.shape[1]
        yield (_resize(images, size) if size != native else images[..., None]), labels
        if limit and seen >= limit:
            return


def prepare(exp, out_uri: str) -> DatasetManifest:
    """Read the configured dataset, validate it, write shards and a manifest to ``out_uri``."""
    cfg = exp.data
    if cfg.dataset == "text":  # character-level corpora: genlab.data.text
        from genlab.data.text import prepare_text

        return prepare_text(exp, out_uri)
    if cfg.dataset == "images":  # a folder of PNG/JPEG, one subfolder per class: genlab.data.folder
        from genlab.data.folder import prepare_folder

        return prepare_folder(exp, out_uri)
    if cfg.dataset == "music":  # MIDI/MusicXML pieces as piano-roll phrases: genlab.data.music
        from genlab.data.music import prepare_music

        return prepare_music(exp, out_uri)
    readers = {**IMAGE_DATASETS, **IMG2IMG_DATASETS}
    if cfg.dataset in readers:  # CIFAR-10: genlab.data.cifar10; image pairs: genlab.data.paired / unpaired
        module, function = readers[cfg.dataset].split(":")
        return getattr(importlib.import_module(f"genlab.data.{module}"), function)(exp, out_uri)
    if cfg.dataset in IDX_DATASETS:
        ds = IDX_DATASETS[cfg.dataset]
        folder = fetch_idx(ds, cfg.source)
        # Validate both splits' headers before writing anything.
        for split in ("train", "test"):
            _ = [idx_count(folder / f, nd) for f, nd in zip(ds.files(split), (3, 1), strict=True)]
        splits = {
            "train": _idx_split(folder, ds, "train", cfg.max_train, cfg.image_size),
            "test": _idx_split(folder, ds, "test", cfg.max_test, cfg.image_size),
        }
        return write_dataset(
            out_uri,
            dataset=ds.name,
            source=str(folder),
            shape=(cfg.image_size, cfg.image_size, 1),
            class_names=ds.class_names,
            splits=splits,
            shards=cfg.shards,
        )
    raise ConfigError(
        f"data.dataset: unknown dataset {cfg.dataset!r}; expected one of: "
        f"{', '.join(sorted([*IDX_DATASETS, *readers, 'images', 'music', 'text']))}"
    )


def data_spec(manifest: DatasetManifest, exp):
    """What the model needs to know about the prepared data."""
    from genlab.models.base import DataSpec

    if manifest.extra.get("kind") == "text":  # token windows + vocabulary: genlab.data.text
        from genlab.data.text import text_spec

        return text_spec(manifest, exp)
    if manifest.extra.get("kind") == "music":  # piano-roll phrases: genlab.data.music
        from genlab.data.music import music_spec

        return music_spec(manifest, exp)
    return DataSpec(
        shape=tuple(manifest.shape),
        num_classes=manifest.num_classes,
        binarize=exp.data.binarize,
        class_names=manifest.class_names,
    )
