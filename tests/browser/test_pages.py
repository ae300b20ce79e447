"""The pages people read, rendered by a real browser (headless Chromium): every image loads and
the metrics tables are there."""

import re
from pathlib import Path

import pytest

from tests.browser.chromium import render


@pytest.fixture(scope="module")
def run(tiny_fashion, tmp_path_factory):
    """A tiny DCGAN trained, evaluated and reported, as the pipeline's last three steps do it."""
    from genlab import config
    from genlab.evaluate import evaluate
    from genlab.generate import generate
    from genlab.train import train

    root = tmp_path_factory.mktemp("pages")
    mp = pytest.MonkeyPatch()
    mp.setenv("GENLAB_FEATURE_STORE", str(root / "store"))
    exp = config.experiment_from_dict(
        {
            "name": "pages",
            "model": {"family": "dcgan", "latent_dim": 8, "width": 4},
            "train": {"steps": 4, "batch_size": 16, "log_every": 1, "checkpoint_every": 4},
            "evaluate": {"num_samples": 32, "feature_epochs": 1},
            "generate": {"rows": 2, "cols": 3, "interpolation_steps": 3},
        }
    )
    model_dir = root / "train-model" / "model"  # the kfp.local layout, so genlab compare finds it
    train(exp, str(tiny_fashion), str(model_dir))
    metrics = evaluate(exp, str(tiny_fashion), str(model_dir))
    samples = generate(
        exp, str(model_dir), str(tiny_fashion), str(root / "generate-samples" / "samples"), metrics
    )
    mp.undo()
    return root, Path(samples.report_html), metrics


def table(found: dict, css_class: str) -> dict:
    tables = [t for t in found["tables"] if t["class"] == css_class]
    assert tables, f"no <table class={css_class}> in {[t['class'] for t in found['tables']]}"
    return tables[0]


@pytest.mark.slow
def test_report_renders_with_every_image_and_the_metrics(run):
    _, report, metrics = run
    found = render(report)
    assert found["images"] >= 3 and found["broken"] == []  # samples, interpolation, loss curves
    headline, full = table(found, "headline"), table(found, "metrics")
    assert headline["header"] == full["header"] == ["metric", "value", "real-data floor"]
    assert headline["rows"] == 5 and full["rows"] > headline["rows"]  # fid, kid, precision, recall
    headings = found["headings"]
    assert headings.index("Headline metrics") < headings.index("Samples") < headings.index("Metrics")
    assert re.search(r"training wall time\s+\d+ s", found["text"])
    assert metrics["feature_extractor_sha256"] in found["text"]


@pytest.mark.slow
def test_a_broken_image_is_seen(run, tmp_path):
    """The probe itself: a picture whose bytes are not a PNG shows up as broken."""
    _, report, _ = run
    page = tmp_path / "report.html"
    page.write_text(re.sub(r"base64,[A-Za-z0-9+/=]{40}", "base64,bm90IGEgcG5n", report.read_text(), count=1))
    found = render(page)
    assert len(found["broken"]) == 1 and found["images"] >= 3


@pytest.mark.slow
def test_compare_page_renders_two_runs_side_by_side(run, tmp_path):
    import json
    import shutil

    from genlab import cli

    root, _, metrics = run
    (root / "metrics.json").write_text(json.dumps(metrics))  # as `genlab evaluate --out` writes it
    other = tmp_path / "second-run"
    shutil.copytree(root, other)
    page = tmp_path / "compare.html"
    assert cli.main(["compare", str(root), str(other), "-o", str(page)]) == 0

    found = render(page)
    assert found["images"] == 4 and found["broken"] == []  # a loss curve and a sample grid per run
    compared = table(found, "compare")
    assert compared["header"] == ["metric", root.name, "second-run"]
    assert compared["rows"] > 5 and "fid" in found["text"] and "floor" in found["text"]
    assert "not comparable" not in found["text"]  # both runs name the same feature extractor
