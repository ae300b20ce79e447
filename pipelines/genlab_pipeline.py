"""The one pipeline shape every model family runs through:

    prepare_data -> train_model (distributed, local processes or a TFJob) -> evaluate_model -> generate_samples

``build_pipeline(exp)`` bakes a preset's config in as the default of ``config_json``; what people
change most is a typed Run-form parameter (defaults: the preset's values), anything else an
``overrides`` entry. A first step validates them all before any work and hands the prepare step
only the data section, so editing a training setting keeps prepare's cache. The parameters'
descriptions come from the pipeline function's docstring (kfp reads its ``Args:``).
The same function is compiled to IR YAML for a cluster and run by ``kfp.local`` on a laptop.

Images are chosen when the pipeline is built (``genlab.images``, honouring
``GENLAB_IMAGE_REGISTRY`` then): every step runs the trainer image, and the TFJob's replicas get
it through the ``trainer_image`` / ``trainer_gpu_image`` parameters, so the step pod, where that
variable is unset, never picks an image itself.
"""

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from kfp import compiler, dsl, local
from kfp.dsl import HTML

from components import evaluate_model, generate_samples, prepare_data, resolve_config, train_model
from genlab.images import trainer_image
from genlab.steps import mixed_precision_knob
from pipelines.cluster import configure_step

# The prepare step downloads the dataset: on a cluster KFP retries a failed attempt (a node
# lost, a download that outlasted the source's own retries) after 30 s, then 60 s.
PREPARE_RETRIES = 2
PREPARE_BACKOFF = "30s"


def pipeline_name(exp) -> str:
    return "genlab-" + exp.name.replace("_", "-").lower()


def build_pipeline(exp, *, retry_prepare: bool = True):
    """The pipeline for ``exp``. ``retry_prepare=False`` for kfp.local, which honours
    ``set_retry`` too and would wait out the backoff before reporting a bad config."""
    step_image, cpu_image, gpu_image = trainer_image(), trainer_image(False), trainer_image(True)

    @dsl.pipeline(
        name=pipeline_name(exp),
        description=f"genlab {exp.model.family} on {exp.data.dataset}: prepare -> train -> evaluate -> generate",
    )
    def genlab_pipeline(
        steps: int = exp.train.steps,
        batch_size: int = exp.train.batch_size,
        learning_rate: float = exp.train.learning_rate,
        seed: int = exp.train.seed,
        mixed_precision: str = mixed_precision_knob(exp.train.mixed_precision),
        workers: int = exp.train.workers,
        gpus_per_worker: int = exp.train.gpus_per_worker,
        overrides: list = [],  # noqa: B006 (kfp reads the default; it is never mutated)
        launcher: str = "auto",
        config_json: str = exp.to_json(),
        trainer_image: str = cpu_image,
        trainer_gpu_image: str = gpu_image,
    ) -> HTML:
        """Prepare data, train (distributed), evaluate and generate samples for one genlab experiment.

        Args:
            steps: Total optimizer steps (train.steps); 0 = derived from train.epochs.
            batch_size: Global batch, split evenly across the workers (train.batch_size).
            learning_rate: The optimizers' learning rate, e.g. 0.0002 or 2e-4 (train.learning_rate).
            seed: Random seed of the initial weights, data order and noise (train.seed).
            mixed_precision: auto (bfloat16 where the family passed the bf16 parity check and the hardware has native bfloat16), true (bfloat16) or false (float32).
            workers: Training workers: TFJob replicas on a cluster, processes locally (train.workers).
            gpus_per_worker: GPUs per training worker; 0 = CPU (train.gpus_per_worker).
            overrides: Any other config value as key=value strings, applied last, e.g. ["model.latent_dim=32", "evaluate.num_samples=500"]; see `genlab presets` and the README.
            launcher: How training runs: auto (a TFJob on a cluster, local processes elsewhere), tfjob or local.
            config_json: The preset's whole config, compiled in; change it with the parameters above and overrides.
            trainer_image: Image of CPU TFJob replicas (the registry chosen at compile time).
            trainer_gpu_image: Image of GPU TFJob replicas (the registry chosen at compile time).
        """
        resolved = resolve_config(
            config_json=config_json,
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            mixed_precision=mixed_precision,
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            overrides=overrides,
        ).set_display_name("check parameters")
        config_json = resolved.outputs["config_json"]
        prep = prepare_data(config_json=resolved.outputs["data_json"]).set_display_name("prepare data")
        if retry_prepare:
            prep.set_retry(num_retries=PREPARE_RETRIES, backoff_duration=PREPARE_BACKOFF, backoff_factor=2.0)
        train = train_model(
            config_json=config_json,
            dataset=prep.outputs["dataset"],
            workers=0,  # 0, -1, 0: the resolved config's (knobs and overrides applied)
            gpus_per_worker=-1,
            steps=0,
            launcher=launcher,
            trainer_image=trainer_image,
            trainer_gpu_image=trainer_gpu_image,
        ).set_display_name("train (distributed)")
        train.set_caching_options(False)  # a re-run trains again (and resumes from checkpoints)
        evaluation = evaluate_model(
            config_json=config_json, dataset=prep.outputs["dataset"], model=train.outputs["model"]
        ).set_display_name("evaluate")
        gen = generate_samples(
            config_json=config_json,
            dataset=prep.outputs["dataset"],
            model=train.outputs["model"],
            metrics=evaluation.outputs["metrics"],
        ).set_display_name("generate samples")
        tasks = (
            (resolved, "resolve"),
            (prep, "prepare"),
            (train, "train"),
            (evaluation, "evaluate"),
            (gen, "generate"),
        )
        for task, step in tasks:
            task.set_container_image(step_image)  # the registry of build time, not of import time
            configure_step(task, step, exp.train.gpus_per_worker)
        return gen.outputs["report"]

    return genlab_pipeline


