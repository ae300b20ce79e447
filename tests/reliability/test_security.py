"""Security: least-privilege RBAC, no credentials in configs, pipelines or job specs, tokens never printed.

The image checks (non-root ``USER 1000``, no credential ENV/ARG/COPY) are in
tests/k8s/test_k8s_images.py and the TFJob pod's ``runAsNonRoot`` in tests/launch/test_tfjob_build.py;
the namespaced, wildcard-free Role in tests/k8s/test_k8s_manifests.py. This file adds what they
do not pin: the Role's complete allow-list, who it is bound to, and where secrets could leak.
"""

import http.server
import json
import re
import threading
from pathlib import Path

import pytest
import yaml

from genlab import config
from genlab.errors import ClusterError
from genlab.launch import TrainJob
from genlab.launch.tfjob import build_tfjob, to_dict
from genlab.submit import check_host

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(
    r"(passw|secret|credential|api[_-]?key|private[_-]?key|access[_-]?key|(?<![a-z])token(?!s|iz))", re.I
)  # "auth_token", "token" yes; a text model's "max_tokens" or "tokenizer" no
SECRET_VALUE = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|\"type\": \"service_account\"|AKIA[0-9A-Z]{16}|ya29\.[\w-]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|xox[abp]-[\w-]{10,}|GOOGLE_APPLICATION_CREDENTIALS)"
)
TOKEN = "genlab-test-token-5d1c0ffee"


