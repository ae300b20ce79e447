"""Strict TFJob admission, as the API server plus the Training Operator's webhook would do it.

1. Structure: the body is walked against the models the upstream SDKs generate from the
   operator's Go types (``kubeflow-training``: ``KubeflowOrgV1TFJob.openapi_types`` /
   ``attribute_map``) and, below the pod template, the ``kubernetes`` client's models
   (``V1PodTemplateSpec`` ...). An unknown or misspelt field, or a value of the wrong JSON type,
   is an error naming its path (a CRD with a structural schema prunes or rejects unknown
   fields; kubectl's strict field validation rejects them; either way the job is not what the
   caller meant, so the fake rejects it).
2. Enums, from kubeflow/training-operator pkg/apis/kubeflow.org/v1/common_types.go and
   tensorflow_types.go: restartPolicy Always|OnFailure|Never|ExitCode, cleanPodPolicy
   All|Running|None, successPolicy ""|AllWorkers, replica types PS|Worker|Chief|Master|Evaluator;
   and from pkg/common/util/webhooks.go: runPolicy.managedBy.
3. The webhook, kubeflow/trainer v1.9 pkg/webhooks/tensorflow/tfjob_webhook.go (validateTFJob):
   metadata.name a DNS-1035 label, tfReplicaSpecs required, every replica has containers, every
   container an image, one container named ``tensorflow``, at most one Chief/Master.
Plus the core API's own checks that matter here: pod restartPolicy and resource quantities.
"""

from __future__ import annotations

import re

from kubeflow.training import models as kf_models
from kubernetes.client import models as k8s_models

REPLICA_TYPES = ("PS", "Worker", "Chief", "Master", "Evaluator")
RESTART_POLICIES = ("Always", "OnFailure", "Never", "ExitCode")
CLEAN_POD_POLICIES = ("All", "Running", "None")
SUCCESS_POLICIES = ("", "AllWorkers")
MANAGED_BY = ("kubeflow.org/training-operator", "kueue.x-k8s.io/multikueue")
POD_RESTART_POLICIES = ("Always", "OnFailure", "Never")  # core/v1 PodSpec
TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")
DEFAULT_CONTAINER = "tensorflow"
# k8s.io/apimachinery/pkg/util/validation: DNS-1035 label, at most 63 characters.
DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# k8s.io/apimachinery/pkg/api/resource: a quantity (number + optional suffix).
QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?")

_SCALARS = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "datetime": (str,)}
_NATIVE = re.compile(r"(list\[(?P<item>.+)\]|dict\(str, (?P<value>.+)\))")


def _model(name: str):
    cls = getattr(kf_models, name, None) or getattr(k8s_models, name, None)
    if cls is None:
        raise LookupError(f"no SDK model named {name}")
    return cls


def _walk(value, type_name: str, path: str, errors: list[str]) -> None:
    if value is None:
        return  # omitted optional field (the SDK serialiser drops None; JSON null means unset)
    if type_name == "object":
        return  # IntOrString, RawExtension: free-form in the generated models too
    if type_name in _SCALARS:
        ok = isinstance(value, _SCALARS[type_name])
        if type_name in ("int", "float") and isinstance(value, bool):
            ok = False
        if not ok:
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
        return
    m = _NATIVE.fullmatch(type_name)
    if m and m.group("item"):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _walk(item, m.group("item"), f"{path}[{i}]", errors)
        return
    if m and m.group("value"):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        for k, item in value.items():
            _walk(item, m.group("value"), f"{path}[{k}]", errors)
        return
    cls = _model(type_name)
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({type_name}), got {type(value).__name__}")
        return
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            known = ", ".join(sorted(by_json))
            errors.append(f'{path}: unknown field "{key}" ({type_name} has: {known})')
            continue
        _walk(item, cls.openapi_types[attr], f"{path}.{key}", errors)


def structural_errors(body: dict) -> list[str]:
    """Unknown fields and wrong types, walking the SDK models from ``KubeflowOrgV1TFJob`` down."""
    errors: list[str] = []
    _walk(body, "KubeflowOrgV1TFJob", "TFJob", errors)
    return errors


def _enum(value, allowed, path: str, errors: list[str]) -> None:
    if value is not None and value not in allowed:
        errors.append(
            f'{path}: Unsupported value: "{value}": supported values: {", ".join(map(repr, allowed))}'
        )


