"""kfp.local end to end in colour: CIFAR-10 presets on files written in the exact CIFAR-10 binary
format (no copy of CIFAR-10 is reachable here), with tiny overrides. Checks that colour flows
through prepare, training, the feature extractor and metrics, and the report's RGB pictures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from genlab import config
from genlab.data import load_manifest
from tests.cifar10_files import make_cifar10_folder

TINY = {
    "data": {"max_train": 200, "max_test": 100, "shards": 1},
    "train": {"steps": 4, "batch_size": 32, "workers": 1, "gpus_per_worker": 0, "checkpoint_every": 2},
    "evaluate": {"num_samples": 48, "feature_epochs": 1},
    "generate": {"rows": 2, "cols": 4},
}


@pytest.fixture(scope="module")
def cifar_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10")
    make_cifar10_folder(root, per_batch=40, n_test=100)
    return str(root)


def assert_rgb_png(path, size: int):
    with Image.open(path) as im:
        assert im.mode == "RGB", path
        picture = np.asarray(im)
    # a colour picture: the tiles' channels differ (the white padding alone would have R = G = B)
    assert np.abs(picture[..., 0].astype(int) - picture[..., 2]).max() > 0, path
    assert picture.shape[0] >= size and picture.shape[1] >= size


def prepared_shape(run) -> tuple:
    (data_dir,) = [p for p in (run.run_dir / "prepare-data").rglob("manifest.json")]
    return load_manifest(str(data_dir.parent)).shape


@pytest.mark.slow
def test_progan_cifar10_preset_runs_in_colour(cifar_source, tmp_path):
    """The progressive GAN's CIFAR-10 preset, shrunk: colour through an ImageModel's FID and grids."""
    from pipelines.genlab_pipeline import run_local

    overrides = {
        "model": {"latent_dim": 8, "width": 4, "fade_steps": 1, "stable_steps": 1},
        "data": {"source": cifar_source},
        "train": {"fid_samples": 0},
    }
    exp = config.load("progan_cifar10", config.merge(TINY, overrides))
    assert exp.data.dataset == "cifar10" and exp.model.family == "progan"
    run = run_local(exp, tmp_path / "runs")
    assert prepared_shape(run) == (32, 32, 3)
    for key in ("fid", "kid", "precision", "recall", "fid_floor"):
        assert math.isfinite(run.metrics[key]), key
    assert_rgb_png(run.report_html.parent / "samples.png", 32)


@pytest.mark.slow
def test_pixelcnn_cifar10_preset_runs_in_colour(cifar_source, tmp_path):
    from pipelines.genlab_pipeline import run_local

    overrides = {
        "model": {"filters": 8, "residual_blocks": 1, "head_layers": 1},
        "data": {"source": cifar_source, "image_size": 8},
        "generate": {"temperatures": [0.5, 1.0]},
    }
    exp = config.load("pixelcnn_cifar10", config.merge(TINY, overrides))
    assert exp.model.levels == 256 and exp.data.dataset == "cifar10"
    run = run_local(exp, tmp_path / "runs")
    assert prepared_shape(run) == (8, 8, 3)
    for key in ("nll", "bits_per_dim", "fid", "kid", "fid_floor"):
        assert math.isfinite(run.metrics[key]), key
    # bits per subpixel, 8 * 8 * 3 of them; 4 steps from a near-uniform start: about 8
    assert run.metrics["nll"] == pytest.approx(
        run.metrics["bits_per_dim"] * 8 * 8 * 3 * math.log(2), rel=1e-4
    )
    assert 4.0 < run.metrics["bits_per_dim"] < 9.0
    assert "Samples by temperature" in run.report_html.read_text()
    assert_rgb_png(run.report_html.parent / "temperatures.png", 8)
