"""kfp.local smoke tests: each style preset runs prepare -> train -> evaluate -> generate end to end."""

import math

import pytest

from genlab import config
from pipelines.genlab_pipeline import run_local

TINY = {
    "data": {"max_train": 256, "max_test": 128, "shards": 2},
    "train": {"steps": 4, "workers": 1, "batch_size": 32, "checkpoint_every": 2, "log_every": 2},
    "evaluate": {"num_samples": 64},
}

PRESETS = {
    "style_transfer_fashion_mnist": (
        {"width": 8, "iterations": 6},
        {"content_loss", "style_loss", "total_loss", "loss_reduction", "feature_accuracy"},
        ("Style transfer: content, style, result", "Style transfer: loss per iteration"),
        ("style_transfer.png", "style_transfer_losses.png"),
    ),
    "deepdream_fashion_mnist": (
        {"width": 8, "iterations": 3, "num_images": 2},
        {"dream_gain", "dream_objective_initial", "dream_objective_final", "feature_accuracy"},
        ("DeepDream: input and the image after each octave", "DeepDream: objective per step"),
        ("deepdream.png", "deepdream_objective.png"),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_runs_end_to_end(preset, tmp_path):
    model_overrides, keys, sections, pictures = PRESETS[preset]
    exp = config.load(preset, config.merge(TINY, {"model": model_overrides}))
    run = run_local(exp, tmp_path / "runs")
    html = run.report_html.read_text()
    for title in sections:
        assert title in html
    assert html.count("data:image/png;base64,") >= 3
    assert keys <= set(run.metrics), sorted(run.metrics)
    assert all(math.isfinite(run.metrics[k]) for k in keys)
    assert "fid" not in run.metrics  # not an image sampler: no FID against the test split
    for name in pictures:
        assert list(run.run_dir.rglob(name)), name
    if preset.startswith("deepdream"):
        assert run.metrics["dream_gain"] > 1.0
    else:
        assert run.metrics["loss_reduction"] < 1.0
