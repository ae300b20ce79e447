"""Each text-generation preset through the whole kfp.local pipeline, shrunk to seconds of training,
on the default corpus (Debian's fortunes, installed by `make test`)."""

import html
import math
from pathlib import Path

import pytest

from genlab import config
from genlab.data.text import DEFAULT_CORPUS

SMALL = {
    "char_lstm_fortunes": {"model": {"units": 32, "embed_dim": 16, "seq_len": 32}},
    "transformer_fortunes": {
        "model": {"embed_dim": 32, "num_heads": 2, "ff_dim": 64, "layers": 1, "seq_len": 32}
    },
}


def tiny(preset: str, workers: int):
    overrides = config.merge(
        SMALL[preset],
        {
            "model": {"sample_chars": 40, "prompt_chars": 16},
            "data": {"max_train": 256, "max_test": 64, "shards": 2},
            "train": {
                "steps": 4,
                "workers": workers,
                "batch_size": 16,
                "checkpoint_every": 2,
                "log_every": 2,
            },
            "evaluate": {"num_samples": 64},
        },
    )
    return config.load(preset, overrides)


@pytest.mark.slow
@pytest.mark.parametrize("preset, workers", [("char_lstm_fortunes", 1), ("transformer_fortunes", 2)])
def test_text_preset_runs_end_to_end(tmp_path, preset, workers):
    from pipelines.genlab_pipeline import run_local

    if not Path(DEFAULT_CORPUS, "computers").is_file():
        pytest.fail(f"{DEFAULT_CORPUS} missing: `make test` (make text-corpus) installs Debian's fortunes")
    run = run_local(tiny(preset, workers), tmp_path)
    for key in ("perplexity", "bits_per_char", "val_loss"):
        assert math.isfinite(run.metrics[key]), run.metrics
    assert 1 < run.metrics["perplexity"] < 200
    assert run.metrics["bits_per_char"] == pytest.approx(run.metrics["val_loss"] / math.log(2), rel=1e-6)
    assert "fid" not in run.metrics  # image metrics are for image models only
    page = run.report_html.read_text()
    for t in (0.2, 0.5, 1.0, 1.2):
        assert f"<h3>temperature {t:g}</h3>" in page
    assert "Top-10 samples" in page and page.count("<pre") == 6
    samples = next(run.run_dir.glob("generate-samples/**/samples.txt")).read_text()
    assert samples.count("== temperature") == 4
    prompt = html.unescape(page.split("<pre style='white-space:pre-wrap'><b>")[1].split("</b>")[0])
    assert len(prompt) == 16
