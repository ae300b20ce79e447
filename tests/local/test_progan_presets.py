"""kfp.local end to end: the progressive GAN preset runs the whole pipeline (prepare, train, evaluate,
generate) with tiny overrides; the image metrics and a sample grid per resolution reached come out."""

from __future__ import annotations

import math

import pytest

from genlab import config

TINY = {
    "data": {"max_train": 256, "max_test": 128, "shards": 1},
    "model": {"latent_dim": 8, "width": 4, "fade_steps": 1, "stable_steps": 1},
    "train": {"steps": 4, "batch_size": 16, "workers": 1, "checkpoint_every": 2, "log_every": 2},
    "evaluate": {"num_samples": 64, "feature_epochs": 1},
    "generate": {"cols": 4, "interpolation_steps": 3},
}
IMAGE_METRICS = {"fid", "kid", "precision", "recall", "fid_floor", "kid_floor"}


@pytest.mark.slow
def test_progan_preset_runs_end_to_end(tmp_path):
    from pipelines.genlab_pipeline import run_local

    run = run_local(config.load("progan_fashion_mnist", TINY), tmp_path / "runs")
    missing = IMAGE_METRICS - set(run.metrics)
    assert not missing, f"missing metrics {sorted(missing)}"
    assert all(math.isfinite(float(run.metrics[k])) for k in IMAGE_METRICS), run.metrics
    # 4 steps with fade 1 and stable 1: 4x4, 8x8 fading in, 8x8 alone, 16x16 fading in.
    html = run.report_html.read_text()
    assert "Samples per resolution" in html and "Trained to level 2 (16x16, alpha 0.00)" in html
    pictures = sorted(p.name for p in run.report_html.parent.glob("samples_*x*.png"))
    assert pictures == ["samples_16x16.png", "samples_4x4.png", "samples_8x8.png"]
