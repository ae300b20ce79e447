"""The fake API server's admission: strict TFJob schema, enums, webhook rules, and RBAC from k8s/base.

These check the checker: a TFJob built with the upstream SDK's own models is admitted, and each
kind of mistake is refused with a message naming the field.
"""

import copy

import pytest
from kubeflow.training import (
    KubeflowOrgV1ReplicaSpec,
    KubeflowOrgV1RunPolicy,
    KubeflowOrgV1TFJob,
    KubeflowOrgV1TFJobSpec,
)
from kubernetes import client as k8s

from tests.cluster.rbac import RBAC, Request
from tests.cluster.tfjob_schema import validate_tfjob


def sdk_tfjob() -> dict:
    """A two-worker TFJob made only from the kubeflow-training and kubernetes SDK models."""
    template = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels={"app": "x"}),
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(
                    name="tensorflow",
                    image="registry.example/trainer:1",
                    command=["python", "-m", "trainer"],
                    resources=k8s.V1ResourceRequirements(requests={"cpu": "500m", "memory": "1Gi"}),
                )
            ],
            tolerations=[k8s.V1Toleration(key="k", operator="Equal", value="v", effect="NoSchedule")],
        ),
    )
    job = KubeflowOrgV1TFJob(
        api_version="kubeflow.org/v1",
        kind="TFJob",
        metadata=k8s.V1ObjectMeta(name="mnist-123", namespace="genlab"),
        spec=KubeflowOrgV1TFJobSpec(
            run_policy=KubeflowOrgV1RunPolicy(backoff_limit=2, clean_pod_policy="None"),
            tf_replica_specs={
                "Worker": KubeflowOrgV1ReplicaSpec(replicas=2, restart_policy="OnFailure", template=template)
            },
        ),
    )
    return k8s.ApiClient().sanitize_for_serialization(job)


def container(body: dict) -> dict:
    return body["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]


def test_a_tfjob_from_the_sdk_models_is_admitted():
    assert validate_tfjob(sdk_tfjob()) == []


def _misspelt_replica_field(b):
    b["spec"]["tfReplicaSpecs"]["Worker"]["restartPolicyy"] = b["spec"]["tfReplicaSpecs"]["Worker"].pop(
        "restartPolicy"
    )


def _misspelt_container_field(b):
    container(b)["imagePullPolicyy"] = "IfNotPresent"


def _snake_case_field(b):
    b["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["node_selector"] = {"a": "b"}


def _wrong_type(b):
    b["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = "2"


def _bool_for_int(b):
    b["spec"]["runPolicy"]["backoffLimit"] = True


def _quantity_as_list(b):
    container(b)["resources"]["requests"]["cpu"] = ["1"]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (_misspelt_replica_field, 'TFJob.spec.tfReplicaSpecs[Worker]: unknown field "restartPolicyy"'),
        (_misspelt_container_field, 'unknown field "imagePullPolicyy"'),
        (_snake_case_field, 'template.spec: unknown field "node_selector"'),
        (_wrong_type, "TFJob.spec.tfReplicaSpecs[Worker].replicas: expected int, got str '2'"),
        (_bool_for_int, "TFJob.spec.runPolicy.backoffLimit: expected int, got bool"),
        (_quantity_as_list, "resources.requests[cpu]: expected str, got list"),
    ],
)
def test_unknown_fields_and_wrong_types_are_refused(mutate, expected):
    body = sdk_tfjob()
    mutate(body)
    errors = validate_tfjob(body)
    assert any(expected in e for e in errors), errors


def _set(path: str, value):
    def mutate(b):
        *parents, last = path.split(".")
        node = b
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[last] = value

    return mutate


def _rename_container(b):
    container(b)["name"] = "trainer"


def _two_chiefs(b):
    worker = b["spec"]["tfReplicaSpecs"]["Worker"]
    b["spec"]["tfReplicaSpecs"]["Chief"] = copy.deepcopy({**worker, "replicas": 1})
    b["spec"]["tfReplicaSpecs"]["Master"] = copy.deepcopy({**worker, "replicas": 1})


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (_set("spec.tfReplicaSpecs.Worker.restartPolicy", "OnFail"), "restartPolicy: Unsupported value"),
        (_set("spec.runPolicy.cleanPodPolicy", "Nope"), "cleanPodPolicy: Unsupported value"),
        (_set("spec.runPolicy.managedBy", "me"), "managedBy: Unsupported value"),
        (_set("spec.tfReplicaSpecs.Worker.template.spec.restartPolicy", "OnFail"), "spec.restartPolicy"),
        (_set("spec.runPolicy.backoffLimit", -1), "backoffLimit: must be greater than or equal to 0"),
        (_set("metadata.name", "Mnist_1"), "metadata.name: Invalid value"),
        (_set("metadata.name", "a" * 64), "metadata.name: Invalid value"),
        (_set("metadata.name", "1mnist"), "metadata.name: Invalid value"),
        (_rename_container, "must have at least one container with name tensorflow"),
        (_set("spec.tfReplicaSpecs.Worker.template.spec.containers.0.image", ""), "image: Required value"),
        (_two_chiefs, "must not have more than 1 Chief or Master role"),
        (_set("spec.tfReplicaSpecs", {"Trainer": {"replicas": 1}}), 'Unsupported value: "Trainer"'),
        (
            _set("spec.tfReplicaSpecs.Worker.template.spec.containers.0.resources.requests.cpu", "1 core"),
            "invalid quantity",
        ),
    ],
)
def test_enums_and_webhook_rules(mutate, expected):
    body = sdk_tfjob()
    mutate(body)
    errors = validate_tfjob(body)
    assert any(expected in e for e in errors), errors


# ----------------------------------------------------------------- RBAC from k8s/base/rbac.yaml


@pytest.mark.parametrize(
    "sa, req, allowed",
    [
        ("genlab-pipeline", Request("create", "kubeflow.org", "tfjobs", "genlab"), True),
        ("genlab-pipeline", Request("delete", "kubeflow.org", "tfjobs", "genlab", "j"), True),
        ("genlab-pipeline", Request("get", "", "pods/log", "genlab", "p"), True),
        ("pipeline-runner", Request("list", "", "pods", "genlab"), True),
        ("genlab-pipeline", Request("get", "", "configmaps", "genlab", "kfp-launcher"), True),
        ("genlab-pipeline", Request("get", "", "configmaps", "genlab", "other"), False),
        ("genlab-pipeline", Request("delete", "", "pods", "genlab", "p"), False),
        ("genlab-pipeline", Request("create", "kubeflow.org", "tfjobs", "kubeflow"), False),
        ("genlab-trainer", Request("create", "kubeflow.org", "tfjobs", "genlab"), False),
        ("default", Request("get", "kubeflow.org", "tfjobs", "genlab", "j"), False),
    ],
)
def test_rbac_from_the_manifests(sa, req, allowed):
    assert RBAC.from_manifests().allows("genlab", sa, req) is allowed
