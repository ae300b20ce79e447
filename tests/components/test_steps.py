"""The component layer: kfp interfaces (names, types) and the adapters in genlab.steps, with fake artifacts."""

import json

import pytest

from components import evaluate_model, generate_samples, prepare_data, train_model
from genlab import config, steps


def exp_json(idx_folder, **train):
    return config.experiment_from_dict(
        {
            "name": "step-test",
            "model": {"family": "dcgan", "latent_dim": 8, "width": 4, "dropout": 0.0},
            "data": {"source": str(idx_folder), "shards": 2},
            "train": {
                "steps": 4,
                "batch_size": 16,
                "workers": 1,
                "log_every": 2,
                "checkpoint_every": 2,
                **train,
            },
            "evaluate": {"num_samples": 32, "feature_epochs": 1},
            "generate": {"rows": 2, "cols": 3, "interpolation_steps": 3},
        }
    ).to_json()


def io_names(component):
    spec = component.component_spec
    return (
        {k: v.type for k, v in (spec.inputs or {}).items()},
        {k: v.type for k, v in (spec.outputs or {}).items()},
    )


def test_component_interfaces():
    assert io_names(prepare_data) == ({"config_json": "String"}, {"dataset": "system.Dataset@0.0.1"})
    ins, outs = io_names(train_model)
    assert ins == {
        "config_json": "String",
        "dataset": "system.Dataset@0.0.1",
        "workers": "Integer",
        "gpus_per_worker": "Integer",
        "steps": "Integer",
        "launcher": "String",
    }
    assert outs == {"model": "system.Model@0.0.1"}
    assert io_names(evaluate_model)[1] == {
        "metrics": "system.Metrics@0.0.1",
        "classes": "system.ClassificationMetrics@0.0.1",
    }
    assert io_names(generate_samples)[1] == {
        "samples": "system.Artifact@0.0.1",
        "report": "system.HTML@0.0.1",
        "report_md": "system.Markdown@0.0.1",
    }


def test_components_use_the_versioned_trainer_image():
    from genlab.images import trainer_image

    for component in (prepare_data, train_model, evaluate_model, generate_samples):
        assert component.component_spec.implementation.container.image == trainer_image()


def test_overrides_apply_on_top_of_the_config(idx_folder):
    exp = steps.with_overrides(exp_json(idx_folder), workers=2, steps=9)
    assert exp.train.workers == 2 and exp.train.steps == 9
    same = steps.with_overrides(exp_json(idx_folder))
    assert same.train.workers == 1 and same.train.steps == 4


def test_user_error_exits_with_one_line(idx_folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        steps.prepare_data(exp_json(tmp_path / "missing"), str(tmp_path / "out"))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: data.source: folder") and "Traceback" not in err


@pytest.mark.slow
def test_all_four_adapters_with_fake_artifact_paths(idx_folder, tmp_path):
    cfg = exp_json(idx_folder)
    dataset, model = tmp_path / "dataset", tmp_path / "model"
    meta = steps.prepare_data(cfg, str(dataset))
    assert meta["train_examples"] == 64 and meta["test_examples"] == 32
    trained = steps.train_model(
        cfg, str(dataset), str(model), workers=1, gpus_per_worker=0, steps=0, launcher="local"
    )
    assert trained == {"family": "dcgan", "steps": 4, "workers": 1}
    metrics = steps.evaluate_model(cfg, str(dataset), str(model))
    for key in ("fid", "kid", "precision", "recall", "fid_floor", "classifier_accuracy"):
        assert key in metrics
    report, md = tmp_path / "report.html", tmp_path / "report.md"
    out = steps.generate_samples(
        cfg, str(dataset), str(model), metrics, str(tmp_path / "samples"), str(report), str(md)
    )
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 3  # grid, interpolation, loss curves
    assert "fid" in html and "real-data floor" in html
    assert "| fid |" in md.read_text()
    assert json.dumps(out)  # metadata is JSON-serialisable for kfp
