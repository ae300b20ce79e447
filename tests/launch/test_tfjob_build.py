"""build_tfjob: every field the Training Operator and the cluster contract need."""

from __future__ import annotations

import json
import re

import pytest
from kubeflow.training import KubeflowOrgV1TFJob
from kubeflow.training.api_client import ApiClient

from genlab.cluster_config import ClusterConfig, Toleration
from genlab.errors import LaunchError
from genlab.launch.base import TrainJob, unique_name, worker_args
from genlab.launch.staging import needs_staging
from genlab.launch.tfjob_spec import build_tfjob, k8s_name, tfjob_name, to_dict

CFG = json.dumps({"model": {"family": "dcgan"}, "train": {"epochs": 1}})


def job(**kw) -> TrainJob:
    base = dict(
        config_json=CFG, data_uri="gs://bkt/data", model_uri="gs://bkt/model", workers=3, name="dcgan-1"
    )
    base.update(kw)
    return TrainJob(**base)


def pod_spec(body: dict, replica: str = "Worker") -> dict:
    return body["spec"]["tfReplicaSpecs"][replica]["template"]["spec"]


def test_cpu_job_fields():
    tj = build_tfjob(job(), image="reg/genlab-trainer:0.1.0", namespace="genlab")
    body = to_dict(tj)
    assert body["apiVersion"] == "kubeflow.org/v1" and body["kind"] == "TFJob"
    assert body["metadata"] == {
        "name": "dcgan-1",
        "namespace": "genlab",
        "labels": {"app.kubernetes.io/part-of": "genlab", "app.kubernetes.io/component": "train"},
    }
    assert list(body["spec"]["tfReplicaSpecs"]) == ["Worker"]
    worker = body["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 3 and worker["restartPolicy"] == "OnFailure"
    assert body["spec"]["runPolicy"] == {
        "backoffLimit": 9,  # max_restarts 3 x 3 replicas
        "cleanPodPolicy": "None",
        "ttlSecondsAfterFinished": 3600,
    }
    assert worker["template"]["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}

    spec = pod_spec(body)
    assert spec["serviceAccountName"] == "genlab-trainer"
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000}
    assert "nodeSelector" not in spec and "tolerations" not in spec
    assert spec["volumes"] == [{"name": "genlab-data", "persistentVolumeClaim": {"claimName": "genlab-data"}}]
    (container,) = spec["containers"]
    assert container["name"] == "tensorflow"  # the operator looks for this name
    assert container["image"] == "reg/genlab-trainer:0.1.0"
    assert container["command"] == ["python", *worker_args(job())]
    assert container["command"][1:3] == ["-m", "genlab.train.worker"]
    assert json.loads(container["command"][container["command"].index("--config") + 1]) == json.loads(CFG)
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
    assert container["volumeMounts"] == [{"name": "genlab-data", "mountPath": "/mnt/genlab"}]
    assert {"name": "PYTHONUNBUFFERED", "value": "1"} in container["env"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}


def test_gpu_job_fields():
    body = to_dict(
        build_tfjob(
            job(gpus_per_worker=2),
            image="reg/genlab-trainer-gpu:0.1.0",
            namespace="ml",
            pods=ClusterConfig(cpu="4", memory="16Gi"),
            max_restarts=1,
            ttl_seconds_after_finished=60,
        )
    )
    spec = pod_spec(body)
    assert spec["nodeSelector"] == {"genlab.io/pool": "gpu"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    resources = spec["containers"][0]["resources"]
    assert resources["limits"] == {"memory": "16Gi", "nvidia.com/gpu": "2"}
    assert resources["requests"] == {"cpu": "4", "memory": "16Gi"}
    assert body["metadata"]["namespace"] == "ml"
    assert body["spec"]["runPolicy"]["backoffLimit"] == 3  # 1 restart of 3 replicas
    assert body["spec"]["runPolicy"]["ttlSecondsAfterFinished"] == 60


def test_pod_settings_come_from_the_cluster_section():
    pods = ClusterConfig(
        cpu="250m",
        memory="1Gi",
        cpu_limit="2",
        memory_limit="1536Mi",
        labels={"team": "vision", "cost-center": "ml-42"},
        node_selector={"pool": "cpu-small"},
        gpu_node_selector={"pool": "a100"},
        tolerations=(
            Toleration(key="dedicated", value="ml", effect="NoSchedule"),
            Toleration(operator="Exists"),
        ),
    )
    body = to_dict(build_tfjob(job(), image="i", namespace="genlab", pods=pods))
    spec = pod_spec(body)
    (container,) = spec["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "1536Mi"},
    }
    assert spec["nodeSelector"] == {"pool": "cpu-small"}
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
        {"operator": "Exists"},
    ]
    labels = body["spec"]["tfReplicaSpecs"]["Worker"]["template"]["metadata"]["labels"]
    assert labels == {"team": "vision", "cost-center": "ml-42", "app.kubernetes.io/part-of": "genlab"}

    gpu = pod_spec(to_dict(build_tfjob(job(gpus_per_worker=1), image="i", namespace="genlab", pods=pods)))
    assert gpu["nodeSelector"] == {"pool": "a100"}
    assert gpu["containers"][0]["resources"]["limits"] == {
        "cpu": "2",
        "memory": "1536Mi",
        "nvidia.com/gpu": "1",
    }
    assert gpu["tolerations"][-1]["key"] == "nvidia.com/gpu"  # GPU pools' taint, added for GPU workers


def test_custom_gpu_selector_and_no_pvc():
    body = to_dict(
        build_tfjob(
            job(gpus_per_worker=1),
            image="i",
            namespace="genlab",
            pods=ClusterConfig(gpu_node_selector={"pool": "a100"}),
            pvc=None,
        )
    )
    spec = pod_spec(body)
    assert spec["nodeSelector"] == {"pool": "a100"}
    assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]


