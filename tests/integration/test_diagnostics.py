"""tests/integration/diagnostics.py against a tiny Kubernetes API on loopback (runs everywhere):
the named readiness wait and the failure reports the kind test prints."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from diagnostics import deployment_report, make_list, run_report, wait_deployments

NS = "genlab"


def deployment(name: str, available: bool) -> dict:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        "status": {
            "conditions": [
                {"type": "Available", "status": "True" if available else "False", "reason": "MinimumReplicas"}
            ]
        },
    }


POD = {
    "metadata": {"name": "cache-server-abc", "namespace": NS, "creationTimestamp": "2030-01-01T00:00:00Z"},
    "spec": {"containers": [{"name": "server", "image": "ghcr.io/kubeflow/kfp-cache-server:2.5.0"}]},
    "status": {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "server",
                "ready": False,
                "restartCount": 0,
                "image": "x",
                "imageID": "",
                "state": {
                    "waiting": {
                        "reason": "ContainerCreating",
                        "message": "secret webhook-server-tls not found",
                    }
                },
            }
        ],
    },
}
EVENT = {
    "metadata": {"name": "e1", "namespace": NS},
    "involvedObject": {"name": "cache-server-abc"},
    "type": "Warning",
    "reason": "FailedMount",
    "message": 'MountVolume.SetUp failed: secret "webhook-server-tls" not found',
}
TFJOB = {
    "metadata": {"name": "dcgan-tiny-1", "namespace": NS},
    "spec": {
        "tfReplicaSpecs": {
            "Worker": {
                "replicas": 2,
                "template": {"spec": {"containers": [{"name": "tensorflow", "image": "r/x:1"}]}},
            }
        }
    },
    "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "TFJobFailed"}]},
}


@pytest.fixture
def api():
    from kubernetes import client

    deployments = {
        "ml-pipeline": deployment("ml-pipeline", True),
        "cache-server": deployment("cache-server", False),
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            body, code, ctype = None, 200, "application/json"
            if url.path.startswith(f"/apis/apps/v1/namespaces/{NS}/deployments/"):
                body = deployments.get(parts[-1])
                code = 200 if body else 404
                body = body or {"kind": "Status", "code": 404, "reason": "NotFound"}
            elif url.path == f"/api/v1/namespaces/{NS}/pods":
                selector = parse_qs(url.query).get("labelSelector", [""])[0]
                body = {"items": [POD] if selector in ("", "app=cache-server") else []}
            elif url.path == f"/api/v1/namespaces/{NS}/events":
                body = {"items": [EVENT]}
            elif url.path.endswith("/log"):
                body, ctype = "waiting for webhook-server-tls\n", "text/plain"
            elif url.path == f"/apis/kubeflow.org/v1/namespaces/{NS}/tfjobs":
                body = {"items": [TFJOB]}
            else:
                body, code = {"kind": "Status", "code": 404}, 404
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = client.Configuration()
    cfg.host = f"http://127.0.0.1:{server.server_address[1]}"
    yield client.ApiClient(cfg)
    server.shutdown()


def test_make_lists_are_the_cluster_up_lists():
    assert "cache-deployer-deployment" in make_list("KFP_DEPLOYMENTS")
    assert make_list("TRAINING_OPERATOR_DEPLOYMENTS") == ["training-operator"]


def test_wait_names_what_is_not_ready(api):
    assert wait_deployments(api, NS, ["ml-pipeline"], timeout_s=1) == []
    assert wait_deployments(api, NS, ["ml-pipeline", "cache-server", "missing"], timeout_s=0) == [
        "cache-server",
        "missing",
    ]


def test_deployment_report_has_conditions_reasons_events_and_logs(api):
    report = deployment_report(api, NS, ["cache-server", "missing"])
    assert "condition Available=False" in report
    assert "server: waiting ContainerCreating: secret webhook-server-tls not found" in report
    assert "event Warning FailedMount" in report
    assert "waiting for webhook-server-tls" in report
    assert "deployment genlab/missing: 404" in report


def test_run_report_has_tfjob_conditions_images_and_new_pods(api):
    report = run_report(api, NS, since=0)
    assert "tfjob genlab/dcgan-tiny-1: Failed=True TFJobFailed images=['r/x:1']" in report
    assert "pod genlab/cache-server-abc: Pending" in report
    assert "pod genlab" not in run_report(api, NS, since=4e9)  # pods older than the run are left out
