"""What `pip install` puts into site-packages, and which TensorFlow each extra brings."""

from pathlib import Path

import setuptools
import tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_only_the_genlab_package_is_installed():
    # The same discovery setuptools runs for [tool.setuptools.packages.find].
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(where=str(ROOT), include=find["include"])
    assert "genlab" in packages and "genlab.models" in packages
    assert [p for p in packages if p.split(".")[0] != "genlab"] == []  # no top-level components/pipelines


def test_one_tensorflow_per_extra():
    project = PYPROJECT["project"]
    assert [d for d in project["dependencies"] if d.startswith("tensorflow")] == []
    extras = project["optional-dependencies"]
    assert {d.split(";")[0].split(">=")[0] for d in extras["cpu"]} == {"tensorflow-cpu", "tensorflow"}
    assert [d.split(">=")[0] for d in extras["gpu"]] == ["tensorflow[and-cuda]"]
    assert "Apache License" in (ROOT / "LICENSE").read_text() and project["license"]["text"] == "Apache-2.0"


def test_cli_names_the_missing_extra(monkeypatch, capsys):
    from genlab import cli

    def needs_tensorflow(args):
        raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")

    monkeypatch.setattr(cli, "cmd_presets", needs_tensorflow)
    assert cli.main(["presets"]) == 2
    assert "pip install -e '.[cpu]'" in capsys.readouterr().err
