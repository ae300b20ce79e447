"""Kubernetes settings of each pipeline step (kfp-kubernetes), in one place.

``pipelines.genlab_pipeline`` calls ``configure_step(task, step, gpus_per_worker)`` for every
task. Every step mounts the shared ``genlab-data`` PVC (the train step stages local inputs
there for the TFJob pods), runs on the CPU pool, and gets its pod name/uid/namespace from the
downward API so the TFJob it creates is owned by (and deleted with) the step's pod.

The train step only launches a TFJob and waits, so it stays on CPU; the TFJob's workers get
the GPU node selector, toleration and ``nvidia.com/gpu`` limits (``genlab.launch.tfjob``).
Which service account runs the steps is a run setting in KFP 2.x, not a task setting:
``genlab.submit.submit(service_account="genlab-pipeline")``.

``kfp.local`` ignores all of this; it matters on a cluster only.
"""

from __future__ import annotations

from kfp import dsl, kubernetes

from genlab.launch.paths import DEFAULT_MOUNT_PATH

STEPS = ("resolve", "prepare", "train", "evaluate", "generate")
PVC_NAME = "genlab-data"
MOUNT_PATH = DEFAULT_MOUNT_PATH  # the launcher stages TFJob data under the same path
POOL_LABEL = "genlab.io/pool"

# (cpu request, memory request = limit) of the step's own pod: small, so a laptop kind cluster
# schedules them; the TFJob's workers are sized by the config's ``cluster`` section instead.
# Peak RSS measured with CPU TensorFlow 2.21 (dcgan_fashion_mnist, full Fashion-MNIST): prepare
# 0.66 GB, the train step's imports 0.67 GB, evaluate 1.55 GB (feature classifier + 2000 samples).
RESOURCES = {
    "resolve": ("100m", "512Mi"),  # validates the Run form's parameters: genlab's config, no TensorFlow
    "prepare": ("500m", "1536Mi"),
    "train": ("250m", "1536Mi"),  # waits for the TFJob; copies data/model to and from the PVC
    "evaluate": ("1", "3Gi"),  # likelihood presets also run importance-sampled NLL
    "generate": ("500m", "2Gi"),
}

# The downward API values genlab.launch.tfjob reads (owner reference of the TFJob).
FIELD_ENV = {
    "GENLAB_POD_NAME": "metadata.name",
    "GENLAB_POD_UID": "metadata.uid",
    "GENLAB_NAMESPACE": "metadata.namespace",
}


def configure_step(
    task: dsl.PipelineTask,
    step: str,
    gpus_per_worker: int,
    *,
    pvc_name: str = PVC_NAME,
    mount_path: str = MOUNT_PATH,
    image_pull_policy: str = "IfNotPresent",
) -> dsl.PipelineTask:
    """Apply genlab's cluster settings to ``task`` (one of ``STEPS``); returns the task.

    ``gpus_per_worker`` is the TFJob's GPUs per worker; it is recorded on the pod as a label
    (for dashboards and cost reports) but the step itself never asks for a GPU.
    """
    if step not in STEPS:
        raise ValueError(f"configure_step: step must be one of {STEPS}, got {step!r}")
    if gpus_per_worker < 0:
        raise ValueError(f"configure_step: gpus_per_worker must be >= 0, got {gpus_per_worker}")
    cpu, memory = RESOURCES[step]
    task.set_cpu_request(cpu)
    task.set_memory_request(memory)
    task.set_memory_limit(memory)
    kubernetes.mount_pvc(task, pvc_name=pvc_name, mount_path=mount_path)
    kubernetes.add_node_selector(task, POOL_LABEL, "cpu")
    kubernetes.set_image_pull_policy(task, image_pull_policy)
    for env, field in FIELD_ENV.items():
        kubernetes.use_field_path_as_env(task, env_name=env, field_path=field)
    kubernetes.add_pod_label(task, "app.kubernetes.io/part-of", "genlab")
    kubernetes.add_pod_label(task, "genlab.io/step", step)
    kubernetes.add_pod_label(task, "genlab.io/tfjob-gpus-per-worker", str(gpus_per_worker))
    return task
