"""The family contract (docs/adding-a-family.md): a family registers itself with its own files, and
nothing outside genlab/models switches on a family's name."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

from genlab import config, models
from genlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

TOY_CONFIG = """
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ToyConfig:
    family: str = "toy"
    mixed_precision: ClassVar[bool] = True
    width: int = 4


CONFIGS = {"toy": ToyConfig}
"""

TOY_MODEL = """
def build(cfg, spec, train_cfg):
    return ("toy model", cfg.width, spec)
"""


@pytest.fixture
def fresh_registry():
    models.registry.cache_clear()
    yield
    models.registry.cache_clear()


def test_registry_is_every_config_modules_configs():
    """The registry is exactly what the *_config files declare: no list of families elsewhere."""
    expected = {}
    for path in sorted((ROOT / "genlab" / "models").glob("*_config.py")):
        module = importlib.import_module(f"genlab.models.{path.stem}")
        expected.update({name: cls for name, cls in module.CONFIGS.items()})
    assert {name: f.config for name, f in models.registry().items()} == expected
    assert len(expected) >= 12
    for family in models.registry().values():  # every family's model module exists beside its config
        assert (ROOT / "genlab" / "models" / f"{family.model_module}.py").is_file(), family


def test_a_family_registered_only_by_its_own_files_is_found(tmp_path, monkeypatch, fresh_registry):
    (tmp_path / "toy_config.py").write_text(TOY_CONFIG)
    (tmp_path / "toy.py").write_text(TOY_MODEL)
    monkeypatch.setattr(models, "__path__", [*models.__path__, str(tmp_path)])
    for name in ("genlab.models.toy_config", "genlab.models.toy"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    models.registry.cache_clear()

    assert "toy" in models.names()
    exp = config.experiment_from_dict(
        {"model": {"family": "toy", "width": 7}, "train": {"mixed_precision": True}}
    )
    assert type(exp.model).__name__ == "ToyConfig" and exp.model.width == 7
    assert "toy" in models.mixed_precision_families()
    assert models.build(exp, "spec") == ("toy model", 7, "spec")
    with pytest.raises(ConfigError, match=r"model\.width: expected an integer"):
        config.experiment_from_dict({"model": {"family": "toy", "width": "wide"}})


def test_a_family_name_claimed_twice_names_both_modules(tmp_path, monkeypatch, fresh_registry):
    (tmp_path / "copycat_config.py").write_text(TOY_CONFIG.replace('"toy": ToyConfig', '"vae": ToyConfig'))
    monkeypatch.setattr(models, "__path__", [*models.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "genlab.models.copycat_config", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"vae_config: CONFIGS: family 'vae' is already registered by genlab.models.copycat_config",
    ):
        models.discover()


def test_mixed_precision_is_declared_by_the_config_class():
    assert models.mixed_precision_families() == sorted(
        name for name, f in models.registry().items() if getattr(f.config, "mixed_precision", False)
    )
    assert "vae" in models.mixed_precision_families() and "pixelcnn" not in models.mixed_precision_families()
    with pytest.raises(
        ConfigError, match=r"train.mixed_precision: not supported for model.family 'pixelcnn'"
    ):
        config.experiment_from_dict({"model": {"family": "pixelcnn"}, "train": {"mixed_precision": True}})


# Where evaluation, generation, training and the benchmarks must stay family-agnostic.
AGNOSTIC = [
    "genlab/evaluate",
    "genlab/generate",
    "benchmarks",
    "genlab/portable.py",
    "genlab/train/summaries.py",
    "genlab/train/loop.py",
]
# Files about one family by design, not switches on it.
ONE_FAMILY = {
    "benchmarks/pixelcnn_sampling.py",  # PixelCNN's cached vs naive sampling
    "benchmarks/textbook.py",  # the keras.io examples, one per family, that time_to_quality races
}


def switches(source: str, families: set[str]) -> list[str]:
    """Code (not docstrings or comments) that names a family or switches on a model's kind."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in families:
            found.append(f"line {node.lineno}: family name {node.value!r}")
        if isinstance(node, ast.Attribute | ast.Name) and "output_kind" in (
            getattr(node, "attr", ""),
            getattr(node, "id", ""),
        ):
            found.append(f"line {node.lineno}: output_kind")
        if isinstance(node, ast.Compare) and any(
            isinstance(side, ast.Attribute) and side.attr == "family"
            for side in (node.left, *node.comparators)
        ):
            found.append(f"line {node.lineno}: compares .family")
    return sorted(found)


def test_no_module_outside_the_models_names_a_family():
    families = set(models.names())
    files = [p for entry in AGNOSTIC for p in sorted((ROOT / entry).rglob("*.py")) or [ROOT / entry]]
    assert len(files) > 15
    found = {
        str(p.relative_to(ROOT)): switches(p.read_text(), families)
        for p in files
        if str(p.relative_to(ROOT)) not in ONE_FAMILY
    }
    assert {k: v for k, v in found.items() if v} == {}


def test_the_switch_finder_finds_switches():
    families = {"dcgan", "vae"}
    assert switches('if model.output_kind == "image":\n    pass\n', families) == ["line 1: output_kind"]
    assert switches('if model.family == "dcgan":\n    pass\n', families) == [
        "line 1: compares .family",
        "line 1: family name 'dcgan'",
    ]
    assert switches('PRESETS = {"vae": ["x"]}\n', families) == ["line 1: family name 'vae'"]
    assert switches('"""Mentions vae in a docstring."""\nx = "vae_fashion_mnist"  # vae\n', families) == []
