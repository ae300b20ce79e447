"""How Kubeflow Pipelines 2.5.0 is installed into namespace genlab, and how `make cluster-up` waits.

Upstream's cluster-scoped-resources creates the cache deployer's service account in `kubeflow`,
and its ClusterRoleBinding names that account with a literal `namespace: kubeflow`
(kubeflow/pipelines manifests/kustomize/cluster-scoped-resources/kustomization.yaml,
base/cache-deployer/cluster-scoped/cache-deployer-sa.yaml and -clusterrolebinding.yaml). The
remote manifests cannot be fetched here, so the overlay is built with kubectl against a local
stand-in with the same shape: those objects, that kustomization's namespace and its var.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "k8s/kfp/cluster-scoped/kustomization.yaml"
REMOTE = "https://github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=2.5.0"
CACHE_CRB = "kubeflow-pipelines-cache-deployer-clusterrolebinding"
CACHE_SA = "kubeflow-pipelines-cache-deployer-sa"

STAND_IN = {
    "kustomization.yaml": f"""
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: kubeflow
resources: [namespace.yaml, objects.yaml]
vars:
- name: kfp-cluster-scoped-namespace
  objref: {{kind: ServiceAccount, name: {CACHE_SA}, apiVersion: v1}}
  fieldref: {{fieldpath: metadata.namespace}}
configurations: [params.yaml]
""",
    "params.yaml": "varReference:\n- {path: subjects/namespace, kind: ClusterRoleBinding}\n",
    "namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: kubeflow}\n",
    "objects.yaml": f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {CACHE_SA}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {CACHE_CRB}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubeflow-pipelines-cache-deployer-clusterrole}}
subjects:
- {{kind: ServiceAccount, name: {CACHE_SA}, namespace: kubeflow}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: ml-pipeline-configmap-manager}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ml-pipeline-configmap-manager}}
subjects:
- {{kind: ServiceAccount, name: ml-pipeline, namespace: $(kfp-cluster-scoped-namespace)}}
""",
}


def kfp_namespace() -> str:
    return yaml.safe_load((ROOT / "k8s/kfp/kustomization.yaml").read_text())["namespace"]


def test_cluster_scoped_overlay_follows_kfp_into_its_namespace():
    k = yaml.safe_load(OVERLAY.read_text())
    assert k["namespace"] == kfp_namespace() == "genlab"
    assert k["resources"] == [REMOTE]
    (patch,) = k["patches"]
    assert patch["target"] == {"kind": "ClusterRoleBinding", "name": CACHE_CRB}
    assert yaml.safe_load(patch["patch"]) == [
        {"op": "replace", "path": "/subjects/0/namespace", "value": kfp_namespace()}
    ]


def build(tmp_path: Path, overlay_text: str) -> dict[tuple[str, str], dict]:
    upstream = tmp_path / "upstream"
    upstream.mkdir(exist_ok=True)
    for name, text in STAND_IN.items():
        (upstream / name).write_text(text)
    ours = tmp_path / "ours"
    ours.mkdir(exist_ok=True)
    (ours / "kustomization.yaml").write_text(overlay_text.replace(REMOTE, "../upstream"))
    out = subprocess.run(
        ["kubectl", "kustomize", str(ours)], capture_output=True, text=True, check=True
    ).stdout
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out) if d}


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl (kustomize) not installed")
def test_cache_deployer_account_and_its_binding_land_in_genlab(tmp_path):
    objs = build(tmp_path, OVERLAY.read_text())
    assert objs[("ServiceAccount", CACHE_SA)]["metadata"]["namespace"] == "genlab"
    assert objs[("ClusterRoleBinding", CACHE_CRB)]["subjects"][0]["namespace"] == "genlab"
    assert (
        objs[("ClusterRoleBinding", "ml-pipeline-configmap-manager")]["subjects"][0]["namespace"] == "genlab"
    )
    assert ("Namespace", "genlab") in objs and ("Namespace", "kubeflow") not in objs

    # Without the patch the namespace field alone moves the account but not the binding's subject.
    k = yaml.safe_load(OVERLAY.read_text())
    del k["patches"]
    unpatched = build(tmp_path, yaml.safe_dump(k))
    assert unpatched[("ClusterRoleBinding", CACHE_CRB)]["subjects"][0]["namespace"] == "kubeflow"


# --- make cluster-up: named readiness waits, and what is printed when one fails ------------------

FAKE_KUBECTL = """#!/bin/sh
echo "$*" >> "{calls}"
case "$*" in
  *" wait "*deployment/cache-server*) echo "timed out waiting for deployment/cache-server" >&2; exit 1;;
  *" wait "*deployment/ghost*) echo 'deployments.apps "ghost" not found' >&2; exit 1;;
  *" wait "*) exit 0;;
  *"describe deployment/ghost"*) exit 1;;
  *"describe "*) echo "DESCRIBE $*";;
  *" get deployment/"*) printf 'app=cache-server,';;
  *" logs "*) echo "LOGS $*";;
esac
"""


def run_wait(tmp_path: Path, *deployments: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = tmp_path / "calls"
    fake = tmp_path / "kubectl"
    fake.write_text(FAKE_KUBECTL.format(calls=calls))
    fake.chmod(0o755)
    res = subprocess.run(
        [str(ROOT / "mk/wait-ready.sh"), "genlab", "30", *deployments],
        env={"PATH": "/usr/bin:/bin", "KUBECTL": str(fake)},
        capture_output=True,
        text=True,
    )
    return res, calls.read_text().splitlines() if calls.exists() else []


def test_wait_ready_passes_when_every_named_deployment_is_available(tmp_path):
    res, calls = run_wait(tmp_path, "ml-pipeline", "mysql")
    assert res.returncode == 0, res.stderr
    assert [c.split()[-1] for c in calls] == ["deployment/ml-pipeline", "deployment/mysql"]
    assert all("--all" not in c for c in calls)


def test_wait_ready_describes_and_shows_logs_of_what_is_not_ready(tmp_path):
    res, calls = run_wait(tmp_path, "ml-pipeline", "cache-server", "ghost")
    assert res.returncode == 1
    assert "not available after 30s in namespace genlab: cache-server ghost" in res.stderr
    out = res.stdout
    assert "DESCRIBE -n genlab describe deployment/cache-server" in out
    assert "DESCRIBE -n genlab describe pods -l app=cache-server" in out
    assert "LOGS -n genlab logs -l app=cache-server --all-containers" in out
    assert "deployment genlab/ghost does not exist" in out
    assert not any("describe deployment/ml-pipeline" in c for c in calls)  # ready ones stay quiet


def test_cluster_up_waits_on_named_deployments():
    mk = (ROOT / "mk/cluster.mk").read_text()
    assert "deployment --all" not in mk
    recipe = mk.split("\ncluster-up:", 1)[1].split("\n\n", 1)[0]
    assert "mk/wait-ready.sh $(KFP_NAMESPACE) $(READY_TIMEOUT) $(KFP_DEPLOYMENTS)" in recipe
    assert "mk/wait-ready.sh kubeflow $(READY_TIMEOUT) $(TRAINING_OPERATOR_DEPLOYMENTS)" in recipe
    assert recipe.index("k8s/kfp/cluster-scoped") < recipe.index("apply -k k8s/kfp\n")
    names = mk.split("KFP_DEPLOYMENTS ?=", 1)[1].split("\n\n", 1)[0].replace("\\", " ").split()
    for name in ("ml-pipeline", "workflow-controller", "cache-deployer-deployment", "cache-server", "mysql"):
        assert name in names
    assert "KFP_NAMESPACE ?= genlab" in mk
