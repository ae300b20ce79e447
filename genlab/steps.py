"""The adapters between kfp components and the library: parse inputs, call, write outputs.

Each kfp component body is one call into this module, so everything a step does can be tested
without kfp. A ``GenlabError`` is printed as one line and the step exits with code 2.
"""

from __future__ import annotations

import dataclasses
import functools
import sys

from genlab import config, io
from genlab.errors import ConfigError, GenlabError


def user_errors_exit(fn):
    """A user error ends the step with one clear line instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GenlabError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    return wrapper


def with_overrides(config_json: str, *, workers: int = 0, gpus_per_worker: int = -1, steps: int = 0):
    """The experiment, with the few parameters a pipeline run may change applied on top."""
    exp = config.from_json(config_json)
    changes = {}
    if workers > 0:
        changes["workers"] = workers
    if gpus_per_worker >= 0:
        changes["gpus_per_worker"] = gpus_per_worker
    if steps > 0:
        changes["steps"] = steps
    if not changes:
        return exp
    merged = config.merge(exp.to_dict(), {"train": changes})
    return config.experiment_from_dict(merged, "pipeline parameters")


# The Run form's typed knobs: each sets train.<name>; their defaults are the compiled preset's values.
RUN_KNOBS = ("steps", "batch_size", "learning_rate", "seed", "mixed_precision", "workers", "gpus_per_worker")


def mixed_precision_knob(value: bool | str) -> str:
    """``train.mixed_precision`` as the Run form's text parameter: auto, true or false."""
    return value if isinstance(value, str) else str(value).lower()


@user_errors_exit
def resolve_config(config_json: str, overrides: list | None = None, **knobs) -> tuple[str, str]:
    """The Run form applied to the compiled-in config and validated, before any step works.

    Knobs first, then ``overrides`` (``key=value`` strings, as ``--set``), so an override wins.
    Returns (the experiment's JSON, the JSON of what data preparation reads): the prepare step
    gets only the second, so its cache survives edits to training settings.
    """
    unknown = sorted(set(knobs) - set(RUN_KNOBS))
    if unknown:
        raise TypeError(f"resolve_config: unknown knobs {unknown}")
    if not isinstance(overrides, list | tuple | type(None)) or not all(
        isinstance(o, str) for o in overrides or []
    ):
        raise ConfigError(
            f'overrides: expected a list of key=value strings, e.g. ["train.epochs=2"], got {overrides!r}'
        )
    if isinstance(knobs.get("mixed_precision"), str):  # the Run form's text; anything else fails in config
        text = knobs["mixed_precision"]
        knobs["mixed_precision"] = {"true": True, "false": False}.get(text.strip().lower(), text)
    base = config.from_json(config_json).to_dict()
    changed = {k: v for k, v in knobs.items() if base["train"][k] != v}  # errors name only these
    exp = config.apply_overrides(base, {"train": changed}, "config_json", origin="Run parameter")
    sets = config.parse_overrides(list(overrides or []), origin="overrides")
    exp = config.apply_overrides(exp.to_dict(), sets, "Run parameters", origin="overrides")
    return exp.to_json(), data_config(exp).to_json()


def data_config(exp) -> config.Experiment:
    """Only what ``genlab.data.prepare`` reads: the data section, the model family, and a text
    model's ``seq_len`` (the windows it cuts); everything else at its default."""
    model = {"family": exp.model.family}
    if hasattr(exp.model, "seq_len"):
        model["seq_len"] = exp.model.seq_len
    return config.experiment_from_dict(
        {"name": "data", "model": model, "data": dataclasses.asdict(exp.data)}, "data section"
    )


@user_errors_exit
def prepare_data(config_json: str, dataset_path: str) -> dict:
    from genlab import data

    manifest = data.prepare(config.from_json(config_json), dataset_path)
    return {
        "dataset": manifest.dataset,
        "checksum": manifest.checksum,
        **{f"{split}_examples": manifest.count(split) for split in manifest.splits},
    }


