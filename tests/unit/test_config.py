import json
from pathlib import Path

import pytest

from genlab import cluster_config, config, models
from genlab.errors import ConfigError
from tests.conftest import HEAVY, imports_after


def exp_from(d):
    return config.experiment_from_dict({"name": "t", "model": {"family": "dcgan"}, **d})


def test_defaults_and_json_round_trip():
    exp = exp_from({})
    assert exp.train.batch_size == 128 and exp.model.latent_dim == 64
    again = config.from_json(exp.to_json())
    assert again == exp


@pytest.mark.parametrize("name", config.preset_names())
def test_every_preset_is_valid(name):
    exp = config.load(name)
    assert exp.name == name
    assert config.from_json(exp.to_json()) == exp


def test_unknown_key_names_the_dotted_key():
    with pytest.raises(ConfigError, match=r"unknown key 'train\.stepz'.*expected one of: steps"):
        exp_from({"train": {"stepz": 3}})
    with pytest.raises(ConfigError, match=r"unknown key 'model\.latent'"):
        config.experiment_from_dict({"model": {"family": "dcgan", "latent": 3}})
    with pytest.raises(ConfigError, match=r"unknown key 'trian'"):
        exp_from({"trian": {}})


@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        ("train", "steps", "abc", "expected an integer, got str"),
        ("train", "steps", 1.5, "expected an integer, got float"),
        ("train", "mixed_precision", "yes", "expected auto, true or false"),
        ("train", "learning_rate", "fast", "expected a number"),
        ("data", "dataset", 3, "expected a string"),
        ("generate", "temperatures", 0.5, "expected a list"),
    ],
)
def test_wrong_type_names_key_and_expectation(section, key, value, expected):
    with pytest.raises(ConfigError, match=rf"{section}\.{key}: {expected}"):
        exp_from({section: {key: value}})


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("train", "batch_size", 0),
        ("train", "workers", 0),
        ("train", "steps", -1),
        ("data", "image_size", 0),
        ("data", "shards", -2),
        ("model", "latent_dim", 0),
        ("train", "learning_rate", -0.1),
        ("train", "epochs", 0),
    ],
)
def test_zero_or_negative_sizes_fail(section, key, value):
    body = {section: {key: value}} if section != "model" else {"model": {"family": "dcgan", key: value}}
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):
        config.experiment_from_dict({"name": "t", "model": {"family": "dcgan"}, **body})


def test_batch_must_split_across_workers():
    with pytest.raises(ConfigError, match="train.batch_size.*divide evenly.*train.workers"):
        exp_from({"train": {"batch_size": 65, "workers": 2}})


def test_unknown_family_and_missing_family():
    with pytest.raises(ConfigError, match="model.family: unknown family 'nope'"):
        config.experiment_from_dict({"model": {"family": "nope"}})
    with pytest.raises(ConfigError, match="model.family: required"):
        config.experiment_from_dict({"model": {}})


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown preset 'nope'; expected one of: .*dcgan_fashion_mnist"):
        config.load("nope")


def test_overrides_are_parsed_as_yaml_and_validated():
    sets = config.parse_overrides(["train.steps=7", "model.latent_dim=8", "data.binarize=true"])
    assert sets == {"train": {"steps": 7}, "model": {"latent_dim": 8}, "data": {"binarize": True}}
    exp = config.load("dcgan_tiny", sets)
    assert exp.train.steps == 7 and exp.model.latent_dim == 8 and exp.data.binarize
    with pytest.raises(ConfigError, match="expected key=value"):
        config.parse_overrides(["train.steps"])


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        config.load(str(bad))
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        config.load(str(tmp_path / "missing.yaml"))
    good = tmp_path / "mine.yaml"
    good.write_text("model: {family: vae, latent_dim: 4}\ntrain: {steps: 3}\n")
    exp = config.load(str(good))
    assert exp.name == "mine" and exp.model.family == "vae" and exp.train.steps == 3


