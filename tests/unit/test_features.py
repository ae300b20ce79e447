"""The pinned feature extractor: trained once per dataset into the feature store, reused, named by
its sha256 in the metrics and the report."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from genlab import data
from genlab.errors import DataError
from genlab.evaluate.features import MARKER, get_extractor, store_uri

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def arrays(tiny_fashion):
    manifest = data.load_manifest(str(tiny_fashion))
    train = data.load_arrays(str(tiny_fashion), "train", manifest=manifest)
    test = data.load_arrays(str(tiny_fashion), "test", manifest=manifest)
    return manifest, train, test


@pytest.mark.slow
def test_extractor_is_trained_once_into_the_store_and_reused(arrays, tmp_path, monkeypatch):
    manifest, (x, y), test = arrays
    monkeypatch.setenv("GENLAB_FEATURE_STORE", str(tmp_path / "store"))
    logs = []
    first = get_extractor(manifest, x, y, epochs=1, log=logs.append, test=test)
    folder = Path(first.info.uri)
    assert folder == Path(store_uri(manifest.checksum, 1)) and folder.parent == tmp_path / "store"
    meta = json.loads((folder / MARKER).read_text())
    weights = folder / meta["weights"]
    assert weights.name == f"classifier-{first.checksum[:12]}.weights.h5"
    assert meta["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest() == first.checksum
    assert meta["dataset_checksum"] == manifest.checksum and meta["train_examples"] == len(x)
    assert meta["test_accuracy"] == first.info.test_accuracy and 0.0 <= meta["test_accuracy"] <= 1.0
    assert "training" in logs[0]

    # Another run (other train images on offer: they must not be used) loads the stored one.
    second = get_extractor(manifest, x[:64], y[:64], epochs=1, log=logs.append)
    assert logs[-1].startswith(f"feature extractor: {folder} (sha256 {first.checksum[:12]}")
    assert second.checksum == first.checksum and second.info.test_accuracy == meta["test_accuracy"]
    np.testing.assert_allclose(first.features(x[:16]), second.features(x[:16]), rtol=1e-6)

    weights.write_bytes(b"not the stored weights")
    with pytest.raises(DataError, match=f"{weights.name}: its sha256 does not match {MARKER}; delete"):
        get_extractor(manifest, x, y, epochs=1, log=logs.append)


def test_store_on_a_remote_filesystem(arrays, monkeypatch):
    """gs:// goes through tf.io.gfile like TF's in-memory ram:// filesystem does."""
    manifest, (x, y), _ = arrays
    monkeypatch.setenv("GENLAB_FEATURE_STORE", "ram://genlab-features")
    first = get_extractor(manifest, x[:128], y[:128], epochs=1, log=lambda m: None)
    assert first.info.uri.startswith("ram://genlab-features/")
    logs = []
    second = get_extractor(manifest, x[:128], y[:128], epochs=1, log=logs.append)
    assert "training" not in logs[0] and second.checksum == first.checksum


@pytest.mark.parametrize("dockerfile", ["trainer.Dockerfile", "trainer-gpu.Dockerfile"])
def test_cluster_images_keep_the_store_on_the_shared_volume(dockerfile):
    from pipelines.cluster import MOUNT_PATH

    text = (ROOT / "images" / dockerfile).read_text()
    m = re.search(r"^ENV GENLAB_FEATURE_STORE=(\S+)$", text, re.M)
    assert m and m.group(1).startswith(MOUNT_PATH + "/"), (
        f"{dockerfile}: GENLAB_FEATURE_STORE not under the PVC"
    )


@pytest.mark.slow
def test_two_runs_name_the_same_feature_space_in_metrics_and_report(
    tiny_fashion, tmp_path, monkeypatch, capsys
):
    from genlab import config
    from genlab.evaluate import evaluate
    from genlab.evaluate.metrics import FEATURE_EXTRACTOR
    from genlab.generate import generate
    from genlab.train import train

    monkeypatch.setenv("GENLAB_FEATURE_STORE", str(tmp_path / "store"))
    exp = config.experiment_from_dict(
        {
            "name": "pinned",
            "model": {"family": "dcgan", "latent_dim": 8, "width": 4},
            "train": {"steps": 2, "batch_size": 16, "log_every": 1, "checkpoint_every": 2},
            "evaluate": {"num_samples": 32, "feature_epochs": 1},
            "generate": {"rows": 2, "cols": 2, "interpolation_steps": 3},
        }
    )
    runs = []
    for run in ("run1", "run2"):  # two runs of one preset on the same prepared data
        train(exp, str(tiny_fashion), str(tmp_path / run))
        runs.append(evaluate(exp, str(tiny_fashion), str(tmp_path / run)))
    assert capsys.readouterr().out.count("feature extractor: training") == 1
    sha = runs[0][FEATURE_EXTRACTOR]
    assert re.fullmatch(r"[0-9a-f]{64}", sha) and runs[1][FEATURE_EXTRACTOR] == sha
    assert runs[0]["fid_floor"] == runs[1]["fid_floor"]  # same features, same real images

    report = generate(exp, str(tmp_path / "run1"), str(tiny_fashion), str(tmp_path / "samples"), runs[0])
    html = Path(report.report_html).read_text()
    assert sha in html and sha in Path(report.report_md).read_text()
    headline, table = html.index("Headline metrics"), html.index("<h2>Metrics</h2>")
    assert headline < html.index("<h2>Samples</h2>") < table  # the headline comes before the pictures
    assert "training wall time" in html and "run wall time" in html
