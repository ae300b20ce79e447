"""genlab.data.records on tiny hand-made arrays (no IDX files): writing, publishing, reading back.

Each test pins one contract that the end-to-end preparation tests (test_data.py) cannot see,
found by mutation testing (docs/testing.md): e.g. the dataset checksum's formula, the shuffle
order of a second epoch, the staging folder's place beside the output.
"""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from genlab.data import records
from genlab.errors import DataError


def images(n, start=0):
    """n distinct 2x2x1 uint8 images (image i is filled with start + i) and labels i % 3."""
    x = np.arange(start, start + n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    return x, np.arange(start, start + n) % 3


def write(out, shards=2, train=12, test=4, **kwargs):
    splits = {"train": iter([images(train)]), "test": iter([images(test, start=100)])}
    return records.write_dataset(
        str(out),
        dataset="toy",
        source="hand-made",
        shape=(2, 2, 1),
        class_names=("a", "b", "c"),
        splits=kwargs.pop("splits", splits),
        shards=shards,
        **kwargs,
    )


def test_the_checksum_is_the_sha256_of_the_shard_checksums_in_split_order(tmp_path):
    manifest = write(tmp_path / "d", shards=3)
    # The dataset's identity (model.json records it): sorted splits, shards in order, hex digests.
    joined = "".join(s.sha256 for split in ("test", "train") for s in manifest.splits[split])
    assert manifest.checksum == hashlib.sha256(joined.encode()).hexdigest()
    for shard in manifest.splits["train"]:
        assert shard.sha256 == hashlib.sha256((tmp_path / "d" / shard.file).read_bytes()).hexdigest()
    assert [s.count for s in manifest.splits["train"]] == [4, 4, 4]
    assert manifest.num_classes == 3 and manifest.extra == {}
    assert (manifest.dataset, manifest.source) == ("toy", "hand-made")
    assert manifest.shape == (2, 2, 1) and manifest.class_names == ("a", "b", "c")
    assert records.load_manifest(str(tmp_path / "d")) == manifest


def test_a_shard_larger_than_the_read_block_is_hashed_whole(tmp_path):
    big = np.arange(3 * 1024 * 1024, dtype=np.uint8).reshape(3, 1024, 1024, 1)  # > 1 MiB per shard
    splits = {"train": iter([(big, np.zeros(3, np.int64))])}
    manifest = records.write_dataset(
        str(tmp_path / "d"), dataset="big", source="s", shape=(1024, 1024, 1), class_names=("a",),
        splits=splits, shards=1,
    )  # fmt: skip
    (shard,) = manifest.splits["train"]
    assert shard.sha256 == hashlib.sha256((tmp_path / "d" / shard.file).read_bytes()).hexdigest()


def test_an_empty_split_or_unequal_images_and_labels_write_nothing(tmp_path):
    empty = {"train": iter([images(4)]), "test": iter([images(0)])}
    with pytest.raises(DataError, match="hand-made: split 'test' has no examples"):
        write(tmp_path / "d", splits=empty)
    x, y = images(4)
    with pytest.raises(ValueError):  # 4 images, 3 labels: zip(strict=True) refuses
        write(tmp_path / "d", splits={"train": iter([(x, y[:3])])})
    assert not (tmp_path / "d").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left either


def test_the_output_may_be_nested_and_is_staged_beside_itself(tmp_path, monkeypatch):
    out = tmp_path / "a" / "b" / "data"
    seen = []
    real = records._publish

    def spy(staging, out_uri, manifest):
        seen.append(staging)
        real(staging, out_uri, manifest)

    monkeypatch.setattr(records, "_publish", spy)
    write(out)
    # Staged on the output's filesystem (so the final rename is atomic), named after this process.
    assert seen[0].parent == out.parent
    assert seen[0].name.startswith(f"{records.STAGING_PREFIX}{os.getpid()}-")
    assert sorted(p.name for p in out.parent.iterdir()) == ["data"]


def test_a_rerun_replaces_an_output_folder_that_has_no_manifest(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "train-00000-of-00009.tfrecord").write_bytes(b"left by an interrupted copy")
    manifest = write(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [records.MANIFEST, *(s.file for split in manifest.splits.values() for s in split)]
    )


def test_dead_writers_staging_is_removed_live_and_foreign_kept(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f"{records.STAGING_PREFIX}{int(dead.stdout)}-abc"
    live = tmp_path / f"{records.STAGING_PREFIX}{os.getpid()}-xyz"
    foreign = tmp_path / f"{records.STAGING_PREFIX}notapid-xyz"
    for folder in (stale, live, foreign):
        folder.mkdir()
    junk = tmp_path / f"{records.STAGING_PREFIX}{int(dead.stdout)}-file"  # a file, not a folder: ignored
    junk.write_text("x")
    write(tmp_path / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, foreign.name, junk.name, "d"])


def test_a_process_of_another_user_counts_as_alive(monkeypatch):
    def denied(pid, sig):
        assert sig == 0  # probe only: never signal the process
        raise PermissionError

    monkeypatch.setattr(records.os, "kill", denied)
    assert records._alive(1)
    monkeypatch.undo()
    assert records._alive(os.getpid())


def test_missing_shard_corrupt_manifest_and_unknown_split_are_named(tmp_path):
    out = tmp_path / "d"
    manifest = write(out)
    shard = out / manifest.splits["train"][0].file
    shard.write_bytes(shard.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"train-00000-of-00002.tfrecord: sha256 mismatch: the manifest says"):
        records.verify(str(out), manifest)
    write(out)  # whole again
    (out / manifest.splits["test"][1].file).unlink()
    with pytest.raises(
        DataError, match=r"test-00001-of-00002.tfrecord: shard missing \(listed in manifest.json\)"
    ):
        records.verify(str(out))
    with pytest.raises(DataError, match=r"d: no split 'valid' \(have: train, test\)"):
        records.split_dataset(str(out), manifest, "valid")
    doc = json.loads((out / records.MANIFEST).read_text())
    del doc["checksum"]
    (out / records.MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"manifest.json: corrupt manifest"):
        records.load_manifest(str(out))


def test_load_arrays_keeps_the_first_examples_in_order(tmp_path):
    write(tmp_path / "d", shards=3)
    x, y = records.load_arrays(str(tmp_path / "d"), "train", limit=5)
    np.testing.assert_array_equal(x[:, 0, 0, 0] * 255.0, np.arange(5))
    assert x.dtype == np.float32 and y.dtype == np.int32 and list(y) == [0, 1, 2, 0, 1]


def test_each_epoch_is_a_new_permutation_of_the_split(tmp_path):
    manifest = write(tmp_path / "d", train=12)
    ds = records.train_input(str(tmp_path / "d"), manifest, global_batch=4, seed=5)
    seen = [int(round(v * 255)) for b in ds.take(6) for v in b["image"].numpy()[:, 0, 0, 0]]
    first, second = seen[:12], seen[12:]
    assert sorted(first) == sorted(second) == list(range(12))
    assert first != second  # reshuffled each epoch, not the same order again


def test_text_datasets_read_back_as_int32_token_windows(tmp_path):
    tokens = np.arange(12, dtype=np.int32).reshape(3, 4) * 1000  # values beyond a byte
    manifest = records.write_dataset(
        str(tmp_path / "t"), dataset="text", source="s", shape=(4,), class_names=(),
        splits={"train": iter([(tokens, np.zeros(3, np.int64))])}, shards=1, extra={"kind": "text"},
    )  # fmt: skip
    assert records.is_text(manifest) and not records.is_text(write(tmp_path / "i"))
    (got,) = [
        b["tokens"].numpy() for b in records.split_dataset(str(tmp_path / "t"), manifest, "train").batch(3)
    ]
    np.testing.assert_array_equal(got, tokens)
    batch = next(iter(records.train_input(str(tmp_path / "t"), manifest, global_batch=3, seed=0)))
    assert set(batch) == {"tokens"} and batch["tokens"].dtype == tf.int32
    assert sorted(batch["tokens"].numpy()[:, 1].tolist()) == [1000, 5000, 9000]


def test_workers_split_each_global_batch_and_a_resume_skips_whole_batches(tmp_path):
    manifest = write(tmp_path / "d", train=12)

    def batches(n, index, k=4, skip=0):
        ctx = tf.distribute.InputContext(
            num_input_pipelines=n, input_pipeline_id=index, num_replicas_in_sync=n
        )
        ds = records.train_input(
            str(tmp_path / "d"), manifest, global_batch=6, seed=2, input_context=ctx, skip_batches=skip
        )
        return [b["image"].numpy()[:, 0, 0, 0] for b in ds.take(k)]

    single = batches(1, 0)
    assert [len(b) for b in single] == [6] * 4
    for n in (2, 3):
        parts = [batches(n, i) for i in range(n)]  # example j of a global batch is on worker j % n
        for g, batch in enumerate(single):
            for i in range(n):
                np.testing.assert_array_equal(parts[i][g], batch[i::n])
    np.testing.assert_array_equal(batches(1, 0, k=1, skip=3)[0], single[3])
    plain = records.train_input(str(tmp_path / "d"), manifest, global_batch=6, seed=2)  # no context: 1 worker
    # Each worker shards the stream itself, in a fixed order: tf.distribute must not shard it again.
    options = plain.options()
    assert options.experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF
    assert options.deterministic is True
    np.testing.assert_array_equal(next(iter(plain))["image"].numpy()[:, 0, 0, 0], single[0])


def test_the_stream_has_a_static_batch_size_and_shuffles_the_whole_split_up_to_60000(tmp_path, monkeypatch):
    import dataclasses

    manifest = write(tmp_path / "d", train=12)
    ds = records.train_input(str(tmp_path / "d"), manifest, global_batch=6, seed=2)
    assert ds.element_spec["image"].shape.as_list() == [6, 2, 2, 1]  # known when traced (XLA, strategies)
    sizes = []
    real = tf.data.Dataset.shuffle
    monkeypatch.setattr(
        tf.data.Dataset, "shuffle", lambda self, n, **kw: sizes.append(n) or real(self, n, **kw)
    )
    records.train_input(str(tmp_path / "d"), manifest, global_batch=6, seed=2)
    # A manifest that claims 70,000 examples: the buffer (memory) stops at 60,000.
    big = dataclasses.replace(
        manifest,
        splits={
            **manifest.splits,
            "train": [dataclasses.replace(s, count=35_000) for s in manifest.splits["train"]],
        },
    )
    records.train_input(str(tmp_path / "d"), big, global_batch=6, seed=2)
    assert sizes == [12, 60_000]
