"""A cheap FID-vs-step curve: "is it still improving?" answered while training runs.

At every checkpoint the chief scores ``train.fid_samples`` samples against as many test images in
the dataset's pinned feature space (``genlab.evaluate.features``: the extractor evaluate uses, so
the curve and the final FID are in one space). With a few hundred samples FID is biased upwards
(it falls as the sample count grows), so the curve is for the trend; the evaluate step's FID on
``evaluate.num_samples`` is the number to quote. The curve goes to TensorBoard (``fid_curve``),
to ``fid_curve.json`` in the model folder and into the report.

Each point also holds ``train_s``: the training loop's wall-clock seconds up to that checkpoint, the
curve's own scoring left out (a resumed run continues from its last point's), so FID can be read
against time as well as steps (benchmarks/time_to_quality.py does).
"""

from __future__ import annotations

import time

import keras
import numpy as np

from genlab import data, io
from genlab.evaluate.features import get_extractor
from genlab.evaluate.metrics import fid

FILE = "fid_curve.json"


class FidCurve:
    """The chief's curve for an image model (``train.fid_samples`` > 0). Getting the extractor may
    train it and reseed Keras: the loop reseeds every worker afterwards."""

    def __init__(self, exp, data_uri: str, manifest, model_uri: str, resumed_from: int, log):
        self.n = exp.train.fid_samples
        self.uri = io.join(model_uri, FILE)
        self.points: list[dict] = []
        if resumed_from and io.exists(self.uri):
            self.points = [p for p in io.read_json(self.uri) if p["step"] <= resumed_from]
        keras.mixed_precision.set_global_policy("float32")  # the extractor as evaluate builds it
        train_x, train_y = data.load_arrays(data_uri, "train", manifest=manifest)
        test_x, test_y = data.load_arrays(data_uri, "test", manifest=manifest)
        e = exp.evaluate
        self.extractor = get_extractor(
            manifest, train_x, train_y, e.feature_epochs, seed=e.seed, log=log, test=(test_x, test_y)
        )
        rng = np.random.default_rng(e.seed)
        real = test_x[rng.choice(len(test_x), min(self.n, len(test_x)), replace=False)]
        self.real_features = self.extractor.features(real)
        self.seed = e.seed
        self.offset_s = self.points[-1].get("train_s", 0.0) if self.points else 0.0
        self.start()

    def start(self) -> None:
        """Start the training clock (the loop calls it just before its first step)."""
        self.t0 = time.perf_counter()
        self.scoring_s = 0.0  # time spent in ``at``: not training

    def train_seconds(self) -> float:
        return self.offset_s + time.perf_counter() - self.t0 - self.scoring_s

    def at(self, model, step: int) -> float:
        """FID of the model's samples now, recorded in ``fid_curve.json``."""
        t = time.perf_counter()
        train_s = self.train_seconds()
        fake = np.asarray(model.sample(len(self.real_features), seed=self.seed), np.float32)
        value = float(fid(self.real_features, self.extractor.features(fake)))
        self.points.append(
            {"step": step, "fid": value, "samples": len(self.real_features), "train_s": round(train_s, 3)}
        )
        io.write_json(self.uri, self.points)
        self.scoring_s += time.perf_counter() - t
        return value
