"""The CIFAR-10 binary reader and source, on files the tests write in the exact binary format."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from genlab import config, data
from genlab.data import cifar10, sources
from genlab.data.records import MANIFEST
from genlab.errors import DataError
from tests.cifar10_files import CLASSES, make_cifar10_archive, make_cifar10_folder, write_batch
from tests.unit.test_sources import serve, waits  # noqa: F401 (fixtures: a loopback mirror, no sleeping)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    return root, make_cifar10_folder(root)


def exp_for(source, **data_cfg):
    return config.experiment_from_dict(
        {
            "name": "t",
            "model": {"family": "dcgan"},
            "data": {"dataset": "cifar10", "source": str(source), "shards": 2, "image_size": 32, **data_cfg},
        }
    )


def test_channel_layout_red_plane_first_rows_in_order(tmp_path):
    """One record built from raw bytes: label, then 1024 R, 1024 G, 1024 B values, row-major."""
    k = np.arange(1024)
    red, green, blue = k % 256, (7 * k + 3) % 256, 255 - k % 251
    raw = bytes([6]) + bytes(red.tolist()) + bytes(green.tolist()) + bytes(blue.tolist())
    (tmp_path / "one.bin").write_bytes(raw)
    [(images, labels)] = list(cifar10.iter_batches([tmp_path / "one.bin"]))
    assert images.shape == (1, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [6]
    for row, col in [(0, 0), (0, 31), (1, 0), (17, 5), (31, 31)]:
        t = row * 32 + col
        assert images[0, row, col].tolist() == [red[t], green[t], blue[t]], (row, col)


def test_reader_returns_every_image_and_label_in_file_order(cifar):
    root, written = cifar
    folder = cifar10.batches_folder(root)
    files = [folder / f for f in cifar10.TRAIN_FILES]
    chunks = list(cifar10.iter_batches(files, chunk=16))
    assert max(len(x) for x, _ in chunks) == 16
    images = np.concatenate([x for x, _ in chunks])
    labels = np.concatenate([y for _, y in chunks])
    np.testing.assert_array_equal(images, written["train"][0])
    np.testing.assert_array_equal(labels, written["train"][1])
    assert cifar10.class_names(folder) == CLASSES


def test_limit_stops_across_batch_files(cifar):
    root, written = cifar
    folder = cifar10.batches_folder(root)
    chunks = list(cifar10.iter_batches([folder / f for f in cifar10.TRAIN_FILES], limit=95, chunk=30))
    images = np.concatenate([x for x, _ in chunks])
    np.testing.assert_array_equal(images, written["train"][0][:95])


def test_memory_stays_bounded_by_the_chunk(tmp_path):
    """2000 records (6 MB) read 50 at a time never hold more than a few chunks."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2000, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 2000)
    # a fast writer for the big file: the same layout as write_batch, checked against it below
    records = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(2000, -1)], axis=1)
    (tmp_path / "big.bin").write_bytes(records.astype(np.uint8).tobytes())
    write_batch(tmp_path / "small.bin", images[:3], labels[:3])
    assert (tmp_path / "small.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()[: 3 * cifar10.RECORD]

    tracemalloc.start()
    try:
        count = sum(len(x) for x, _ in cifar10.iter_batches([tmp_path / "big.bin"], chunk=50))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 2000
    assert peak < 5 * 50 * cifar10.RECORD  # the file is 2000 records


def test_prepare_writes_colour_shards_in_order(cifar, tmp_path):
    root, written = cifar
    manifest = data.prepare(exp_for(root), str(tmp_path / "prepared"))
    assert manifest.dataset == "cifar10" and manifest.shape == (32, 32, 3)
    assert manifest.source == str(cifar10.batches_folder(root))
    assert manifest.class_names == CLASSES and manifest.num_classes == 10
    assert manifest.count("train") == 200 and manifest.count("test") == 100
    x, y = data.load_arrays(str(tmp_path / "prepared"), "test")
    np.testing.assert_allclose(x, written["test"][0] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y, written["test"][1])
    spec = data.data_spec(manifest, exp_for(root))
    assert spec.shape == (32, 32, 3)


def test_prepare_limits_and_resizes(cifar, tmp_path):
    root, written = cifar
    manifest = data.prepare(exp_for(root, max_train=50, max_test=20, image_size=16), str(tmp_path / "p"))
    assert manifest.shape == (16, 16, 3)
    assert manifest.count("train") == 50 and manifest.count("test") == 20
    x, _ = data.load_arrays(str(tmp_path / "p"), "train")
    # area resize by 2: each pixel is the mean of a 2x2 block, per channel
    block = written["train"][0][:50].reshape(50, 16, 2, 16, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(x * 255.0, block, atol=0.51)


def test_a_truncated_batch_fails_before_anything_is_written(tmp_path):
    make_cifar10_folder(tmp_path / "raw", per_batch=5, n_test=5)
    batch = tmp_path / "raw" / cifar10.FOLDER / "data_batch_4.bin"
    batch.write_bytes(batch.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"data_batch_4.bin: 15265 bytes is not a whole number of 3073-byte"):
        data.prepare(exp_for(tmp_path / "raw"), str(tmp_path / "out"))
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_a_missing_batch_is_named(tmp_path):
    make_cifar10_folder(tmp_path / "raw", per_batch=5, n_test=5)
    (tmp_path / "raw" / cifar10.FOLDER / "data_batch_3.bin").unlink()
    with pytest.raises(DataError, match=r"data_batch_3.bin: file not found"):
        data.prepare(exp_for(tmp_path / "raw"), str(tmp_path / "out"))
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_bad_labels_and_class_names_are_named(tmp_path):
    make_cifar10_folder(tmp_path / "raw", per_batch=5, n_test=5)
    folder = tmp_path / "raw" / cifar10.FOLDER
    raw = bytearray((folder / "test_batch.bin").read_bytes())
    raw[3 * cifar10.RECORD] = 10  # record 3's label byte
    (folder / "test_batch.bin").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"test_batch.bin: record 3 has label 10; expected 0..9"):
        list(cifar10.iter_batches([folder / "test_batch.bin"]))
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES[:9]))
    with pytest.raises(DataError, match=r"batches.meta.txt: 9 class names; expected 10"):
        data.prepare(exp_for(tmp_path / "raw"), str(tmp_path / "out"))


