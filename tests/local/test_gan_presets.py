"""kfp.local end to end: each GAN preset runs the whole pipeline (prepare, train, evaluate, generate)
with tiny overrides, and the report and the family's metrics come out."""

from __future__ import annotations

import json
import math

import pytest

from genlab import config

TINY = {
    "data": {"max_train": 256, "max_test": 128, "shards": 1},
    "train": {"steps": 4, "workers": 1, "checkpoint_every": 2, "log_every": 2},
    "evaluate": {"num_samples": 64, "feature_epochs": 1},
    "generate": {"cols": 4, "interpolation_steps": 3},
}
IMAGE_METRICS = {"fid", "kid", "precision", "recall", "fid_floor", "kid_floor"}


def run_preset(name: str, overrides: dict, tmp_path):
    from pipelines.genlab_pipeline import run_local

    exp = config.load(name, config.merge(TINY, overrides))
    return run_local(exp, tmp_path / "runs")


def assert_finite(metrics: dict, keys: set):
    missing = keys - set(metrics)
    assert not missing, f"missing metrics {sorted(missing)} in {sorted(metrics)}"
    for k in keys:
        assert math.isfinite(float(metrics[k])), (k, metrics[k])


@pytest.mark.slow
def test_cgan_preset_runs_end_to_end(tmp_path):
    run = run_preset(
        "cgan_fashion_mnist",
        {"model": {"latent_dim": 8, "width": 4, "embed_dim": 4}, "train": {"batch_size": 32}},
        tmp_path,
    )
    per_class = {f"class_accuracy_{k}" for k in range(10)}
    assert_finite(run.metrics, IMAGE_METRICS | {"class_accuracy"} | per_class)
    assert 0.0 <= run.metrics["class_accuracy"] <= 1.0
    html = run.report_html.read_text()
    assert "Samples by class" in html and "Sneaker" in html and "Ankle boot" in html
    assert (run.report_html.parent / "samples_by_class.png").is_file()
    # requested vs recognised classes, as the dashboard's confusion-matrix artifact
    out = json.loads((run.run_dir / "evaluate-model" / "executor_output.json").read_text())
    (classes,) = out["artifacts"]["classes"]["artifacts"]
    rows = [r["row"] for r in classes["metadata"]["confusionMatrix"]["rows"]]
    assert len(rows) == 10 and sum(map(sum, rows)) == 64


@pytest.mark.slow
def test_wgan_gp_preset_runs_end_to_end(tmp_path):
    run = run_preset(
        "wgan_gp_fashion_mnist",
        {"model": {"latent_dim": 8, "width": 4}, "train": {"batch_size": 40}},
        tmp_path,
    )
    assert_finite(run.metrics, IMAGE_METRICS)
    html = run.report_html.read_text()
    assert "Loss curves" in html and "Samples" in html
