"""Evaluation: each family's test metrics (image families: sample quality in the dataset's feature
space next to the real-data floor, genlab.evaluate.image_quality). ``evaluate`` is the entry point."""

from __future__ import annotations

import time

from genlab import data
from genlab.log import log


def evaluate(exp, data_uri: str, model_uri: str, details: dict | None = None) -> dict[str, float | str]:
    """Metrics for the trained model at ``model_uri``; keys are stable snake_case.

    The numbers come from the family (``GenerativeModel.evaluate``); string values (e.g.
    ``feature_extractor_sha256``, the feature space image metrics are in) come after them.
    ``details``, when given, receives what is not a scalar (e.g. the cGAN's ``confusion_matrix``).
    """
    from genlab.train.loop import load_model

    t0 = time.time()
    trained_exp, model = load_model(model_uri, data_uri)
    manifest = data.load_manifest(data_uri)
    found = model.evaluate(data_uri, manifest, exp.evaluate, details)
    labels = {k: v for k, v in found.items() if isinstance(v, str)}
    metrics: dict[str, float | str] = {k: float(v) for k, v in sorted(found.items()) if k not in labels}
    log("metrics: " + " ".join(f"{k}={v:.4g}" for k, v in metrics.items()) + f" ({time.time() - t0:.0f}s)")
    for key, value in sorted(labels.items()):
        metrics[key] = value
        log(f"{key}: {value}")
    return metrics
