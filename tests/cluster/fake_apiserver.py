"""A small Kubernetes API server over HTTPS on 127.0.0.1: the calls genlab's launcher makes.

Answers, with Kubernetes ``Status`` bodies on every error:
- ``/apis/kubeflow.org/v1/namespaces/{ns}/tfjobs[/{name}]``: create (strict schema, enums and the
  operator's webhook rules: ``tfjob_schema.py``), get, list, delete (the garbage collector then deletes
  the pods the TFJob owns);
- ``/api/v1/namespaces/{ns}/pods[/{name}[/log]]``: list (``labelSelector``), get, log
  (``container``, ``tailLines``, ``previous``, ``follow``).
Every request must carry ``Authorization: Bearer <token>`` of a known service account (401
otherwise) and pass RBAC from ``k8s/base/rbac.yaml`` (403 with the API server's wording otherwise).
Anything else answers 404 and is recorded in ``unhandled`` so a test sees calls the fake lacks.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tests.cluster.fake_kubelet import now
from tests.cluster.rbac import RBAC, Request
from tests.cluster.tfjob_schema import structural_errors, webhook_errors

WEBHOOK = "validator.tfjob.training-operator.kubeflow.org"  # tfjob_webhook.go kubebuilder marker


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.body = status_body(code, reason, message, details)


class Store:
    """The objects of the fake cluster; the operator and the handlers share ``lock``."""

    def __init__(self, namespaces=("genlab",)):
        self.lock = threading.RLock()
        self.namespaces = set(namespaces)
        self.tfjobs: dict[tuple[str, str], dict] = {}
        self.pods: dict[tuple[str, str], dict] = {}
        self.created: list[dict] = []  # every TFJob body admitted, as received
        self.rejected: list[tuple[int, str]] = []  # (code, message) of every refused create
        self.deleted: list[str] = []  # names of deleted TFJobs
        self.requests: list[str] = []  # "<service account> <VERB> <path>"
        self.unhandled: list[str] = []
        self._version = 0

    def new_uid(self) -> str:
        return str(uuid.uuid4())

    def next_version(self) -> str:
        self._version += 1
        return str(self._version)


def make_tls(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is also the CA the client trusts)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-apiserver")])
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def parse_bool(value: str | None) -> bool:
    """A boolean query parameter as the API server reads it (Go strconv.ParseBool)."""
    return (value or "false") in ("1", "t", "T", "TRUE", "true", "True")


def _selector_matches(selector: str, labels: dict) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif labels.get(term) is None:
            return False
    return True


class ApiServer:
    """Serve ``store`` at ``https://127.0.0.1:<port>``; ``tokens`` maps bearer tokens to (ns, sa)."""

    def __init__(self, store: Store, kubelet, rbac: RBAC, tokens: dict, cert: Path, key: Path):
        self.store = store
        self.kubelet = kubelet
        self.rbac = rbac
        self.tokens = tokens
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-apiserver",
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ----------------------------------------------------------------- routing
    def route(self, method: str, path: str, query: dict, body, identity: tuple[str, str]):
        """(code, JSON body) or (code, text, still streaming?) for log requests."""
        parts = path.strip("/").split("/")
        if (
            parts[:4] == ["apis", "kubeflow.org", "v1", "namespaces"]
            and len(parts) >= 6
            and parts[5] == "tfjobs"
        ):
            ns, name = parts[4], (parts[6] if len(parts) > 6 else None)
            verb = {"POST": "create", "DELETE": "delete", "GET": "get" if name else "list"}.get(method)
            self.authorize(identity, Request(verb or method.lower(), "kubeflow.org", "tfjobs", ns, name))
            if method == "POST" and name is None:
                return self.create_tfjob(ns, body)
            if method == "GET":
                return (
                    self.get_tfjob(ns, name)
                    if name
                    else self.list_objects(self.store.tfjobs, ns, query, "TFJobList")
                )
            if method == "DELETE" and name:
                return self.delete_tfjob(ns, name)
        if (
            parts[:3] == ["api", "v1", "namespaces"]
            and len(parts) >= 5
            and parts[4] == "pods"
            and method == "GET"
        ):
            ns = parts[3]
            name = parts[5] if len(parts) > 5 else None
            sub = parts[6] if len(parts) > 6 else None
            resource = "pods/log" if sub == "log" else "pods"
            self.authorize(identity, Request("get" if name else "list", "", resource, ns, name))
            if name is None:
                return self.list_objects(self.store.pods, ns, query, "PodList")
            pod = self.store.pods.get((ns, name))
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
            if sub is None:
                return 200, pod
            if sub == "log":
                return self.pod_log(pod, query)
        self.store.unhandled.append(f"{method} {path}")
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def authorize(self, identity: tuple[str, str], req: Request) -> None:
        sa_ns, sa = identity
        if self.rbac.allows(sa_ns, sa, req):
            return
        group = f' in API group "{req.group}"'
        what = req.resource.split("/")[0] + (f".{req.group}" if req.group else "")
        named = f' "{req.name}"' if req.name else ""
        raise ApiError(
            403,
            "Forbidden",
            f'{what}{named} is forbidden: User "system:serviceaccount:{sa_ns}:{sa}" cannot {req.verb} '
            f'resource "{req.resource}"{group} in the namespace "{req.namespace}"',
        )

    # ----------------------------------------------------------------- TFJobs
    def create_tfjob(self, ns: str, body):
        if ns not in self.store.namespaces:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body is not a JSON object")
        name = (body.get("metadata") or {}).get("name", "")
        errors = structural_errors(body)
        if errors:  # what a strict API server says about unknown fields and wrong types
            message = f'TFJob.kubeflow.org "{name}" is invalid: ' + "; ".join(errors)
            self.store.rejected.append((422, message))
            raise ApiError(422, "Invalid", message, {"name": name, "group": "kubeflow.org", "kind": "TFJob"})
        errors = webhook_errors(body)
        if errors:  # controller-runtime answers a validator's error as 403 "denied the request"
            message = f'admission webhook "{WEBHOOK}" denied the request: ' + ", ".join(errors)
            self.store.rejected.append((403, message))
            raise ApiError(403, "Forbidden", message)
        body_ns = body["metadata"].get("namespace")
        if body_ns and body_ns != ns:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if (ns, name) in self.store.tfjobs:
            raise ApiError(409, "AlreadyExists", f'tfjobs.kubeflow.org "{name}" already exists')
        self.store.created.append(json.loads(json.dumps(body)))
        obj = json.loads(json.dumps(body))
        obj["metadata"].update(
            namespace=ns,
            uid=self.store.new_uid(),
            creationTimestamp=now(),
            resourceVersion=self.store.next_version(),
        )
        obj["status"] = {}
        self.store.tfjobs[(ns, name)] = obj
        return 201, obj

    def get_tfjob(self, ns: str, name: str):
        obj = self.store.tfjobs.get((ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'tfjobs.kubeflow.org "{name}" not found')
        return 200, obj

    def delete_tfjob(self, ns: str, name: str):
        obj = self.store.tfjobs.pop((ns, name), None)
        if obj is None:
            raise ApiError(404, "NotFound", f'tfjobs.kubeflow.org "{name}" not found')
        self.store.deleted.append(name)
        uid = obj["metadata"]["uid"]
        for (pns, pname), pod in list(self.store.pods.items()):  # the garbage collector
            if pns == ns and any(o.get("uid") == uid for o in pod["metadata"].get("ownerReferences") or []):
                self.kubelet.delete(pns, pname)
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name}}

    def list_objects(self, table: dict, ns: str, query: dict, kind: str):
        selector = query.get("labelSelector", "")
        items = [
            obj
            for (ons, _), obj in sorted(table.items())
            if ons == ns and _selector_matches(selector, obj["metadata"].get("labels") or {})
        ]
        return 200, {
            "kind": kind,
            "apiVersion": "v1",
            "metadata": {"resourceVersion": self.store.next_version()},
            "items": items,
        }

    # ----------------------------------------------------------------- logs
    def pod_log(self, pod: dict, query: dict):
        name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        container = query.get("container")
        names = [c["name"] for c in pod["spec"]["containers"]]
        if container and container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        previous = parse_bool(query.get("previous"))
        got = self.kubelet.log(ns, name, previous=previous)
        if got is None:
            which = "previous terminated container" if previous else "container"
            raise ApiError(400, "BadRequest", f'{which} "tensorflow" in pod "{name}" not found')
        text, running = got
        if "tailLines" in query:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(query["tailLines"]) :]) if int(query["tailLines"]) > 0 else ""
        return 200, text, running and parse_bool(query.get("follow"))

    # ----------------------------------------------------------------- HTTP
    def _handler(server):  # noqa: N805 - closes over the ApiServer
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _identity(self) -> tuple[str, str]:
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                token = token.strip() if scheme.lower() == "bearer" else ""  # the scheme is case-insensitive
                identity = server.tokens.get(token)
                if identity is None:
                    raise ApiError(401, "Unauthorized", "Unauthorized")
                return identity

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    identity = self._identity()
                    server.store.requests.append(f"{identity[1]} {method} {url.path}")
                    body = json.loads(raw) if raw else None
                    with server.store.lock:
                        result = server.route(method, url.path, query, body, identity)
                except ApiError as e:
                    return self._send(e.body["code"], e.body)
                except ValueError as e:
                    return self._send(400, status_body(400, "BadRequest", f"invalid JSON body: {e}"))
                if len(result) == 2:
                    return self._send(*result)
                self._stream_log(url.path, query, *result)

            def _stream_log(self, path: str, query: dict, code: int, text: str, follow: bool) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                if not follow:
                    data = text.encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
                sent = len(text)
                self.wfile.write(text.encode())
                parts = path.strip("/").split("/")
                ns, name = parts[3], parts[5]
                while True:  # follow=true: until the container stops
                    time.sleep(0.1)
                    got = server.kubelet.log(ns, name)
                    if got is None:
                        return
                    now_text, running = got
                    if len(now_text) > sent:
                        try:
                            self.wfile.write(now_text[sent:].encode())
                            self.wfile.flush()
                        except OSError:
                            return
                        sent = len(now_text)
                    if not running:
                        return

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

            def do_PUT(self):
                self._handle("PUT")

            def do_PATCH(self):
                self._handle("PATCH")

        return Handler
