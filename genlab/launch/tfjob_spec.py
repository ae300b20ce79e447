"""The TFJob object (Kubeflow Training Operator v1, ``kubeflow.org/v1``) for a ``TrainJob``.

Built from the kubeflow-training SDK's models, so the body the API server gets is the one the
SDK serialises. The worker pods' resources, labels, node selector and tolerations come from
the experiment's ``cluster`` section (``genlab.cluster_config.ClusterConfig``).
"""

from __future__ import annotations

import re

from kubeflow.training import (
    KubeflowOrgV1ReplicaSpec,
    KubeflowOrgV1RunPolicy,
    KubeflowOrgV1TFJob,
    KubeflowOrgV1TFJobSpec,
)
from kubeflow.training.constants import constants as kft
from kubernetes import client as k8s

from genlab.cluster_config import ClusterConfig
from genlab.errors import LaunchError
from genlab.launch.base import SUFFIX_LEN, TrainJob, worker_args
from genlab.launch.paths import DEFAULT_MOUNT_PATH

CONTAINER = kft.TFJOB_CONTAINER  # "tensorflow": the operator finds the training container by this name
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"  # GKE taints GPU node pools nvidia.com/gpu=present:NoSchedule
PART_OF = {"app.kubernetes.io/part-of": "genlab"}
NAME_MAX = 63  # a DNS-1035 label


# --------------------------------------------------------------------------- names


def k8s_name(name: str, max_len: int = NAME_MAX) -> str:
    """A DNS-1035 label of at most ``max_len`` characters.

    A long name loses characters from its middle, never its last ``SUFFIX_LEN`` (the unique
    suffix of ``unique_name``), so two runs of one experiment never get the same name.
    """
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    out = re.sub(r"^[^a-z]+", "", out)
    if len(out) > max_len:
        tail = out[-SUFFIX_LEN:]
        out = out[: max_len - len(tail)].rstrip("-") + tail
    out = out.rstrip("-")
    if not out:
        raise LaunchError(f"TFJob name: {name!r} has no letters to make a Kubernetes name from")
    return out


def tfjob_name(job: TrainJob, chief: bool = False) -> str:
    """The TFJob's name: short enough that every replica's service name is a DNS-1035 label.

    The operator names each replica's pod and service ``<job>-<replica type, lower case>-<index>``
    (kubeflow/training-operator pkg/core/utils.go GenGeneralName); a Service name must be a
    DNS-1035 label (<= 63), and the TFJob webhook checks the job name is one
    (pkg/webhooks/tensorflow/tfjob_webhook.go, NameIsDNS1035Label).
    """
    longest = f"-worker-{max(job.workers - (2 if chief else 1), 0)}"
    return k8s_name(job.name, NAME_MAX - len(longest))


# --------------------------------------------------------------------------- the object


def _resources(job: TrainJob, pods: ClusterConfig) -> k8s.V1ResourceRequirements:
    requests = {"cpu": pods.cpu, "memory": pods.memory}
    limits = {"memory": pods.memory_limit or pods.memory}
    if pods.cpu_limit:
        limits["cpu"] = pods.cpu_limit
    if job.gpus_per_worker > 0:
        limits[GPU_RESOURCE] = str(job.gpus_per_worker)  # extended resources: request = limit
    return k8s.V1ResourceRequirements(requests=requests, limits=limits)


def _pod_template(
    job: TrainJob, *, image: str, pods: ClusterConfig, service_account: str, pvc: str | None, mount_path: str
) -> k8s.V1PodTemplateSpec:
    gpu = job.gpus_per_worker > 0
    tolerations = [
        k8s.V1Toleration(
            key=t.key or None, operator=t.operator, value=t.value or None, effect=t.effect or None
        )
        for t in pods.tolerations
    ]
    if gpu and not any(t.key == GPU_TAINT_KEY for t in pods.tolerations):
        tolerations.append(
            k8s.V1Toleration(key=GPU_TAINT_KEY, operator="Equal", value="present", effect="NoSchedule")
        )
    node_selector = dict(pods.gpu_node_selector if gpu else pods.node_selector)
    volumes = mounts = None
    if pvc:
        volumes = [
            k8s.V1Volume(
                name="genlab-data",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=pvc),
            )
        ]
        mounts = [k8s.V1VolumeMount(name="genlab-data", mount_path=mount_path)]
    container = k8s.V1Container(
        name=CONTAINER,
        image=image,
        command=["python", *worker_args(job)],
        env=[
            k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
            k8s.V1EnvVar(name="TF_CPP_MIN_LOG_LEVEL", value="2"),
        ],
        resources=_resources(job, pods),
        volume_mounts=mounts,
        security_context=k8s.V1SecurityContext(allow_privilege_escalation=False),
    )
    return k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(
            annotations={kft.ISTIO_SIDECAR_INJECTION: "false"},
            labels={**pods.labels, **PART_OF},
        ),
        spec=k8s.V1PodSpec(
            containers=[container],
            service_account_name=service_account,
            node_selector=node_selector or None,
            tolerations=tolerations or None,
            volumes=volumes,
            security_context=k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=1000, fs_group=1000),
        ),
    )


