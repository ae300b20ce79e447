"""Portable copies of a trained model, written beside its weights by the training loop.

- ``model.json["spec"]``: the data facts the networks were built from (shape, classes,
  vocabulary), so ``genlab.load`` rebuilds the model without the prepared dataset.
- ``<network>.keras``: each sampling network as a Keras 3 archive (``keras.saving.load_model``).
- ``serving/1/``: a TensorFlow SavedModel whose ``serving_default`` signature is the family's
  generator (``z -> image``, ``z, label -> image``, ``prompt -> text``). The numbered folder is
  the layout TF Serving and KServe's TensorFlow runtime expect: a model base path holding one
  folder per version (tensorflow/serving, tensorflow_serving/g3doc/serving_basic.md; KServe's
  "Deploying TensorFlow Models" points ``storageUri`` at such a base path).
"""

from __future__ import annotations

import dataclasses
import os

import keras
import tensorflow as tf

from genlab import io

SERVING_DIR = "serving"
SERVING_VERSION = "1"


def spec_to_json(spec) -> dict:
    d = dataclasses.asdict(spec)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def spec_from_json(d: dict):
    from genlab.models.base import DataSpec

    fields = {f.name for f in dataclasses.fields(DataSpec)}
    return DataSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in fields})


def save_portable(model, directory: str) -> list[str]:
    """``.keras`` files of the sampling networks and the SavedModel into a local ``directory``;
    returns the names written (relative to it)."""
    written = []
    for name in model.sampling_networks:
        model.networks[name].save(os.path.join(directory, f"{name}.keras"))
        written.append(f"{name}.keras")
    serving = model.serving_function()
    if serving is not None:
        archive = keras.export.ExportArchive()
        for net in model.networks.values():
            archive.track(net)
        fn, signature = serving
        archive.add_endpoint("serving_default", fn, input_signature=signature)
        path = os.path.join(directory, SERVING_DIR, SERVING_VERSION)
        archive.write_out(path, verbose=False)
        written.append(f"{SERVING_DIR}/{SERVING_VERSION}")
    return written


def copy_tree(src: str, dest: str) -> None:
    """Copy a local folder to a local path or ``gs://`` prefix; each file lands whole (tmp + rename)."""
    for root, _, files in os.walk(src):
        rel = os.path.relpath(root, src)
        target = dest if rel == "." else io.join(dest, *rel.split(os.sep))
        io.makedirs(target)
        for f in files:
            tmp = io.join(target, f + ".tmp")
            with io.storage_errors(dest):
                tf.io.gfile.copy(os.path.join(root, f), tmp, overwrite=True)
                tf.io.gfile.rename(tmp, io.join(target, f), overwrite=True)
