"""The ``genlab`` command.

    genlab presets                           list presets
    genlab run PRESET|FILE [--workers N] [--set key=value ...]   the whole pipeline with kfp.local
    genlab compile PRESET|FILE -o pipeline.yaml                  IR YAML for the Kubeflow dashboard
    genlab submit PRESET|FILE --host URL [--namespace NS] [--experiment E] [--run-name R] [--wait]
                  [--token T|@FILE] [--cookies C|@FILE] [--client-id ID [--other-client-id ID --other-client-secret S|@FILE]]
    genlab prepare|train|evaluate|generate ...                   one step, straight into the library
    genlab compare RUN... [-o compare.html]                      runs side by side on one page
    genlab translate MODEL --input IMAGE_OR_FOLDER --out DIR [--reverse]   apply pix2pix / CycleGAN

A user error (bad preset, key, value, data, unreachable host) prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from genlab import __version__, config
from genlab.errors import GenlabError


def _pipeline():
    """The kfp pipeline module, from the genlab checkout (see pyproject.toml: not installed)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "pipelines" / "genlab_pipeline.py").is_file():
        raise GenlabError(
            f"{root}: no pipelines/genlab_pipeline.py; `genlab run|compile|submit` need a genlab "
            f"checkout installed with `pip install -e '.[cpu]'` (or '.[gpu]')"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import pipelines.genlab_pipeline

    return pipelines.genlab_pipeline


def _load(args) -> config.Experiment:
    return config.load(args.preset, config.parse_overrides(args.set or []))


def cmd_presets(args) -> None:
    for name in config.preset_names():
        if args.names:
            print(name)
            continue
        data = config.read_yaml(config.preset_path(name))
        family = (data.get("model") or {}).get("family", "?")
        print(f"{name:32s} {family:15s} {data.get('description', '')}")


def _run_overrides(args) -> dict:
    sets = config.parse_overrides(args.set or [])
    if args.workers:
        sets = config.merge(sets, {"train": {"workers": args.workers}})
    return sets


def cmd_run(args) -> None:
    exp = config.load(args.preset, _run_overrides(args))  # fails here, before any work
    run_local = _pipeline().run_local

    print(
        f"genlab: running {exp.name} ({exp.model.family}) with {exp.train.workers} worker(s) via kfp.local",
        flush=True,
    )
    try:
        run = run_local(exp, args.runs)
    except RuntimeError as e:  # kfp.local: a task failed; its own error is in the log above
        raise GenlabError(
            f"pipeline {exp.name} failed: {e}. The failing step's error is printed above."
        ) from None
    print()
    print(f"report:  {run.report_html}")
    print(f"run dir: {run.run_dir}")
    print(f"wall time: {run.seconds:.0f}s")
    _print_headline(run.metrics)


def _print_headline(metrics: dict) -> None:
    if not metrics:
        return
    shown = []
    for key in ("fid", "kid", "precision", "recall"):
        if key in metrics:
            floor = metrics.get(f"{key}_floor")
            shown.append(
                f"{key}={metrics[key]:.4g}" + (f" (real-data floor {floor:.4g})" if floor is not None else "")
            )
    shown += [
        (
            f"{k}={v:.4g}"
            + (f" (real-data floor {metrics[k + '_floor']:.4g})" if k + "_floor" in metrics else "")
            if isinstance(v, int | float)
            else f"{k}={v}"  # the feature extractor: a sha256
        )
        for k, v in sorted(metrics.items())
        if k not in ("fid", "kid", "precision", "recall") and not k.endswith("_floor")
    ]
    print("metrics: " + "\n         ".join(shown))


def cmd_compile(args) -> None:
    exp = _load(args)
    compile_pipeline = _pipeline().compile_pipeline

    path = compile_pipeline(exp, args.output)
    print(f"compiled {exp.name} -> {path}")


def cmd_submit(args) -> None:
    exp = _load(args)
    from genlab.kfp_auth import KfpAuth
    from genlab.submit import submit

    compile_pipeline = _pipeline().compile_pipeline

    auth = KfpAuth.resolve(
        token=args.token,
        cookies=args.cookies,
        client_id=args.client_id,
        other_client_id=args.other_client_id,
        other_client_secret=args.other_client_secret,
    )

    with tempfile.TemporaryDirectory() as tmp:
        package = compile_pipeline(exp, Path(tmp) / "pipeline.yaml")
        arguments = {"launcher": args.launcher}
        if args.workers:
            arguments["workers"] = args.workers
        run_id = submit(
            str(package),
            host=args.host,
            namespace=args.namespace,
            experiment=args.experiment,
            run_name=args.run_name or f"{exp.name}-{time.strftime('%Y%m%d-%H%M%S')}",
            arguments=arguments,
            wait=args.wait,
            auth=auth,
        )
    print(f"submitted run {run_id}")


def cmd_prepare(args) -> None:
    from genlab import data

    manifest = data.prepare(_load(args), args.out)
    print(json.dumps({s: manifest.count(s) for s in manifest.splits} | {"checksum": manifest.checksum}))


def cmd_train(args) -> None:
    from genlab import steps

    steps.train(config.load(args.preset, _run_overrides(args)), args.data, args.model, launcher="local")


def cmd_evaluate(args) -> None:
    from genlab.evaluate import evaluate

    metrics = evaluate(_load(args), args.data, args.model)
    if args.out:
        from genlab import io

        io.write_json(args.out, metrics)
    _print_headline(metrics)


def cmd_generate(args) -> None:
    from genlab import io
    from genlab.generate import generate

    metrics = io.read_json(args.metrics) if args.metrics else {}
    samples = generate(_load(args), args.model, args.data, args.out, metrics)
    print(f"report: {samples.report_html}")


def cmd_compare(args) -> None:
    from genlab.compare import compare

    print(f"compare: {compare(args.runs, args.output)}")


def cmd_translate(args) -> None:
    from genlab.generate.translate import translate_images

    written = translate_images(args.model, args.input, args.out, reverse=args.reverse)
    print(f"translated {len(written)} image(s) into {args.out}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genlab", description="A Kubeflow Pipelines lab for generative models.")
    p.add_argument("--version", action="version", version=f"genlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_preset(sp):
        sp.add_argument("preset", help="a preset name (see `genlab presets`) or a path to a YAML file")
        sp.add_argument(
            "--set",
            action="append",
            metavar="KEY=VALUE",
            help="override a config value, e.g. train.steps=100",
        )
        return sp

    sp = sub.add_parser("presets", help="list presets")
    sp.add_argument("--names", action="store_true", help="names only")
    sp.set_defaults(fn=cmd_presets)

    sp = with_preset(sub.add_parser("run", help="run the whole pipeline locally with kfp.local"))
    sp.add_argument("--workers", type=int, default=0, help="training workers (default: the config's)")
    sp.add_argument("--runs", default=os.environ.get("GENLAB_RUNS", "runs"), help="where runs are written")
    sp.set_defaults(fn=cmd_run)

    sp = with_preset(sub.add_parser("compile", help="compile the pipeline to IR YAML"))
    sp.add_argument("-o", "--output", default="pipeline.yaml")
    sp.set_defaults(fn=cmd_compile)

    sp = with_preset(sub.add_parser("submit", help="submit the pipeline to a Kubeflow Pipelines host"))
    sp.add_argument("--host", required=True, help="KFP API/UI URL, e.g. http://localhost:8080")
    sp.add_argument("--namespace", default=None)
    sp.add_argument("--experiment", default="genlab")
    sp.add_argument("--run-name", default=None)
    sp.add_argument("--workers", type=int, default=0)
    sp.add_argument("--launcher", default="tfjob", choices=["tfjob", "local", "auto"])
    sp.add_argument("--wait", action="store_true", help="wait for the run to finish")
    # Credentials, as kfp.Client takes them (genlab/kfp_auth.py). A secret may be @FILE, which keeps
    # it out of shell history and ps; the environment variables work too.
    sp.add_argument("--token", help="bearer token or @FILE (else $GENLAB_KFP_TOKEN)")
    sp.add_argument("--cookies", help="session cookies, e.g. 'authservice_session=...', or @FILE")
    sp.add_argument("--client-id", help="IAP: the OAuth client id of the proxy")
    sp.add_argument("--other-client-id", help="IAP user login: your desktop OAuth client id")
    sp.add_argument("--other-client-secret", help="IAP user login: its secret, or @FILE")
    sp.set_defaults(fn=cmd_submit)

    sp = with_preset(sub.add_parser("prepare", help="prepare the dataset"))
    sp.add_argument("--out", required=True)
    sp.set_defaults(fn=cmd_prepare)
    sp = with_preset(sub.add_parser("train", help="train with the local launcher"))
    sp.add_argument("--data", required=True)
    sp.add_argument("--model", required=True)
    sp.add_argument("--workers", type=int, default=0)
    sp.set_defaults(fn=cmd_train)
    sp = with_preset(sub.add_parser("evaluate", help="evaluate a trained model"))
    sp.add_argument("--data", required=True)
    sp.add_argument("--model", required=True)
    sp.add_argument("--out", default=None, help="write the metrics as JSON here")
    sp.set_defaults(fn=cmd_evaluate)
    sp = with_preset(sub.add_parser("generate", help="sample a trained model and write the report"))
    sp.add_argument("--data", required=True)
    sp.add_argument("--model", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--metrics", default=None, help="metrics JSON to put in the report")
    sp.set_defaults(fn=cmd_generate)
    sp = sub.add_parser("compare", help="one HTML page comparing runs: metrics, floors, curves, samples")
    sp.add_argument(
        "runs", nargs="+", metavar="RUN", help="run folders (runs/<pipeline>-<time>) or model folders"
    )
    sp.add_argument("-o", "--output", default="compare.html")
    sp.set_defaults(fn=cmd_compare)
    sp = sub.add_parser("translate", help="apply a trained pix2pix / CycleGAN generator to images")
    sp.add_argument("model", help="the trained model folder (a pipeline run's model artifact)")
    sp.add_argument("--input", required=True, help="a .png/.jpg image or a folder of them")
    sp.add_argument("--out", required=True, help="where the translated PNGs are written")
    sp.add_argument("--reverse", action="store_true", help="CycleGAN: translate B -> A instead of A -> B")
    sp.set_defaults(fn=cmd_translate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.fn(args)
    except GenlabError as e:
        print(f"genlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        if e.name != "tensorflow":
            raise
        print(
            "genlab: error: TensorFlow is not installed; install genlab with one of its extras: "
            "pip install -e '.[cpu]' (CPU) or -e '.[gpu]' (NVIDIA GPU, with CUDA)",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
