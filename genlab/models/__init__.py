"""Model families. Each family lives in one file and is registered here by name.

A family module exposes ``build(cfg, spec) -> GenerativeModel``; its config module
(``<module>_config.py``, listed in CONFIG_MODULES) exposes ``CONFIGS`` (family name -> frozen Config
dataclass) and optionally ``check_experiment(exp)``. Config modules import no TensorFlow, so a config
is validated in well under a second; a family without one keeps both in its model module.
Modules are imported only when used.
"""

from __future__ import annotations

import importlib

from genlab.errors import ConfigError

# family name -> module under genlab.models
FAMILIES = {
    "dcgan": "gan",
    "cgan": "gan",
    "wgan_gp": "gan",
    "vae": "vae",
    "char_lstm": "text",
    "transformer": "text",
    "pixelcnn": "pixelcnn",
    "style_transfer": "style",
    "deepdream": "style",
    "musegan": "musegan",
    "pix2pix": "pix2pix",
    "cyclegan": "cyclegan",
}

# model module -> its TensorFlow-free config module
CONFIG_MODULES = {
    m: f"{m}_config" for m in ("gan", "vae", "text", "pixelcnn", "style", "musegan", "pix2pix", "cyclegan")
}

# Families checked under train.mixed_precision (bfloat16): their output layers stay float32.
MIXED_PRECISION = {"dcgan", "cgan", "wgan_gp", "vae", "style_transfer", "deepdream", "pix2pix", "cyclegan"}


def _module_name(family: str, where: str) -> str:
    if family not in FAMILIES:
        from genlab.config import did_you_mean

        raise ConfigError(
            f"{where}: model.family: unknown family {family!r}{did_you_mean(family, FAMILIES)}; "
            f"expected one of: {', '.join(sorted(FAMILIES))}"
        )
    return FAMILIES[family]


def family_module(family: str, where: str = "config"):
    return importlib.import_module(f"genlab.models.{_module_name(family, where)}")


def config_module(family: str, where: str = "config"):
    name = _module_name(family, where)
    return importlib.import_module(f"genlab.models.{CONFIG_MODULES.get(name, name)}")


def family_config(family: str, where: str = "config") -> type:
    return config_module(family, where).CONFIGS[family]


def check(exp) -> None:
    """Rules between the model and train sections; run when a config is loaded, before any work."""
    if exp.train.mixed_precision and exp.model.family not in MIXED_PRECISION:
        raise ConfigError(
            f"train.mixed_precision: not supported for model.family {exp.model.family!r} "
            f"(supported: {', '.join(sorted(MIXED_PRECISION))}); set it to false"
        )
    family_rule = getattr(config_module(exp.model.family), "check_experiment", None)
    if family_rule:
        family_rule(exp)


def build(exp, spec):
    """The GenerativeModel for an experiment and a dataset spec (networks built, not trained)."""
    check(exp)
    return family_module(exp.model.family).build(exp.model, spec, exp.train)
