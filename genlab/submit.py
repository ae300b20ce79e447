"""Submit a compiled pipeline (or a pipeline function) to a Kubeflow Pipelines host.

``genlab submit <preset> --host URL`` compiles the preset's pipeline and calls ``submit``.
An unreachable host, a login page instead of the API, or a refused request is a
``ClusterError`` that names the host and what to check; a run that ends in any state but
SUCCEEDED (with ``wait=True``) is a ``LaunchError`` naming the run and its state.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from typing import Any

from genlab.errors import ClusterError, LaunchError
from genlab.kfp_auth import HOW_TO_LOG_IN, KfpAuth

HEALTHZ = "/apis/v2beta1/healthz"
PORT_FORWARD_HINT = (
    "kubectl port-forward -n genlab svc/ml-pipeline-ui 8080:80, then --host http://localhost:8080"
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect from the API path is a login page (Dex, oauth2-proxy, IAP): report it, do not follow."""

    def redirect_request(self, *args, **kwargs):
        return None


def _login_page(host: str, what: str) -> ClusterError:
    return ClusterError(f"KFP host {host} answered {HEALTHZ} with {what}, not the API: {HOW_TO_LOG_IN}")


def check_host(
    host: str, token: str | None = None, timeout_s: float = 10.0, *, auth: KfpAuth | None = None
) -> dict:
    """GET the KFP healthz endpoint with the run's credentials: a clear ``ClusterError`` instead
    of a client's retries, a login page or a traceback."""
    auth = auth or KfpAuth(token=token)
    url = host.rstrip("/") + HEALTHZ
    request = urllib.request.Request(url, headers={"Accept": "application/json", **auth.headers()})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=timeout_s) as resp:
            body = resp.read()
            ctype = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        if 300 <= e.code < 400:
            where = e.headers.get("Location", "") if e.headers else ""
            return_to = f" to {where.split('?', 1)[0]}" if where else ""
            raise _login_page(host, f"a redirect ({e.code}{return_to}, a login page)") from None
        if e.code in (401, 403):
            raise ClusterError(
                f"KFP host {host} refused the request ({e.code} {e.reason}) sent with {auth.describe()}: "
                "check that the credentials are current and that your account may use Kubeflow Pipelines "
                f"(multi-user: pass --namespace of a profile you belong to); to send others, {HOW_TO_LOG_IN}"
            ) from None
        raise ClusterError(
            f"KFP host {host} answered {e.code} {e.reason} at {HEALTHZ}: is this the Kubeflow Pipelines "
            f"API (ml-pipeline or ml-pipeline-ui service)? Try {PORT_FORWARD_HINT}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise ClusterError(
            f"KFP host {host} is unreachable ({reason}): check the URL and that the cluster is up; "
            f"for a local cluster run {PORT_FORWARD_HINT}"
        ) from None
    if "json" not in ctype:
        raise _login_page(host, f"{ctype or 'no content type'} (probably a login page)")
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise ClusterError(f"KFP host {host} answered {HEALTHZ} with invalid JSON") from None


def _client_error(e: Exception, host: str, what: str, auth: KfpAuth) -> ClusterError:
    status = getattr(e, "status", None)
    if status in (401, 403):
        return ClusterError(
            f"KFP host {host}: {what} refused ({status}) with {auth.describe()}; check the credentials "
            "and your permissions (multi-user: --namespace must be a profile you belong to)"
        )
    if status is not None:
        body = getattr(e, "body", "") or ""
        return ClusterError(
            f"KFP host {host}: {what} failed ({status} {getattr(e, 'reason', '')}): {body}"[:800]
        )
    return ClusterError(f"KFP host {host}: {what} failed: {e}")


def submit(
    pipeline: str | os.PathLike | Callable,
    *,
    host: str,
    namespace: str | None = None,
    experiment: str = "genlab",
    run_name: str | None = None,
    arguments: dict[str, Any] | None = None,
    wait: bool = False,
    timeout_s: float = 6 * 3600,
    service_account: str | None = "genlab-pipeline",
    token: str | None = None,
    auth: KfpAuth | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Create a run of ``pipeline`` (a compiled YAML path or a ``@dsl.pipeline`` function).

    ``namespace`` is for multi-user Kubeflow; leave it ``None`` for standalone KFP.
    Steps run as ``service_account`` (``genlab-pipeline``: it may create TFJobs); pass ``None``
    for KFP's default ``pipeline-runner``. ``auth`` carries the credentials (see
    ``genlab.kfp_auth``); without it, ``token`` or the environment's. Returns the run id.
    """
    import kfp
    import urllib3
    from kfp_server_api.exceptions import ApiException

    auth = (auth or KfpAuth.resolve(token=token)).with_iap_token()
    check_host(host, auth=auth)  # the same credentials the client sends next
    is_file = isinstance(pipeline, (str, os.PathLike))
    if is_file and not os.path.isfile(pipeline):
        raise LaunchError(
            f"pipeline package {os.fspath(pipeline)} does not exist (compile it with genlab compile)"
        )
    try:
        with warnings.catch_warnings():  # "only works with KFP v2.0.0-beta.2 and later": we pin 2.5.0
            warnings.simplefilter("ignore", FutureWarning)
            client = kfp.Client(host=host, namespace=namespace or "kubeflow", **auth.client_kwargs())
        common = dict(
            arguments=arguments or {},
            run_name=run_name,
            experiment_name=experiment,
            namespace=namespace,
            service_account=service_account,
        )
        if is_file:
            result = client.create_run_from_pipeline_package(os.fspath(pipeline), **common)
        else:
            result = client.create_run_from_pipeline_func(pipeline, **common)
    except ApiException as e:
        raise _client_error(e, host, "creating the run", auth) from None
    except (OSError, urllib3.exceptions.HTTPError) as e:
        raise ClusterError(f"KFP host {host} is unreachable while creating the run: {e}") from None
    run_id = result.run_id
    log(
        f"submitted run {run_id} to {host} (experiment {experiment!r}): {host.rstrip('/')}/#/runs/details/{run_id}"
    )
    if not wait:
        return run_id
    try:
        run = client.wait_for_run_completion(run_id, timeout=timeout_s, sleep_duration=10)
    except TimeoutError:
        raise LaunchError(f"KFP run {run_id} on {host} did not finish within {timeout_s:g}s") from None
    except ApiException as e:
        raise _client_error(e, host, f"waiting for run {run_id}", auth) from None
    state = (run.state or "UNKNOWN").upper()
    if state != "SUCCEEDED":
        detail = ""
        if getattr(run, "error", None) is not None:
            detail = f": {getattr(run.error, 'message', run.error)}"
        raise LaunchError(
            f"KFP run {run_id} on {host} ended {state}{detail}; see {host}/#/runs/details/{run_id}"
        )
    log(f"run {run_id} SUCCEEDED")
    return run_id
