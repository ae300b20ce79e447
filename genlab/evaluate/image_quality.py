"""Sample quality of an image family in the dataset's feature space, next to the real-data floor.

``fid``/``kid``/``precision``/``recall`` compare generated samples with the test split; the same
keys with ``_floor`` compare real train images with the test split, the best a model can hope for
with this many samples. ``feature_extractor_sha256`` names the pinned feature space
(genlab.evaluate.features). Used by ``genlab.models.image.ImageModel``; a family adds its own
numbers from the ``Scored`` result (e.g. the cGAN's per-class accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genlab import data
from genlab.evaluate.features import get_extractor
from genlab.evaluate.metrics import FEATURE_EXTRACTOR, all_metrics
from genlab.log import log


@dataclass
class Scored:
    metrics: dict  # the keys above and classifier_accuracy (the extractor's on the test split)
    test_x: np.ndarray
    test_y: np.ndarray
    samples: np.ndarray  # the generated images that were scored
    extractor: object  # genlab.evaluate.features: features(x), predict(x), checksum


def score(model, data_uri: str, manifest, cfg) -> Scored:
    """Score ``cfg.num_samples`` of ``model``'s samples (seed ``cfg.seed``) against the test split."""
    test_x, test_y = data.load_arrays(data_uri, "test", manifest=manifest)
    train_x, train_y = data.load_arrays(data_uri, "train", manifest=manifest)
    extractor = get_extractor(
        manifest, train_x, train_y, cfg.feature_epochs, seed=cfg.seed, log=log, test=(test_x, test_y)
    )
    n = min(cfg.num_samples, len(test_x), len(train_x))
    rng = np.random.default_rng(cfg.seed)
    real_test = test_x[rng.choice(len(test_x), n, replace=False)]
    real_train = train_x[rng.choice(len(train_x), n, replace=False)]
    fake = model.sample(n, seed=cfg.seed)
    f_test, f_train, f_fake = (extractor.features(x) for x in (real_test, real_train, fake))
    metrics: dict = dict(all_metrics(f_test, f_fake, seed=cfg.seed))
    metrics.update({f"{k}_floor": v for k, v in all_metrics(f_test, f_train, seed=cfg.seed).items()})
    metrics["classifier_accuracy"] = float((extractor.predict(test_x) == test_y).mean())
    metrics[FEATURE_EXTRACTOR] = extractor.checksum  # which feature space the numbers are in
    return Scored(metrics, test_x, test_y, fake, extractor)
