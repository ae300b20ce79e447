"""Run one step of the COMPILED pipeline the way its pod runs it on Kubeflow Pipelines.

From the IR YAML: the executor's container ``command``/``args`` (KFP's ``sh -ec`` wrapper that
writes the component source and calls ``python3 -m kfp.dsl.executor_main``), the task's
parameter bindings (pipeline parameters with the root's defaults, constants, and the output
parameters of an upstream task such as ``resolve-config``), and the kubernetes platform spec
(``pvcMount``, ``fieldPathAsEnv``). The executor input is the JSON KFP's launcher passes as
``{{$}}`` (kubeflow/pipelines backend/src/v2/component/launcher_v2.go: ``inputs.parameterValues``,
``inputs.artifacts``, ``outputs.parameters``, ``outputs.artifacts``, ``outputs.outputFile``);
an upstream task's output parameters are the ``parameterValues`` of its executor output.

The process gets a pod's environment, not the test's: PATH (this virtualenv first, for
``python3``), the Kubernetes service variables, the service-account files, the downward-API
values, and nothing else (in particular no ``GENLAB_IMAGE_REGISTRY``). Deviations: artifact URIs
are local folders (KFP's launcher would map ``minio://`` to ``/minio/...``); the PVC is a folder.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def image_env(dockerfile: Path = REPO / "images" / "trainer.Dockerfile") -> dict[str, str]:
    """The ``ENV`` of the trainer image: what every container of it starts with."""
    env, lines = {}, dockerfile.read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]) if "=" in pair)
    return env


def start_compile(preset: str, out: Path, registry: str) -> subprocess.Popen:
    """``genlab compile`` in its own process with ``GENLAB_IMAGE_REGISTRY`` set (compile time only)."""
    env = {**os.environ, "GENLAB_IMAGE_REGISTRY": registry}
    cmd = [sys.executable, "-m", "genlab.cli", "compile", preset, "-o", str(out)]
    return subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish_compile(proc: subprocess.Popen, out: Path) -> Path:
    text, _ = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"genlab compile failed ({proc.returncode}):\n{text}")
    return out


def _as_protojson(value):
    """A parameter as KFP's Go launcher writes it: a protobuf Value through protojson, which
    prints an integral double without a fraction (the IR YAML says ``2.0``, the executor gets ``2``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class CompiledStep:
    """One task of a compiled pipeline (``task`` is the IR task name, e.g. ``train-model``)."""

    def __init__(self, ir_path: Path, task: str):
        docs = [d for d in yaml.safe_load_all(ir_path.read_text()) if d]
        self.ir = docs[0]
        platform = docs[1]["platforms"]["kubernetes"] if len(docs) > 1 else {}
        self.task = self.ir["root"]["dag"]["tasks"][task]
        component = self.task["componentRef"]["name"]
        executor = self.ir["components"][component]["executorLabel"]
        self.component = self.ir["components"][component]
        self.container = self.ir["deploymentSpec"]["executors"][executor]["container"]
        self.k8s = (platform.get("deploymentSpec") or {}).get("executors", {}).get(executor, {})

    @property
    def image(self) -> str:
        return self.container["image"]

    def producers(self) -> list[str]:
        """The upstream tasks whose output parameters this task reads."""
        bindings = self.task["inputs"].get("parameters", {}).values()
        return sorted(
            {b["taskOutputParameter"]["producerTask"] for b in bindings if "taskOutputParameter" in b}
        )

    def parameters(self, overrides: dict, upstream: dict[str, dict] | None = None) -> dict:
        """The task's parameter values: pipeline defaults, then the run's ``overrides``; constants;
        and ``upstream[task][key]`` for an upstream task's output parameter."""
        root = self.ir["root"]["inputDefinitions"]["parameters"]
        unknown = set(overrides) - set(root)
        assert not unknown, f"not parameters of the pipeline: {sorted(unknown)}"
        values = {}
        for name, binding in self.task["inputs"].get("parameters", {}).items():
            if "componentInputParameter" in binding:
                source = binding["componentInputParameter"]
                value = overrides.get(source, root[source].get("defaultValue"))
            elif "runtimeValue" in binding:
                value = binding["runtimeValue"]["constant"]
            elif "taskOutputParameter" in binding:
                out = binding["taskOutputParameter"]
                value = (upstream or {})[out["producerTask"]][out["outputParameterKey"]]
            else:
                raise AssertionError(f"parameter {name}: binding {binding} is not simulated")
            values[name] = _as_protojson(value)
        return values

    def executor_input(
        self, params: dict, inputs: dict[str, str], outputs: dict[str, str], output_file: Path
    ):
        def artifact(name: str, uri: str, kind: dict) -> dict:
            return {
                "artifacts": [
                    {
                        "name": f"projects/fake/artifacts/{uuid.uuid4().hex[:8]}",
                        "type": {"schemaTitle": kind["artifactType"]["schemaTitle"]},
                        "uri": uri,
                        "metadata": {},
                    }
                ]
            }

        in_defs = self.component.get("inputDefinitions", {}).get("artifacts", {})
        out_defs = self.component.get("outputDefinitions", {}).get("artifacts", {})
        out_params = self.component.get("outputDefinitions", {}).get("parameters", {})
        return {
            "inputs": {
                "parameterValues": params,
                "artifacts": {k: artifact(k, uri, in_defs[k]) for k, uri in inputs.items()},
            },
            "outputs": {
                "parameters": {k: {"outputFile": str(output_file.parent / k)} for k in out_params},
                "artifacts": {k: artifact(k, uri, out_defs[k]) for k, uri in outputs.items()},
                "outputFile": str(output_file),
            },
        }

    def pvc_mounts(self) -> dict[str, str]:
        """claim name -> mountPath, from the platform spec (kfp-kubernetes ``mount_pvc``)."""
        return {m["constant"]: m["mountPath"] for m in self.k8s.get("pvcMount") or []}

    def field_env(self, pod: dict) -> dict[str, str]:
        """``fieldPathAsEnv`` resolved against the step pod's metadata (the downward API)."""
        values = {}
        for item in self.k8s.get("fieldPathAsEnv") or []:
            key = item["fieldPath"].split(".", 1)[1]
            values[item["name"]] = pod[key]
        return values

    def argv(self, executor_input: dict) -> list[str]:
        text = json.dumps(executor_input)
        return [*self.container["command"], *(text if a == "{{$}}" else a for a in self.container["args"])]


def start_step(step: CompiledStep, executor_input: dict, env: dict[str, str], cwd: Path, log_path: Path):
    """Start the step's container process (its own session, so a test can signal it alone)."""
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            step.argv(executor_input),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()
