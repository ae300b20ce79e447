"""Record finished `genlab run` folders as a committed result: benchmarks/preset_runs.{json,md}.

A preset's measured quality (its metrics next to their floors, after the preset's own steps) is
quoted by the docs; this keeps those numbers in a file, read from the runs themselves:

    python -m benchmarks.record_runs runs/genlab-pix2pix-edges2fashion-<time> [--cpu-seconds N] [--note TEXT]

Each run replaces the earlier entry of the same preset. ``--cpu-seconds`` is the whole pipeline's
user+system time as `/usr/bin/time` measured it (not in the run folder); ``--note`` says under what
conditions (e.g. "shared machine, nice -n 15").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "preset_runs.json"


def read_run(run_dir: Path) -> dict:
    """The preset, its training settings, final step, examples/s and metrics of one run folder."""
    model = json.loads((run_dir / "train-model" / "model" / "model.json").read_text())
    history = json.loads((run_dir / "train-model" / "model" / "history.json").read_text())
    out = json.loads((run_dir / "evaluate-model" / "executor_output.json").read_text())
    metrics = out["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    train = model["experiment"]["train"]
    rates = sorted(h["examples_per_sec"] for h in history if "examples_per_sec" in h)
    return {
        "preset": model["experiment"]["name"],
        "family": model["family"],
        "run": run_dir.name,
        "steps": model["steps"],
        "batch_size": train["batch_size"],
        "workers": train["workers"],
        "examples_per_sec_median": rates[len(rates) // 2] if rates else None,
        "metrics": {k: v for k, v in sorted(metrics.items()) if isinstance(v, int | float)},
    }


def render(entries: list[dict]) -> str:
    lines = [
        "# Preset runs",
        "",
        "Written by `python -m benchmarks.record_runs` from finished `genlab run` folders; the docs quote",
        "these numbers. Metrics are each next to its real-data floor where the family has one.",
        "",
    ]
    for e in entries:
        lines.append(f"## {e['preset']} ({e['family']})")
        lines.append("")
        cpu = f", pipeline CPU time {e['cpu_seconds']:.0f} s" if e.get("cpu_seconds") else ""
        rate = e["examples_per_sec_median"]
        lines.append(
            f"{e['steps']} steps × batch {e['batch_size']} on {e['workers']} worker(s)"
            + (f", median {rate:.0f} examples/s" if rate else "")
            + cpu
            + (f"; {e['note']}" if e.get("note") else "")
            + f". Run `{e['run']}`."
        )
        lines += ["", "| metric | value | floor |", "|---|---:|---:|"]
        m = e["metrics"]
        for k, v in m.items():
            if k.endswith("_floor"):
                continue
            floor = m.get(f"{k}_floor")
            lines.append(f"| {k} | {v:.4g} | {'' if floor is None else f'{floor:.4g}'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--cpu-seconds", type=float, default=None)
    p.add_argument("--note", default="")
    args = p.parse_args(argv)
    entries = {e["preset"]: e for e in (json.loads(RESULTS.read_text()) if RESULTS.exists() else [])}
    for run in args.runs:
        e = read_run(run)
        e.update({"cpu_seconds": args.cpu_seconds, "note": args.note})
        entries[e["preset"]] = e
    ordered = [entries[k] for k in sorted(entries)]
    RESULTS.write_text(json.dumps(ordered, indent=1) + "\n")
    (HERE / "preset_runs.md").write_text(render(ordered))
    print(f"wrote {RESULTS} and preset_runs.md ({len(ordered)} presets)")


if __name__ == "__main__":
    main()
