"""genlab.submit against a fake KFP API server (HTTP level, 127.0.0.1)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest
from kfp import compiler, dsl

from genlab.errors import ClusterError, LaunchError
from genlab.submit import check_host, submit


@dsl.component(base_image="python:3.11-slim")
def echo(text: str) -> str:
    return text


@dsl.pipeline(name="tiny")
def tiny(text: str = "hi"):
    echo(text=text)


class FakeKFP:
    def __init__(self, final_state="SUCCEEDED", healthz_status=200, html=False):
        self.final_state = final_state
        self.healthz_status = healthz_status
        self.html = html
        self.runs: list[dict] = []
        self.experiments: list[dict] = []
        self.gets = 0

    def handler(fake):  # noqa: N805
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, code, body, ctype="application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = urlparse(self.path).path
                if path == "/apis/v2beta1/healthz":
                    if fake.html:
                        return self.send(200, "<html>login</html>", "text/html")
                    if fake.healthz_status != 200:
                        return self.send(fake.healthz_status, {"error": "no"})
                    return self.send(200, {"multi_user": False})
                if path == "/apis/v2beta1/experiments":
                    return self.send(200, {"experiments": fake.experiments} if fake.experiments else {})
                if path.startswith("/apis/v2beta1/runs/"):
                    fake.gets += 1
                    state = "RUNNING" if fake.gets < 2 else fake.final_state
                    return self.send(200, {"run_id": path.rsplit("/", 1)[1], "state": state})
                self.send(404, {"error": path})

            def do_POST(self):
                path = urlparse(self.path).path
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if path == "/apis/v2beta1/experiments":
                    exp = {"experiment_id": "exp-1", "display_name": body.get("display_name")}
                    fake.experiments.append(exp)
                    return self.send(200, exp)
                if path == "/apis/v2beta1/runs":
                    fake.runs.append(body)
                    return self.send(200, {"run_id": f"run-{len(fake.runs)}", "state": "PENDING"})
                self.send(404, {"error": path})

        return H


@pytest.fixture
def serve():
    servers = []

    def start(fake):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("pkg") / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path


def test_submit_package_returns_run_id(serve, package, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/kfp/context.json
    fake = FakeKFP()
    lines = []
    run_id = submit(package, host=serve(fake), arguments={"text": "yo"}, run_name="r", log=lines.append)
    assert run_id == "run-1"
    (run,) = fake.runs
    assert run["display_name"] == "r" and run["experiment_id"] == "exp-1"
    assert run["runtime_config"]["parameters"] == {"text": "yo"}
    assert run["service_account"] == "genlab-pipeline"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "tiny"
    assert fake.experiments[0]["display_name"] == "genlab"
    assert "submitted run run-1" in lines[0]


def test_submit_function_and_wait(serve, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("kfp.client.client.time.sleep", lambda s: None)
    fake = FakeKFP()
    assert submit(tiny, host=serve(fake), wait=True, log=lambda s: None) == "run-1"
    assert fake.gets >= 2


def test_failed_run_is_a_launch_error(serve, package, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("kfp.client.client.time.sleep", lambda s: None)
    with pytest.raises(LaunchError, match=r"KFP run run-1 on .* ended FAILED"):
        submit(package, host=serve(FakeKFP(final_state="FAILED")), wait=True, log=lambda s: None)


def test_unreachable_host_names_it():
    with pytest.raises(ClusterError, match=r"KFP host http://127.0.0.1:9 is unreachable .*port-forward"):
        check_host("http://127.0.0.1:9", timeout_s=2)


def test_auth_failure_and_login_page(serve):
    with pytest.raises(ClusterError, match=r"refused the request \(403"):
        check_host(serve(FakeKFP(healthz_status=403)))
    with pytest.raises(ClusterError, match=r"login page"):
        check_host(serve(FakeKFP(html=True)))


def test_missing_package_is_clear(serve, tmp_path):
    with pytest.raises(LaunchError, match="does not exist"):
        submit(tmp_path / "nope.yaml", host=serve(FakeKFP()), log=lambda s: None)