def test_a_folder_without_batches_names_the_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"holds neither test_batch.bin nor cifar-10-batches-bin/") as e:
        cifar10.fetch_cifar10(str(tmp_path / "empty"))
    batches = ", ".join(f"data_batch_{i}.bin" for i in range(1, 6))
    assert str(e.value).endswith(f"cifar-10-batches-bin/ with {batches}, test_batch.bin and batches.meta.txt")
    with pytest.raises(DataError, match=r"data.source: .*nowhere not found"):
        cifar10.fetch_cifar10(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"data.source: .*nowhere.tar.gz not found"):  # no such archive
        cifar10.fetch_cifar10(str(tmp_path / "nowhere.tar.gz"))


def test_local_archive_is_extracted_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    written = make_cifar10_archive(archive, per_batch=4, n_test=6)
    manifest = data.prepare(exp_for(archive), str(tmp_path / "out"))
    assert manifest.count("train") == 20 and manifest.count("test") == 6
    _, y = data.load_arrays(str(tmp_path / "out"), "train")
    np.testing.assert_array_equal(y, written["train"][1])
    with pytest.raises(DataError, match=f"^{archive}: sha256 mismatch: expected 0000"):
        cifar10.fetch_cifar10(str(archive), "0" * 64)
    archive.rename(tmp_path / "c.tgz")  # the short suffix too
    assert cifar10.record_count(cifar10.fetch_cifar10(str(tmp_path / "c.tgz")) / "test_batch.bin") == 6


def test_https_archive_is_downloaded_checked_and_cached(serve, waits, tmp_path):  # noqa: F811
    archive = tmp_path / "mirror" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    make_cifar10_archive(archive, per_batch=4, n_test=6)
    digest = sources.sha256_file(archive)
    base, requests = serve(archive.parent, fail=1)  # a 503 first: retried
    url = base + "/cifar-10-binary.tar.gz"
    folder = cifar10.fetch_cifar10(url, digest)
    assert cifar10.record_count(folder / "test_batch.bin") == 6
    assert waits == [1.0] and len(requests) == 2
    assert (cifar10._cache() / f"{digest[:16]}.tar.gz").is_file()  # named by its sha256
    assert cifar10.fetch_cifar10(url, digest) == folder  # cached: no second download
    assert len(requests) == 2
    with pytest.raises(DataError, match=r"data.sha256: required for the https archive"):
        cifar10.fetch_cifar10(url)


