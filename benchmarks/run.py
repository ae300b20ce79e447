"""Run the benchmark suite and rewrite ``benchmarks/RESULTS.md``, ``results.json`` and ``results.png``.

    python -m benchmarks.run                 # full (make bench)
    python -m benchmarks.run --quick         # minutes (make bench-quick)
    python -m benchmarks.run --only throughput,distributed
    python -m benchmarks.run --only throughput --presets vae_iaf_fashion_mnist
    python -m benchmarks.run --gpu [--dry-run]  # benchmarks/gpu.sh: gpu_results.json/.md beside --out

With ``--only``, the other sections keep their numbers from the existing ``results.json``; with
``--presets``, so do the throughput rows of the other presets (at the same scale).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import report

SECTIONS = (
    "throughput",
    "distributed",
    "pixelcnn_sampling",
    "pipeline_overhead",
    "input_pipeline",
    "quality",
    "time_to_quality",
    "utilisation",
    "bf16_parity",
)
HERE = Path(__file__).resolve().parent


def _section(name: str, scale: str, workdir: Path, results: dict, presets: list[str]) -> dict:
    """Run one section; its inputs may come from sections run before it."""
    if name == "throughput":
        from benchmarks import throughput

        new = throughput.run(scale, workdir / name, presets=presets or None)
        previous = results.get("throughput", {})
        if presets and previous.get("scale") == scale and "result" in previous:
            return throughput.merge(previous["result"], new)
        return new
    if name == "distributed":
        from benchmarks import distributed

        return distributed.run(scale, workdir / name)
    if name == "pixelcnn_sampling":
        try:
            from benchmarks import pixelcnn_sampling
        except ImportError as e:
            return {"not_available": f"benchmarks.pixelcnn_sampling cannot be imported: {e}"}
        return pixelcnn_sampling.run(scale != "full")
    if name == "pipeline_overhead":
        from benchmarks import pipeline_overhead

        return pipeline_overhead.run(scale, workdir / name)
    if name == "input_pipeline":
        from benchmarks import input_pipeline

        rate = _throughput_rate(results, "dcgan_fashion_mnist")
        return input_pipeline.run(scale, workdir / name, train_examples_per_s=rate)
    if name == "quality":
        from benchmarks import quality

        rates = {
            r["preset"]: r["genlab_examples_per_s"]
            for r in results.get("throughput", {}).get("result", {}).get("families", [])
        }
        return quality.run(scale, workdir / name, rates=rates)
    if name == "time_to_quality":
        from benchmarks import time_to_quality

        return time_to_quality.run(scale, workdir / name)
    if name == "utilisation":
        from benchmarks import utilisation

        return utilisation.run(scale, workdir / name, allreduce=results.get("distributed", {}).get("result"))
    if name == "bf16_parity":
        from benchmarks import bf16_parity

        return bf16_parity.run(scale, workdir / name)
    raise ValueError(f"--only: unknown section {name!r}; expected one of: {', '.join(SECTIONS)}")


def _throughput_rate(results: dict, preset: str) -> float | None:
    for row in results.get("throughput", {}).get("result", {}).get("families", []):
        if row["preset"] == preset:
            return row["genlab_examples_per_s"]
    return None


def run_suite(
    scale: str, only: list[str], out: Path, keep_workdir: bool = False, presets: list[str] | None = None
) -> dict:
    json_path = out.with_name("results.json")
    previous = json.loads(json_path.read_text()) if only and json_path.is_file() else {}
    sections = dict(previous.get("sections", {}))
    workdir = Path(tempfile.mkdtemp(prefix="genlab-bench-"))
    try:
        for name in only or SECTIONS:
            (workdir / name).mkdir(parents=True, exist_ok=True)
            print(f"== {name} ({scale})", flush=True)
            t0 = time.perf_counter()
            try:
                entry = {"result": _section(name, scale, workdir, sections, presets or [])}
            except (Exception, SystemExit) as e:  # record it and go on: the other numbers still count
                traceback.print_exc()  # (genlab.steps turns a user error into SystemExit(2))
                entry = {"error": f"{type(e).__name__}: {e}"[:1000]}
            entry.update(scale=scale, seconds=time.perf_counter() - t0, date=time.strftime("%Y-%m-%d %H:%M"))
            sections[name] = entry
            # written after every section, so an interrupted suite keeps what it measured
            report.write_all({"machine": report.machine_info(), "scale": scale, "sections": sections}, out)
            print(
                f"== {name}: {entry['seconds']:.0f}s"
                + (f" ERROR {entry['error']}" if "error" in entry else ""),
                flush=True,
            )
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results = {"machine": report.machine_info(), "scale": scale, "sections": sections}
    report.write_all(results, out)
    return results


def _gpu_run(folder: Path, dry_run: bool, keep_workdir: bool) -> int:
    if dry_run:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the CPU, even on a GPU machine
    from benchmarks import gpu

    if not dry_run and gpu.device() == "CPU":
        print(
            "benchmarks.run --gpu: TensorFlow sees no GPU (pip install '.[gpu]'; nvidia-smi); "
            "use --dry-run to run on the CPU",
            file=sys.stderr,
        )
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="genlab-bench-gpu-"))
    try:
        paths = gpu.write(gpu.run("tiny" if dry_run else "quick", workdir), folder)
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {paths[0]}, {paths[1]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes: the whole suite in minutes")
    size.add_argument("--tiny", action="store_true", help="smallest sizes (the tests)")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument(
        "--presets", default="", help="comma-separated presets: re-measure only their throughput"
    )
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="the Markdown report to write")
    parser.add_argument(
        "--gpu", action="store_true", help="the GPU run (benchmarks.gpu) instead of the suite"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --gpu: the same run on the CPU at the tiny scale"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep the prepared data and models")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown section {unknown[0]!r}; expected one of: {', '.join(SECTIONS)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.dry_run and not args.gpu:
        parser.error("--dry-run: only with --gpu")
    if args.gpu:
        return _gpu_run(Path(args.out).parent, args.dry_run, args.keep_workdir)
    scale = "tiny" if args.tiny else "quick" if args.quick else "full"
    out = Path(args.out)
    presets = [s.strip() for s in args.presets.split(",") if s.strip()]
    if presets and only != ["throughput"]:
        parser.error("--presets: only with --only throughput")
    results = run_suite(scale, only, out, args.keep_workdir, presets)
    failed = [k for k, v in results["sections"].items() if "error" in v]
    print(
        f"wrote {out}, {out.with_name('results.json')}, {out.with_name('results.png')}"
        + (f"; sections with errors: {', '.join(failed)}" if failed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