@user_errors_exit
def train_model(
    config_json: str,
    dataset_path: str,
    model_path: str,
    *,
    workers: int,
    gpus_per_worker: int,
    steps: int,
    **launch,
) -> dict:
    """The train step: the pipeline's parameters applied to the config, ``train`` (``launch``: its
    ``launcher``, images and launcher options), then the model's metadata."""
    exp = with_overrides(config_json, workers=workers, gpus_per_worker=gpus_per_worker, steps=steps)
    train(exp, dataset_path, model_path, **launch)
    return model_metadata(exp, model_path)


def train(
    exp,
    dataset_path: str,
    model_path: str,
    *,
    launcher: str,
    trainer_image: str = "",
    trainer_gpu_image: str = "",
    launcher_options: dict | None = None,
) -> None:
    """Train ``exp`` with ``launcher`` (``local``, ``tfjob`` or ``auto``): the train step and ``genlab train``.

    ``auto`` is resolved first, then that launcher's options are built from the config:
    ``train.max_restarts`` for both (a TFJob's ``backoffLimit`` is it x the replicas), and for a TFJob the
    ``cluster`` section and the image: ``trainer_gpu_image`` when workers get GPUs, else
    ``trainer_image``, both fixed when the pipeline was compiled ("" = this process's
    ``genlab.images``).
    """
    from genlab.launch import TrainJob, get_launcher
    from genlab.launch.base import resolve_launcher, unique_name

    kind = resolve_launcher(launcher)
    job = TrainJob(
        config_json=exp.to_json(),
        data_uri=dataset_path,
        model_uri=model_path,
        workers=exp.train.workers,
        gpus_per_worker=exp.train.gpus_per_worker,
        # A TFJob's name must be new in its namespace; a local job's name only appears in messages.
        name=unique_name(exp.name) if kind == "tfjob" else exp.name,
    )
    options = {"max_restarts": exp.train.max_restarts}
    if kind == "tfjob":
        options["cluster"] = exp.cluster
        image = trainer_gpu_image if exp.train.gpus_per_worker > 0 else trainer_image
        if image:
            options["image"] = image
    options.update(launcher_options or {})
    get_launcher(kind, **options).run(job)


def model_metadata(exp, model_path: str) -> dict:
    """The ``Output[Model]`` metadata the dashboard shows: what it is, what made it, how it ended."""
    import keras
    import tensorflow as tf

    from genlab import __version__

    meta = io.read_json(io.join(model_path, "model.json"))
    history_path = io.join(model_path, "history.json")
    history = io.read_json(history_path) if io.exists(history_path) else []
    last = history[-1] if history else {}
    return {
        "family": meta["family"],
        "framework": "tensorflow",
        "framework_version": tf.__version__,
        "keras_version": keras.__version__,
        "genlab_version": __version__,
        "steps": meta["steps"],
        "workers": exp.train.workers,
        "precision": meta.get("precision", "float32"),  # train.mixed_precision as resolved (auto)
        "dataset_checksum": meta.get("dataset_checksum", ""),
        **{f"final_{k}": v for k, v in last.items() if k not in ("step", "examples_per_sec")},
    }


@user_errors_exit
def evaluate_model(config_json: str, dataset_path: str, model_path: str, details: dict | None = None) -> dict:
    from genlab.evaluate import evaluate

    return evaluate(config.from_json(config_json), dataset_path, model_path, details)


@user_errors_exit
def generate_samples(
    config_json: str,
    dataset_path: str,
    model_path: str,
    metrics: dict,
    samples_dir: str,
    report_path: str,
    markdown_path: str | None = None,
) -> dict:
    """Pictures into ``samples_dir``; the report's HTML (and Markdown) copied to the kfp artifact paths."""
    from genlab.generate import generate

    exp = config.from_json(config_json)
    result = generate(exp, model_path, dataset_path, samples_dir, metrics)
    io.write_bytes(report_path, io.read_bytes(result.report_html))
    if markdown_path:
        io.write_bytes(markdown_path, io.read_bytes(result.report_md))
    return {k: v for k, v in dataclasses.asdict(result).items() if v}
