"""The run report: one self-contained HTML page (pictures embedded) and a Markdown twin.

The HTML is what a Kubeflow dashboard shows for the generation step's ``dsl.HTML`` artifact,
so it carries the sample grid, the interpolation, the loss curves and the metrics table itself.
"""

from __future__ import annotations

import base64
import html
import io as _io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genlab import io  # noqa: E402

FLOOR = "_floor"
# Shown at the top of the report, in this order, where the family has them.
HEADLINE = ("fid", "kid", "precision", "recall", "class_accuracy", "bits_per_dim", "elbo", "perplexity")
FEATURE_EXTRACTOR = "feature_extractor_sha256"  # = genlab.evaluate.metrics.FEATURE_EXTRACTOR (no scipy here)


def loss_curves_png(history: list[dict]) -> bytes | None:
    if not history:
        return None
    keys = [k for k in history[0] if k not in ("step", "examples_per_sec")]
    steps = [h["step"] for h in history]
    return curves_png({k: (steps, [h.get(k) for h in history]) for k in keys}, "step", "loss")


def curves_png(series: dict[str, tuple[list, list]], xlabel: str, ylabel: str, log_y: bool = False) -> bytes:
    """One line per name -> (x values, y values), as PNG bytes."""
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def metrics_rows(metrics: dict, keys=None) -> list[tuple[str, str, str]]:
    """(metric, value, real-data floor) rows; floors sit beside the metric they bound.
    Only numbers: the feature extractor's checksum is shown on its own line."""
    rows = []
    for key in keys or sorted(k for k in metrics if not k.endswith(FLOOR)):
        if key not in metrics or not is_number(metrics[key]):
            continue
        floor = metrics.get(key + FLOOR)
        rows.append((key, f"{metrics[key]:.4g}", "" if floor is None else f"{floor:.4g}"))
    return rows


def headline_rows(metrics: dict) -> list[tuple[str, str, str]]:
    return metrics_rows(metrics, [k for k in HEADLINE if k in metrics])


def metrics_table(rows: list[tuple[str, str, str]], css_class: str) -> list[str]:
    h = [f"<table class='{css_class}'><tr><th>metric</th><th>value</th><th>real-data floor</th></tr>"]
    h += [f"<tr><td>{k}</td><td>{v}</td><td>{f}</td></tr>" for k, v, f in rows]
    return [*h, "</table>"]


def build(
    title: str,
    *,
    summary: dict,
    pictures: list[tuple[str, bytes]],
    metrics: dict[str, float],
    history: list[dict],
    sections: list[tuple[str, str]] = (),
    fid_curve: list[dict] = (),
) -> tuple[str, str]:
    """(HTML, Markdown) of the report. ``fid_curve``: the training checkpoints' FID points
    (``genlab.train.fid_curve``)."""
    curves = loss_curves_png(history)
    rows = metrics_rows(metrics)
    h = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}img{max-width:100%;image-rendering:pixelated}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table>",
    ]
    h += [
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
    ]
    h.append("</table>")
    headline = headline_rows(metrics)
    if headline:
        h += ["<h2>Headline metrics</h2>", *metrics_table(headline, "headline")]
    extractor = metrics.get(FEATURE_EXTRACTOR)
    if extractor:
        h.append(
            f"<p class='feature-space'>Feature space: extractor sha256 <code>{html.escape(str(extractor))}</code>. "
            "FID, KID, precision and recall of two runs are comparable when they name the same extractor.</p>"
        )
    for name, png in pictures:
        h += [f"<h2>{html.escape(name)}</h2>", img_tag(png, name)]
    if curves:
        h += ["<h2>Loss curves</h2>", img_tag(curves, "loss curves")]
    if fid_curve:
        n = fid_curve[-1]["samples"]
        png = curves_png(
            {f"fid ({n} samples)": ([p["step"] for p in fid_curve], [p["fid"] for p in fid_curve])},
            "step",
            "fid",
        )
        h += [
            "<h2>FID during training</h2>",
            f"<p>At every checkpoint, {n} samples against {n} test images in the same feature space as the "
            "metrics below. Fewer samples bias FID upwards: read the trend, quote the table.</p>",
            img_tag(png, "fid during training"),
        ]
    if rows:
        h += [
            "<h2>Metrics</h2>",
            "<p>The floor compares real training images with the test split: "
            "the value a perfect model would reach with this many samples.</p>",
            *metrics_table(rows, "metrics"),
        ]
    for name, fragment in sections:
        h += [f"<h2>{html.escape(name)}</h2>", fragment]
    h.append("</body></html>")

    md = [f"# {title}", ""] + [f"- **{k}**: {v}" for k, v in summary.items()] + [""]
    if headline:
        md += [
            "Headline: " + ", ".join(f"{k} {v}" + (f" (floor {f})" if f else "") for k, v, f in headline),
            "",
        ]
    if extractor:
        md += [f"Feature space: extractor sha256 `{extractor}`", ""]
    if fid_curve:
        md += ["FID during training: " + ", ".join(f"step {p['step']} {p['fid']:.4g}" for p in fid_curve), ""]
    if rows:
        md += ["| metric | value | real-data floor |", "|---|---:|---:|"] + [
            f"| {k} | {v} | {f} |" for k, v, f in rows
        ]
    return "\n".join(h), "\n".join(md) + "\n"


def write(out_dir: str, html_text: str, md_text: str) -> tuple[str, str]:
    html_path, md_path = io.join(out_dir, "report.html"), io.join(out_dir, "report.md")
    io.write_text(html_path, html_text)
    io.write_text(md_path, md_text)
    return html_path, md_path