def compile_pipeline(exp, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.yaml")  # the compiler insists on a .yaml suffix
    compiler.Compiler().compile(build_pipeline(exp), package_path=str(tmp))
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class LocalRun:
    run_dir: Path
    report_html: Path
    metrics: dict
    seconds: float


def run_local(exp, runs_dir="runs", *, workers: int = 0, steps: int = 0) -> "LocalRun":
    """Run the whole pipeline with kfp.local's SubprocessRunner (in this Python environment)."""
    runs_dir = Path(runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    before = set(runs_dir.iterdir())
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(runs_dir), raise_on_error=True
    )
    t0 = time.time()
    pipeline = build_pipeline(exp, retry_prepare=False)
    with warnings.catch_warnings():
        # The CPU/memory requests and display names are for a cluster; kfp.local warns per task.
        warnings.filterwarnings(
            "ignore", message=r"Task '.*': settings .* have no effect in the current local"
        )
        knobs = {"workers": workers} if workers else {}
        if steps:
            knobs["steps"] = steps
        task = pipeline(launcher="local", **knobs)
    seconds = time.time() - t0
    run_dir = max(set(runs_dir.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    # The same page as the HTML artifact, but with a .html name a browser opens directly.
    report = run_dir / "generate-samples" / "samples" / "report.html"
    if not report.is_file():
        report = Path(task.outputs["Output"].path)
    return LocalRun(run_dir=run_dir, report_html=report, metrics=_read_metrics(run_dir), seconds=seconds)


def _read_metrics(run_dir: Path) -> dict:
    """The evaluate step's logged metrics, from its executor output."""
    out = run_dir / "evaluate-model" / "executor_output.json"
    data = json.loads(out.read_text()) if out.is_file() else {}
    artifacts = data.get("artifacts", {}).get("metrics", {}).get("artifacts", [])
    return dict(artifacts[0].get("metadata", {})) if artifacts else {}
