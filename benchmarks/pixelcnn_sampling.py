"""PixelCNN sampling speed: the naive loop (whole network on the whole canvas at every pixel)
against the cached sampler (each layer computes only the new pixel), on an untrained model of each
preset's size. Both samplers get the same uniforms and must return identical samples.

``run(quick)`` returns, per image size, samples/s of each sampler (median over repeats, after one
warm-up call that holds tracing and XLA compilation), the speed-up and whether the samples matched.
"""

from __future__ import annotations

import statistics
import time

import keras
import numpy as np

PRESETS = {16: "pixelcnn_fashion_mnist_16", 28: "pixelcnn_fashion_mnist_28"}


def _model(size: int):
    from genlab import config
    from genlab.config import TrainConfig
    from genlab.models import pixelcnn
    from genlab.models.base import DataSpec

    exp = config.load(PRESETS[size])
    keras.utils.set_random_seed(0)
    model = pixelcnn.PixelCNN(exp.model, DataSpec((size, size, 1)), TrainConfig())
    return exp.model, pixelcnn.sampling_params(model.networks["pixelcnn"], exp.model)


def _median_seconds(fn, repeats: int) -> tuple[float, np.ndarray]:
    out = fn()  # warm-up: tracing and compilation are not sampling speed
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(quick: bool = False) -> dict:
    """{"16x16": {...}, "28x28": {...}} with samples/s of both samplers, speed-up and identical."""
    from genlab.models import pixelcnn

    n = 2 if quick else 16
    repeats = 1 if quick else 3
    results = {}
    for size in (16, 28):
        cfg, params = _model(size)
        u = pixelcnn.sampling_uniforms(n, (size, size, 1), seed=0)
        naive_fn, fast_fn = pixelcnn.naive_sampler(cfg), pixelcnn.fast_sampler(cfg)
        naive_s, naive = _median_seconds(lambda: naive_fn(params, u), repeats)  # noqa: B023
        fast_s, fast = _median_seconds(lambda: fast_fn(params, u), repeats)  # noqa: B023
        results[f"{size}x{size}"] = {
            "images": n,
            "repeats": repeats,
            "naive_samples_per_s": n / naive_s,
            "fast_samples_per_s": n / fast_s,
            "speedup": naive_s / fast_s,
            "identical": bool(np.array_equal(naive, fast)),
        }
    return results


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 images, 1 repeat")
    print(json.dumps(run(parser.parse_args().quick), indent=2))
