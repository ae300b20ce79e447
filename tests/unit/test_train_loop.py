"""The training loop in-process (no TF_CONFIG: one worker): resume, history, TensorBoard, reload."""

import json

import numpy as np
import pytest

from genlab import config
from genlab.train import train
from genlab.train.loop import load_model


def exp(steps, **model):
    return config.experiment_from_dict(
        {
            "name": "loop",
            "model": {"family": "vae", "latent_dim": 4, "width": 8, **model},
            "train": {"steps": steps, "batch_size": 32, "log_every": 2, "checkpoint_every": 3},
        }
    )


@pytest.mark.slow
def test_resume_continues_from_the_latest_checkpoint(tiny_fashion, tmp_path, capsys):
    model_dir = tmp_path / "model"
    first = train(exp(6), str(tiny_fashion), str(model_dir))
    assert first.steps == 6 and first.resumed_from == 0
    assert (model_dir / "model.json").is_file()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("step ")]
    assert len(lines) == 3 and all(" examples/s | elapsed " in line and "| ETA " in line for line in lines)
    assert lines[-1].endswith("ETA 0s")
    tags = tensorboard_tags(model_dir / "tensorboard")
    assert tags["samples"] == [3, 6]  # a sample grid at every checkpoint
    assert {"loss", "examples_per_sec"} <= set(tags) and "_hparams_/session_start_info" in tags

    second = train(exp(10), str(tiny_fashion), str(model_dir))  # a re-run with more steps resumes
    assert second.resumed_from == 6 and second.steps == 10
    assert "resumed from" in capsys.readouterr().out
    history = json.loads((model_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4, 6, 8, 10]

    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["files"] == ["decoder.weights.h5", "encoder.weights.h5"]  # what model.save wrote
    _, model = load_model(str(model_dir), str(tiny_fashion))
    samples = model.sample(4, seed=0)
    assert samples.shape == (4, 28, 28, 1) and np.isfinite(samples).all()


def tensorboard_tags(folder) -> dict:
    """tag -> steps written, over every event file in ``folder``."""
    import tensorflow as tf

    tags: dict = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_progress_line_has_elapsed_eta_and_rate():
    from genlab.train.progress import Progress, duration

    now = [100.0]
    progress = Progress(total_steps=1000, global_batch=64, start_step=100, clock=lambda: now[0])
    now[0] += 50.0  # 100 steps in 50 s: 2 steps/s, 128 examples/s; 800 steps left
    line, rate = progress.line(200, {"d_loss": 1.25, "g_loss": 0.5})
    assert rate == 128.0
    assert line == "step 200/1000 d_loss=1.2500 g_loss=0.5000 | 128 examples/s | elapsed 50s | ETA 6m40s"
    now[0] += 10.0  # faster now: the ETA follows the latest interval
    assert progress.line(300, {})[0].endswith("| 640 examples/s | elapsed 1m00s | ETA 1m10s")
    assert duration(3725) == "1h02m05s" and duration(0.4) == "0s"


def test_load_model_refuses_an_unfinished_model(tmp_path):
    from genlab.errors import DataError

    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(DataError, match="not a trained model .model.json missing"):
        load_model(str(tmp_path), str(tmp_path))


@pytest.mark.slow
def test_fid_curve_at_every_checkpoint_in_the_pinned_feature_space(tiny_fashion, tmp_path, monkeypatch):
    import dataclasses
    import math

    from genlab import data, models, report
    from genlab.evaluate.features import get_extractor
    from genlab.evaluate.metrics import fid

    monkeypatch.setenv("GENLAB_FEATURE_STORE", str(tmp_path / "features"))
    e = exp(6)  # a DCGAN: unlike a barely trained VAE, its samples differ clearly from seed to seed
    e = e.replace(
        model=models.family_config("dcgan")(family="dcgan", latent_dim=8, width=8),
        # float32 pinned: the curve samples the training model (bfloat16 under auto), evaluate a float32 rebuild
        train=dataclasses.replace(e.train, fid_samples=48, mixed_precision=False),
        evaluate=dataclasses.replace(e.evaluate, feature_epochs=1),
    )
    model_dir = tmp_path / "model"
    train(e, str(tiny_fashion), str(model_dir))
    curve = json.loads((model_dir / "fid_curve.json").read_text())
    assert [p["step"] for p in curve] == [3, 6]
    assert all(p["samples"] == 48 and math.isfinite(p["fid"]) and p["fid"] > 0 for p in curve)
    assert 0 < curve[0]["train_s"] < curve[1]["train_s"]  # training seconds, scoring left out
    assert tensorboard_tags(model_dir / "tensorboard")["fid_curve"] == [3, 6]

    # The last point is the trained model's FID in the stored (pinned) extractor's space, as evaluate sees it.
    manifest = data.load_manifest(str(tiny_fashion))
    train_x, train_y = data.load_arrays(str(tiny_fashion), "train", manifest=manifest)
    test_x, _ = data.load_arrays(str(tiny_fashion), "test", manifest=manifest)
    trained = []
    extractor = get_extractor(manifest, train_x, train_y, 1, seed=e.evaluate.seed, log=trained.append)
    assert not any("training on" in line for line in trained)  # reused from the store, not trained again
    real = test_x[np.random.default_rng(e.evaluate.seed).choice(len(test_x), 48, replace=False)]
    _, model = load_model(str(model_dir), str(tiny_fashion))
    fake = model.sample(48, seed=e.evaluate.seed)
    expected = fid(extractor.features(real), extractor.features(fake))
    assert curve[-1]["fid"] == pytest.approx(expected, rel=1e-6)

    # A resumed run keeps the earlier points and adds its own; the report draws them.
    train(e.replace(train=dataclasses.replace(e.train, steps=9)), str(tiny_fashion), str(model_dir))
    curve = json.loads((model_dir / "fid_curve.json").read_text())
    assert [p["step"] for p in curve] == [3, 6, 9]
    assert curve[1]["train_s"] < curve[2]["train_s"]  # the resumed run's clock goes on from step 6's
    html, md = report.build("t", summary={}, pictures=[], metrics={}, history=[], fid_curve=curve)
    assert "FID during training" in html and "step 9" in md


def test_fid_curve_train_s_leaves_the_scoring_out(tmp_path, monkeypatch):
    """train_s counts the loop's time only: a fake clock advances 5 s per training stretch and 100 s
    per scoring (the sample call), and only the 5 s stretches show up."""
    from genlab.train import fid_curve

    now = [0.0]
    monkeypatch.setattr(fid_curve.time, "perf_counter", lambda: now[0])

    class Extractor:
        def features(self, x):
            return np.asarray(x, np.float64)

    class SlowModel:
        def sample(self, n, seed):
            now[0] += 100.0  # scoring: must not count
            return np.random.default_rng(seed).normal(size=(n, 3))

    curve = fid_curve.FidCurve.__new__(fid_curve.FidCurve)  # the scoring parts, without a dataset
    curve.n, curve.seed, curve.points, curve.offset_s = 8, 0, [], 2.0  # resumed at train_s 2
    curve.uri = str(tmp_path / fid_curve.FILE)
    curve.real_features = np.random.default_rng(1).normal(size=(8, 3))
    curve.extractor = Extractor()
    curve.start()
    for step in (1, 2):
        now[0] += 5.0  # training
        curve.at(SlowModel(), step)
    assert [p["train_s"] for p in curve.points] == [7.0, 12.0]
    assert json.loads((tmp_path / fid_curve.FILE).read_text())[-1]["train_s"] == 12.0