def _pod_errors(spec: dict, path: str, errors: list[str]) -> None:
    _enum(spec.get("restartPolicy"), POD_RESTART_POLICIES, f"{path}.restartPolicy", errors)
    for i, tol in enumerate(spec.get("tolerations") or []):
        _enum(tol.get("operator"), TOLERATION_OPERATORS, f"{path}.tolerations[{i}].operator", errors)
        _enum(tol.get("effect"), TAINT_EFFECTS, f"{path}.tolerations[{i}].effect", errors)
    for i, c in enumerate(spec.get("containers") or []):
        for kind in ("requests", "limits"):
            for res, q in ((c.get("resources") or {}).get(kind) or {}).items():
                if isinstance(q, str) and not QUANTITY.fullmatch(q):
                    errors.append(f"{path}.containers[{i}].resources.{kind}[{res}]: invalid quantity {q!r}")


def webhook_errors(body: dict) -> list[str]:
    """What the operator's validating webhook and the CRD enums reject."""
    errors: list[str] = []
    name = (body.get("metadata") or {}).get("name") or ""
    if len(name) > 63 or not DNS1035.fullmatch(name):
        errors.append(
            f"metadata.name: Invalid value: {name!r}: should match: a DNS-1035 label must consist of lower "
            "case alphanumeric characters or '-', start with an alphabetic character, and end with an "
            "alphanumeric character (at most 63 characters)"
        )
    if body.get("apiVersion") != "kubeflow.org/v1" or body.get("kind") != "TFJob":
        errors.append(
            f"apiVersion/kind: expected kubeflow.org/v1 TFJob, got {body.get('apiVersion')} {body.get('kind')}"
        )
    spec = body.get("spec") or {}
    run_policy = spec.get("runPolicy") or {}
    _enum(run_policy.get("cleanPodPolicy"), CLEAN_POD_POLICIES, "spec.runPolicy.cleanPodPolicy", errors)
    _enum(run_policy.get("managedBy"), MANAGED_BY, "spec.runPolicy.managedBy", errors)
    for key in ("backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"):
        if isinstance(run_policy.get(key), int) and run_policy[key] < 0:
            errors.append(f"spec.runPolicy.{key}: must be greater than or equal to 0")
    _enum(spec.get("successPolicy"), SUCCESS_POLICIES, "spec.successPolicy", errors)
    replicas = spec.get("tfReplicaSpecs")
    if not replicas:
        errors.append("spec.tfReplicaSpecs: Required value: must be required")
        return errors
    chiefs = 0
    for rtype, rspec in replicas.items():
        path = f"spec.tfReplicaSpecs[{rtype}]"
        _enum(rtype, REPLICA_TYPES, "spec.tfReplicaSpecs key", errors)
        chiefs += rtype in ("Chief", "Master")
        rspec = rspec or {}
        _enum(rspec.get("restartPolicy"), RESTART_POLICIES, f"{path}.restartPolicy", errors)
        if isinstance(rspec.get("replicas"), int) and rspec["replicas"] < 0:
            errors.append(f"{path}.replicas: must be greater than or equal to 0")
        pod = ((rspec.get("template") or {}).get("spec")) or {}
        containers = pod.get("containers") or []
        if not containers:
            errors.append(f"{path}.template.spec.containers: Required value: must be specified")
        for i, c in enumerate(containers):
            if not c.get("image"):
                errors.append(f"{path}.template.spec.containers[{i}].image: Required value: must be required")
        if not any(c.get("name") == DEFAULT_CONTAINER for c in containers):
            errors.append(
                f"{path}.template.spec.containers: Required value: must have at least one container "
                f"with name {DEFAULT_CONTAINER}"
            )
        _pod_errors(pod, f"{path}.template.spec", errors)
    if chiefs > 1:
        errors.append("spec.tfReplicaSpecs: Forbidden: must not have more than 1 Chief or Master role")
    return errors


def validate_tfjob(body: dict) -> list[str]:
    """All reasons the cluster would refuse ``body`` (empty when it would be admitted)."""
    errors = structural_errors(body)
    if not errors:  # the webhook only ever sees a body that decoded into the Go types
        errors = webhook_errors(body)
    return errors
