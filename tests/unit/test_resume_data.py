"""Resume reads the data an uninterrupted run would have read: k steps + resume to N steps give
bit-for-bit the weights of N uninterrupted steps (a resume that restarts the data stream, or
loses the optimizer state or the step counter that seeds the noise, gives other weights)."""

import numpy as np

from genlab import config
from genlab.train import train
from genlab.train.loop import load_model


def exp(steps, steps_per_call=1):
    return config.experiment_from_dict(
        {
            "name": "resume",
            "model": {"family": "vae", "latent_dim": 4, "width": 8},
            # float32 pinned: bit-exactness is about resume, and auto would differ between CI machines
            "train": {
                "steps": steps,
                "batch_size": 32,
                "log_every": 2,
                "checkpoint_every": 2,
                "steps_per_call": steps_per_call,
                "mixed_precision": False,
            },
        }
    )


def test_resumed_run_matches_an_uninterrupted_one(tiny_fashion, tmp_path):
    straight = train(exp(5), str(tiny_fashion), str(tmp_path / "straight"))
    first = train(exp(2), str(tiny_fashion), str(tmp_path / "resumed"))
    # resumed with 2 steps per call (steps 3-4, then 5): the same weights as 1 step per call
    resumed = train(exp(5, steps_per_call=2), str(tiny_fashion), str(tmp_path / "resumed"))
    assert (first.steps, resumed.resumed_from, resumed.steps) == (2, 2, 5)
    assert resumed.weights_sha256 == straight.weights_sha256
    assert resumed.final_losses == straight.final_losses
    # The saved model is the resumed run's, whole.
    _, a = load_model(str(tmp_path / "straight"), str(tiny_fashion))
    _, b = load_model(str(tmp_path / "resumed"), str(tiny_fashion))
    for name in a.networks:
        for wa, wb in zip(a.networks[name].weights, b.networks[name].weights, strict=True):
            np.testing.assert_array_equal(wa.numpy(), wb.numpy())
