"""Image-to-image data: edges2fashion, sneakers2boots, side-by-side A|B folders, trainA/trainB folders
and zip archives in the horse2zebra layout (local and https with sha256), with their errors."""

import functools
import hashlib
import http.server
import zipfile

import numpy as np
import pytest
from PIL import Image

from genlab import config, data
from genlab.data.paired import edge_maps
from genlab.data.unpaired import pair_indices
from genlab.errors import DataError


@pytest.fixture
def serve(loopback):
    """A loopback https stand-in (plain http) serving a folder's files."""

    def start(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None
        return loopback(handler)

    return start


def exp(dataset: str, source: str = "", size: int = 8, **extra):
    return config.experiment_from_dict(
        {
            "name": "t",
            "model": {"family": "cyclegan"},
            "data": {"dataset": dataset, "source": source, "image_size": size, "shards": 2, **extra},
        }
    )


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_edge_maps_mark_outlines_image_by_image():
    x = np.zeros((2, 12, 12, 1), np.uint8)
    x[0, 3:9, 3:9] = 255  # a square; the second image is empty
    edges = edge_maps(x)
    assert edges.shape == x.shape and set(np.unique(edges)) <= {0, 255}
    assert edges[0, 5, 2] == 255 and edges[0, 2, 5] == 255  # beside the border
    assert edges[0, 5:7, 5:7].max() == 0 and edges[0, 0, 0] == 0  # flat inside and outside
    assert edges[1].max() == 0  # no edge leaks from the neighbouring image
    np.testing.assert_array_equal(edge_maps(x[:1]), edges[:1])


def test_edges2fashion_pairs_edges_with_their_garment(tmp_path):
    out = tmp_path / "d"
    manifest = data.prepare(exp("edges2fashion", size=16, max_train=40, max_test=20), str(out))
    assert manifest.shape == (16, 16, 2) and manifest.extra["kind"] == "paired"
    assert manifest.count("train") == 40 and manifest.num_classes == 10
    pairs, _ = data.load_arrays(str(out), "test")
    garments = (pairs[..., 1:] * 255).round().astype(np.uint8)
    np.testing.assert_array_equal((pairs[..., :1] * 255).round().astype(np.uint8), edge_maps(garments))


def test_sneakers2boots_holds_each_domain_once_in_order(tmp_path):
    out = tmp_path / "d"
    manifest = data.prepare(exp("sneakers2boots", max_train=50, max_test=30), str(out))
    assert manifest.extra["counts"] == {"train": [50, 50], "test": [30, 30]}
    assert manifest.extra["domains"] == ["sneaker", "ankle boot"]


def test_pairing_repeats_the_smaller_domain():
    a, b = pair_indices(3, 5)
    assert a.tolist() == [0, 1, 2, 0, 1] and b.tolist() == [0, 1, 2, 3, 4]
    assert [x.tolist() for x in pair_indices(3, 5, limit=2)] == [[0, 1], [0, 1]]


def side_by_side(root, split, n, h=8, w=16):
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, : w // 2] = 10 * i  # A
        img[:, w // 2 :] = 200  # B
        save(root / split / f"{i}.png", img)


def test_paired_folder_splits_each_image_into_a_and_b(tmp_path):
    side_by_side(tmp_path / "src", "train", 3)
    side_by_side(tmp_path / "src", "val", 2)  # val/ serves as the test split
    manifest = data.prepare(exp("paired", str(tmp_path / "src")), str(tmp_path / "d"))
    assert manifest.shape == (8, 8, 6) and manifest.extra["channels"] == 3
    pairs, _ = data.load_arrays(str(tmp_path / "d"), "train")
    np.testing.assert_allclose(pairs[:, 0, 0, :3] * 255, [[0] * 3, [10] * 3, [20] * 3], atol=0.5)
    np.testing.assert_allclose(pairs[..., 3:] * 255, 200, atol=0.5)


def test_paired_folder_errors(tmp_path):
    side_by_side(tmp_path / "square", "train", 1, w=8)
    side_by_side(tmp_path / "square", "test", 1, w=8)
    with pytest.raises(DataError, match="8x8; expected side-by-side A\\|B pairs twice as wide"):
        data.prepare(exp("paired", str(tmp_path / "square")), str(tmp_path / "d"))
    (tmp_path / "empty" / "train").mkdir(parents=True)
    side_by_side(tmp_path / "empty", "test", 1)
    with pytest.raises(DataError, match="empty/train: no .png/.jpg images"):
        data.prepare(exp("paired", str(tmp_path / "empty")), str(tmp_path / "d"))
    with pytest.raises(DataError, match="has no train/ subfolders .*expected train/ and test/ \\(or val/\\)"):
        data.prepare(exp("paired", str(tmp_path / "empty" / "train")), str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()


def domain_folders(root, n=(3, 2, 2, 1), size=10):
    for name, count, value in zip(("trainA", "trainB", "testA", "testB"), n, (50, 150, 60, 160), strict=True):
        for i in range(count):
            save(root / name / f"{i}.jpg", np.full((size, size, 3), value + i, np.uint8))
    return root


def test_unpaired_folder_and_grayscale_photos_become_rgb(tmp_path):
    root = domain_folders(tmp_path / "src")
    save(root / "trainA" / "9.jpg", np.full((10, 10), 90, np.uint8))  # a grayscale horse, as in horse2zebra
    manifest = data.prepare(exp("unpaired", str(root)), str(tmp_path / "d"))
    assert manifest.shape == (8, 8, 6)
    assert manifest.extra["counts"] == {"train": [4, 2], "test": [2, 1]}
    pairs, _ = data.load_arrays(str(tmp_path / "d"), "train")
    assert len(pairs) == 4
    a, b = pairs[..., :3] * 255, pairs[..., 3:] * 255
    np.testing.assert_allclose(a[:, 4, 4].mean(-1), [50, 51, 52, 90], atol=3)  # JPEG: close, not exact
    np.testing.assert_allclose(b[:, 4, 4].mean(-1), [150, 151, 150, 151], atol=3)  # B repeats


def test_unpaired_folder_errors(tmp_path):
    root = domain_folders(tmp_path / "empty", n=(2, 0, 1, 1))
    (root / "trainB").mkdir(exist_ok=True)
    with pytest.raises(DataError, match="trainB holds no .png/.jpg images; both domains need images"):
        data.prepare(exp("unpaired", str(root)), str(tmp_path / "d"))
    root = domain_folders(tmp_path / "sizes")
    save(root / "testB" / "x.png", np.zeros((12, 12, 3), np.uint8))
    with pytest.raises(DataError, match="x.png: image is 12x12, but 0.jpg .* are 10x10"):
        data.prepare(exp("unpaired", str(root)), str(tmp_path / "d"))
    root = domain_folders(tmp_path / "broken")
    (root / "trainA" / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="bad.png: not a readable PNG/JPEG image"):
        data.prepare(exp("unpaired", str(root)), str(tmp_path / "d"))
    with pytest.raises(DataError, match="has no trainA/, trainB/, testA/, testB/ subfolders"):
        data.prepare(exp("unpaired", str(tmp_path)), str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()


def horse2zebra_zip(tmp_path):
    """A zip in the official archive's layout: horse2zebra/trainA/... (one top folder)."""
    root = domain_folders(tmp_path / "build" / "horse2zebra")
    archive = tmp_path / "serve" / "horse2zebra.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(root.rglob("*.jpg")):
            z.write(f, f.relative_to(root.parent).as_posix())
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def test_zip_archive_local_and_https_with_sha256(tmp_path, monkeypatch, serve):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    archive, sha = horse2zebra_zip(tmp_path)
    manifest = data.prepare(exp("horse2zebra", str(archive)), str(tmp_path / "local"))
    assert manifest.extra["counts"] == {"train": [3, 2], "test": [2, 1]}
    url = serve(archive.parent) + "/horse2zebra.zip"
    with pytest.raises(DataError, match="data.sha256: required for the https archive"):
        data.prepare(exp("unpaired", url), str(tmp_path / "d"))
    with pytest.raises(DataError, match="sha256 mismatch: expected 0000"):
        data.prepare(exp("unpaired", url, sha256="0" * 64), str(tmp_path / "d"))
    manifest2 = data.prepare(exp("unpaired", url, sha256=sha), str(tmp_path / "https"))
    assert manifest2.checksum == manifest.checksum  # the same images, the same dataset
    assert not (tmp_path / "d").exists()


def test_zip_members_outside_the_archive_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../outside.png", b"x")
    with pytest.raises(DataError, match="points outside the archive"):
        data.prepare(exp("unpaired", str(archive)), str(tmp_path / "d"))
    assert not (tmp_path / "cache" / "outside.png").exists()
    assert not list((tmp_path / "cache" / "datasets" / "extracted").iterdir())  # no half-extracted folder


def test_horse2zebra_defaults_to_the_official_archive_and_its_sha256(tmp_path, monkeypatch, serve):
    from genlab.data import unpaired

    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    archive, sha = horse2zebra_zip(tmp_path)
    official = unpaired.HORSE2ZEBRA_SHA256
    monkeypatch.setattr(unpaired, "HORSE2ZEBRA_URL", serve(archive.parent) + "/horse2zebra.zip")
    with pytest.raises(DataError, match=f"sha256 mismatch: expected {official}"):  # ours is not the real one
        data.prepare(exp("horse2zebra"), str(tmp_path / "d"))
    monkeypatch.setattr(unpaired, "HORSE2ZEBRA_SHA256", sha)
    manifest = data.prepare(exp("horse2zebra"), str(tmp_path / "d"))
    assert manifest.extra["counts"]["train"] == [3, 2] and manifest.dataset == "horse2zebra"
