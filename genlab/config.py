"""Experiment configuration: frozen dataclasses, defaults in one place, strict YAML loading.

An experiment file holds only what differs from the defaults. An unknown key, a wrong type
or an out-of-range value fails at once with the file and the dotted key, before any work.
The ``model`` section is chosen by ``model.family``; each family's fields live in its
TensorFlow-free config module (``genlab/models/<module>_config.py``); the
``cluster`` section lives in ``genlab/cluster_config.py``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genlab.cluster_config import ClusterConfig
from genlab.config_checks import check_min, did_you_mean
from genlab.errors import ConfigError

PRESETS_DIR = Path(__file__).resolve().parents[1] / "pipelines" / "configs"


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2's floats: PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a string."""


# The float pattern of YAML 1.2's core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
# plus PyYAML's underscores; ints still resolve first ("1000" stays an int).
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def yaml_load(text: str):
    """Parse YAML as configs are parsed everywhere (files, ``--set``, Run-form overrides)."""
    return yaml.load(text, Loader=_Loader)


@dataclass(frozen=True)
class MusicDataConfig:
    """``data.dataset: music`` (genlab.data.music): piano-roll phrases of multi-part pieces."""

    bars: int = 4  # bars per phrase
    hop_bars: int = 1  # a new phrase starts every hop_bars bars
    steps_per_bar: int = 16  # 16th notes per bar: 16 = 4/4; pieces with other bars are skipped
    lowest_pitch: int = 29  # MIDI pitch of the roll's first row (F1)
    pitches: int = 56  # rows of the roll: lowest_pitch .. lowest_pitch + pitches - 1
    tracks: tuple[str, ...] = ("soprano", "alto", "tenor", "bass")  # part k -> track k
    transpose: str = "key"  # key (to C major / A minor) | none | augment (train in all 12 keys)
    max_pieces: int = 0  # read only the first N files (0 = all); for tiny runs
    sha256: str = ""  # of an https:// source (required there)

    def __post_init__(self):
        check_min(self, "data.music", bars=1, hop_bars=1, steps_per_bar=1, lowest_pitch=0, pitches=1)
        check_min(self, "data.music", max_pieces=0)
        if self.lowest_pitch + self.pitches > 128:
            raise ConfigError(
                f"data.music.pitches: lowest_pitch + pitches must be <= 128 (MIDI), got "
                f"{self.lowest_pitch} + {self.pitches}"
            )
        if self.transpose not in ("key", "none", "augment"):
            raise ConfigError(f"data.music.transpose: expected key, none or augment, got {self.transpose!r}")
        if not self.tracks:
            raise ConfigError("data.music.tracks: expected at least one track name")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "fashion_mnist"  # fashion_mnist | mnist | cifar10 | text | images | music | image pairs
    source: str = ""  # folder, file, https:// or gs://; "" = the dataset's default
    sha256: str = ""  # of an archive given as data.source (image-to-image datasets, cifar10)
    shards: int = 4  # TFRecord shards per split
    image_size: int = 28  # images are resized to image_size x image_size
    max_train: int = 0  # keep the first N training examples (0 = all); for tiny runs
    max_test: int = 0
    binarize: bool = False  # dynamic binarization (Bernoulli likelihood models)
    music: MusicDataConfig = field(default_factory=MusicDataConfig)  # data.dataset: music only

    def __post_init__(self):
        check_min(self, "data", shards=1, image_size=4, max_train=0, max_test=0)


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
    max_restarts: int = 2  # restarts of the whole job (a TFJob's backoffLimit is this x its replicas)
    # auto: bfloat16 where the family passed the bf16 parity check and the hardware has native
    # bfloat16, else float32 (genlab.train.precision); true: bfloat16; false: float32
    mixed_precision: bool | str = "auto"
    xla: bool = False
    # Steps run in one call of the compiled train function (never across a log or checkpoint step):
    # fewer Python round trips and host reads of the losses per step, the same training.
    steps_per_call: int = 1
    # FID of this many samples at every checkpoint, in the pinned feature space (genlab.train.fid_curve);
    # 0 = off. Image families only.
    fid_samples: int = 0

    def __post_init__(self):
        check_min(
            self,
            "train",
            fid_samples=0,
            steps=0,
            batch_size=1,
            checkpoint_every=1,
            log_every=1,
            workers=1,
            gpus_per_worker=0,
            max_restarts=0,
            steps_per_call=1,
        )
        if not isinstance(self.mixed_precision, bool) and self.mixed_precision != "auto":
            raise ConfigError(
                f"train.mixed_precision: expected auto, true or false, got {self.mixed_precision!r}"
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
        check_min(self, "evaluate", num_samples=10, feature_epochs=1, nll_importance_samples=0)


@dataclass(frozen=True)
class GenerateConfig:
    rows: int = 8
    cols: int = 8
    interpolation_steps: int = 10
    seed: int = 1
    temperatures: tuple[float, ...] = (0.2, 0.5, 1.0, 1.2)

    def __post_init__(self):
        check_min(self, "generate", rows=1, cols=1, interpolation_steps=2)


@dataclass(frozen=True)
class Experiment:
    name: str
    model: Any  # the family's Config dataclass
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **sections) -> Experiment:
        return dataclasses.replace(self, **sections)


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
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key}: expected a mapping, got {type(value).__name__} {value!r}")
        _, item = typing.get_args(tp)
        return {
            _convert(k, str, f"{key} key", where): _convert(v, item, f"{key}.{k}", where)
            for k, v in value.items()
        }
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
            raise ConfigError(
                f"{where}: unknown key '{dotted}'{did_you_mean(key, names)}; expected one of: {', '.join(names)}"
            )
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
            raise ConfigError(
                f"{where}: unknown key '{key}'{did_you_mean(key, exp_hints)}; "
                f"expected one of: {', '.join(exp_hints)}"
            )
    exp = Experiment(
        name=_convert(sections.get("name", "experiment"), str, "name", where),
        description=_convert(sections.get("description", ""), str, "description", where),
        model=from_dict(model_cls, model, where, "model"),
        data=from_dict(DataConfig, sections.get("data", {}), where, "data"),
        train=from_dict(TrainConfig, sections.get("train", {}), where, "train"),
        evaluate=from_dict(EvaluateConfig, sections.get("evaluate", {}), where, "evaluate"),
        generate=from_dict(GenerateConfig, sections.get("generate", {}), where, "generate"),
        cluster=from_dict(ClusterConfig, sections.get("cluster", {}), where, "cluster"),
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
            f"unknown preset '{name_or_path}'{did_you_mean(name_or_path, preset_names())}; "
            f"expected one of: {', '.join(preset_names())} or a path to a .yaml file"
        )
    return candidate


