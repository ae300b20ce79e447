"""Sharded TFRecord datasets with a manifest, and the tf.data pipelines that read them.

Layout of a prepared dataset (a folder or ``gs://`` prefix)::

    manifest.json                  written last: its presence means the dataset is whole
    train-00000-of-00004.tfrecord  one tf.train.Example per image: raw uint8 HWC bytes + label
    test-00000-of-00004.tfrecord

The manifest holds counts, shapes, class names and each shard's sha256; readers check counts
and shapes, and ``verify`` checks the checksums.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from genlab import __version__, io
from genlab.data.sources import sha256_file
from genlab.errors import DataError

MANIFEST = "manifest.json"
STAGING_PREFIX = ".genlab-prepare-"  # + writer pid + random: hidden beside the output


@dataclass(frozen=True)
class Shard:
    file: str
    count: int
    sha256: str


@dataclass(frozen=True)
class DatasetManifest:
    dataset: str
    source: str
    shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    splits: dict  # split -> list[Shard]
    checksum: str  # sha256 over the shards' checksums: the dataset's identity
    version: str = __version__
    extra: dict = field(default_factory=dict)  # family-specific facts (e.g. a text vocabulary)

    def count(self, split: str) -> int:
        return sum(s.count for s in self.splits[split])

    def to_json(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["class_names"] = list(self.class_names)
        return d

    @staticmethod
    def from_json(d: dict) -> DatasetManifest:
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        d["class_names"] = tuple(d["class_names"])
        d["splits"] = {k: [Shard(**s) for s in v] for k, v in d["splits"].items()}
        return DatasetManifest(**d)


def _example(image: np.ndarray, label: int) -> bytes:
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # ``feature`` is a protobuf map, serialized in hash-table order unless asked otherwise; the
    # upb runtime seeds its hash per process, so "image" and "label" swapped places between runs and
    # one dataset had two checksums. Deterministic serialization writes map entries sorted by key.
    return example.SerializeToString(deterministic=True)


def _write_split(
    folder: Path, split: str, chunks: Iterable[tuple[np.ndarray, np.ndarray]], shards: int
) -> list[Shard]:
    """Example i goes to shard i % shards; chunks stream, so memory stays bounded."""
    names = [f"{split}-{i:05d}-of-{shards:05d}.tfrecord" for i in range(shards)]
    writers = [tf.io.TFRecordWriter(str(folder / n)) for n in names]
    counts = [0] * shards
    i = 0
    try:
        for images, labels in chunks:
            for image, label in zip(images, labels, strict=True):
                writers[i % shards].write(_example(image, label))
                counts[i % shards] += 1
                i += 1
    finally:
        for w in writers:
            w.close()
    return [Shard(n, c, sha256_file(folder / n)) for n, c in zip(names, counts, strict=True)]


def write_dataset(
    out_uri: str,
    *,
    dataset: str,
    source: str,
    shape: tuple[int, ...],
    class_names: tuple[str, ...],
    splits: dict[str, Iterator],
    shards: int,
    extra: dict | None = None,
) -> DatasetManifest:
    """Write every split, then the manifest; a failure leaves no manifest, so nothing looks whole.

    Shards are written to a local staging folder first and moved into place (renamed when local,
    uploaded when remote) before the manifest is written.
    """
    if not io.is_remote(out_uri):
        Path(out_uri).parent.mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.gettempdir() if io.is_remote(out_uri) else Path(out_uri).parent)
    _remove_dead_staging(parent)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=parent))
    try:
        written = {split: _write_split(staging, split, chunks, shards) for split, chunks in splits.items()}
        for split, shard_list in written.items():
            if sum(s.count for s in shard_list) == 0:
                raise DataError(f"{source}: split '{split}' has no examples")
        checksum = hashlib.sha256(
            "".join(s.sha256 for split in sorted(written) for s in written[split]).encode()
        ).hexdigest()
        manifest = DatasetManifest(
            dataset=dataset,
            source=source,
            shape=tuple(shape),
            num_classes=len(class_names),
            class_names=tuple(class_names),
            splits=written,
            checksum=checksum,
            extra=extra or {},
        )
        _publish(staging, out_uri, manifest)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_dead_staging(parent: Path) -> None:
    """Delete staging folders left by a killed preparation (``SIGKILL`` runs no cleanup).

    The folder's name carries its writer's pid; a folder whose writer still runs (a concurrent
    preparation) is left alone. A recycled pid only delays the cleanup to a later run.
    """
    for folder in parent.glob(f"{STAGING_PREFIX}*"):
        pid = folder.name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _publish(staging: Path, out_uri: str, manifest: DatasetManifest) -> None:
    if io.is_remote(out_uri):
        for f in staging.iterdir():
            with io.storage_errors(out_uri):
                tf.io.gfile.copy(str(f), io.join(out_uri, f.name), overwrite=True)
        io.write_json(io.join(out_uri, MANIFEST), manifest.to_json())
        return
    out = Path(out_uri)
    if out.exists():  # a re-run replaces an earlier or interrupted output
        (out / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(out)
    io.write_json(str(staging / MANIFEST), manifest.to_json())
    staging.rename(out)  # atomic on one filesystem: the dataset appears whole or not at all


def load_manifest(uri: str) -> DatasetManifest:
    path = io.join(uri, MANIFEST)
    if not io.exists(path):
        raise DataError(
            f"{uri}: not a prepared dataset ({MANIFEST} missing; was data preparation interrupted?)"
        )
    try:
        return DatasetManifest.from_json(io.read_json(path))
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: corrupt manifest: {e}") from None


def verify(uri: str, manifest: DatasetManifest | None = None) -> DatasetManifest:
    """Check every shard's presence and sha256 against the manifest."""
    manifest = manifest or load_manifest(uri)
    for shards in manifest.splits.values():
        for s in shards:
            path = io.join(uri, s.file)
            if not io.exists(path):
                raise DataError(f"{path}: shard missing (listed in {MANIFEST})")
            got = hashlib.sha256(io.read_bytes(path)).hexdigest()
            if got != s.sha256:
                raise DataError(f"{path}: sha256 mismatch: the manifest says {s.sha256}, the file has {got}")
    return manifest


