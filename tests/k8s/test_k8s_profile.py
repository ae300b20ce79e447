"""k8s/overlays/profile: genlab's objects in a multi-user Kubeflow profile namespace.

In multi-user mode KFP runs a profile's steps in the profile namespace as `default-editor`
(unless a run names another account), so the steps' accounts, the Role, and the volume must be
there. Rendered with kustomize_lite and, where installed, kubectl (also through `make profile-up`).
"""

import copy
import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kustomize_lite import render

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "k8s/overlays/profile"
K8S_VERSION = "1.31.0"
DEFAULT_PROFILE = "kubeflow-user-example-com"


def effective_subjects(binding: dict) -> set[tuple[str, str]]:
    """(namespace, name) of the ServiceAccounts a RoleBinding grants to; an absent subject namespace
    means the binding's own (kubernetes pkg/registry/rbac/validation/rule.go, appliesToUser)."""
    ns = binding["metadata"]["namespace"]
    return {
        (s.get("namespace") or ns, s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"
    }


def check_profile_objects(objs: list[dict], namespace: str) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert kinds == {
        ("ServiceAccount", "genlab-pipeline"),
        ("ServiceAccount", "genlab-trainer"),
        ("Role", "genlab-pipeline"),
        ("RoleBinding", "genlab-pipeline"),
        ("PersistentVolumeClaim", "genlab-data"),
        ("Job", "genlab-data-owner"),
    }, "the profile controller owns the Namespace; nothing else belongs here"
    for obj in objs:
        assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]
        kubernetes_validate.validate(copy.deepcopy(obj), K8S_VERSION, strict=True)
    (binding,) = [o for o in objs if o["kind"] == "RoleBinding"]
    assert effective_subjects(binding) == {(namespace, "genlab-pipeline"), (namespace, "default-editor")}
    assert binding["roleRef"]["name"] == "genlab-pipeline"
    (job,) = [o for o in objs if o["kind"] == "Job"]
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert annotations["sidecar.istio.io/inject"] == "false"  # profiles inject Istio sidecars


def test_profile_overlay_renders_into_the_profile_namespace():
    check_profile_objects(render(PROFILE), DEFAULT_PROFILE)


@pytest.mark.skipif(
    not shutil.which("kubectl"), reason="kubectl not installed: checked with kustomize_lite only"
)
def test_profile_overlay_with_kubectl():
    out = subprocess.run(["kubectl", "kustomize", str(PROFILE)], capture_output=True, text=True, check=True)
    check_profile_objects([d for d in yaml.safe_load_all(out.stdout) if d], DEFAULT_PROFILE)


@pytest.mark.skipif(
    not (shutil.which("kubectl") and shutil.which("make")), reason="needs kubectl (kustomize) and make"
)
def test_make_profile_up_moves_everything_into_the_given_namespace(tmp_path):
    """`make profile-up` with a kubectl that renders instead of applying: every object and every
    subject lands in PROFILE_NAMESPACE, and the throw-away kustomization is removed."""
    fake = tmp_path / "kubectl"
    fake.write_text(
        '#!/bin/sh\ncase "$1" in\n  get) exit 0;;\n  apply) [ "$2" = "-k" ] && exec kubectl kustomize "$3";;\nesac\nexit 3\n'
    )
    fake.chmod(0o755)
    res = subprocess.run(
        ["make", "-s", "profile-up", f"KUBECTL={fake}", "PROFILE_NAMESPACE=team-alice"],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    check_profile_objects([d for d in yaml.safe_load_all(res.stdout) if d], "team-alice")
    assert not list((ROOT / "k8s").glob(".profile-*"))


def test_make_profile_up_refuses_a_missing_namespace(tmp_path):
    if not shutil.which("make"):
        pytest.skip("make not installed")
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    res = subprocess.run(
        ["make", "-s", "profile-up", f"KUBECTL={fake}", "PROFILE_NAMESPACE=nobody"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0 and "namespace nobody does not exist" in res.stderr
