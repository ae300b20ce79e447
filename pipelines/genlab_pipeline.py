"""The one pipeline shape every model family runs through:

    prepare_data -> train_model (distributed, local processes or a TFJob) -> evaluate_model -> generate_samples

``build_pipeline(exp)`` bakes a preset's config in as the default of ``config_json``; the few
parameters people change most (workers, GPUs, steps, launcher) are pipeline parameters too.
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

from components import evaluate_model, generate_samples, prepare_data, train_model
from genlab.images import trainer_image
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
        config_json: str = exp.to_json(),
        workers: int = exp.train.workers,
        gpus_per_worker: int = exp.train.gpus_per_worker,
        steps: int = 0,
        launcher: str = "auto",
        trainer_image: str = cpu_image,
        trainer_gpu_image: str = gpu_image,
    ) -> HTML:
        prep = prepare_data(config_json=config_json).set_display_name("prepare data")
        if retry_prepare:
            prep.set_retry(num_retries=PREPARE_RETRIES, backoff_duration=PREPARE_BACKOFF, backoff_factor=2.0)
        train = train_model(
            config_json=config_json,
            dataset=prep.outputs["dataset"],
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            steps=steps,
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
        for task, step in ((prep, "prepare"), (train, "train"), (evaluation, "evaluate"), (gen, "generate")):
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
        task = pipeline(workers=workers or exp.train.workers, steps=steps, launcher="local")
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
