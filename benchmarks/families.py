"""Which preset each benchmark measures, derived from the model registry (genlab.models) and the
presets' ``model.family``: every registered family gets a row, none is silently left out.

A family's preset: its Fashion-MNIST preset if it has one (the dataset this machine has), else the
first by name. A family without any preset fails ``presets()`` unless ``WITHOUT_PRESET`` says why.
"""

from __future__ import annotations

import functools

# Extra rows beyond one per family: presets whose cost per step differs from the family's default.
EXTRA = {
    "vae_iaf": "vae_iaf_fashion_mnist",  # the VAE with an inverse autoregressive flow
    "vae_mlp": "vae_mlp_fashion_mnist",  # the book's dense VAE
}

# family -> why no benchmark row (keep empty: add a preset instead)
WITHOUT_PRESET: dict[str, str] = {}


@functools.cache
def by_family() -> dict[str, list[str]]:
    """family -> the presets that train it, Fashion-MNIST ones first, then by name."""
    from genlab import config, models

    found: dict[str, list[tuple[bool, str]]] = {name: [] for name in models.names()}
    for name in config.preset_names():
        exp = config.load(name)
        found[exp.model.family].append((exp.data.dataset != "fashion_mnist", name))
    return {family: [name for _, name in sorted(options)] for family, options in found.items()}


def presets() -> dict[str, str]:
    """label -> preset: one per registered family (label = the family), then ``EXTRA``."""
    chosen, missing = {}, []
    for family, options in by_family().items():
        if options:
            chosen[family] = options[0]
        elif family not in WITHOUT_PRESET:
            missing.append(family)
    if missing:
        raise RuntimeError(
            f"benchmarks: no preset in pipelines/configs for model.family {', '.join(missing)}; add one "
            f"(docs/adding-a-family.md) or list the family in benchmarks/families.py WITHOUT_PRESET with why"
        )
    return {**chosen, **EXTRA}


def label_of(preset: str) -> str:
    """The row label of a preset: its family where it is the family's default, else its name."""
    return {p: label for label, p in presets().items()}.get(preset, preset)
