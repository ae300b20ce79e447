"""``genlab submit`` credentials against a fake KFP API over HTTP (127.0.0.1).

Each mode kfp.Client supports: a bearer token (``--token``), the in-cluster service-account
token (``KF_PIPELINES_SA_TOKEN_PATH``), IAP (kfp's own token fetch, stubbed), Dex/oauth2-proxy
session cookies (``--cookies``). The fake records the credentials of every request, so the
pre-flight check and the kfp client are both seen to send them; login pages and 403s must end
in one clear message, not a traceback.
"""

import pytest

from genlab.errors import ClusterError
from genlab.kfp_auth import KfpAuth
from genlab.submit import check_host, submit
from tests.k8s.fake_kfp import FakeKFP


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
