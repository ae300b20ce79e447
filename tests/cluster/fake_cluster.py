"""The simulated cluster: fake API server + fake Training Operator + fake kubelet, on loopback.

``FakeCluster(root)`` starts all three; ``service_account_dir(name)`` writes what Kubernetes
mounts into a pod for a service account (``token``, ``namespace``, ``ca.crt``); the API server
knows each token and authorizes it with the RBAC of ``k8s/base/rbac.yaml``.
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

from tests.cluster.fake_apiserver import ApiServer, Store, make_tls
from tests.cluster.fake_kubelet import Kubelet
from tests.cluster.fake_operator import Operator
from tests.cluster.rbac import RBAC
from tests.cluster.step_pod import image_env

NAMESPACE = "genlab"
PVC = "genlab-data"  # k8s/base/pvc.yaml


class FakeCluster:
    def __init__(self, root: Path, namespace: str = NAMESPACE):
        self.root = root
        self.namespace = namespace
        self.pvc_dir = root / "pvc" / PVC
        self.pvc_dir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_tls(root / "tls")
        self.store = Store(namespaces=(namespace,))
        self.kubelet = Kubelet(
            root / "kubelet", {PVC: self.pvc_dir}, sys.executable, self.container_env(root)
        )
        self.kubelet.on_removed = self._pod_removed
        self.operator = Operator(self.store, self.kubelet)
        self.tokens: dict[str, tuple[str, str]] = {}
        self.api = ApiServer(
            self.store, self.kubelet, RBAC.from_manifests(), self.tokens, self.cert, self.key
        )

    def _pod_removed(self, namespace: str, name: str) -> None:
        self.store.pods.pop((namespace, name), None)

    def __enter__(self) -> FakeCluster:
        self.api.start()
        self.operator.start()
        return self

    def __exit__(self, *exc) -> None:
        self.operator.stop()
        self.kubelet.kill_all()
        self.api.stop()

    @property
    def host(self) -> str:
        return f"https://127.0.0.1:{self.api.port}"

    def service_account_dir(self, name: str) -> Path:
        """The files Kubernetes mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (self.namespace, name)
        folder = self.root / "serviceaccounts" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(token)
        (folder / "namespace").write_text(self.namespace)
        (folder / "ca.crt").write_bytes(self.cert.read_bytes())
        return folder

    @staticmethod
    def container_env(home: Path) -> dict[str, str]:
        """What a container of the trainer image starts with (not the test's environment)."""
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",  # python3 = this venv's
            "HOME": str(home),
            "LANG": "C.UTF-8",
            **image_env(),
        }

    def pod_env(self) -> dict[str, str]:
        """The variables Kubernetes sets in every pod for the API service."""
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.api.port)}

    # ----------------------------------------------------------------- test helpers
    def pods(self, job: str | None = None) -> list[dict]:
        with self.store.lock:
            return [
                p
                for p in self.store.pods.values()
                if job is None or p["metadata"]["labels"].get("training.kubeflow.org/job-name") == job
            ]

    def wait_for(self, what: str, predicate, timeout_s: float = 120.0, poll_s: float = 0.05):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.store.lock:
                value = predicate()
            if value:
                return value
            time.sleep(poll_s)
        raise AssertionError(
            f"timed out after {timeout_s:g}s waiting for {what}; operator: {self.operator.events[-10:]}"
        )

    def live_processes(self) -> list[int]:
        """Pids of every container process this cluster ran that still exists (not a zombie)."""
        alive = []
        for pid in self.kubelet.all_pids():
            try:
                state = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if "State:\tZ" not in state:
                alive.append(pid)
        return alive
