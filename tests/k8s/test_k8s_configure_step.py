"""pipelines.cluster.configure_step: the compiled IR's platforms.kubernetes section."""

import pytest
import yaml
from kfp import compiler, dsl

from pipelines.cluster import FIELD_ENV, RESOURCES, STEPS, configure_step


@dsl.component(base_image="python:3.11-slim")
def step_op(name: str) -> str:
    return name


def tiny_pipeline(gpus: int):
    @dsl.pipeline(name="cluster-settings")
    def pipe():
        for step in STEPS:
            task = step_op(name=step).set_display_name(step)
            configure_step(task, step, gpus_per_worker=gpus)

    return pipe


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("ir") / "pipeline.yaml"
    compiler.Compiler().compile(tiny_pipeline(2), str(path))
    docs = list(yaml.safe_load_all(path.read_text()))
    return docs[0], docs[1]


def executor_for(spec: dict, step_index: int) -> str:
    task = "step-op" if step_index == 0 else f"step-op-{step_index + 1}"
    return spec["root"]["dag"]["tasks"][task]["componentRef"]["name"].replace("comp-", "exec-")


def test_every_step_gets_pvc_cpu_pool_and_downward_env(compiled):
    spec, platform = compiled
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(executors) == len(STEPS)
    for i, step in enumerate(STEPS):
        k8s = executors[executor_for(spec, i)]
        (mount,) = k8s["pvcMount"]
        assert mount["mountPath"] == "/mnt/genlab" and mount["constant"] == "genlab-data"
        assert k8s["nodeSelector"] == {"labels": {"genlab.io/pool": "cpu"}}
        assert k8s["imagePullPolicy"] == "IfNotPresent"
        assert {e["name"]: e["fieldPath"] for e in k8s["fieldPathAsEnv"]} == FIELD_ENV
        labels = k8s["podMetadata"]["labels"]
        assert labels["genlab.io/step"] == step
        assert labels["genlab.io/tfjob-gpus-per-worker"] == "2"
        assert "tolerations" not in k8s  # the step never lands on the GPU pool


def test_resources_in_the_container_spec(compiled):
    spec, _ = compiled
    containers = {
        name: e["container"]["resources"] for name, e in spec["deploymentSpec"]["executors"].items()
    }
    train = containers[executor_for(spec, STEPS.index("train"))]
    assert train["cpuRequest"] == int(RESOURCES["train"][0].removesuffix("m")) / 1000  # "250m"
    assert train["memoryLimit"] == train["memoryRequest"]
    assert "accelerator" not in train
    for res in containers.values():
        assert res["cpuRequest"] > 0 and res["memoryRequest"] > 0


def test_bad_arguments():
    @dsl.pipeline(name="bad")
    def pipe():
        task = step_op(name="x")
        with pytest.raises(ValueError, match="step must be one of"):
            configure_step(task, "serve", 0)
        with pytest.raises(ValueError, match="gpus_per_worker"):
            configure_step(task, "train", -1)

    assert pipe is not None