# --- reading ---------------------------------------------------------------------------------


def _parser(shape):
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        image = tf.reshape(tf.io.decode_raw(ex["image"], tf.uint8), shape)
        return {"image": image, "label": tf.cast(ex["label"], tf.int32)}

    return parse


def _text_parser(shape):
    """Text datasets (genlab.data.text; manifest extra kind "text") store windows of int32 token
    ids in the same raw-bytes feature that holds an image's pixels."""
    spec = {"image": tf.io.FixedLenFeature([], tf.string)}

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        return {"tokens": tf.reshape(tf.io.decode_raw(ex["image"], tf.int32), shape)}

    return parse


def is_text(manifest: DatasetManifest) -> bool:
    return manifest.extra.get("kind") == "text"


def _to_float(batch):
    return {"image": tf.cast(batch["image"], tf.float32) / 255.0, "label": batch["label"]}


def split_dataset(uri: str, manifest: DatasetManifest, split: str) -> tf.data.Dataset:
    """Examples of one split, in a fixed order, as uint8 images and int32 labels (text: int32 tokens)."""
    if split not in manifest.splits:
        raise DataError(f"{uri}: no split '{split}' (have: {', '.join(manifest.splits)})")
    files = [io.join(uri, s.file) for s in manifest.splits[split]]
    # Reading shard k's i-th record for k in order restores the original example order.
    ds = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), block_length=1
    )
    parser = _text_parser(manifest.shape) if is_text(manifest) else _parser(manifest.shape)
    return ds.map(parser, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def train_input(
    uri: str,
    manifest: DatasetManifest,
    *,
    global_batch: int,
    seed: int,
    input_context: tf.distribute.InputContext | None = None,
    skip_batches: int = 0,
    split: str = "train",
) -> tf.data.Dataset:
    """An endless, shuffled stream of this worker's part of each global batch.

    Every worker builds the same globally shuffled stream and keeps examples j with
    j % workers == its index: the union of the workers' batches is exactly the global batch a
    single worker would see, so 1 and N workers train on the same data in the same order.
    ``skip_batches`` resumes the stream where a checkpoint left it.
    """
    n = input_context.num_input_pipelines if input_context else 1
    index = input_context.input_pipeline_id if input_context else 0
    count = manifest.count(split)
    ds = split_dataset(uri, manifest, split).cache()
    ds = ds.shuffle(min(count, 60_000), seed=seed, reshuffle_each_iteration=True).repeat()
    if n > 1:
        ds = ds.shard(n, index)
    ds = ds.batch(global_batch // n, drop_remainder=True)
    if not is_text(manifest):  # text batches stay int32 token ids
        ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if skip_batches:
        ds = ds.skip(skip_batches)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def load_arrays(
    uri: str, split: str, limit: int = 0, manifest: DatasetManifest | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images (float32 in [0, 1], NHWC) and labels of a split, the first ``limit`` (0 = all)."""
    manifest = manifest or load_manifest(uri)
    ds = split_dataset(uri, manifest, split)
    if limit:
        ds = ds.take(limit)
    images, labels = [], []
    for batch in ds.batch(4096).map(_to_float):
        images.append(batch["image"].numpy())
        labels.append(batch["label"].numpy())
    if not images:
        raise DataError(f"{uri}: split '{split}' is empty")
    return np.concatenate(images), np.concatenate(labels)