def test_default_source_is_the_official_archive_with_its_sha256(monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    asked = []

    def refuse(url, dest, expected, **kwargs):
        asked.append((url, expected, kwargs["hint"]))
        raise DataError("no network in this test")

    monkeypatch.setattr(sources, "_download_https", refuse)
    with pytest.raises(DataError, match="no network"):
        cifar10.fetch_cifar10("")
    [(url, expected, hint)] = asked
    assert url == "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    assert expected == "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
    assert "cifar-10-binary.tar.gz" in hint and "data.source" in hint


def test_gs_archive_and_folder_are_copied_then_read(tmp_path, monkeypatch):
    """gs:// goes through the shared GCS copy helpers (genlab.data.archive); here a local folder
    stands in for the bucket."""
    import shutil

    from genlab.data import archive as arc

    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    written = make_cifar10_archive(bucket / "cifar-10-binary.tar.gz", per_batch=3, n_test=4)
    make_cifar10_folder(bucket / "copyX", per_batch=3, n_test=5)  # ends in X: a wider strip would show
    copied, dests = [], []

    def copy_file(uri, dest):
        copied.append(uri)
        dests.append(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bucket / uri[len("gs://b/") :], dest)

    def copy_folder(uri, dest):
        copied.append(uri)
        dests.append(dest)
        shutil.copytree(bucket / uri[len("gs://b/") :], dest)

    monkeypatch.setattr(arc, "_copy_gcs_file", copy_file)
    monkeypatch.setattr(arc, "_copy_gcs_folder", copy_folder)
    folder = cifar10.fetch_cifar10("gs://b/cifar-10-binary.tar.gz")
    labels = np.concatenate([y for _, y in cifar10.iter_batches([folder / "test_batch.bin"])])
    np.testing.assert_array_equal(labels, written["test"][1])
    with pytest.raises(DataError, match="gs://b/cifar-10-binary.tar.gz: sha256 mismatch"):
        cifar10.fetch_cifar10("gs://b/cifar-10-binary.tar.gz", "f" * 64)
    folder = cifar10.fetch_cifar10("gs://b/copyX/")
    assert cifar10.record_count(folder / "test_batch.bin") == 5
    shutil.copy(bucket / "cifar-10-binary.tar.gz", bucket / "c.tgz")
    assert cifar10.record_count(cifar10.fetch_cifar10("gs://b/c.tgz") / "test_batch.bin") == 4
    assert copied == ["gs://b/cifar-10-binary.tar.gz"] * 2 + ["gs://b/copyX/", "gs://b/c.tgz"]
    cache = tmp_path / "cache" / "datasets" / "cifar10" / "gcs"  # each copy by its name, in the cache
    assert dests == [cache / "cifar-10-binary.tar.gz"] * 2 + [cache / "folders" / "b__copyX", cache / "c.tgz"]


def test_an_archive_is_extracted_once_into_the_documented_cache(tmp_path, monkeypatch):
    """docs/cifar10.md: $GENLAB_CACHE/datasets/cifar10/; the archive's folder is keyed by its sha256."""
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    make_cifar10_archive(archive, per_batch=2, n_test=3)
    key = sources.sha256_file(archive)[:16]
    folder = cifar10.fetch_cifar10(str(archive))
    assert folder == tmp_path / "cache" / "datasets" / "cifar10" / "extracted" / key / cifar10.FOLDER
    assert cifar10.fetch_cifar10(str(archive)) == folder


def test_images_at_32_pixels_are_copied_not_resampled(cifar, tmp_path, monkeypatch):
    from genlab.data import folder

    def no_resize(images, size):
        raise AssertionError(f"resampled {images.shape} to {size}")

    monkeypatch.setattr(folder, "_resize", no_resize)
    root, _ = cifar
    manifest = data.prepare(exp_for(root, max_train=8, max_test=4), str(tmp_path / "p"))
    assert manifest.shape == (32, 32, 3) and manifest.count("train") == 8


def test_a_batch_that_shrinks_after_its_check_is_named_at_the_missing_record(tmp_path, monkeypatch):
    """Checked at 8 records, read at 5 (a file replaced mid-run): the read names where it ends."""
    write_batch(tmp_path / "b.bin", np.zeros((5, 32, 32, 3), np.uint8), np.zeros(5, np.int64))
    monkeypatch.setattr(cifar10, "record_count", lambda path: 8)
    with pytest.raises(DataError) as e:
        list(cifar10.iter_batches([tmp_path / "b.bin"], chunk=3))
    assert str(e.value) == f"{tmp_path / 'b.bin'}: truncated at record 5 of 8"


def test_prepare_checks_the_archive_against_data_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "cifar-10-binary.tar.gz"
    make_cifar10_archive(archive, per_batch=2, n_test=3)
    with pytest.raises(DataError, match="sha256 mismatch: expected 0000"):
        data.prepare(exp_for(archive, sha256="0" * 64), str(tmp_path / "out"))


def test_missing_class_names_are_named(tmp_path):
    with pytest.raises(DataError) as e:
        cifar10.class_names(tmp_path)
    assert (
        str(e.value)
        == f"{tmp_path / 'batches.meta.txt'}: file not found (expected the 10 class names, one a line)"
    )


def test_an_empty_batch_file_is_refused(tmp_path):
    (tmp_path / "b.bin").write_bytes(b"")
    with pytest.raises(DataError, match=r"b.bin: 0 bytes is not a whole number of 3073-byte records"):
        cifar10.record_count(tmp_path / "b.bin")