def test_bad_json():
    with pytest.raises(ConfigError, match="config JSON: not valid JSON"):
        config.from_json("{nope")
    assert json.loads(exp_from({}).to_json())["model"]["family"] == "dcgan"


def test_scientific_notation_in_files_and_overrides(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-3 as the string '1e-3'; configs read it as a number everywhere.
    mine = tmp_path / "mine.yaml"
    mine.write_text("model: {family: dcgan}\ntrain: {learning_rate: 1e-3, epochs: 2E0}\n")
    exp = config.load(str(mine))
    assert exp.train.learning_rate == 1e-3 and exp.train.epochs == 2.0
    exp = config.load("dcgan_tiny", config.parse_overrides(["train.learning_rate=5e-4", "train.steps=1000"]))
    assert exp.train.learning_rate == 5e-4 and exp.train.steps == 1000 and isinstance(exp.train.steps, int)
    assert config.yaml_load("[1_000, 1.5, .5, -2e+3, 2024-01-01, abc]")[:4] == [1000, 1.5, 0.5, -2000.0]


def test_an_override_error_names_the_override_not_the_file():
    with pytest.raises(ConfigError) as e:
        config.load("dcgan_tiny", config.parse_overrides(["train.steps=5", "train.learning_rate=fast"]))
    assert str(e.value).startswith("--set train.learning_rate=fast: train.learning_rate: expected a number")
    assert "dcgan_tiny.yaml" not in str(e.value)
    with pytest.raises(ConfigError, match=r"^--set train\.stepz=5: unknown key 'train\.stepz'"):
        config.load("dcgan_tiny", config.parse_overrides(["train.stepz=5"]))
    # Two overrides that are only wrong together: both named, with the file.
    with pytest.raises(
        ConfigError, match=r"dcgan_tiny\.yaml with --set train\.batch_size=30 --set train\.workers=4: "
    ):
        config.load("dcgan_tiny", config.parse_overrides(["train.batch_size=30", "train.workers=4"]))
    with pytest.raises(ConfigError, match=r"^overrides 'train\.=3': expected key=value"):
        config.parse_overrides(["train.=3"], origin="overrides")


def test_unknown_names_suggest_the_close_one():
    with pytest.raises(
        ConfigError, match=r"unknown key 'train\.learning_rte' \(did you mean 'learning_rate'\?\)"
    ):
        exp_from({"train": {"learning_rte": 1e-3}})
    with pytest.raises(ConfigError, match=r"unknown key 'trian' \(did you mean 'train'\?\)"):
        exp_from({"trian": {}})
    with pytest.raises(
        ConfigError, match=r"unknown preset 'dcgan_fashion_mist' \(did you mean 'dcgan_fashion_mnist'\?\)"
    ):
        config.load("dcgan_fashion_mist")
    with pytest.raises(ConfigError, match=r"unknown family 'dcgn' \(did you mean 'dcgan'\?\)"):
        config.experiment_from_dict({"model": {"family": "dcgn"}})


def test_version(capsys):
    from genlab import __version__, cli

    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"genlab {__version__}"


def test_validation_imports_no_tensorflow():
    """`genlab run` with a bad preset or override fails in one line before TensorFlow loads."""
    loaded, rc, stderr = imports_after(
        "from genlab import cli, config\n"
        "for name in config.preset_names(): config.load(name)\n"
        "rc = cli.main(['run', 'nope'])\n"
        "rc += cli.main(['run', 'dcgan_tiny', '--set', 'train.steps=-1'])\n"
        "print(rc)\n"
    )
    assert (rc, loaded) == ("4", []), stderr
    lines = stderr.strip().splitlines()
    assert lines == [
        f"genlab: error: unknown preset 'nope'; expected one of: {', '.join(config.preset_names())} "
        "or a path to a .yaml file",
        "genlab: error: --set train.steps=-1: train.steps: expected an integer >= 0, got -1",
    ]


def test_cluster_section_defaults_and_round_trip():
    exp = exp_from(
        {
            "cluster": {
                "cpu": "500m",
                "memory": "1536Mi",
                "labels": {"team": "vision"},
                "node_selector": {"cloud.google.com/gke-nodepool": "cpu-pool"},
                "tolerations": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}],
            }
        }
    )
    assert exp.cluster.cpu == "500m" and exp.cluster.memory_limit == ""
    assert exp.cluster.tolerations == (
        cluster_config.Toleration(key="dedicated", value="ml", effect="NoSchedule"),
    )
    assert exp_from({}).cluster.gpu_node_selector == {"genlab.io/pool": "gpu"}
    assert exp_from({"cluster": {"cpu": 2}}).cluster.cpu == "2"  # --set cluster.cpu=2 parses as a number
    assert (
        exp.cluster.poll_seconds == 5.0
        and exp_from({"cluster": {"poll_seconds": 1}}).cluster.poll_seconds == 1.0
    )
    assert config.from_json(exp.to_json()) == exp


