"""Every preset compiles to IR YAML with the four steps, its config baked in, and cluster settings."""

import pytest
import yaml

from genlab import config
from genlab.steps import mixed_precision_knob
from pipelines.genlab_pipeline import compile_pipeline

STEPS = ["resolve-config", "prepare-data", "train-model", "evaluate-model", "generate-samples"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("compiled")
    return {
        name: list(yaml.safe_load_all(compile_pipeline(config.load(name), out / f"{name}.yaml").read_text()))
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
        "steps",
        "batch_size",
        "learning_rate",
        "seed",
        "mixed_precision",
        "workers",
        "gpus_per_worker",
        "overrides",
        "launcher",
        "config_json",
        "trainer_image",
        "trainer_gpu_image",
    }
    exp = config.load(name)
    assert config.from_json(params["config_json"]["defaultValue"]) == exp
    # The Run form's knobs start at the preset's values (no "0 = the config's").
    for knob in (
        "steps",
        "batch_size",
        "learning_rate",
        "seed",
        "mixed_precision",
        "workers",
        "gpus_per_worker",
    ):
        value = getattr(exp.train, knob)
        if knob == "mixed_precision":  # a text parameter: auto, true or false
            value = mixed_precision_knob(value)
        assert params[knob]["defaultValue"] == value, knob
    assert (
        params["overrides"]["parameterType"] == "LIST"
        and params["learning_rate"]["parameterType"] == "NUMBER_DOUBLE"
    )
    for pname, param in params.items():  # from the pipeline docstring's Args:
        assert len(param.get("description", "")) > 20, pname
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


def test_prepare_is_keyed_on_the_data_section_and_training_on_the_resolved_config(compiled):
    tasks = compiled["dcgan_tiny"][0]["root"]["dag"]["tasks"]
    from_resolve = {
        "taskOutputParameter": {"outputParameterKey": "data_json", "producerTask": "resolve-config"}
    }
    assert tasks["prepare-data"]["inputs"]["parameters"] == {"config_json": from_resolve}
    assert tasks["prepare-data"]["dependentTasks"] == ["resolve-config"]
    for step in ("train-model", "evaluate-model", "generate-samples"):
        wired = tasks[step]["inputs"]["parameters"]["config_json"]["taskOutputParameter"]
        assert wired == {"outputParameterKey": "config_json", "producerTask": "resolve-config"}, step
    knobs = tasks["resolve-config"]["inputs"]["parameters"]
    assert knobs["overrides"] == {"componentInputParameter": "overrides"}


def test_prepare_is_retried_on_a_cluster(compiled):
    spec = compiled["dcgan_tiny"][0]
    tasks = spec["root"]["dag"]["tasks"]
    retry = tasks["prepare-data"]["retryPolicy"]
    assert retry["maxRetryCount"] == 2 and retry["backoffDuration"] == "30s" and retry["backoffFactor"] == 2.0
    assert "retryPolicy" not in tasks["train-model"]  # a TFJob has its own backoffLimit


def test_kfp_local_runs_do_not_wait_out_the_retry_backoff(tmp_path):
    # kfp.local honours set_retry too: a bad config would wait 30 s + 60 s before failing.
    from kfp import compiler

    from pipelines.genlab_pipeline import build_pipeline

    path = tmp_path / "local.yaml"
    compiler.Compiler().compile(build_pipeline(config.load("dcgan_tiny"), retry_prepare=False), str(path))
    tasks = next(yaml.safe_load_all(path.read_text()))["root"]["dag"]["tasks"]
    assert "retryPolicy" not in tasks["prepare-data"]


def test_step_pods_are_small_enough_for_a_laptop_cluster(compiled):
    executors = compiled["dcgan_tiny"][0]["deploymentSpec"]["executors"]
    for name, executor in executors.items():
        res = executor["container"]["resources"]
        # kind on a laptop: every step pod fits in 1 CPU and 3 GiB
        assert float(res["cpuRequest"]) <= 1, name
        assert res["resourceMemoryRequest"] == res["resourceMemoryLimit"], name
        assert float(res["memoryRequest"]) <= 3 * 2**30 / 1e9 + 1e-9, name  # kfp writes GB


def as_typed(param: dict):
    """A parameter's default as the KFP driver hands it to a component (IR JSON keeps 6 as 6.0)."""
    value = param["defaultValue"]
    return int(value) if param["parameterType"] == "NUMBER_INTEGER" else value


@pytest.mark.parametrize("gpus", [0, 1])
def test_registry_chosen_at_compile_time_reaches_every_tfjob_replica(tmp_path, monkeypatch, gpus):
    """GENLAB_IMAGE_REGISTRY at compile time only: the step pod, where it is unset, must still
    give every replica the compiled registry's image (the GPU one when workers get GPUs)."""
    from kubernetes import client as k8s

    import genlab.launch.tfjob
    from genlab import steps
    from genlab.launch.tfjob_spec import to_dict

    registry = "registry.example:5000/team"
    monkeypatch.setenv("GENLAB_IMAGE_REGISTRY", registry)
    exp = config.load("dcgan_tiny")
    spec = list(yaml.safe_load_all(compile_pipeline(exp, tmp_path / "p.yaml").read_text()))[0]
    monkeypatch.delenv("GENLAB_IMAGE_REGISTRY")

    for executor in spec["deploymentSpec"]["executors"].values():  # the steps' own pods
        assert executor["container"]["image"].startswith(registry + "/genlab-trainer:")
    params = spec["root"]["inputDefinitions"]["parameters"]
    wiring = spec["root"]["dag"]["tasks"]["train-model"]["inputs"]["parameters"]
    args = {}  # what the train step receives, as the KFP driver resolves it from the IR
    for name in ("trainer_image", "trainer_gpu_image", "launcher"):
        assert wiring[name] == {"componentInputParameter": name}
        args[name] = params[name]["defaultValue"]
    # config_json reaches the step through resolve-config, which returns it unchanged by default
    args["config_json"] = steps.resolve_config(
        params["config_json"]["defaultValue"],
        params["overrides"]["defaultValue"],
        **{k: as_typed(params[k]) for k in steps.RUN_KNOBS},
    )[0]
    assert args["launcher"] == "auto"

    created = []

    class Created(BaseException):  # past the launcher's error handling
        pass

    def create_job(self, job, namespace=None, **kw):
        created.append(to_dict(job))
        raise Created

    monkeypatch.setattr(genlab.launch.tfjob.TrainingClient, "create_job", create_job)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(Created):
        steps.train_model(
            args["config_json"],
            "gs://bucket/data",
            "gs://bucket/model",
            workers=0,
            gpus_per_worker=gpus,
            steps=0,
            launcher=args["launcher"],
            trainer_image=args["trainer_image"],
            trainer_gpu_image=args["trainer_gpu_image"],
            launcher_options={"client_configuration": k8s.Configuration(host="http://127.0.0.1:9")},
        )
    (body,) = created
    expected = f"{registry}/genlab-trainer{'-gpu' if gpus else ''}:"
    replicas = body["spec"]["tfReplicaSpecs"]
    assert replicas
    for replica in replicas.values():
        (container,) = replica["template"]["spec"]["containers"]
        assert container["image"].startswith(expected), container["image"]
