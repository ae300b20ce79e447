"""The training loop's helpers without training (milliseconds): step count, weight fingerprint,
the NaN/Inf weight check, the messages about the last good checkpoint, the saved history."""

import hashlib
import json
from types import SimpleNamespace

import keras
import numpy as np

from genlab import config
from genlab.train import loop


def exp(**train):
    return config.experiment_from_dict({"name": "h", "model": {"family": "vae"}, "train": train})


def test_total_steps_from_steps_or_epochs():
    assert loop.total_steps(exp(steps=7, epochs=3), 1000) == 7  # steps win over epochs
    assert loop.total_steps(exp(epochs=1.5, batch_size=32), 100) == 5  # 150 examples / 32: 4.69, rounded up
    assert loop.total_steps(exp(epochs=1, batch_size=32), 64) == 2  # exact: no extra step
    assert loop.total_steps(exp(epochs=0.001, batch_size=32), 64) == 1  # at least one step


def variable(value, name):
    value = np.asarray(value)
    return keras.Variable(value, dtype="int32" if value.dtype.kind == "i" else "float32", name=name)


def test_the_fingerprint_covers_every_network_in_name_order():
    a = SimpleNamespace(weights=[variable([1.0, 2.0], "w"), variable([3.0], "b")])
    z = SimpleNamespace(weights=[variable([4.0], "w")])
    model = SimpleNamespace(networks={"z": z, "a": a})
    expected = hashlib.sha256(np.float32([1.0, 2.0]).tobytes() + np.float32([3.0, 4.0]).tobytes()).hexdigest()
    assert loop.weights_fingerprint(model) == expected
    z.weights[0].assign(np.float32([4.5]))
    assert loop.weights_fingerprint(model) != expected


def test_the_first_nonfinite_float_weight_is_named():
    count = variable(np.int32([1, 2]), "count")  # not a float: never NaN, never checked
    good = variable([1.0, 2.0], "good")
    model = SimpleNamespace(networks={"b": SimpleNamespace(weights=[count, good])})
    assert loop._nonfinite_weight(model) is None
    inf = variable([1.0, np.inf], "inf")
    nan = variable([np.nan], "nan")
    model.networks["a"] = SimpleNamespace(weights=[good, inf])
    model.networks["c"] = SimpleNamespace(weights=[nan])
    assert loop._nonfinite_weight(model) == f"a/{inf.path}"  # networks in name order, weights in order
    del model.networks["a"]
    assert loop._nonfinite_weight(model) == f"c/{nan.path}"


def test_what_is_said_about_the_last_good_checkpoint():
    assert loop._kept(6, "/m/checkpoints") == "The last good checkpoint (step 6) is kept in /m/checkpoints"
    assert loop._kept(0, "/m/checkpoints") == "No checkpoint had been written yet"


def test_history_is_read_back_or_empty(tmp_path):
    assert loop._load_history(str(tmp_path)) == []
    (tmp_path / "history.json").write_text(json.dumps([{"step": 2, "loss": 1.5}]))
    assert loop._load_history(str(tmp_path)) == [{"step": 2, "loss": 1.5}]


class Recorder:
    """A stand-in stdout that records writes and flushes in order."""

    def __init__(self):
        self.calls = []

    def write(self, text):
        self.calls.append(("write", text))

    def flush(self):
        self.calls.append(("flush",))


def test_log_prints_the_line_and_flushes_it(monkeypatch):
    out = Recorder()
    monkeypatch.setattr("sys.stdout", out)
    loop.log("step 1/2")
    # Flushed at once: a worker's stdout is a pipe to the launcher (or the pod's log), not a terminal.
    assert out.calls == [("write", "step 1/2"), ("write", "\n"), ("flush",)]
