"""Data preparation interrupted while the finished dataset is being published (not while its
shards are written: test_interrupted_writes.py): the manifest appears only after every shard."""

from pathlib import Path

import pytest
import tensorflow as tf

from genlab import data, io
from genlab.data import records
from genlab.errors import DataError
from tests.conftest import make_idx_folder


def idx_exp(source: Path):
    from genlab import config

    return config.experiment_from_dict(
        {"name": "p", "model": {"family": "dcgan"}, "data": {"source": str(source), "shards": 2}}
    )


@pytest.fixture
def raw(tmp_path):
    return make_idx_folder(tmp_path / "raw", n_train=40, n_test=20)


def test_local_publish_interrupted_at_the_rename_leaves_no_dataset(raw, tmp_path, monkeypatch):
    out = tmp_path / "out" / "data"
    earlier = data.prepare(idx_exp(raw), str(out))
    real_rename = Path.rename

    def interrupted(self, target):
        if Path(target) == out:
            raise KeyboardInterrupt
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.prepare(idx_exp(raw), str(out))
    monkeypatch.undo()
    # Nothing that looks whole is left where readers look, nor a staging folder beside it.
    with pytest.raises(DataError, match="manifest.json missing"):
        data.load_manifest(str(out))
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(records.STAGING_PREFIX)) == []
    again = data.prepare(idx_exp(raw), str(out))
    assert again.checksum == earlier.checksum and data.verify(str(out)).count("train") == 40


def test_a_published_local_dataset_holds_exactly_its_shards_and_manifest(raw, tmp_path):
    out = tmp_path / "data"
    manifest = data.prepare(idx_exp(raw), str(out))
    shards = [s.file for split in manifest.splits.values() for s in split]
    assert sorted(p.name for p in out.iterdir()) == sorted([*shards, records.MANIFEST])
    assert manifest.num_classes == 10 and manifest.shape == (28, 28, 1)
    assert data.load_manifest(str(out)) == manifest


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """A local folder treated as a remote (gs://-like) prefix: shards are uploaded one by one."""
    root = tmp_path / "bucket"
    (root / "data").mkdir(parents=True)  # a local stand-in needs the folder that a bucket does not
    real = io.is_remote
    monkeypatch.setattr(io, "is_remote", lambda uri: str(uri).startswith(str(root)) or real(uri))
    return root


def test_remote_publish_writes_the_manifest_after_every_shard(raw, bucket, monkeypatch):
    out = str(bucket / "data")
    order = []
    real_copy, real_write = tf.io.gfile.copy, io.write_json
    monkeypatch.setattr(
        tf.io.gfile, "copy", lambda a, b, overwrite=False: (order.append(b), real_copy(a, b, overwrite))
    )
    monkeypatch.setattr(io, "write_json", lambda uri, obj: (order.append(uri), real_write(uri, obj)))
    manifest = data.prepare(idx_exp(raw), out)
    assert order[-1] == io.join(out, records.MANIFEST)
    uploaded = sorted(Path(u).name for u in order[:-1])
    assert uploaded == sorted(s.file for split in manifest.splits.values() for s in split)
    assert data.verify(out).checksum == manifest.checksum


def test_remote_publish_interrupted_between_shards_leaves_no_manifest(raw, bucket, monkeypatch):
    out = str(bucket / "data")
    real_copy = tf.io.gfile.copy
    copies = []

    def copy_then_fail(a, b, overwrite=False):
        if len(copies) == 2:
            raise KeyboardInterrupt
        copies.append(b)
        return real_copy(a, b, overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", copy_then_fail)
    with pytest.raises(KeyboardInterrupt):
        data.prepare(idx_exp(raw), out)
    assert len(copies) == 2 and not io.exists(io.join(out, records.MANIFEST))
    monkeypatch.setattr(tf.io.gfile, "copy", real_copy)
    data.prepare(idx_exp(raw), out)  # a re-run publishes the whole dataset
    assert data.verify(out).count("test") == 20


def test_an_unreachable_bucket_is_named_and_gets_no_manifest(raw, bucket, monkeypatch):
    out = str(bucket / "data")

    def denied(a, b, overwrite=False):
        raise tf.errors.PermissionDeniedError(None, None, "403 denied")

    monkeypatch.setattr(tf.io.gfile, "copy", denied)
    with pytest.raises(DataError, match=rf"^{out}: cannot access it \(403 denied\)"):
        data.prepare(idx_exp(raw), out)
    assert not io.exists(io.join(out, records.MANIFEST))


def test_a_remote_dataset_is_staged_in_the_local_temp_folder(raw, bucket, monkeypatch):
    import tempfile

    seen = []
    real = records._publish
    monkeypatch.setattr(
        records, "_publish", lambda staging, uri, m: (seen.append(staging), real(staging, uri, m))
    )
    data.prepare(idx_exp(raw), str(bucket / "data"))
    assert seen[0].parent == Path(tempfile.gettempdir())  # a bucket has no local folder to stage beside
    assert sorted(p.name for p in bucket.iterdir()) == ["data"]
