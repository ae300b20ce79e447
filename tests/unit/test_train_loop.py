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
    assert list((model_dir / "tensorboard").glob("events.out.tfevents.*"))

    second = train(exp(10), str(tiny_fashion), str(model_dir))  # a re-run with more steps resumes
    assert second.resumed_from == 6 and second.steps == 10
    assert "resumed from" in capsys.readouterr().out
    history = json.loads((model_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [2, 4, 6, 8, 10]

    _, model = load_model(str(model_dir), str(tiny_fashion))
    samples = model.sample(4, seed=0)
    assert samples.shape == (4, 28, 28, 1) and np.isfinite(samples).all()


def test_load_model_refuses_an_unfinished_model(tmp_path):
    from genlab.errors import DataError

    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(DataError, match="not a trained model .model.json missing"):
        load_model(str(tmp_path), str(tmp_path))
