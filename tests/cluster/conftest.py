"""Fixtures of the simulated cluster: the compiled pipeline, a prepared dataset, the cluster, a step runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.cluster.fake_cluster import FakeCluster
from tests.cluster.step_pod import REPO, CompiledStep, finish_compile, start_compile, start_step

PRESET = "dcgan_tiny"
REGISTRY = "registry.example.test:5000/team-a"  # not genlab.images.DEFAULT_REGISTRY
STEP_POD = {"name": "genlab-dcgan-tiny-abc12-train-model-123", "uid": "0b9d7f4e-0000-4000-8000-00000000abcd"}
# The worker pods' settings the compiled config carries (the experiment's ``cluster`` section),
# and the launcher's poll interval (a real cluster keeps the default 5 s).
CLUSTER_SECTION = {
    "poll_seconds": 0.5,
    "cpu": "250m",
    "memory": "1536Mi",
    "labels": {"team": "vision"},
    "node_selector": {"cloud.google.com/gke-nodepool": "train-pool"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "training", "effect": "NoSchedule"}],
}
SA_DIR_ENV = "GENLAB_SERVICE_ACCOUNT_DIR"  # genlab.launch.paths
MOUNT_ENV = "GENLAB_MOUNT_PATH"


@pytest.fixture(scope="session")
def experiment_file(tmp_path_factory) -> Path:
    """dcgan_tiny with a ``cluster`` section for the TFJob's worker pods."""
    preset = yaml.safe_load((REPO / "pipelines" / "configs" / f"{PRESET}.yaml").read_text())
    preset["name"] = "dcgan_tiny"
    preset["cluster"] = CLUSTER_SECTION
    path = tmp_path_factory.mktemp("config") / "dcgan_tiny_cluster.yaml"
    path.write_text(yaml.safe_dump(preset))
    return path


@pytest.fixture(scope="session")
def compiling(tmp_path_factory, experiment_file):
    """The compile, started in its own process (it runs while the dataset is prepared)."""
    out = tmp_path_factory.mktemp("ir") / "pipeline.yaml"
    proc = start_compile(str(experiment_file), out, REGISTRY)
    yield proc, out
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def dataset(tmp_path_factory, compiling) -> Path:
    """The prepare step's output artifact, made beforehand (the step pod never reads the raw data)."""
    from genlab import config, data

    exp = config.load(PRESET)  # the data section is the preset's; the cluster section does not matter
    out = tmp_path_factory.mktemp("artifacts") / "prepare-data" / "dataset"
    data.prepare(exp, str(out))
    return out


@pytest.fixture(scope="session")
def compiled(compiling, dataset) -> CompiledStep:
    """The pipeline compiled with a non-default registry; its train step."""
    return CompiledStep(finish_compile(*compiling), "train-model")


@pytest.fixture
def cluster(tmp_path):
    with FakeCluster(tmp_path / "cluster") as c:
        yield c
    leftover = c.live_processes()
    assert not leftover, f"container processes outlived the cluster: {leftover}"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class StepRun:
    proc: subprocess.Popen
    log_path: Path
    output_file: Path
    model_dir: Path

    def wait(self, timeout_s: float = 240) -> int:
        """The container's exit code, once every process it started has ended.

        KFP's ``sh -ec`` wrapper does not exec python (dash stays the parent), so a signal to the
        process group ends ``sh`` at once while python may still be handling it.
        """
        deadline = time.monotonic() + timeout_s
        try:
            code = self.proc.wait(timeout=timeout_s)
            while group_alive(self.proc.pid):
                if time.monotonic() > deadline:
                    raise TimeoutError
                time.sleep(0.05)
            return code
        except (TimeoutError, subprocess.TimeoutExpired):
            kill_group(self.proc.pid)
            self.proc.wait()
            raise AssertionError(
                f"the train step did not finish in {timeout_s}s:\n{self.log()[-4000:]}"
            ) from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def output(self) -> dict:
        return json.loads(self.output_file.read_text())


@pytest.fixture(scope="session")
def upstream(compiling, compiled, tmp_path_factory):
    """``upstream(params)``: the output parameters of the train step's upstream tasks (the
    ``check parameters`` step, ``resolve-config``), each run from the IR as its pod runs it,
    once per set of Run parameters."""
    ir_path = compiling[1]
    done: dict[str, dict] = {}

    def outputs(params: dict) -> dict[str, dict]:
        key = json.dumps(params, sort_keys=True)
        if key not in done:
            got = {}
            for task in compiled.producers():
                step = CompiledStep(ir_path, task)
                work = tmp_path_factory.mktemp(task)
                output_file = work / "outputs" / "executor_output.json"
                output_file.parent.mkdir(parents=True)
                executor_input = step.executor_input(step.parameters(params), {}, {}, output_file)
                env = FakeCluster.container_env(work)
                proc = start_step(step, executor_input, env, work, work / "step.log")
                code = proc.wait(timeout=120)
                assert code == 0, f"{task} failed ({code}):\n{(work / 'step.log').read_text()[-3000:]}"
                got[task] = json.loads(output_file.read_text())["parameterValues"]
            done[key] = got
        return done[key]

    return outputs


@pytest.fixture
def run_train(tmp_path, compiled, dataset, upstream):
    """Start the compiled train step as a pod of ``cluster`` would run it; returns a StepRun.

    ``params`` are the Run form's (pipeline) parameters; the upstream steps run first."""
    runs = []

    def start(cluster: FakeCluster, service_account: str = "genlab-pipeline", data: Path = dataset, **params):
        work = tmp_path / f"step-{len(runs)}"
        work.mkdir()
        model_dir = work / "outputs" / "model"  # KFP's local path of the output artifact
        output_file = work / "outputs" / "executor_output.json"
        executor_input = compiled.executor_input(
            compiled.parameters(params, upstream(params)),
            {"dataset": str(data)},
            {"model": str(model_dir)},
            output_file,
        )
        mounts = compiled.pvc_mounts()
        assert mounts == {"genlab-data": "/mnt/genlab"}, mounts  # what the IR asks for
        pod_meta = {**STEP_POD, "namespace": cluster.namespace}
        env = {
            **cluster.container_env(work),
            **cluster.pod_env(),
            **compiled.field_env(pod_meta),
            SA_DIR_ENV: str(cluster.service_account_dir(service_account)),
            MOUNT_ENV: str(cluster.pvc_dir),  # the PVC: a folder instead of a mount at /mnt/genlab
        }
        proc = start_step(compiled, executor_input, env, work, work / "step.log")
        run = StepRun(proc, work / "step.log", output_file, model_dir)
        runs.append(run)
        return run

    yield start
    for run in runs:
        kill_group(run.proc.pid)
        run.proc.wait()
