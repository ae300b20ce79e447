"""Generation: the family's pictures and sections (``GenerativeModel.report``) and the run's summary,
history and metrics, in one report. ``generate`` is the entry point."""

from __future__ import annotations

import time
from dataclasses import dataclass

from genlab import io, report


@dataclass(frozen=True)
class Samples:
    out_dir: str
    report_html: str
    report_md: str


def generate(exp, model_uri: str, data_uri: str, out_dir: str, metrics: dict | None = None) -> Samples:
    """Sample the trained model at ``model_uri`` and write pictures and the report into ``out_dir``."""
    from genlab.train.fid_curve import FILE as FID_CURVE
    from genlab.train.loop import MODEL_MARKER, load_model

    trained_exp, model = load_model(model_uri, data_uri)
    io.makedirs(out_dir)
    pictures, sections = model.report(out_dir, exp, data_uri)  # the family's pictures and sections

    meta = io.read_json(io.join(model_uri, MODEL_MARKER))
    history_path = io.join(model_uri, "history.json")
    history = io.read_json(history_path) if io.exists(history_path) else []
    curve_path = io.join(model_uri, FID_CURVE)
    curve = io.read_json(curve_path) if io.exists(curve_path) else []
    rates = sorted(h["examples_per_sec"] for h in history[1:]) if len(history) > 1 else []
    summary = {
        "model": trained_exp.model.family,
        "dataset": trained_exp.data.dataset,
        "steps": meta["steps"],
        "global batch": trained_exp.train.batch_size,
        "workers": trained_exp.train.workers,
        "precision": meta.get("precision", "float32"),  # train.mixed_precision as resolved (auto)
        "median examples/s": f"{rates[len(rates) // 2]:.0f}" if rates else "n/a",
    }
    if meta.get("train_seconds"):
        summary["training wall time"] = f"{meta['train_seconds']:.0f} s"
        # model.json is written when training ends: from then to this report is evaluate + generate
        summary["run wall time (training start to report)"] = (
            f"{meta['train_seconds'] + max(0.0, time.time() - _modified(io.join(model_uri, MODEL_MARKER))):.0f} s"
        )
    html_text, md_text = report.build(
        f"genlab: {exp.name}",
        summary=summary,
        pictures=pictures,
        metrics=metrics or {},
        history=history,
        sections=sections,
        fid_curve=curve,
    )
    html_path, md_path = report.write(out_dir, html_text, md_text)
    return Samples(out_dir, html_path, md_path)


def _modified(uri: str) -> float:
    import tensorflow as tf

    return tf.io.gfile.stat(uri).mtime_nsec / 1e9
