"""NaN and Inf during training: a clear error naming the step, and the last good checkpoint kept.

``genlab.train.train`` runs in this process (no ``TF_CONFIG``: one worker). Faults are real
(an absurd learning rate) or injected into a model's ``train_step`` at a chosen step, and the
checkpoint folder is inspected afterwards: its latest checkpoint must hold finite weights only.
"""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from genlab import models
from genlab.errors import TrainingError
from genlab.train import train
from genlab.train.loop import MODEL_MARKER
from tests.reliability.helpers import checkpoint_steps, tiny_exp


@pytest.fixture(autouse=True)
def one_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)


def checkpoint_is_finite(model_dir, step: int) -> bool:
    reader = tf.train.load_checkpoint(str(model_dir / "checkpoints" / f"ckpt-{step}"))
    values = [reader.get_tensor(name) for name in reader.get_variable_to_shape_map()]
    floats = [v for v in values if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    assert floats  # the networks' weights are in there
    return all(np.isfinite(v).all() for v in floats)


def inject(monkeypatch, at_step: int, fault: str):
    """Make every model built from now on misbehave at step ``at_step`` (1-based), once."""
    real_build = models.build

    def build(exp, spec):
        model = real_build(exp, spec)
        clean_step = model.train_step

        def train_step(batch, ctx):
            losses = clean_step(batch, ctx)
            hit = tf.equal(ctx.step, at_step - 1)  # ctx.step counts the steps already done
            if fault == "nan_loss":
                return {k: tf.where(hit, tf.constant(np.nan, v.dtype), v) for k, v in losses.items()}
            # "nan_weight": the update overflowed, yet the loss (computed before it) is finite.
            w = model.networks[sorted(model.networks)[0]].trainable_variables[0]
            w.assign(tf.where(hit, w * np.inf, w))
            return losses

        model.train_step = train_step
        return model

    monkeypatch.setattr(models, "build", build)


def test_absurd_learning_rate_diverges_and_names_the_step(tiny_fashion, tmp_path):
    exp = tiny_exp("vae", steps=10, checkpoint_every=1, learning_rate=1e30)
    with pytest.raises(TrainingError) as e:
        train(exp, str(tiny_fashion), str(tmp_path))
    m = re.match(
        r"step (\d+): loss (\w+) is (nan|inf|-inf); training stopped\. The last good checkpoint "
        r"\(step (\d+)\) is kept in (\S+); lower train\.learning_rate",
        str(e.value),
    )
    assert m, str(e.value)
    bad_step, kept = int(m.group(1)), int(m.group(4))
    assert 1 < bad_step <= 10 and kept == bad_step - 1
    assert m.group(5) == str(tmp_path / "checkpoints")
    assert checkpoint_steps(tmp_path)[-1] == kept  # nothing was saved at or after the bad step
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith(f"ckpt-{kept}")
    assert not (tmp_path / MODEL_MARKER).exists()


def test_nan_loss_keeps_the_last_good_checkpoint_and_a_rerun_finishes_the_same(
    tiny_fashion, tmp_path, monkeypatch
):
    exp = tiny_exp("dcgan", steps=12, checkpoint_every=3)
    straight = train(exp, str(tiny_fashion), str(tmp_path / "straight"))  # the uninterrupted reference

    model_dir = tmp_path / "faulty"
    with monkeypatch.context() as patch:
        inject(patch, at_step=8, fault="nan_loss")
        with pytest.raises(
            TrainingError,
            match=r"^step 8: loss \w+ is nan; training stopped\. The last good "
            r"checkpoint \(step 6\) is kept",
        ):
            train(exp, str(tiny_fashion), str(model_dir))
    assert checkpoint_steps(model_dir) == [3, 6]
    assert checkpoint_is_finite(model_dir, 6)
    assert not (model_dir / MODEL_MARKER).exists()
    history = json.loads((model_dir / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5, 6]  # written with the checkpoint: no NaN in it

    resumed = train(exp, str(tiny_fashion), str(model_dir))  # the fault is gone: re-run
    assert resumed.resumed_from == 6 and resumed.steps == 12
    assert json.loads((model_dir / MODEL_MARKER).read_text())["steps"] == 12
    assert [h["step"] for h in json.loads((model_dir / "history.json").read_text())] == list(range(1, 13))
    # Resuming restores weights, optimizer state and the data stream: the same model as without the fault.
    assert resumed.weights_sha256 == straight.weights_sha256


def test_nonfinite_weights_behind_a_finite_loss_are_never_checkpointed(tiny_fashion, tmp_path, monkeypatch):
    exp = tiny_exp("dcgan", steps=12, checkpoint_every=3)
    inject(monkeypatch, at_step=6, fault="nan_weight")  # step 6 is a checkpoint step
    with pytest.raises(TrainingError) as e:
        train(exp, str(tiny_fashion), str(tmp_path))
    assert re.match(
        r"step 6: weight \S+ is NaN or Inf; training stopped before checkpointing it\. "
        r"The last good checkpoint \(step 3\) is kept",
        str(e.value),
    ), str(e.value)
    assert checkpoint_steps(tmp_path) == [3]
    assert checkpoint_is_finite(tmp_path, 3)


def test_divergence_before_any_checkpoint_says_so(tiny_fashion, tmp_path, monkeypatch):
    inject(monkeypatch, at_step=2, fault="nan_loss")
    with pytest.raises(
        TrainingError,
        match=r"^step 2: loss \w+ is nan; training stopped\. No checkpoint had "
        r"been written yet",
    ):
        train(tiny_exp("dcgan", steps=12, checkpoint_every=5), str(tiny_fashion), str(tmp_path))
    assert checkpoint_steps(tmp_path) == []


def test_a_nan_inside_a_several_step_call_names_its_own_step(tiny_fashion, tmp_path, monkeypatch):
    """train.steps_per_call: 4 runs steps 5-8 in one call; the NaN at step 6 is reported as step 6."""
    inject(monkeypatch, at_step=6, fault="nan_loss")
    exp = tiny_exp("dcgan", steps=12, checkpoint_every=4, log_every=12, steps_per_call=4)
    with pytest.raises(
        TrainingError,
        match=r"^step 6: loss \w+ is nan; training stopped\. The last good checkpoint \(step 4\) is kept",
    ):
        train(exp, str(tiny_fashion), str(tmp_path))
    assert checkpoint_steps(tmp_path) == [4]
