"""kfp.local end to end for each PixelCNN preset, with tiny overrides (a few steps, a small network)."""

from __future__ import annotations

import math

import pytest

from genlab import config

TINY = {
    "model": {"filters": 8, "residual_blocks": 1, "head_layers": 1},
    "data": {"max_train": 256, "max_test": 128, "shards": 2},
    "train": {"steps": 4, "batch_size": 32, "workers": 1, "checkpoint_every": 2, "log_every": 2},
    "evaluate": {"num_samples": 64, "feature_epochs": 1},
    "generate": {"rows": 2, "cols": 4, "temperatures": [0.5, 1.0]},
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["pixelcnn_fashion_mnist_16", "pixelcnn_fashion_mnist_28"])
def test_preset_runs_end_to_end_locally(preset, tmp_path):
    from pipelines.genlab_pipeline import run_local

    exp = config.load(preset, TINY)
    size = exp.data.image_size
    run = run_local(exp, tmp_path / "runs")
    assert run.report_html.is_file()
    html = run.report_html.read_text()
    assert "Samples by temperature" in html and "data:image/png;base64," in html
    for key in ("nll", "bits_per_dim", "fid", "kid", "fid_floor"):
        assert key in run.metrics and math.isfinite(run.metrics[key]), key
    assert 0.0 < run.metrics["bits_per_dim"] < 2.0 * math.log2(exp.model.levels)
    assert run.metrics["nll"] == pytest.approx(
        run.metrics["bits_per_dim"] * size * size * math.log(2), rel=1e-4
    )
