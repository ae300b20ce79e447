"""Every preset compiles to IR YAML with the four steps, its config baked in, and cluster settings."""

import pytest
import yaml

from genlab import config
from pipelines.genlab_pipeline import compile_pipeline

STEPS = ["prepare-data", "train-model", "evaluate-model", "generate-samples"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled")
    return {
        name: yaml.safe_load_all(compile_pipeline(config.load(name), out / f"{name}.yaml").read_text())
        for name in config.preset_names()
    }


@pytest.mark.parametrize("name", config.preset_names())
def test_preset_compiles(compiled, name):
    docs = list(compiled[name])
    spec = docs[0]
    assert spec["pipelineInfo"]["name"] == "genlab-" + name.replace("_", "-")
    assert sorted(spec["root"]["dag"]["tasks"]) == sorted(STEPS)
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {
        "config_json",
        "workers",
        "gpus_per_worker",
        "steps",
        "launcher",
        "trainer_image",
        "trainer_gpu_image",
    }
    exp = config.load(name)
    assert config.from_json(params["config_json"]["defaultValue"]) == exp
    assert params["workers"]["defaultValue"] == exp.train.workers
    assert params["launcher"]["defaultValue"] == "auto"
    # the dashboard gets the report as the pipeline's output
    assert (
        spec["root"]["outputDefinitions"]["artifacts"]["Output"]["artifactType"]["schemaTitle"]
        == "system.HTML"
    )
    # kfp-kubernetes settings travel in the platform spec
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform) == {f"exec-{s}" for s in STEPS}
    for executor in platform.values():
        assert executor["pvcMount"][0]["mountPath"] == "/mnt/genlab"
        assert executor["nodeSelector"]["labels"] == {"genlab.io/pool": "cpu"}
    resources = spec["deploymentSpec"]["executors"]["exec-evaluate-model"]["container"]["resources"]
    assert resources["cpuRequest"] > 0 and resources["memoryRequest"] > 0