def parse_overrides(pairs: list[str], origin: str = "--set") -> dict:
    """``["train.steps=10", "model.latent_dim=32"]`` -> nested dict; values parsed as YAML."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{origin} {pair!r}: expected key=value, e.g. train.steps=100")
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{origin} {pair!r}: {p} is set to a value earlier, not a section")
        try:
            node[leaf] = yaml_load(raw) if raw else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"{origin} {pair!r}: the value is not valid YAML: {e}") from None
    return out


def _leaves(tree: dict, prefix: str = ""):
    """(dotted key, nested one-key dict) for each value of an overrides tree."""
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            for sub, nested in _leaves(value, dotted):
                yield sub, {key: nested}
        else:
            yield dotted, {key: value}


def _show(dotted: str, nested: dict) -> str:
    value = nested
    while isinstance(value, dict) and value:
        value = next(iter(value.values()))
    return f"{dotted}={json.dumps(value) if not isinstance(value, str) else value}"


def merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict:
    try:
        data = yaml_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load(name_or_path: str, overrides: dict | None = None, origin: str = "--set") -> Experiment:
    """Load a preset or YAML file, apply overrides, validate everything.

    An error caused by an override names the override (``--set train.steps=-1: ...``), not the
    file it was applied to; ``origin`` says where overrides came from.
    """
    path = preset_path(name_or_path)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    return apply_overrides(data, overrides or {}, str(path), origin)


def apply_overrides(data: dict, overrides: dict, where: str, origin: str = "--set") -> Experiment:
    """``data`` (from ``where``) with ``overrides`` on top, validated; an error caused by one
    override names it (``{origin} key=value: ...``) rather than ``where``."""
    if not overrides:
        return experiment_from_dict(data, where)
    try:
        return experiment_from_dict(merge(data, overrides), where)
    except ConfigError as error:
        raise _blame_override(data, overrides, where, origin, error) from None


def _blame_override(data: dict, overrides: dict, where: str, origin: str, error: ConfigError) -> ConfigError:
    try:
        experiment_from_dict(data, where)
    except ConfigError:
        return error  # wrong by itself
    for dotted, nested in _leaves(overrides):
        try:
            experiment_from_dict(merge(data, nested), f"{origin} {_show(dotted, nested)}")
        except ConfigError as single:
            return single
    shown = " ".join(f"{origin} {_show(d, n)}" for d, n in _leaves(overrides))
    return ConfigError(f"{where} with {shown}: {str(error).removeprefix(f'{where}: ')}")


def from_json(text: str) -> Experiment:
    """The config as it crosses the kfp boundary."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"config JSON: not valid JSON: {e}") from None
    return experiment_from_dict(data, "config JSON")