def backoff_limit(max_restarts: int, replicas: int) -> int:
    """The TFJob's ``runPolicy.backoffLimit`` that allows ``max_restarts`` restarts of the job.

    The operator compares backoffLimit with the SUM of the restart counts of all the job's pods
    (kubeflow/training-operator v1.9 pkg/core/job.go PastBackoffLimit). With
    MultiWorkerMirroredStrategy one failing replica aborts every replica's collective ops, so
    one incident restarts every container: each restart of the job costs ``replicas``.
    """
    return max_restarts * replicas


def build_tfjob(
    job: TrainJob,
    *,
    image: str,
    namespace: str,
    pods: ClusterConfig | None = None,
    service_account: str = "genlab-trainer",
    pvc: str | None = "genlab-data",
    mount_path: str = DEFAULT_MOUNT_PATH,
    max_restarts: int = 3,
    ttl_seconds_after_finished: int = 3600,
    clean_pod_policy: str = "None",
    chief: bool = False,
    owner_pod: tuple[str, str] | None = None,
) -> KubeflowOrgV1TFJob:
    """The TFJob for ``job``: ``job.workers`` replicas (one of them a Chief when ``chief``), each
    running ``image`` with ``pods`` (default ``ClusterConfig()``) resources and scheduling.

    ``max_restarts`` is how many times the job may be restarted after a failure
    (``train.max_restarts``; ``backoff_limit`` turns it into the operator's count).
    ``clean_pod_policy="None"`` keeps finished pods so a failure's logs can be read; the TTL
    then removes the job and its pods. ``owner_pod`` (name, uid) makes the launching step's pod
    the job's owner, so deleting that pod deletes the job.
    """
    if job.workers < 1:
        raise LaunchError(f"TFJob {job.name}: workers must be >= 1, got {job.workers}")
    if not image:
        raise LaunchError(f"TFJob {job.name}: no container image given for the workers")
    template = _pod_template(
        job,
        image=image,
        pods=pods or ClusterConfig(),
        service_account=service_account,
        pvc=pvc,
        mount_path=mount_path,
    )
    n_workers = job.workers - 1 if chief else job.workers
    replicas: dict[str, KubeflowOrgV1ReplicaSpec] = {}
    if chief:
        replicas[kft.REPLICA_TYPE_CHIEF] = KubeflowOrgV1ReplicaSpec(
            replicas=1, restart_policy="OnFailure", template=template
        )
    if n_workers:
        replicas[kft.REPLICA_TYPE_WORKER] = KubeflowOrgV1ReplicaSpec(
            replicas=n_workers, restart_policy="OnFailure", template=template
        )
    return KubeflowOrgV1TFJob(
        api_version=kft.API_VERSION,
        kind=kft.TFJOB_KIND,
        metadata=k8s.V1ObjectMeta(
            name=tfjob_name(job, chief),
            namespace=namespace,
            labels={**PART_OF, "app.kubernetes.io/component": "train"},
            owner_references=[
                k8s.V1OwnerReference(api_version="v1", kind="Pod", name=owner_pod[0], uid=owner_pod[1])
            ]
            if owner_pod
            else None,
        ),
        spec=KubeflowOrgV1TFJobSpec(
            run_policy=KubeflowOrgV1RunPolicy(
                backoff_limit=backoff_limit(max_restarts, job.workers),
                clean_pod_policy=clean_pod_policy,
                ttl_seconds_after_finished=ttl_seconds_after_finished,
            ),
            tf_replica_specs=replicas,
        ),
    )


def to_dict(obj) -> dict:
    """The JSON body the API server gets (camelCase keys, no ``None`` values)."""
    return k8s.ApiClient().sanitize_for_serialization(obj)
