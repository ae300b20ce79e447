"""Credentials for a Kubeflow Pipelines host, the ways ``kfp.Client`` takes them.

- a bearer token: ``--token`` or ``GENLAB_KFP_TOKEN`` (``kfp.Client(existing_token=...)``); on
  Kubeflow 1.9+ behind oauth2-proxy, e.g. ``kubectl -n PROFILE create token default-editor``;
- the in-cluster service-account token: the file ``KF_PIPELINES_SA_TOKEN_PATH`` names, else
  ``/var/run/secrets/kubeflow/pipelines/token`` when it exists, re-read on every request as
  kfp's ``ServiceAccountTokenVolumeCredentials`` does (kfp/client/set_volume_credentials.py);
- IAP on GCP: ``--client-id`` (plus ``--other-client-id``/``--other-client-secret`` for a user
  login), or kfp's ``KF_PIPELINES_IAP_OAUTH2_CLIENT_ID`` / ``KF_PIPELINES_APP_OAUTH2_CLIENT_ID``
  / ``KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET``. The ID token comes from kfp's own
  ``kfp.client.auth.get_auth_token`` (kfp/client/auth.py), fetched once here so that the
  pre-flight check and the client send the same one;
- Dex / oauth2-proxy sessions: ``--cookies 'authservice_session=...'`` (or
  ``oauth2_proxy_kubeflow=...``) or ``GENLAB_KFP_COOKIES`` (``kfp.Client(cookies=...)``).

Precedence follows ``kfp.Client._load_config``: a token, then IAP, then the service-account
token; cookies are sent alongside any of them. A secret given on the command line may be
``@FILE`` to keep it out of shell history and ``ps``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genlab.errors import ClusterError

# The names kfp uses (kfp/client/client.py): KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH,
# KF_PIPELINES_IAP_OAUTH2_CLIENT_ID_ENV, KF_PIPELINES_APP_OAUTH2_CLIENT_ID_ENV/_SECRET_ENV.
SA_TOKEN_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
SA_TOKEN_DEFAULT = "/var/run/secrets/kubeflow/pipelines/token"
IAP_CLIENT_ID_ENV = "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID"
APP_CLIENT_ID_ENV = "KF_PIPELINES_APP_OAUTH2_CLIENT_ID"
APP_CLIENT_SECRET_ENV = "KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET"
HOW_TO_LOG_IN = (
    "log in first: open the host in a browser, log in, and pass the session cookie with "
    "--cookies 'authservice_session=...' (oauth2-proxy: 'oauth2_proxy_kubeflow=...'), or pass a "
    "bearer token with --token @FILE (e.g. from `kubectl -n PROFILE create token default-editor`)"
)


def _secret(value: str | None, flag: str) -> str | None:
    """A command-line secret, or ``@FILE`` holding it."""
    if not value or not value.startswith("@"):
        return value or None
    path = Path(value[1:]).expanduser()
    try:
        return path.read_text().strip() or None
    except OSError as e:
        raise ClusterError(
            f"{flag} {value}: cannot read {path} ({e.strerror}); expected a file holding it"
        ) from None


@dataclass(frozen=True)
class KfpAuth:
    token: str | None = None
    cookies: str | None = None
    client_id: str | None = None  # IAP
    other_client_id: str | None = None
    other_client_secret: str | None = None
    sa_token_path: str | None = None

    @classmethod
    def resolve(
        cls,
        token: str | None = None,
        cookies: str | None = None,
        client_id: str | None = None,
        other_client_id: str | None = None,
        other_client_secret: str | None = None,
        environ=os.environ,
    ) -> KfpAuth:
        """Flags first, then the environment, the way kfp.Client falls back to it."""
        token = _secret(token, "--token") or environ.get("GENLAB_KFP_TOKEN") or None
        client_id = client_id or environ.get(IAP_CLIENT_ID_ENV) or None
        sa_path = None
        if not token and not client_id:
            sa_path = environ.get(SA_TOKEN_ENV) or None
            if sa_path and not os.path.isfile(sa_path):
                raise ClusterError(
                    f"{SA_TOKEN_ENV}={sa_path}: no such file; expected a projected service-account "
                    "token (a volume with audience pipelines.kubeflow.org), or unset it"
                )
            if not sa_path and os.path.isfile(SA_TOKEN_DEFAULT):
                sa_path = SA_TOKEN_DEFAULT
        return cls(
            token=token,
            cookies=_secret(cookies, "--cookies") or environ.get("GENLAB_KFP_COOKIES") or None,
            client_id=client_id,
            other_client_id=other_client_id or environ.get(APP_CLIENT_ID_ENV) or None,
            other_client_secret=_secret(other_client_secret, "--other-client-secret")
            or environ.get(APP_CLIENT_SECRET_ENV)
            or None,
            sa_token_path=sa_path,
        )

    def with_iap_token(self) -> KfpAuth:
        """IAP: fetch the ID token once, with kfp's own code; afterwards it is a bearer token."""
        if not self.client_id or self.token:
            return self
        from kfp.client import auth

        try:
            token, _ = auth.get_auth_token(self.client_id, self.other_client_id, self.other_client_secret)
        except Exception as e:  # google-auth / OAuth errors of many kinds
            raise ClusterError(
                f"IAP: could not get an ID token for OAuth client id {self.client_id}: {e}"
            ) from None
        if not token:
            raise ClusterError(
                f"IAP: no ID token for OAuth client id {self.client_id}: set GOOGLE_APPLICATION_CREDENTIALS "
                "to a service account key, or pass --other-client-id/--other-client-secret to log in as a user"
            )
        return KfpAuth(token=token, cookies=self.cookies, client_id=self.client_id)

    def bearer(self) -> str | None:
        if self.token:
            return self.token
        if self.sa_token_path:
            try:  # re-read: the kubelet rotates projected tokens
                return Path(self.sa_token_path).read_text().strip()
            except OSError as e:
                raise ClusterError(f"service-account token {self.sa_token_path}: {e.strerror}") from None
        return None

    def headers(self) -> dict[str, str]:
        headers = {}
        token = self.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.cookies:
            headers["Cookie"] = self.cookies
        return headers

    def describe(self) -> str:
        """What was sent, never the secret itself."""
        sent = []
        if self.client_id:
            sent.append(f"an IAP ID token for client id {self.client_id}")
        elif self.token:
            sent.append("a bearer token (--token / GENLAB_KFP_TOKEN)")
        elif self.sa_token_path:
            sent.append(f"the service-account token from {self.sa_token_path}")
        if self.cookies:
            names = [c.split("=", 1)[0].strip() for c in self.cookies.split(";") if c.strip()]
            sent.append(f"cookies {', '.join(names)}")
        return " and ".join(sent) or "no credentials"

    def client_kwargs(self) -> dict:
        """Keyword arguments for ``kfp.Client`` (after ``with_iap_token``)."""
        kwargs: dict = {"cookies": self.cookies}
        if self.token:
            kwargs["existing_token"] = self.token
        elif self.sa_token_path:
            from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

            kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=self.sa_token_path)
        return kwargs