def test_chief_plus_workers():
    body = to_dict(build_tfjob(job(workers=3), image="i", namespace="genlab", chief=True))
    replicas = body["spec"]["tfReplicaSpecs"]
    assert replicas["Chief"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 2
    assert replicas["Chief"]["template"]["spec"]["containers"][0]["name"] == "tensorflow"
    single = to_dict(build_tfjob(job(workers=1), image="i", namespace="genlab", chief=True))
    assert list(single["spec"]["tfReplicaSpecs"]) == ["Chief"]


def test_owner_pod_reference():
    body = to_dict(build_tfjob(job(), image="i", namespace="genlab", owner_pod=("step-pod", "uid-1")))
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "step-pod", "uid": "uid-1"}
    ]


def test_round_trip_through_the_sdk():
    tj = build_tfjob(job(gpus_per_worker=1), image="i", namespace="genlab", chief=True)
    body = ApiClient().sanitize_for_serialization(tj)
    assert body == to_dict(tj)

    class Response:  # what ApiClient.deserialize reads
        data = json.dumps(body)

    back = ApiClient().deserialize(Response(), "KubeflowOrgV1TFJob")
    assert isinstance(back, KubeflowOrgV1TFJob)
    assert back.spec.tf_replica_specs["Worker"].template.spec.containers[0].name == "tensorflow"
    assert back.spec.tf_replica_specs["Worker"].template.spec.node_selector == {"genlab.io/pool": "gpu"}
    assert back.spec.run_policy.clean_pod_policy == "None"
    assert ApiClient().sanitize_for_serialization(back) == body


def test_names_and_errors():
    assert k8s_name("Run 42_DCGAN.fashion") == "run-42-dcgan-fashion"
    assert k8s_name("7-up") == "up"
    assert len(k8s_name("x" * 100)) == 63
    with pytest.raises(LaunchError):
        k8s_name("123")
    with pytest.raises(LaunchError, match="workers must be >= 1"):
        build_tfjob(job(workers=0), image="i", namespace="genlab")
    with pytest.raises(LaunchError, match="no container image"):
        build_tfjob(job(), image="", namespace="genlab")


def test_long_names_keep_their_unique_suffix():
    # Two runs of one long-named experiment in the same TTL must not collide (409 AlreadyExists).
    base = "style_transfer_fashion_mnist_with_a_really_long_experiment_name"
    first, second = unique_name(base), unique_name(base)
    names = [tfjob_name(job(name=n, workers=12)) for n in (first, second)]
    assert names[0] != names[1]
    for full, name in zip((first, second), names, strict=True):
        assert name.endswith(full[-16:])  # "-<unix seconds>-<4 hex>" kept whole
        # every replica's pod and service, <job>-worker-<i>, is a DNS-1035 label (<= 63)
        assert len(f"{name}-worker-11") <= 63
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)
    body = to_dict(build_tfjob(job(name=first, workers=12), image="i", namespace="genlab"))
    assert body["metadata"]["name"] == names[0]


@pytest.mark.parametrize(
    "uri, staged",
    [
        ("gs://b/data", False),
        ("https://x/y", False),
        ("/mnt/genlab/run/data", False),
        ("/mnt/genlab", False),
        ("/mnt/genlabx/data", True),
        ("/minio/mlpipeline/v2/artifacts/x", True),
        ("/gcs/bucket/x", True),
        ("relative/dir", True),
    ],
)
def test_needs_staging(uri, staged):
    assert needs_staging(uri, "/mnt/genlab") is staged


def test_backoff_limit_allows_max_restarts_of_every_replica():
    # With MultiWorkerMirroredStrategy one killed worker aborts every replica's collective ops,
    # so one restart of the job restarts every container, and the operator sums the pods'
    # restart counts against backoffLimit (kubeflow/training-operator pkg/core/job.go).
    for workers, chief in ((2, False), (3, True), (1, False)):
        body = to_dict(
            build_tfjob(job(workers=workers), image="i", namespace="genlab", max_restarts=2, chief=chief)
        )
        assert body["spec"]["runPolicy"]["backoffLimit"] == 2 * workers, (workers, chief)
    body = to_dict(build_tfjob(job(workers=2), image="i", namespace="genlab", max_restarts=0))
    assert body["spec"]["runPolicy"]["backoffLimit"] == 0  # no restart: the first failure fails the job
