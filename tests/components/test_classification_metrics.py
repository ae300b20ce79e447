"""The cGAN's requested-vs-recognised classes reach the dashboard as dsl.ClassificationMetrics."""

import json

import numpy as np
import pytest
from kfp.dsl import ClassificationMetrics, Dataset, Metrics, Model

from components import evaluate_model
from genlab import config
from genlab.models import gan


class Oracle:
    def __init__(self, answers):
        self.answers = np.asarray(answers)

    def predict(self, images):
        return self.answers


def cgan_exp(**train):
    return config.experiment_from_dict(
        {
            "name": "classes",
            "model": {"family": "cgan", "latent_dim": 8, "width": 4},
            "train": {"steps": 2, "batch_size": 16, "log_every": 1, "checkpoint_every": 2, **train},
            "evaluate": {"num_samples": 40, "feature_epochs": 1},
        }
    )


def test_cgan_confusion_counts_requested_rows_against_recognised_columns():
    from genlab.models.base import DataSpec

    names = tuple(f"c{i}" for i in range(10))
    model = gan.build(cgan_exp().model, DataSpec((28, 28, 1), 10, class_names=names), cgan_exp().train)
    requested = gan.class_blocks(40, 10)  # 4 per class
    answers = requested.copy()
    answers[requested == 2] = 3  # class 2 always drawn as class 3
    categories, matrix = model.confusion(np.zeros((40, 28, 28, 1), np.float32), Oracle(answers))
    assert categories == list(names)
    m = np.array(matrix)
    assert m.sum(axis=1).tolist() == [4] * 10 and m[2, 3] == 4 and m[2, 2] == 0 and m[5, 5] == 4


@pytest.mark.slow
def test_evaluate_component_logs_the_confusion_matrix(tiny_fashion, tmp_path, monkeypatch):
    from genlab.train import train

    monkeypatch.setenv("GENLAB_FEATURE_STORE", str(tmp_path / "store"))
    exp = cgan_exp()
    train(exp, str(tiny_fashion), str(tmp_path / "model"))
    artifacts = {
        "dataset": Dataset(name="dataset", uri=str(tiny_fashion)),
        "model": Model(name="model", uri=str(tmp_path / "model")),
        "metrics": Metrics(name="metrics", uri=str(tmp_path / "metrics")),
        "classes": ClassificationMetrics(name="classes", uri=str(tmp_path / "classes")),
    }
    for a in artifacts.values():
        a.path = a.uri  # kfp maps a bucket URI to a local path; these are local already
    evaluate_model.python_func(config_json=exp.to_json(), **artifacts)

    matrix = artifacts["classes"].metadata["confusionMatrix"]
    assert [c["displayName"] for c in matrix["annotationSpecs"]][:2] == ["T-shirt/top", "Trouser"]
    rows = [r["row"] for r in matrix["rows"]]
    assert len(rows) == 10 and sum(map(sum, rows)) == 40  # every requested sample, recognised as something
    assert "fid" in artifacts["metrics"].metadata
    assert json.dumps(artifacts["classes"].metadata)  # what the launcher uploads
