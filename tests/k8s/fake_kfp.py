"""A fake KFP v2beta1 API over HTTP on 127.0.0.1, for ``genlab submit`` tests.

It answers the calls kfp.Client and genlab's pre-flight check make (healthz, experiments, runs) and
can sit behind an auth proxy: ``bearer``/``cookie`` (when set) are required, ``login`` answers every
request with a Dex redirect or an HTML page, ``forbid`` with 403. It records every request's
credentials (``seen``) and every run created (``runs``); a run reads RUNNING once, then ``final_state``.
"""

# No `from __future__ import annotations`: kfp reads the component's annotations as real types.
import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlparse

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def echo(text: str) -> str:
    return text


@dsl.pipeline(name="tiny")
def tiny(text: str = "hi"):
    echo(text=text)


class FakeKFP:
    def __init__(self, bearer=None, cookie=None, login=None, forbid=False, final_state="SUCCEEDED"):
        self.bearer, self.cookie, self.login, self.forbid = bearer, cookie, login, forbid
        self.final_state = final_state
        self.seen: list[tuple[str, str, str | None, str | None]] = []  # method, path, Authorization, Cookie
        self.runs: list[dict] = []
        self.experiments: list[dict] = []
        self.gets = 0

    def handler(fake):  # noqa: N805
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, code, body, ctype="application/json", headers=()):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def gate(self):
                auth, cookie = self.headers.get("Authorization"), self.headers.get("Cookie")
                fake.seen.append((self.command, urlparse(self.path).path, auth, cookie))
                if urlparse(self.path).path.startswith("/dex/"):  # Dex's own login form
                    self.send(200, "<html><form>Log in to dex</form></html>", "text/html")
                    return False
                if fake.login == "redirect":  # oidc-authservice / oauth2-proxy send you to Dex
                    loc = "/dex/auth?client_id=kubeflow-oidc-authservice&state=xyz"
                    self.send(302, "<a href='/dex/auth'>Found</a>", "text/html", [("Location", loc)])
                    return False
                if fake.login == "html":
                    self.send(
                        200, "<html><body>Log in to Your Account</body></html>", "text/html; charset=utf-8"
                    )
                    return False
                if fake.forbid:
                    self.send(403, {"error": "RBAC: access denied"})
                    return False
                if (fake.bearer and auth != f"Bearer {fake.bearer}") or (
                    fake.cookie and fake.cookie not in (cookie or "")
                ):
                    self.send(401, {"error": "unauthenticated"})
                    return False
                return True

            def do_GET(self):
                if not self.gate():
                    return
                path = urlparse(self.path).path
                if path == "/apis/v2beta1/healthz":
                    return self.send(200, {"multi_user": False})
                if path == "/apis/v2beta1/experiments":
                    return self.send(200, {"experiments": fake.experiments} if fake.experiments else {})
                if path.startswith("/apis/v2beta1/runs/"):
                    fake.gets += 1
                    state = "RUNNING" if fake.gets < 2 else fake.final_state
                    return self.send(200, {"run_id": path.rsplit("/", 1)[1], "state": state})
                self.send(404, {"error": path})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if not self.gate():
                    return
                path = urlparse(self.path).path
                if path == "/apis/v2beta1/experiments":
                    exp = {"experiment_id": "exp-1", "display_name": body.get("display_name")}
                    fake.experiments.append(exp)
                    return self.send(200, exp)
                if path == "/apis/v2beta1/runs":
                    fake.runs.append(body)
                    return self.send(200, {"run_id": f"run-{len(fake.runs)}", "state": "PENDING"})
                self.send(404, {"error": path})

        return H
