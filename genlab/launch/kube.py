"""Cluster access: a Kubernetes API client from the pod's service account or a kubeconfig,
the namespace to work in, and one clear error for every failed API call.

The service-account files are found through ``genlab.launch.paths`` (``GENLAB_SERVICE_ACCOUNT_DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.config.incluster_config import InClusterConfigLoader

from genlab.errors import ClusterError, LaunchError
from genlab.launch.base import in_cluster
from genlab.launch.paths import service_account_file

DEFAULT_NAMESPACE = "genlab"
# Set by pipelines.cluster.configure_step from the downward API (metadata.namespace).
NAMESPACE_ENV = "GENLAB_NAMESPACE"


def in_cluster_namespace() -> str | None:
    """The pod's namespace: the downward-API variable, else the service account's namespace file."""
    if os.environ.get(NAMESPACE_ENV):
        return os.environ[NAMESPACE_ENV]
    try:
        return Path(service_account_file("namespace")).read_text().strip() or None
    except OSError:
        return None


def api_client(
    kubeconfig: str | None = None,
    context: str | None = None,
    configuration: k8s.Configuration | None = None,
) -> k8s.ApiClient:
    """An API client from (in order) ``configuration``, the pod's service account, or a kubeconfig."""
    if configuration is not None:
        return k8s.ApiClient(configuration)
    cfg = k8s.Configuration()
    token, ca = service_account_file("token"), service_account_file("ca.crt")
    if kubeconfig is None and in_cluster():
        if os.path.exists(token):
            try:
                # The client's own loader, given our paths (load_incluster_config() has them fixed).
                InClusterConfigLoader(token_filename=token, cert_filename=ca).load_and_set(cfg)
            except k8s_config.ConfigException as e:
                raise ClusterError(f"in-cluster Kubernetes config ({token}, {ca}): {e}") from None
            return k8s.ApiClient(cfg)
        if not os.environ.get("KUBECONFIG"):
            raise ClusterError(
                f"running in a pod (KUBERNETES_SERVICE_HOST is set) but its service-account token "
                f"{token} is missing: run the step with a service account whose token is mounted "
                "(automountServiceAccountToken), or set KUBECONFIG"
            )
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise ClusterError(
            f"kubeconfig {path} not found and not running in a pod: expected a kubeconfig "
            "(set KUBECONFIG or pass kubeconfig=) for the cluster that runs the Training Operator"
        )
    try:
        k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
    except (k8s_config.ConfigException, OSError, ValueError, TypeError) as e:
        ctx = f" context {context!r}" if context else ""
        raise ClusterError(f"kubeconfig {path}{ctx}: cannot load it: {e}") from None
    return k8s.ApiClient(cfg)


def api_error(e: BaseException, what: str, host: str) -> ClusterError | LaunchError:
    """One clear error for a failed call ``what`` (``"create TFJob ns/name"``) to the API at ``host``.

    The kubeflow-training client wraps ``ApiException`` in ``RuntimeError``; the status is
    read from the exception it was raised from.
    """
    cause = e if isinstance(e, ApiException) else (e.__cause__ or e.__context__)
    if isinstance(cause, ApiException):
        if cause.status in (401, 403):
            return ClusterError(
                f"{what}: the Kubernetes API at {host} refused the request ({cause.status} {cause.reason}); "
                "check the credentials and that the service account has the genlab-pipeline Role "
                "(k8s/base/rbac.yaml)"
            )
        if cause.status == 404 and what.startswith("create TFJob"):
            return ClusterError(
                f"{what}: {host} has no TFJob API (kubeflow.org/v1 tfjobs) or no such namespace; "
                "install the Kubeflow Training Operator v1.9.2 (make cluster-up)"
            )
        if cause.status == 409:
            return LaunchError(f"{what}: it already exists; pass a unique job name or delete the old TFJob")
        body = (cause.body or "")[:300] if isinstance(cause.body, str) else ""
        return LaunchError(
            f"{what}: the Kubernetes API at {host} answered {cause.status} {cause.reason} {body}".rstrip()
        )
    return ClusterError(f"{what}: cannot reach the Kubernetes API at {host}: {cause or e}")
