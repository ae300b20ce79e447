"""``genlab compare RUN...``: one self-contained HTML page comparing runs side by side.

Each RUN is a run folder (``runs/<pipeline>-<time>`` from ``genlab run``) or a model folder. From
each it reads the model's ``model.json`` and ``history.json``, the evaluate step's metrics
(kfp.local's ``evaluate-model/executor_output.json``, or a ``metrics.json`` from
``genlab evaluate --out``) and the sample grid ``samples.png``. The page shows metrics next to
their real-data floors, one column per run, then loss curves and sample grids side by side.
FIDs are comparable only between runs that name the same feature extractor; the page says so.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import tensorflow as tf

from genlab import io, report
from genlab.errors import DataError
from genlab.evaluate.metrics import FEATURE_EXTRACTOR
from genlab.portable import MODEL_MARKER, find_model


@dataclass
class Run:
    name: str
    folder: str
    model: dict
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    samples_png: bytes | None = None


def _first(folder: str, patterns: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        found = sorted(tf.io.gfile.glob(io.join(folder, pattern)))
        if found:
            return found[0]
    return None


def _metrics(folder: str) -> dict:
    out = _first(folder, ("evaluate-model/executor_output.json",))
    if out:  # kfp.local: the Metrics artifact's metadata
        artifacts = io.read_json(out).get("artifacts", {}).get("metrics", {}).get("artifacts", [])
        return dict(artifacts[0].get("metadata", {})) if artifacts else {}
    found = _first(folder, ("metrics.json", "*/metrics.json"))
    return io.read_json(found) if found else {}


def load_run(path: str) -> Run:
    path = str(path).rstrip("/")
    model_dir = find_model(path)
    folder = path if model_dir != path else model_dir
    history = io.join(model_dir, "history.json")
    samples = _first(folder, ("samples.png", "*/samples.png", "*/*/samples.png"))
    return Run(
        name=path.rsplit("/", 1)[-1],
        folder=folder,
        model=io.read_json(io.join(model_dir, MODEL_MARKER)),
        metrics=_metrics(folder),
        history=io.read_json(history) if io.exists(history) else [],
        samples_png=io.read_bytes(samples) if samples else None,
    )


def _cell(metrics: dict, key: str) -> str:
    value = metrics.get(key)
    if not report.is_number(value):
        return ""
    floor = metrics.get(key + report.FLOOR)
    return f"{value:.4g}" + (f" <small>(floor {floor:.4g})</small>" if report.is_number(floor) else "")


def build(runs: list[Run]) -> str:
    names = [html.escape(r.name) for r in runs]
    keys = sorted(
        {
            k
            for r in runs
            for k, v in r.metrics.items()
            if report.is_number(v) and not k.endswith(report.FLOOR)
        }
    )
    headline = [k for k in report.HEADLINE if k in keys]
    keys = headline + [k for k in keys if k not in headline]
    extractors = {r.metrics.get(FEATURE_EXTRACTOR) for r in runs if r.metrics.get(FEATURE_EXTRACTOR)}
    h = [
        "<!doctype html><html><head><meta charset='utf-8'><title>genlab: compare runs</title>",
        "<style>body{font-family:sans-serif;margin:2em;}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th:first-child,td:first-child"
        "{text-align:left}.side{display:flex;gap:1.5em;flex-wrap:wrap}figure{margin:0}"
        "img{max-width:460px;image-rendering:pixelated}.warn{color:#a40}</style></head><body>",
        f"<h1>genlab: {len(runs)} runs compared</h1>",
        "<h2>Runs</h2><table class='runs'><tr><th>run</th><th>family</th><th>dataset</th><th>steps</th>"
        "<th>feature extractor</th></tr>",
    ]
    for name, r in zip(names, runs, strict=True):
        exp = r.model.get("experiment", {})
        h.append(
            f"<tr><td>{name}</td><td>{html.escape(r.model['family'])}</td>"
            f"<td>{html.escape(str(exp.get('data', {}).get('dataset', '')))}</td><td>{r.model['steps']}</td>"
            f"<td><code>{html.escape(str(r.metrics.get(FEATURE_EXTRACTOR, ''))[:12])}</code></td></tr>"
        )
    h.append("</table>")
    if len(extractors) > 1:
        h.append(
            "<p class='warn'>These runs measured FID/KID/precision/recall with different feature extractors: "
            "their numbers are in different feature spaces and not comparable.</p>"
        )
    h += ["<h2>Metrics</h2><p>Each value with its real-data floor, the best a model can reach.</p>"]
    h.append("<table class='compare'><tr><th>metric</th>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>")
    h += [
        f"<tr><td>{k}</td>" + "".join(f"<td>{_cell(r.metrics, k)}</td>" for r in runs) + "</tr>" for k in keys
    ]
    h.append("</table>")
    for title, pictures in (
        ("Loss curves", [report.loss_curves_png(r.history) for r in runs]),
        ("Samples", [r.samples_png for r in runs]),
    ):
        h += [f"<h2>{title}</h2><div class='side'>"]
        for name, png in zip(names, pictures, strict=True):
            body = report.img_tag(png, f"{title} of {name}") if png else "<p>(none found)</p>"
            h.append(f"<figure>{body}<figcaption>{name}</figcaption></figure>")
        h.append("</div>")
    h.append("</body></html>")
    return "\n".join(h)


def compare(paths: list[str], out: str) -> str:
    if not paths:
        raise DataError("compare: name at least one run folder")
    io.write_text(out, build([load_run(p) for p in paths]))
    return out
