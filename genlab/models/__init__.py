"""Model families, found by scanning this package: a family registers itself with its own files.

Every ``genlab/models/<module>_config.py`` is a TensorFlow-free config module exposing ``CONFIGS``
(family name -> frozen Config dataclass) and optionally ``check_experiment(exp)``. The family's
networks live in ``genlab/models/<module>.py``, which exposes ``build(cfg, spec, train_cfg)``; a
config class may name another model module with a ``model_module`` class attribute. A config class
that sets ``mixed_precision = True`` (a ClassVar) accepts ``train.mixed_precision: true``; one that
also sets ``bf16_safe = True`` trains in bfloat16 under the default ``auto`` (genlab.train.precision).
Nothing else names a family: adding one is its model file, its config file, a preset and tests
(docs/adding-a-family.md). Config modules import no TensorFlow, so a config is validated in well
under a second; model modules are imported only when used.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass

from genlab.errors import ConfigError

CONFIG_SUFFIX = "_config"


@dataclass(frozen=True)
class Family:
    name: str
    config_module: str  # under genlab.models, e.g. "gan_config"
    model_module: str  # under genlab.models, e.g. "gan"
    config: type  # the frozen Config dataclass


def config_module_names(path=None) -> list[str]:
    """The ``*_config`` modules of this package (or of a package at ``path``), sorted."""
    found = pkgutil.iter_modules(path if path is not None else __path__)
    return sorted(m.name for m in found if m.name.endswith(CONFIG_SUFFIX) and not m.ispkg)


def discover(package: str = __name__, path=None) -> dict[str, Family]:
    """family name -> Family, from every config module's ``CONFIGS``; a name claimed twice is an error."""
    families: dict[str, Family] = {}
    for name in config_module_names(path):
        module = importlib.import_module(f"{package}.{name}")
        configs = getattr(module, "CONFIGS", None)
        if not isinstance(configs, dict) or not configs:
            raise ConfigError(
                f"{package}.{name}: expected CONFIGS, a mapping of family name -> config dataclass"
            )
        for family, cls in configs.items():
            if family in families:
                raise ConfigError(
                    f"{package}.{name}: CONFIGS: family {family!r} is already registered by "
                    f"{package}.{families[family].config_module}"
                )
            model_module = getattr(cls, "model_module", "") or name[: -len(CONFIG_SUFFIX)]
            families[family] = Family(family, name, model_module, cls)
    return families


@functools.cache
def registry() -> dict[str, Family]:
    return discover()


def names() -> list[str]:
    return sorted(registry())


def _family(family: str, where: str) -> Family:
    families = registry()
    if family not in families:
        from genlab.config import did_you_mean

        raise ConfigError(
            f"{where}: model.family: unknown family {family!r}{did_you_mean(family, families)}; "
            f"expected one of: {', '.join(sorted(families))}"
        )
    return families[family]


def family_module(family: str, where: str = "config"):
    return importlib.import_module(f"{__name__}.{_family(family, where).model_module}")


def config_module(family: str, where: str = "config"):
    return importlib.import_module(f"{__name__}.{_family(family, where).config_module}")


def family_config(family: str, where: str = "config") -> type:
    return _family(family, where).config


def mixed_precision_families() -> list[str]:
    """Families checked under train.mixed_precision (bfloat16): their output layers stay float32."""
    return sorted(f.name for f in registry().values() if getattr(f.config, "mixed_precision", False))


def check(exp) -> None:
    """Rules between the model and train sections; run when a config is loaded, before any work."""
    if exp.train.mixed_precision is True and not getattr(
        family_config(exp.model.family), "mixed_precision", False
    ):
        raise ConfigError(
            f"train.mixed_precision: not supported for model.family {exp.model.family!r} "
            f"(supported: {', '.join(mixed_precision_families())}); set it to auto or false"
        )
    family_rule = getattr(config_module(exp.model.family), "check_experiment", None)
    if family_rule:
        family_rule(exp)


def build(exp, spec):
    """The GenerativeModel for an experiment and a dataset spec (networks built, not trained)."""
    check(exp)
    return family_module(exp.model.family).build(exp.model, spec, exp.train)
