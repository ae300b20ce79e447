import numpy as np
import pytest
import tensorflow as tf

from genlab import config, data
from genlab.data.idx import write_idx
from genlab.data.records import MANIFEST, load_manifest, verify
from genlab.errors import DataError


def exp_for(folder, **data_cfg):
    return config.experiment_from_dict(
        {"name": "t", "model": {"family": "dcgan"}, "data": {"source": str(folder), "shards": 3, **data_cfg}}
    )


def test_prepare_writes_shards_and_manifest(idx_folder, tmp_path):
    out = tmp_path / "prepared"
    manifest = data.prepare(exp_for(idx_folder), str(out))
    assert manifest.count("train") == 64 and manifest.count("test") == 32
    assert manifest.shape == (28, 28, 1) and manifest.num_classes == 10
    assert len(manifest.splits["train"]) == 3
    assert (out / MANIFEST).is_file()
    assert load_manifest(str(out)) == manifest
    verify(str(out))  # checksums match


def test_examples_keep_their_order_and_values(idx_folder, tmp_path):
    from genlab.data.idx import iter_idx

    out = tmp_path / "prepared"
    data.prepare(exp_for(idx_folder), str(out))
    x, y = data.load_arrays(str(out), "test")
    raw = np.concatenate(list(iter_idx(idx_folder / "t10k-images-idx3-ubyte.gz", 3)))
    labels = np.concatenate(list(iter_idx(idx_folder / "t10k-labels-idx1-ubyte.gz", 1)))
    np.testing.assert_allclose(x[..., 0], raw / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y, labels)


def test_limits_and_resize(idx_folder, tmp_path):
    manifest = data.prepare(exp_for(idx_folder, max_train=10, max_test=5, image_size=16), str(tmp_path / "p"))
    assert manifest.count("train") == 10 and manifest.count("test") == 5
    x, _ = data.load_arrays(str(tmp_path / "p"), "train")
    assert x.shape == (10, 16, 16, 1)


def test_tampered_shard_fails_verification(idx_folder, tmp_path):
    out = tmp_path / "prepared"
    manifest = data.prepare(exp_for(idx_folder), str(out))
    shard = out / manifest.splits["train"][0].file
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match="sha256 mismatch"):
        verify(str(out))


def test_label_image_count_mismatch_writes_nothing(idx_folder, tmp_path):
    write_idx(idx_folder / "train-labels-idx1-ubyte.gz", np.zeros(63, np.uint8))
    out = tmp_path / "prepared"
    with pytest.raises(DataError, match="64 images but train-labels-idx1-ubyte.gz has 63 labels"):
        data.prepare(exp_for(idx_folder), str(out))
    assert not out.exists()
    assert not list(tmp_path.glob(".genlab-prepare-*"))  # the staging folder is cleaned up


def test_missing_source_and_not_prepared(tmp_path):
    with pytest.raises(DataError, match="data.source: folder .*nowhere not found"):
        data.prepare(exp_for(tmp_path / "nowhere"), str(tmp_path / "out"))
    with pytest.raises(DataError, match="not a prepared dataset"):
        load_manifest(str(tmp_path))


def test_rerun_replaces_output(idx_folder, tmp_path):
    out = tmp_path / "prepared"
    data.prepare(exp_for(idx_folder, max_train=8), str(out))
    manifest = data.prepare(exp_for(idx_folder, max_train=16), str(out))
    assert load_manifest(str(out)).count("train") == 16 == manifest.count("train")


def test_two_workers_split_exactly_the_global_batch(idx_folder, tmp_path):
    """Worker shards of each global batch, put together, are the single-worker global batch."""
    out = str(tmp_path / "prepared")
    manifest = data.prepare(exp_for(idx_folder), out)

    def batches(n_workers, index, k=5):
        ctx = tf.distribute.InputContext(
            num_input_pipelines=n_workers, input_pipeline_id=index, num_replicas_in_sync=n_workers
        )
        ds = data.train_input(out, manifest, global_batch=16, seed=3, input_context=ctx)
        return [b["image"].numpy() for b in ds.take(k)]

    single = batches(1, 0)
    w0, w1 = batches(2, 0), batches(2, 1)
    for g, a, b in zip(single, w0, w1, strict=True):
        merged = np.empty_like(g)
        merged[0::2], merged[1::2] = a, b  # example j of the global batch is on worker j % 2
        np.testing.assert_array_equal(merged, g)
    resumed = data.train_input(out, manifest, global_batch=16, seed=3, skip_batches=2)
    np.testing.assert_array_equal(next(iter(resumed))["image"].numpy(), single[2])


