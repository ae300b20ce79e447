"""Where the cluster code finds a pod's files: the one place to point them elsewhere.

In a pod these are Kubernetes' and genlab's defaults. A test harness (or an unusual cluster)
overrides them with environment variables, so the real train step runs unchanged with a tmp
folder as the PVC mount and a tmp service-account folder:

  GENLAB_MOUNT_PATH           where the shared ``genlab-data`` PVC is mounted, in the step's pod
                              and in every TFJob pod (default ``/mnt/genlab``)
  GENLAB_SERVICE_ACCOUNT_DIR  the service-account files ``token``, ``namespace`` and ``ca.crt``
                              (default ``/var/run/secrets/kubernetes.io/serviceaccount``)

Both are read when used, never at import, so a test may set them with ``monkeypatch.setenv``.
"""

from __future__ import annotations

import os

MOUNT_PATH_ENV = "GENLAB_MOUNT_PATH"
SERVICE_ACCOUNT_DIR_ENV = "GENLAB_SERVICE_ACCOUNT_DIR"
DEFAULT_MOUNT_PATH = "/mnt/genlab"
# Where the kubelet projects the service account (kubernetes-client/python
# kubernetes/config/incluster_config.py SERVICE_TOKEN_FILENAME / SERVICE_CERT_FILENAME).
DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def mount_path() -> str:
    """Where the shared PVC is mounted (the step stages data there; the TFJob pods mount it there)."""
    return os.environ.get(MOUNT_PATH_ENV) or DEFAULT_MOUNT_PATH


def service_account_file(name: str) -> str:
    """``token``, ``namespace`` or ``ca.crt`` of the pod's service account."""
    return os.path.join(os.environ.get(SERVICE_ACCOUNT_DIR_ENV) or DEFAULT_SERVICE_ACCOUNT_DIR, name)
