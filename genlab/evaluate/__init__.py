"""Evaluation: sample quality in the dataset's feature space, next to the real-data floor,
plus each family's own likelihood metrics. ``evaluate`` is the entry point."""

from __future__ import annotations

import time

import numpy as np

from genlab import data
from genlab.evaluate.features import get_extractor
from genlab.evaluate.metrics import FEATURE_EXTRACTOR, all_metrics


def log(msg: str) -> None:
    print(msg, flush=True)


def evaluate(exp, data_uri: str, model_uri: str, details: dict | None = None) -> dict[str, float | str]:
    """Metrics for the trained model at ``model_uri``; keys are stable snake_case.

    ``fid``/``kid``/``precision``/``recall`` compare generated samples with the test split;
    the same keys with ``_floor`` compare real train images with the test split, the best a
    model can hope for with this many samples. ``feature_extractor_sha256`` (a string, image
    models only) names the pinned feature space those numbers are in. ``details``, when given,
    receives what is not a scalar: ``confusion_matrix`` ({categories, matrix}) for the cGAN.
    """
    from genlab.train.loop import load_model

    t0 = time.time()
    trained_exp, model = load_model(model_uri, data_uri)
    manifest = data.load_manifest(data_uri)
    cfg = exp.evaluate
    metrics: dict[str, float] = {}
    if model.output_kind == "text":  # genlab.data.text: validation token windows, not images
        from genlab.data.text import load_tokens

        test_x = load_tokens(data_uri, "validation", manifest=manifest)
    else:
        test_x, test_y = data.load_arrays(data_uri, "test", manifest=manifest)
    if model.output_kind == "image":
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
        metrics.update(all_metrics(f_test, f_fake, seed=cfg.seed))
        metrics.update({f"{k}_floor": v for k, v in all_metrics(f_test, f_train, seed=cfg.seed).items()})
        metrics["classifier_accuracy"] = float((extractor.predict(test_x) == test_y).mean())
        metrics.update(model.sample_metrics(fake, extractor))
        confusion = model.confusion(fake, extractor)
        if confusion and details is not None:  # the cGAN's requested vs recognised classes
            details["confusion_matrix"] = {"categories": confusion[0], "matrix": confusion[1]}
    if model.output_kind == "music":  # piano rolls: MuseGAN's statistics next to held-out phrases
        from genlab.evaluate.music_metrics import evaluate_music

        metrics.update(evaluate_music(model, data_uri, manifest, test_x, cfg))
    metrics.update(model.likelihood_metrics(test_x, cfg))
    metrics.update(model.dataset_metrics(data_uri, manifest, cfg))
    if model.output_kind != "text":  # image datasets have test labels
        metrics.update(model.labelled_metrics(test_x, test_y, cfg))
    metrics = {k: float(v) for k, v in sorted(metrics.items())}
    log("metrics: " + " ".join(f"{k}={v:.4g}" for k, v in metrics.items()) + f" ({time.time() - t0:.0f}s)")
    if model.output_kind == "image":  # which feature space the numbers are in (genlab.evaluate.features)
        metrics[FEATURE_EXTRACTOR] = extractor.checksum
        log(f"feature extractor sha256: {extractor.checksum}")
    return metrics