def keys_and_strings(node, path=""):
    """Every (dotted key, value) of a nested YAML/JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{path}.{k}" if path else str(k), v
            yield from keys_and_strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from keys_and_strings(v, f"{path}[{i}]")


# --- RBAC: the pipeline's service account --------------------------------------------------------


def base_objects() -> list[dict]:
    docs = []
    for path in sorted((ROOT / "k8s").rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and d.get("kind")]
    return docs


# What the pipeline's account may do, complete: TFJobs, pods and their logs, plus the three things
# KFP 2's driver/launcher and Argo's executor need when a step runs as this account.
ALLOWED = {
    ("kubeflow.org", "tfjobs", None): {"create", "get", "list", "watch", "delete"},
    ("", "pods", None): {"get", "list", "watch"},
    ("", "pods/log", None): {"get"},
    ("argoproj.io", "workflowtaskresults", None): {"create", "patch"},
    ("", "configmaps", ("kfp-launcher", "metadata-grpc-configmap")): {"get"},
    ("", "secrets", ("mlpipeline-minio-artifact",)): {"get"},
}


def test_pipeline_role_grants_exactly_the_allow_list():
    objs = base_objects()
    roles = [o for o in objs if o["kind"] in ("Role", "ClusterRole")]
    assert [r["kind"] for r in roles] == ["Role"]  # one namespaced Role, no ClusterRole anywhere
    granted = {}
    for rule in roles[0]["rules"]:
        names = tuple(rule["resourceNames"]) if rule.get("resourceNames") else None
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted[(group, resource, names)] = set(rule["verbs"])
    assert granted == ALLOWED
    assert not [r for r in roles[0]["rules"] if "nonResourceURLs" in r]


def test_only_the_pipeline_accounts_are_bound_and_the_trainer_has_no_api_rights():
    objs = base_objects()
    bindings = [o for o in objs if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert [b["kind"] for b in bindings] == ["RoleBinding"]
    subjects = {(s["kind"], s["name"]) for b in bindings for s in b["subjects"]}
    assert subjects == {("ServiceAccount", "genlab-pipeline"), ("ServiceAccount", "pipeline-runner")}
    accounts = {o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount"}
    assert "genlab-trainer" in accounts and ("ServiceAccount", "genlab-trainer") not in subjects
    assert not [o for o in objs if o["kind"] == "Secret"]  # no credentials shipped as manifests


# --- no credentials in presets, compiled pipelines, TFJobs ---------------------------------------


@pytest.mark.parametrize("name", config.preset_names())
def test_presets_hold_no_credentials(name):
    text = config.preset_path(name).read_text()
    assert not SECRET_VALUE.search(text)
    for key, value in keys_and_strings(yaml.safe_load(text) or {}):
        assert not SECRET_NAME.search(key), f"{name}: {key}"
        if isinstance(value, str) and value.startswith("gs://"):
            assert "@" not in value and "?" not in value, f"{name}: {key} embeds credentials: {value}"
    exp = config.load(name)  # every config field, defaults included
    for key, _ in keys_and_strings(exp.to_dict()):
        assert not SECRET_NAME.search(key), f"config field {key} looks like a secret"


def test_compiled_pipeline_parameters_and_executors_hold_no_credentials(tmp_path):
    from pipelines.genlab_pipeline import compile_pipeline

    path = compile_pipeline(config.load("dcgan_tiny"), tmp_path / "pipeline.yaml")
    text = path.read_text()
    assert not SECRET_VALUE.search(text)
    docs = [d for d in yaml.safe_load_all(text) if d]
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {
        "config_json",
        "steps",
        "batch_size",
        "learning_rate",
        "seed",
        "mixed_precision",
        "workers",
        "gpus_per_worker",
        "overrides",
        "launcher",
        "trainer_image",
        "trainer_gpu_image",
    }
    for key, _ in keys_and_strings(json.loads(params["config_json"]["defaultValue"])):
        assert not SECRET_NAME.search(key), key
    for key, value in keys_and_strings(docs):
        if key.endswith(".env") or key.endswith(".envVar"):
            for var in value:
                assert not SECRET_NAME.search(json.dumps(var)), var
        assert not key.endswith("secretAsEnv") and not key.endswith("secretAsVolume"), key


def test_tfjob_carries_no_credentials_and_uses_workload_identity():
    exp = config.load("dcgan_tiny")
    job = TrainJob(exp.to_json(), "gs://bucket/data", "gs://bucket/model", workers=2, name="sec")
    spec = to_dict(build_tfjob(job, image="example/trainer:1", namespace="genlab"))
    text = json.dumps(spec)
    assert not SECRET_VALUE.search(text)
    for replica in spec["spec"]["tfReplicaSpecs"].values():
        pod = replica["template"]["spec"]
        assert pod["serviceAccountName"] == "genlab-trainer"  # GCS through Workload Identity, not a key file
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            for var in container.get("env", []):
                assert "valueFrom" not in var and not SECRET_NAME.search(var["name"]), var
            assert not [m for m in container.get("volumeMounts", []) if SECRET_NAME.search(m["name"])]
        assert not [v for v in pod.get("volumes", []) if "secret" in v]


# --- tokens never printed --------------------------------------------------------------------


class Refusing(http.server.BaseHTTPRequestHandler):
    """A KFP stand-in that refuses every request and echoes nothing back."""

    seen_auth: list = []

    def do_GET(self):
        Refusing.seen_auth.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "unauthenticated"}')

    def log_message(self, *args):
        pass


def test_kfp_token_is_sent_but_never_in_an_error_or_log(capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"http://127.0.0.1:{server.server_port}"
        with pytest.raises(ClusterError) as refused:
            check_host(host, token=TOKEN)
        with pytest.raises(ClusterError) as unreachable:
            check_host("http://127.0.0.1:9", token=TOKEN)
    finally:
        server.shutdown()
    assert Refusing.seen_auth == [f"Bearer {TOKEN}"]  # the token did travel, in the header only
    assert "refused the request (401" in str(refused.value)
    for message in (str(refused.value), str(unreachable.value)):
        assert TOKEN not in message
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err


def test_submit_secrets_can_stay_off_the_command_line_and_are_never_printed(monkeypatch, capsys, tmp_path):
    from genlab.cli import main, parser

    flags = {a for action in parser()._subparsers._group_actions[0].choices["submit"]._actions
             for a in action.option_strings}  # fmt: skip
    # The secret-bearing flags take @FILE, so a secret need not land in shell history and ps.
    assert {f for f in flags if SECRET_NAME.search(f)} == {"--token", "--other-client-secret"}
    assert "@FILE" in parser()._subparsers._group_actions[0].choices["submit"].format_help()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setattr(Refusing, "seen_auth", [])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"http://127.0.0.1:{server.server_port}"
        assert main(["submit", "dcgan_tiny", "--host", host, "--token", f"@{token_file}"]) == 2
    finally:
        server.shutdown()
    assert Refusing.seen_auth == [f"Bearer {TOKEN}"]  # read from the file, sent in the header only
    monkeypatch.setenv("GENLAB_KFP_TOKEN", TOKEN)  # the environment works as before
    assert main(["submit", "dcgan_tiny", "--host", "http://127.0.0.1:9"]) == 2
    out = capsys.readouterr()
    assert "refused the request (401" in out.err and "unreachable" in out.err
    assert TOKEN not in out.out + out.err
