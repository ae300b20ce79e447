"""Small validation helpers shared by ``genlab.config`` and the families' ``*_config`` modules.

They live apart from ``genlab.config`` so that a config module imports them at the top: ``config``
loads the family config modules, so importing ``config`` from them would be a cycle. No TensorFlow
here, nor anything that imports it (``genlab run`` validates a config before TensorFlow loads).
"""

from __future__ import annotations

import difflib

from genlab.errors import ConfigError


def did_you_mean(word: str, options) -> str:
    """`` (did you mean 'x'?)`` for a close match among ``options``, else ""."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_min(obj, section: str, **minimums) -> None:
    """Each named integer field of ``obj`` is at least its minimum, else a ConfigError naming
    ``<section>.<field>``."""
    for name, low in minimums.items():
        value = getattr(obj, name)
        if value < low:
            raise ConfigError(f"{section}.{name}: expected an integer >= {low}, got {value}")


def check_batch_splits(train, parts: int, name: str, why: str) -> None:
    """``train.batch_size`` splits into ``parts`` equal parts on each of ``train.workers`` workers
    (so 1 and N workers cut the same parts); else a ConfigError saying ``why`` it must."""
    per = parts * train.workers
    if train.batch_size % per:
        raise ConfigError(
            f"train.batch_size: {why}; expected a multiple of {name} x train.workers = {per}, "
            f"got {train.batch_size}"
        )
