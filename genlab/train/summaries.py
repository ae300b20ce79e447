"""What TensorBoard shows of a run beyond the loss scalars: the hparams and a sample grid per checkpoint.

The hparams are the config's scalar settings, so TensorBoard's HPARAMS tab can line up runs by
learning rate, batch, model size. The grid is drawn from fixed latent vectors (``generate.seed``),
so the IMAGES tab's step slider shows the same samples improving.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

GRID = 4  # a 4 x 4 grid: enough to judge variety, cheap to sample at every checkpoint


def hparams_of(exp) -> dict:
    """The config's scalar settings as ``section.key -> value`` (bool, int, float or str)."""
    values = {"model.family": exp.model.family}
    for section in ("model", "data", "train"):
        for key, value in exp.to_dict()[section].items():
            if isinstance(value, bool | int | float | str) and key != "family":
                values[f"{section}.{key}"] = value
    return values


def write_hparams(writer, exp, precision: str) -> None:
    """``precision``: what train.mixed_precision resolved to (auto differs between machines)."""
    with writer.as_default():
        hp.hparams({**hparams_of(exp), "train.precision": precision}, trial_id=exp.name)


def sample_grid(model, seed: int) -> np.ndarray | None:
    """One (1, H*GRID, W*GRID, C) image of GRID x GRID samples; None for models without samples."""
    images = model.summary_samples(GRID * GRID, seed)
    if images is None:  # e.g. text and music families report their own outputs
        return None
    images = np.clip(np.asarray(images), 0.0, 1.0)
    n, h, w, c = images.shape
    grid = images.reshape(GRID, GRID, h, w, c).transpose(0, 2, 1, 3, 4).reshape(GRID * h, GRID * w, c)
    return grid[None]


def write_samples(writer, model, seed: int, step: int) -> None:
    grid = sample_grid(model, seed)
    if grid is not None:
        with writer.as_default(step=step):
            tf.summary.image("samples", grid, max_outputs=1)