@pytest.mark.parametrize(
    "cluster, expected",
    [
        (
            {"cpu": "lots"},
            r"cluster\.cpu: expected a Kubernetes quantity > 0 such as '500m' or '2', got 'lots'",
        ),
        ({"memory": "0"}, r"cluster\.memory: expected a Kubernetes quantity > 0"),
        ({"memory": True}, r"cluster\.memory: expected a string, got bool"),
        ({"poll_seconds": 0}, r"cluster\.poll_seconds: expected a number of seconds > 0, got 0"),
        ({"poll_seconds": "fast"}, r"cluster\.poll_seconds: expected a number"),
        (
            {"memory": "2Gi", "memory_limit": "1Gi"},
            r"cluster\.memory_limit: 1Gi is below cluster\.memory \(2Gi\)",
        ),
        ({"cpu": "2", "cpu_limit": "500m"}, r"cluster\.cpu_limit: 500m is below cluster\.cpu"),
        ({"labels": ["team"]}, r"cluster\.labels: expected a mapping, got list"),
        ({"labels": {"team": 3}}, r"cluster\.labels\.team: expected a string, got int"),
        ({"labels": {"bad key!": "x"}}, r"cluster\.labels: 'bad key!' is not a Kubernetes label key"),
        (
            {"node_selector": {"pool": "-x"}},
            r"cluster\.node_selector\.pool: '-x' is not a Kubernetes label value",
        ),
        (
            {"tolerations": [{"key": "k", "operator": "In"}]},
            r"operator: expected one of Equal, Exists, got 'In'",
        ),
        ({"tolerations": [{"key": "k", "effect": "NoRun"}]}, r"effect: expected one of NoSchedule"),
        (
            {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]},
            r"operator Exists takes no value",
        ),
        (
            {"tolerations": [{"key": "k", "colour": "red"}]},
            r"unknown key 'cluster\.tolerations\[0\]\.colour'",
        ),
        ({"gpus": 1}, r"unknown key 'cluster\.gpus'; expected one of: cpu, memory"),
    ],
)
def test_cluster_section_is_strict(cluster, expected):
    with pytest.raises(ConfigError, match=expected):
        exp_from({"cluster": cluster})


CONFIG_MODULES = sorted(p.stem for p in Path(models.__file__).parent.glob("*_config.py"))


@pytest.mark.parametrize(
    "module",
    CONFIG_MODULES,
)
def test_family_config_modules_need_neither_genlab_config_nor_tensorflow(module):
    """A family's config module validates with config_checks alone: no config <-> models cycle."""
    code = f"from genlab.models import {module} as m\nfor cls in m.CONFIGS.values(): cls()"
    loaded, _, stderr = imports_after(code, ("genlab.config", *HEAVY))
    assert loaded == [], stderr
