"""The adapters between kfp components and the library: parse inputs, call, write outputs.

Each kfp component body is one call into this module, so everything a step does can be tested
without kfp. A ``GenlabError`` is printed as one line and the step exits with code 2.
"""

from __future__ import annotations

import dataclasses
import functools
import sys

from genlab import config, io
from genlab.errors import GenlabError


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
    launcher: str,
    launcher_options: dict | None = None,
) -> dict:
    from genlab.launch import TrainJob, get_launcher

    exp = with_overrides(config_json, workers=workers, gpus_per_worker=gpus_per_worker, steps=steps)
    job = TrainJob(
        config_json=exp.to_json(),
        data_uri=dataset_path,
        model_uri=model_path,
        workers=exp.train.workers,
        gpus_per_worker=exp.train.gpus_per_worker,
        name=_job_name(exp.name),
    )
    options = dict(launcher_options or {})
    if launcher in ("local", "auto") and "max_restarts" not in options:
        options["max_restarts"] = exp.train.max_restarts
    get_launcher(launcher, **options).run(job)
    meta = io.read_json(io.join(model_path, "model.json"))
    return {"family": meta["family"], "steps": meta["steps"], "workers": exp.train.workers}


def _job_name(name: str) -> str:
    import time

    safe = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return f"{safe[:40]}-{int(time.time())}"


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
