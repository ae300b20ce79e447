"""Experiment configuration: frozen dataclasses, defaults in one place, strict YAML loading.

An experiment file holds only what differs from the defaults. An unknown key, a wrong type
or an out-of-range value fails at once with the file and the dotted key, before any work.
The ``model`` section is chosen by ``model.family``; each family's fields live in its model
file (``genlab/models/<family>.py``) next to the code that reads them.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genlab.errors import ConfigError

PRESETS_DIR = Path(__file__).resolve().parents[1] / "pipelines" / "configs"


@dataclass(frozen=True)
class DataConfig:
    dataset: str = (
        "fashion_mnist"  # fashion_mnist | mnist | text | images | image-to-image pairs (genlab.data)
    )
    source: str = ""  # folder, file, https:// or gs://; "" = the dataset's default
    sha256: str = ""  # of an https archive given as data.source (image-to-image datasets)
    shards: int = 4  # TFRecord shards per split
    image_size: int = 28  # images are resized to image_size x image_size
    max_train: int = 0  # keep the first N training examples (0 = all); for tiny runs
    max_test: int = 0
    binarize: bool = False  # dynamic binarization (Bernoulli likelihood models)

    def __post_init__(self):
        _check_min(self, "data", shards=1, image_size=4, max_train=0, max_test=0)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 0  # total optimizer steps; 0 = derived from epochs
    epochs: float = 1.0
    batch_size: int = 128  # global batch, split across workers
    learning_rate: float = 2e-4
    seed: int = 0
    checkpoint_every: int = 200  # steps
    log_every: int = 50  # steps
    workers: int = 1
    gpus_per_worker: int = 0
    max_restarts: int = 2  # like a TFJob's backoffLimit
    mixed_precision: bool = False
    xla: bool = False

    def __post_init__(self):
        _check_min(
            self,
            "train",
            steps=0,
            batch_size=1,
            checkpoint_every=1,
            log_every=1,
            workers=1,
            gpus_per_worker=0,
            max_restarts=0,
        )
        if self.epochs <= 0:
            raise ConfigError(f"train.epochs: expected a number > 0, got {self.epochs}")
        if self.learning_rate <= 0:
            raise ConfigError(f"train.learning_rate: expected a number > 0, got {self.learning_rate}")
        if self.batch_size % self.workers:
            raise ConfigError(
                f"train.batch_size: the global batch ({self.batch_size}) must divide evenly "
                f"across train.workers ({self.workers})"
            )


@dataclass(frozen=True)
class EvaluateConfig:
    num_samples: int = 2000  # generated and real examples compared in feature space
    feature_epochs: int = 2  # epochs of the feature classifier (cached by dataset checksum)
    nll_importance_samples: int = 0  # k for the importance-sampled NLL of latent-variable models
    seed: int = 0

    def __post_init__(self):
        _check_min(self, "evaluate", num_samples=10, feature_epochs=1, nll_importance_samples=0)


@dataclass(frozen=True)
class GenerateConfig:
    rows: int = 8
    cols: int = 8
    interpolation_steps: int = 10
    seed: int = 1
    temperatures: tuple[float, ...] = (0.2, 0.5, 1.0, 1.2)

    def __post_init__(self):
        _check_min(self, "generate", rows=1, cols=1, interpolation_steps=2)


@dataclass(frozen=True)
class Experiment:
    name: str
    model: Any  # the family's Config dataclass
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **sections) -> Experiment:
        return dataclasses.replace(self, **sections)


def _check_min(obj, section: str, **minimums):
    for name, low in minimums.items():
        value = getattr(obj, name)
        if value < low:
            raise ConfigError(f"{section}.{name}: expected an integer >= {low}, got {value}")


# --- strict conversion from plain data ------------------------------------------------------


def _convert(value, tp, key: str, where: str):
    """Check ``value`` against the annotation ``tp``; return it converted (lists -> tuples)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is tuple:
        (item, *_rest) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: {key}: expected a list, got {type(value).__name__} {value!r}")
        return tuple(_convert(v, item, f"{key}[{i}]", where) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where, key)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key}: expected true or false, got {type(value).__name__} {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {tp!r} for {key}")


def from_dict(cls, data, where: str = "config", prefix: str = ""):
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {prefix or 'top level'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"{where}: unknown key '{dotted}'; expected one of: {', '.join(names)}")
        kwargs[key] = _convert(value, hints[key], dotted, where)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{where}: {prefix or 'top level'}: {e}") from None


def experiment_from_dict(data: dict, where: str = "config") -> Experiment:
    from genlab.models import check, family_config

    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    data = dict(data)
    model = data.pop("model", None)
    if not isinstance(model, dict) or "family" not in model:
        raise ConfigError(f"{where}: model.family: required (e.g. 'dcgan' or 'vae')")
    model_cls = family_config(model["family"], where)
    sections = {k: v for k, v in data.items()}
    exp_hints = {f.name: f for f in dataclasses.fields(Experiment)}
    for key in sections:
        if key not in exp_hints:
            raise ConfigError(f"{where}: unknown key '{key}'; expected one of: {', '.join(exp_hints)}")
    exp = Experiment(
        name=_convert(sections.get("name", "experiment"), str, "name", where),
        description=_convert(sections.get("description", ""), str, "description", where),
        model=from_dict(model_cls, model, where, "model"),
        data=from_dict(DataConfig, sections.get("data", {}), where, "data"),
        train=from_dict(TrainConfig, sections.get("train", {}), where, "train"),
        evaluate=from_dict(EvaluateConfig, sections.get("evaluate", {}), where, "evaluate"),
        generate=from_dict(GenerateConfig, sections.get("generate", {}), where, "generate"),
    )
    try:
        check(exp)  # rules across sections (e.g. mixed precision vs the model family)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    return exp


# --- presets, files, overrides ---------------------------------------------------------------


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_path(name_or_path: str) -> Path:
    """A preset name (``dcgan_fashion_mnist``) or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        return path
    candidate = PRESETS_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ConfigError(
            f"unknown preset '{name_or_path}'; expected one of: {', '.join(preset_names())} "
            f"or a path to a .yaml file"
        )
    return candidate


def parse_overrides(pairs: list[str]) -> dict:
    """``["train.steps=10", "model.latent_dim=32"]`` -> nested dict; values parsed as YAML."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected key=value, e.g. train.steps=100")
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(raw) if raw else ""
    return out


def merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load(name_or_path: str, overrides: dict | None = None) -> Experiment:
    """Load a preset or YAML file, apply overrides, validate everything."""
    path = preset_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    data.setdefault("name", path.stem)
    return experiment_from_dict(merge(data, overrides or {}), str(path))


def from_json(text: str) -> Experiment:
    """The config as it crosses the kfp boundary."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"config JSON: not valid JSON: {e}") from None
    return experiment_from_dict(data, "config JSON")