def test_prepare_is_byte_identical_across_processes(idx_folder, tmp_path):
    """Same input + config -> the same shard bytes and checksum in every process.

    protobuf's upb runtime seeds its map hashing per process, so without deterministic
    serialization the order of an Example's "image"/"label" entries varied from run to run.
    """
    import subprocess
    import sys

    sets = ["--set", f"data.source={idx_folder}", "--set", "data.shards=2"]
    outs = [tmp_path / f"p{i}" for i in range(3)]
    for out in outs[:2]:
        cmd = [sys.executable, "-m", "genlab.cli", "prepare", "dcgan_tiny", *sets, "--out", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    data.prepare(config.load("dcgan_tiny", config.parse_overrides(sets[1::2])), str(outs[2]))
    manifests = [load_manifest(str(out)) for out in outs]
    assert len({m.checksum for m in manifests}) == 1
    for shard in manifests[0].splits["train"] + manifests[0].splits["test"]:
        blobs = {(out / shard.file).read_bytes() for out in outs}
        assert len(blobs) == 1, shard.file
        record = next(iter(tf.data.TFRecordDataset(str(outs[0] / shard.file)))).numpy()
        canonical = tf.train.Example.FromString(record).SerializeToString(deterministic=True)
        assert record == canonical, f"{shard.file}: map entries not in key order"


def test_resize_is_the_rounded_area_mean(idx_folder, tmp_path):
    from genlab.data.idx import iter_idx

    images = np.random.default_rng(1).integers(0, 256, (32, 28, 28), dtype=np.uint8)
    images[:, :4], images[:, -4:] = 0, 255  # black and white blocks stay exactly 0 and 255
    write_idx(idx_folder / "t10k-images-idx3-ubyte.gz", images)
    out = tmp_path / "prepared"
    manifest = data.prepare(exp_for(idx_folder, image_size=14), str(out))
    x, _ = data.load_arrays(str(out), "test", manifest=manifest)
    raw = np.concatenate(list(iter_idx(idx_folder / "t10k-images-idx3-ubyte.gz", 3))).astype(np.float64)
    blocks = raw.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))  # 28 -> 14: each pixel the mean of a 2x2 block
    np.testing.assert_allclose(x[..., 0] * 255.0, blocks, atol=0.5 + 1e-4)  # rounded to whole levels
    levels = x[..., 0] * 255.0
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
    assert (x[:, :2] == 0).all() and (x[:, -2:] == 1).all()
    assert manifest.shape == (14, 14, 1)


def test_the_manifest_names_the_dataset_and_its_source(idx_folder, tmp_path):
    manifest = data.prepare(exp_for(idx_folder), str(tmp_path / "p"))
    assert manifest.dataset == "fashion_mnist" and manifest.source == str(idx_folder)
    assert manifest.class_names[0] == "T-shirt/top" and len(manifest.class_names) == 10


def test_limits_cut_across_source_chunks(idx_folder, tmp_path, monkeypatch):
    import functools

    from genlab.data.idx import iter_idx

    monkeypatch.setattr(data, "iter_idx", functools.partial(iter_idx, chunk=5))  # 64 images in chunks of 5
    out = tmp_path / "p"
    manifest = data.prepare(exp_for(idx_folder, max_train=12, max_test=5), str(out))
    assert manifest.count("train") == 12 and manifest.count("test") == 5
    x, y = data.load_arrays(str(out), "train")
    raw = np.concatenate(list(iter_idx(idx_folder / "train-images-idx3-ubyte.gz", 3)))[:12]
    labels = np.concatenate(list(iter_idx(idx_folder / "train-labels-idx1-ubyte.gz", 1)))[:12]
    np.testing.assert_array_equal(np.round(x[..., 0] * 255.0), raw)
    np.testing.assert_array_equal(y, labels)


def test_a_label_one_past_the_last_class_is_refused(idx_folder, tmp_path):
    write_idx(idx_folder / "t10k-labels-idx1-ubyte.gz", np.full(32, 10, np.uint8))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 10 out of range 0..9"):
        data.prepare(exp_for(idx_folder), str(tmp_path / "p"))
    write_idx(idx_folder / "t10k-labels-idx1-ubyte.gz", np.full(32, 9, np.uint8))  # the last class is fine
    assert data.prepare(exp_for(idx_folder), str(tmp_path / "p")).count("test") == 32


@pytest.mark.parametrize(
    "dataset, module, function",
    [
        ("cifar10", "cifar10", "prepare_cifar10"),
        ("text", "text", "prepare_text"),
        ("images", "folder", "prepare_folder"),
        ("music", "music", "prepare_music"),
        ("edges2fashion", "paired", "prepare_edges2fashion"),
        ("paired", "paired", "prepare_paired_folder"),
        ("sneakers2boots", "unpaired", "prepare_sneakers2boots"),
        ("unpaired", "unpaired", "prepare_unpaired_folder"),
        ("horse2zebra", "unpaired", "prepare_horse2zebra"),
    ],
)
def test_prepare_hands_each_family_to_its_module(monkeypatch, dataset, module, function):
    import importlib
    from types import SimpleNamespace

    calls = []
    target = importlib.import_module(f"genlab.data.{module}")
    monkeypatch.setattr(target, function, lambda exp, out: calls.append((exp, out)) or "manifest")
    exp = SimpleNamespace(data=SimpleNamespace(dataset=dataset))
    assert data.prepare(exp, "/out") == "manifest" and calls == [(exp, "/out")]


