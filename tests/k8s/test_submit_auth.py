"""``genlab submit`` credentials against a fake KFP API over HTTP (127.0.0.1).

Each mode kfp.Client supports: a bearer token (``--token``), the in-cluster service-account
token (``KF_PIPELINES_SA_TOKEN_PATH``), IAP (kfp's own token fetch, stubbed), Dex/oauth2-proxy
session cookies (``--cookies``). The fake records the credentials of every request, so the
pre-flight check and the kfp client are both seen to send them; login pages and 403s must end
in one clear message, not a traceback.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest
from kfp import compiler, dsl

from genlab.errors import ClusterError
from genlab.kfp_auth import KfpAuth
from genlab.submit import check_host, submit


@dsl.component(base_image="python:3.11-slim")
def echo(text: str) -> str:
    return text


@dsl.pipeline(name="tiny-auth")
def tiny(text: str = "hi"):
    echo(text=text)


class FakeKFP:
    """KFP's v2beta1 API behind an auth proxy: ``bearer``/``cookie`` (when set) are required;
    ``login`` answers every request with a Dex redirect or an HTML page; ``forbid`` with 403."""

    def __init__(self, bearer=None, cookie=None, login=None, forbid=False):
        self.bearer, self.cookie, self.login, self.forbid = bearer, cookie, login, forbid
        self.seen: list[tuple[str, str, str | None, str | None]] = []  # method, path, Authorization, Cookie

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
                    return self.send(200, {})
                self.send(404, {"error": path})

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                if not self.gate():
                    return
                path = urlparse(self.path).path
                if path == "/apis/v2beta1/experiments":
                    return self.send(200, {"experiment_id": "exp-1", "display_name": "genlab"})
                if path == "/apis/v2beta1/runs":
                    return self.send(200, {"run_id": "run-1", "state": "PENDING"})
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


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/kfp/context.json or credentials.json
    for var in (
        "GENLAB_KFP_TOKEN",
        "GENLAB_KFP_COOKIES",
        "KF_PIPELINES_SA_TOKEN_PATH",
        "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("pkg") / "tiny.yaml"
    compiler.Compiler().compile(tiny, str(path))
    return path


def assert_every_request_sent(fake, authorization=None, cookie=None):
    assert ("POST", "/apis/v2beta1/runs") in {(m, p) for m, p, _, _ in fake.seen}, fake.seen
    for method, path, auth, cookies in fake.seen:
        assert auth == authorization, (method, path, auth)
        if cookie:
            assert cookie in (cookies or ""), (method, path, cookies)


def test_token_flag_is_sent_by_the_check_and_the_client(serve, tmp_path, capsys):
    from genlab.cli import main

    fake = FakeKFP(bearer="tok-123")
    token_file = tmp_path / "token"
    token_file.write_text("tok-123\n")
    host = serve(fake)
    assert main(["submit", "dcgan_tiny", "--host", host, "--token", f"@{token_file}"]) == 0
    assert fake.seen[0][:3] == ("GET", "/apis/v2beta1/healthz", "Bearer tok-123")  # the pre-flight check
    assert_every_request_sent(fake, "Bearer tok-123")
    out = capsys.readouterr()
    assert "submitted run run-1" in out.out and "tok-123" not in out.out + out.err


def test_service_account_token_file_is_read_like_kfp_does(serve, package, tmp_path, monkeypatch):
    sa = tmp_path / "sa-token"
    sa.write_text("sa-token-abc\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(sa))
    fake = FakeKFP(bearer="sa-token-abc")
    assert submit(package, host=serve(fake), log=lambda s: None) == "run-1"
    assert_every_request_sent(fake, "Bearer sa-token-abc")
    assert KfpAuth.resolve().describe() == f"the service-account token from {sa}"


def test_a_missing_service_account_token_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "nope"))
    with pytest.raises(ClusterError, match=rf"KF_PIPELINES_SA_TOKEN_PATH={tmp_path / 'nope'}: no such file"):
        KfpAuth.resolve()


def test_a_token_wins_over_the_service_account_file_as_in_kfp(monkeypatch, tmp_path):
    sa = tmp_path / "sa-token"
    sa.write_text("sa")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(sa))
    auth = KfpAuth.resolve(token="explicit")
    assert auth.headers() == {"Authorization": "Bearer explicit"} and auth.sa_token_path is None


def test_session_cookies_are_sent(serve, package):
    fake = FakeKFP(cookie="authservice_session=MTcx")
    auth = KfpAuth.resolve(cookies="authservice_session=MTcx")
    assert submit(package, host=serve(fake), auth=auth, log=lambda s: None) == "run-1"
    assert_every_request_sent(fake, None, cookie="authservice_session=MTcx")


def test_iap_token_comes_from_kfps_auth_once_and_is_sent(serve, package, monkeypatch):
    calls = []

    def get_auth_token(client_id, other_client_id, other_client_secret):
        calls.append((client_id, other_client_id, other_client_secret))
        return "iap-id-token", True

    monkeypatch.setattr("kfp.client.auth.get_auth_token", get_auth_token)
    fake = FakeKFP(bearer="iap-id-token")
    auth = KfpAuth.resolve(
        client_id="123.apps.googleusercontent.com", other_client_id="456", other_client_secret="s3"
    )
    assert submit(package, host=serve(fake), auth=auth, log=lambda s: None) == "run-1"
    assert calls == [("123.apps.googleusercontent.com", "456", "s3")]
    assert_every_request_sent(fake, "Bearer iap-id-token")


def test_iap_without_credentials_is_one_clear_error(monkeypatch):
    monkeypatch.setattr("kfp.client.auth.get_auth_token", lambda *a: (None, False))
    with pytest.raises(
        ClusterError, match=r"IAP: no ID token for OAuth client id 123\.apps.*GOOGLE_APPLICATION_CREDENTIALS"
    ):
        KfpAuth.resolve(client_id="123.apps.googleusercontent.com").with_iap_token()


@pytest.mark.parametrize("login", ["redirect", "html"])
def test_a_login_page_says_log_in_first(serve, login):
    host = serve(FakeKFP(login=login))
    with pytest.raises(ClusterError) as e:
        check_host(host)
    msg = str(e.value)
    assert msg.startswith(f"KFP host {host} answered /apis/v2beta1/healthz with ")
    assert "log in first" in msg and "--cookies 'authservice_session=...'" in msg and "--token" in msg
    if login == "redirect":
        assert "a redirect (302 to /dex/auth, a login page)" in msg  # not followed; no state= leaked
    else:
        assert "text/html" in msg


def test_a_login_page_from_the_cli_is_one_line_not_a_traceback(serve, capsys):
    from genlab.cli import main

    assert main(["submit", "dcgan_tiny", "--host", serve(FakeKFP(login="redirect"))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genlab: error: KFP host") and "log in first" in err[0]


def test_403_names_what_was_sent_but_not_the_secret(serve):
    host = serve(FakeKFP(forbid=True))
    auth = KfpAuth.resolve(token="secret-tok", cookies="authservice_session=SECRETCOOKIE")
    with pytest.raises(ClusterError) as e:
        check_host(host, auth=auth)
    msg = str(e.value)
    assert msg.startswith(f"KFP host {host} refused the request (403 Forbidden) sent with a bearer token")
    assert "cookies authservice_session" in msg and "--namespace" in msg
    assert "secret-tok" not in msg and "SECRETCOOKIE" not in msg


def test_an_unreadable_secret_file_is_named(tmp_path):
    with pytest.raises(ClusterError, match=rf"--token @{tmp_path / 'missing'}: cannot read"):
        KfpAuth.resolve(token=f"@{tmp_path / 'missing'}")
