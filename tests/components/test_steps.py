"""The component layer: kfp interfaces (names, types) and the adapters in genlab.steps, with fake artifacts."""

import json

import pytest

from components import evaluate_model, generate_samples, prepare_data, resolve_config, train_model
from genlab import config, steps
from tests.conftest import imports_after


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
    assert io_names(resolve_config) == (
        {
            "config_json": "String",
            "steps": "Integer",
            "batch_size": "Integer",
            "learning_rate": "Float",
            "seed": "Integer",
            "mixed_precision": "String",
            "workers": "Integer",
            "gpus_per_worker": "Integer",
            "overrides": "List",
        },
        {"config_json": "String", "data_json": "String"},
    )
    ins, outs = io_names(train_model)
    assert ins == {
        "config_json": "String",
        "dataset": "system.Dataset@0.0.1",
        "workers": "Integer",
        "gpus_per_worker": "Integer",
        "steps": "Integer",
        "launcher": "String",
        "trainer_image": "String",
        "trainer_gpu_image": "String",
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

    for component in (resolve_config, prepare_data, train_model, evaluate_model, generate_samples):
        assert component.component_spec.implementation.container.image == trainer_image()


def test_overrides_apply_on_top_of_the_config(idx_folder):
    exp = steps.with_overrides(exp_json(idx_folder), workers=2, steps=9)
    assert exp.train.workers == 2 and exp.train.steps == 9
    same = steps.with_overrides(exp_json(idx_folder))
    assert same.train.workers == 1 and same.train.steps == 4


KNOBS = dict(
    steps=4, batch_size=16, learning_rate=2e-4, seed=0, mixed_precision="auto", workers=1, gpus_per_worker=0
)


def test_run_form_knobs_then_overrides(idx_folder):
    cfg, data_json = steps.resolve_config(
        exp_json(idx_folder),
        ["train.learning_rate=1e-3", "model.latent_dim=12"],
        **{**KNOBS, "steps": 9, "batch_size": 32, "learning_rate": 5e-4, "mixed_precision": "true"},
    )
    exp = config.from_json(cfg)
    assert exp.train.steps == 9 and exp.train.batch_size == 32 and exp.train.mixed_precision is True
    assert exp.train.learning_rate == 1e-3  # overrides come last
    assert exp.model.latent_dim == 12 and exp.data.source == str(idx_folder)
    assert config.from_json(data_json) == steps.data_config(exp)


@pytest.mark.parametrize(
    "knobs, overrides, message",
    [
        (
            {"learning_rate": -1.0},
            [],
            "error: Run parameter train.learning_rate=-1.0: train.learning_rate: expected",
        ),
        (
            {"batch_size": 15, "workers": 2},
            [],
            "error: config_json with Run parameter train.batch_size=15 Run parameter train.workers=2: ",
        ),
        (
            {"mixed_precision": "maybe"},
            [],
            "error: Run parameter train.mixed_precision=maybe: train.mixed_precision: "
            "expected auto, true or false, got 'maybe'",
        ),
        ({}, ["train.lr=1e-3"], "error: overrides train.lr=0.001: unknown key 'train.lr'"),
        ({}, ["model.latent_dim"], "error: overrides 'model.latent_dim': expected key=value"),
        ({}, "train.steps=3", "error: overrides: expected a list of key=value strings"),
    ],
)
def test_run_form_errors_name_the_parameter(idx_folder, capsys, knobs, overrides, message):
    with pytest.raises(SystemExit) as e:
        steps.resolve_config(exp_json(idx_folder), overrides, **{**KNOBS, **knobs})
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1, err


def test_prepare_sees_only_the_data_section(idx_folder):
    """Training and model edits leave prepare's input (its cache key) unchanged; data edits do not."""
    base = steps.resolve_config(exp_json(idx_folder), [], **KNOBS)[1]
    edited = steps.resolve_config(
        exp_json(idx_folder),
        ["model.width=8", "evaluate.num_samples=64", "train.epochs=3"],
        **{**KNOBS, "steps": 100, "learning_rate": 1e-3, "seed": 7, "workers": 2},
    )[1]
    assert edited == base
    smaller = steps.resolve_config(exp_json(idx_folder), ["data.max_train=32"], **KNOBS)[1]
    assert smaller != base and config.from_json(smaller).data.max_train == 32
    text = config.load("char_lstm_fortunes")  # text windows are cut at the model's seq_len
    assert config.from_json(steps.data_config(text).to_json()).model.seq_len == text.model.seq_len


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
    assert trained["family"] == "dcgan" and trained["steps"] == 4 and trained["workers"] == 1
    assert trained["framework"] == "tensorflow" and trained["framework_version"].startswith("2.")
    assert {"keras_version", "genlab_version", "dataset_checksum"} <= set(trained)
    assert {"final_d_loss", "final_g_loss"} <= set(trained)
    from genlab.train import precision

    bf16 = precision.resolve(config.from_json(cfg))  # auto: this machine's answer
    assert trained["precision"] == ("bfloat16" if bf16 else "float32")
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


def test_genlab_train_is_the_train_steps_training(monkeypatch):
    """`genlab train` runs steps.train, the train step's own launch, with the CLI's overrides."""
    from genlab import cli, launch

    runs = []

    class Recorder:
        def __init__(self, kind, **options):
            self.kind, self.options = kind, options

        def run(self, job):
            runs.append((self.kind, self.options, job))

    monkeypatch.setattr(launch, "get_launcher", Recorder)
    argv = [
        "train",
        "dcgan_tiny",
        "--workers",
        "2",
        "--set",
        "train.max_restarts=1",
        "--data",
        "d",
        "--model",
        "m",
    ]
    assert cli.main(argv) == 0
    [(kind, options, job)] = runs
    assert (kind, options) == ("local", {"max_restarts": 1})
    assert (job.name, job.workers, job.data_uri, job.model_uri) == ("dcgan_tiny", 2, "d", "m")
    assert config.from_json(job.config_json).train.workers == 2


def test_the_cli_and_launchers_start_training_without_tensorflow():
    """`genlab train`'s parent process only launches the workers: it loads no TensorFlow."""
    loaded, _, stderr = imports_after(
        "from genlab import cli, steps\nimport genlab.launch.local, genlab.launch.tfjob"
    )
    assert loaded == [], stderr
