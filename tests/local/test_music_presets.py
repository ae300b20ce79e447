"""The music preset through kfp.local on a handful of Bach chorales, and MuseGAN under 1 and 2 real
worker processes (MultiWorkerMirroredStrategy on loopback) on the same data."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pytest

from genlab import config

pytestmark = pytest.mark.slow

TINY = {
    "model": {"z_dim": 8, "width": 8, "critic_steps": 2, "sample_phrases": 2},
    "data": {"music": {"max_pieces": 12}, "shards": 2},
    "train": {"steps": 4, "batch_size": 8, "checkpoint_every": 2, "log_every": 2},
    "evaluate": {"num_samples": 32},
}
STATISTICS = ("empty_bar_rate", "used_pitch_classes", "qualified_note_rate", "tonal_distance", "polyphony")


def test_musegan_preset_runs_end_to_end_and_writes_midi(tmp_path):
    from music21 import converter

    from pipelines.genlab_pipeline import run_local

    exp = config.load("musegan_bach", config.merge(TINY, {"train": {"workers": 1}}))
    run = run_local(exp, tmp_path / "runs")
    for key in (*STATISTICS, "pitch_class_distance"):
        for name in (key, f"{key}_floor"):
            assert math.isfinite(run.metrics[name]), (name, run.metrics)
    assert run.metrics["polyphony_floor"] > 2  # four-part chorales: mostly 3-4 pitches at once
    assert "fid" not in run.metrics
    page = run.report_html.read_text()
    assert "Generated phrases" in page and "Held-out phrases" in page and "soprano" in page
    out = run.report_html.parent
    for name in ("sample_0.mid", "sample_1.mid"):
        assert f"href='{name}'" in page
        score = converter.parse(str(out / name))
        assert len(score.parts) == 4
    assert (out / "pianorolls.png").is_file() and (out / "real_pianorolls.png").is_file()


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    from genlab import data

    out = tmp_path_factory.mktemp("chorales") / "data"
    data.prepare(config.load("musegan_bach", TINY), str(out))
    return out


def train_two_workers(data_uri, model_dir):
    from genlab.launch import TrainJob
    from genlab.launch.local import LocalLauncher

    exp = config.load("musegan_bach", config.merge(TINY, {"train": {"workers": 2, "steps": 6}}))
    out = io.StringIO()
    LocalLauncher(stream=out).run(TrainJob(exp.to_json(), str(data_uri), str(model_dir), workers=2))
    done = [json.loads(m) for m in re.findall(r"\] done: (\{.*\})", out.getvalue())]
    return done, json.loads((model_dir / "history.json").read_text())


def test_musegan_two_workers_agree_with_one_worker_resumed_midway(chorales, tmp_path):
    from genlab.train import train

    done2, hist2 = train_two_workers(chorales, tmp_path / "two")
    assert len(done2) == 2 and done2[0]["weights_sha256"] == done2[1]["weights_sha256"]

    # One worker, in this process: 4 steps, then a re-run to 6 resumes from the step-4 checkpoint.
    def one_worker(steps):
        return config.load("musegan_bach", config.merge(TINY, {"train": {"workers": 1, "steps": steps}}))

    assert train(one_worker(4), str(chorales), str(tmp_path / "one")).steps == 4
    assert train(one_worker(6), str(chorales), str(tmp_path / "one")).resumed_from == 4
    hist1 = json.loads((tmp_path / "one" / "history.json").read_text())
    assert [h["step"] for h in hist1] == [h["step"] for h in hist2] == [2, 4, 6]
    for key in ("d_loss", "g_loss", "gp"):
        a, b = (np.array([h[key] for h in hist]) for hist in (hist1, hist2))
        # Same global batch, data order and noise: only the order of float sums differs.
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)
