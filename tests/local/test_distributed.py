"""Two real TensorFlow worker processes on loopback train one model (MultiWorkerMirroredStrategy)."""

import io
import json
import re

import numpy as np
import pytest

from genlab import config
from genlab.launch import TrainJob
from genlab.launch.local import LocalLauncher

pytestmark = pytest.mark.slow


DCGAN = {"family": "dcgan", "latent_dim": 16, "width": 8, "dropout": 0.0}
# The VAE with a flow and the 8-bit likelihood: its per-example noise (eps) must be sliced like its data.
VAE_IAF = {
    "family": "vae",
    **{"latent_dim": 4, "width": 8, "flow_steps": 2, "flow_hidden": 16, "context_dim": 8},
    "likelihood": "discretized_logistic",
}


def tiny_exp(workers: int, model: dict, steps_per_call: int = 1):
    return config.experiment_from_dict(
        {
            "name": "dist",
            "model": model,
            "train": {
                "steps": 12,
                "batch_size": 32,
                "workers": workers,
                "log_every": 2,
                "checkpoint_every": 6,
                "learning_rate": 0.001,
                "steps_per_call": steps_per_call,
                "fid_samples": 32,  # the chief also scores samples at each checkpoint: workers stay in step
                # float32 pinned: the 1 vs 2 workers tolerance is about the all-reduce, not bfloat16 rounding
                "mixed_precision": False,
            },
        }
    )


def train(tiny_fashion, model_dir, workers, model=DCGAN, steps_per_call=1):
    out = io.StringIO()
    job = TrainJob(
        tiny_exp(workers, model, steps_per_call).to_json(), str(tiny_fashion), str(model_dir), workers=workers
    )
    LocalLauncher(stream=out).run(job)
    done = [json.loads(m) for m in re.findall(r"\] done: (\{.*\})", out.getvalue())]
    history = json.loads((model_dir / "history.json").read_text())
    # Progress lines come from the chief alone (worker 0), each with its ETA.
    step_lines = re.findall(r"\[worker-(\d+)\] (step .*)", out.getvalue())
    assert {w for w, _ in step_lines} == {"0"} and len(step_lines) == 6
    assert all("| ETA " in line for _, line in step_lines)
    curve = json.loads((model_dir / "fid_curve.json").read_text())
    assert [p["step"] for p in curve] == [6, 12]
    return done, history


def test_two_workers_hold_identical_weights_and_match_one_worker(tiny_fashion, tmp_path):
    # 2 workers run 2 steps per call (log_every caps the 3): the same training as 1 step per call
    done2, hist2 = train(tiny_fashion, tmp_path / "two", 2, steps_per_call=3)
    assert len(done2) == 2 and all(d["workers"] == 2 for d in done2)
    assert done2[0]["weights_sha256"] == done2[1]["weights_sha256"]  # the replicas stayed in sync
    assert (tmp_path / "two" / "model.json").is_file()

    done1, hist1 = train(tiny_fashion, tmp_path / "one", 1)
    assert [h["step"] for h in hist1] == [h["step"] for h in hist2]
    for key in ("d_loss", "g_loss"):
        a = np.array([h[key] for h in hist1])
        b = np.array([h[key] for h in hist2])
        # Same global batch, data order and noise: only the order of float sums differs.
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)


def test_vae_with_flow_two_workers_match_one_worker(tiny_fashion, tmp_path):
    done2, hist2 = train(tiny_fashion, tmp_path / "two", 2, VAE_IAF)
    assert done2[0]["weights_sha256"] == done2[1]["weights_sha256"]
    done1, hist1 = train(tiny_fashion, tmp_path / "one", 1, VAE_IAF)
    a = np.array([h["loss"] for h in hist1])
    b = np.array([h["loss"] for h in hist2])
    assert len(a) == 6 and np.all(np.isfinite(a))
    # Same global batch, data order and per-example noise (eps sliced like the data): only the order
    # of float sums differs (~1e-7 here). Noise not sliced like the data moves the losses by ~1e-3.
    np.testing.assert_allclose(a, b, rtol=2e-5)