def test_an_unknown_dataset_lists_every_known_one():
    from types import SimpleNamespace

    from genlab.errors import ConfigError

    expected = (
        "data.dataset: unknown dataset 'cifar'; expected one of: cifar10, edges2fashion, fashion_mnist, "
        "horse2zebra, images, mnist, music, paired, sneakers2boots, text, unpaired"
    )
    with pytest.raises(ConfigError) as e:
        data.prepare(SimpleNamespace(data=SimpleNamespace(dataset="cifar")), "/out")
    assert str(e.value) == expected


def test_data_spec_of_an_image_dataset_and_of_text_and_music(idx_folder, tmp_path, monkeypatch):
    import dataclasses

    from genlab.data import music, text

    manifest = data.prepare(exp_for(idx_folder, image_size=16), str(tmp_path / "p"))
    exp = exp_for(idx_folder, binarize=True)
    spec = data.data_spec(manifest, exp)
    assert (spec.shape, spec.num_classes, spec.binarize) == ((16, 16, 1), 10, True)
    assert spec.class_names == manifest.class_names
    monkeypatch.setattr(text, "text_spec", lambda m, e: ("text", m, e))
    monkeypatch.setattr(music, "music_spec", lambda m, e: ("music", m, e))
    for kind in ("text", "music"):
        m = dataclasses.replace(manifest, extra={"kind": kind})
        assert data.data_spec(m, exp) == (kind, m, exp)


@pytest.mark.parametrize("size", [14, 7])
def test_area_resize_is_the_rounded_mean_of_each_block(size):
    """28 -> 14 and 28 -> 7: each pixel the mean of a 2x2 or 4x4 block. (Bilinear sampling agrees
    with the area mean at 2x, not at 4x: it reads only the middle 2x2 of each 4x4 block.)"""
    images = np.random.default_rng(2).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    k = 28 // size
    blocks = images.astype(np.float64).reshape(3, size, k, size, k).mean(axis=(2, 4))
    x = data._resize(images, size)
    assert x.shape == (3, size, size, 1) and x.dtype == np.uint8
    np.testing.assert_allclose(x[..., 0], blocks, atol=0.5 + 1e-4)  # rounded to whole levels


def test_images_at_their_native_size_are_copied_not_resampled(idx_folder, tmp_path, monkeypatch):
    def no_resize(images, size):
        raise AssertionError(f"resampled {images.shape} to {size}")

    monkeypatch.setattr(data, "_resize", no_resize)
    manifest = data.prepare(exp_for(idx_folder, image_size=28), str(tmp_path / "p"))
    assert manifest.count("train") == 64 and manifest.shape == (28, 28, 1)


def test_a_non_square_source_is_resized_to_square_images(idx_folder, tmp_path):
    from genlab.data.idx import iter_idx

    wide = np.random.default_rng(3).integers(0, 256, (32, 28, 20), dtype=np.uint8)  # 28 rows, 20 columns
    write_idx(idx_folder / "t10k-images-idx3-ubyte.gz", wide)
    out = tmp_path / "p"
    manifest = data.prepare(exp_for(idx_folder, image_size=20), str(out))
    x, _ = data.load_arrays(str(out), "test", manifest=manifest)
    raw = np.concatenate(list(iter_idx(idx_folder / "t10k-images-idx3-ubyte.gz", 3)))
    assert x.shape == (32, 20, 20, 1)
    np.testing.assert_array_equal(np.round(x * 255.0), data._resize(raw, 20))


def test_a_limit_reads_no_record_past_it(idx_folder, tmp_path, monkeypatch):
    """max_train=10 in chunks of 5: two chunks are read, never the (here truncated) rest of the file."""
    import functools
    import gzip

    from genlab.data.idx import iter_idx

    path = idx_folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[: 16 + 12 * 28 * 28]))  # 12 of 64
    monkeypatch.setattr(data, "iter_idx", functools.partial(iter_idx, chunk=5))
    manifest = data.prepare(exp_for(idx_folder, max_train=10), str(tmp_path / "p"))
    assert manifest.count("train") == 10
    with pytest.raises(DataError, match="truncated IDX data"):  # the rest is read when there is no limit
        data.prepare(exp_for(idx_folder), str(tmp_path / "q"))


@pytest.mark.parametrize("name", ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"])
def test_a_bad_header_in_either_split_is_refused_before_anything_is_written(
    idx_folder, tmp_path, monkeypatch, name
):
    write_idx(idx_folder / name, np.zeros((4, 2, 2, 2), np.uint8))  # 4 dimensions: a wrong magic number
    writes = []
    monkeypatch.setattr(data, "write_dataset", lambda *args, **kwargs: writes.append(args))
    with pytest.raises(DataError, match=f"{name}: wrong magic number"):
        data.prepare(exp_for(idx_folder), str(tmp_path / "p"))
    assert writes == []
