"""k8s/: render base + overlays, validate every object against Kubernetes 1.31, check RBAC.

Rendering uses tests/k8s/kustomize_lite.py (no binary needed) and, where ``kubectl`` is
installed, ``kubectl kustomize`` too, and checks that both agree. Objects are validated with
``kubernetes-validate`` (strict: unknown fields fail). The remote KFP overlay (k8s/kfp) and
the kind cluster config are not Kubernetes API objects of a pinned schema and are checked by
shape only. The TFJob (a CRD) is built in Python and checked in tests/launch.
"""

import copy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kustomize_lite import render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
K8S_VERSION = "1.31.0"  # matches kindest/node:v1.31.x in k8s/kind/cluster.yaml and GKE's regular channel
OVERLAYS = ["kind", "gke"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of k8s/ with the GKE overlay's Terraform-written file filled in."""
    dst = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, dst)
    example = dst / "overlays/gke/workload-identity.env.example"
    (dst / "overlays/gke/workload-identity.env").write_text(example.read_text())
    return dst


def rendered(tree: Path, overlay: str) -> list[dict]:
    return render(tree / "overlays" / overlay)


def by_kind(objs: list[dict], kind: str, name: str) -> dict:
    (obj,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates(tree, overlay):
    objs = rendered(tree, overlay)
    assert {(o["kind"], o["metadata"]["name"]) for o in objs} >= {
        ("Namespace", "genlab"),
        ("ServiceAccount", "genlab-pipeline"),
        ("ServiceAccount", "genlab-trainer"),
        ("Role", "genlab-pipeline"),
        ("RoleBinding", "genlab-pipeline"),
        ("PersistentVolumeClaim", "genlab-data"),
    }
    for obj in objs:
        kubernetes_validate.validate(copy.deepcopy(obj), K8S_VERSION, strict=True)
        if obj["kind"] not in ("Namespace", "StorageClass"):
            assert obj["metadata"]["namespace"] == "genlab", obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS + ["profile"])
@pytest.mark.skipif(
    not shutil.which("kubectl"), reason="kubectl not installed: checked with kustomize_lite only"
)
def test_lite_renderer_matches_kubectl(tree, overlay):
    out = subprocess.run(
        ["kubectl", "kustomize", str(tree / "overlays" / overlay)], capture_output=True, text=True, check=True
    ).stdout
    real = [d for d in yaml.safe_load_all(out) if d]

    def key(o):
        return (o["kind"], o["metadata"]["name"])

    assert sorted(real, key=key) == sorted(rendered(tree, overlay), key=key)


def test_every_yaml_file_parses_and_base_files_validate():
    for path in sorted(K8S.rglob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs, path
        if path.name == "kustomization.yaml" or "kind" in path.parts[-2:-1] or path.parent.name == "kfp":
            continue
        for doc in docs:
            kubernetes_validate.validate(copy.deepcopy(doc), K8S_VERSION, strict=True)


def test_rbac_is_namespaced_and_has_no_wildcards(tree):
    for overlay in OVERLAYS:
        objs = rendered(tree, overlay)
        assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
        role = by_kind(objs, "Role", "genlab-pipeline")
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups", "resourceNames"):
                assert "*" not in rule.get(field, []), (field, rule)
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
        rules = {(r["apiGroups"][0], res): set(r["verbs"]) for r in role["rules"] for res in r["resources"]}
        assert rules[("kubeflow.org", "tfjobs")] == {"create", "get", "list", "watch", "delete"}
        assert rules[("", "pods")] == {"get", "list", "watch"}
        assert rules[("", "pods/log")] == {"get"}
        secrets = [r for r in role["rules"] if "secrets" in r["resources"]]
        assert all(r.get("resourceNames") for r in secrets)  # never every secret
        binding = by_kind(objs, "RoleBinding", "genlab-pipeline")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "genlab-pipeline",
        }
        assert {"kind": "ServiceAccount", "name": "genlab-pipeline", "namespace": "genlab"} in binding[
            "subjects"
        ]
        # The trainer account gets no API rights at all.
        assert all(s["name"] != "genlab-trainer" for s in binding["subjects"])


def test_kind_overlay_pvc(tree):
    pvc = by_kind(rendered(tree, "kind"), "PersistentVolumeClaim", "genlab-data")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"] and pvc["spec"]["storageClassName"] == "standard"


def test_gke_overlay_workload_identity_and_filestore(tree):
    objs = rendered(tree, "gke")
    for sa in ("genlab-pipeline", "genlab-trainer"):
        annotations = by_kind(objs, "ServiceAccount", sa)["metadata"]["annotations"]
        assert annotations["iam.gke.io/gcp-service-account"] == f"{sa}@my-project.iam.gserviceaccount.com"
    pvc = by_kind(objs, "PersistentVolumeClaim", "genlab-data")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "genlab-filestore"
    sc = by_kind(objs, "StorageClass", "genlab-filestore")
    assert sc["provisioner"] == "filestore.csi.storage.gke.io"
    assert not [o for o in objs if o["kind"] == "ConfigMap"]  # the replacement input is local-config
    text = yaml.safe_dump_all(objs)
    for placeholder in ("REPLACE", "TODO", "CHANGEME", "${", "<"):
        assert placeholder not in text


def test_gke_overlay_refuses_to_render_without_terraform_values(tmp_path):
    dst = tmp_path / "k8s"
    shutil.copytree(K8S, dst, ignore=shutil.ignore_patterns("workload-identity.env"))
    with pytest.raises(FileNotFoundError):
        render(dst / "overlays/gke")
    if shutil.which("kubectl"):
        res = subprocess.run(
            ["kubectl", "kustomize", str(dst / "overlays/gke")], capture_output=True, text=True
        )
        assert res.returncode != 0 and "workload-identity.env" in res.stderr


def test_kind_cluster_and_pinned_installs():
    cluster = yaml.safe_load((K8S / "kind/cluster.yaml").read_text())
    assert cluster["kind"] == "Cluster" and cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    images = {n["image"] for n in cluster["nodes"]}
    assert all(":v1.31." in i for i in images), images
    assert any(n.get("labels", {}).get("genlab.io/pool") == "cpu" for n in cluster["nodes"])
    kfp = yaml.safe_load((K8S / "kfp/kustomization.yaml").read_text())
    assert kfp["namespace"] == "genlab"
    assert kfp["resources"] == [
        "https://github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=2.5.0"
    ]
    cluster_scoped = yaml.safe_load((K8S / "kfp/cluster-scoped/kustomization.yaml").read_text())
    assert cluster_scoped["resources"] == [
        "https://github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=2.5.0"
    ]
    mk = (ROOT / "mk/cluster.mk").read_text()
    assert "KFP_VERSION ?= 2.5.0" in mk and "TRAINING_OPERATOR_VERSION ?= v1.9.2" in mk
    assert "apply -k k8s/kfp/cluster-scoped" in mk
    assert "training-operator.git/manifests/overlays/standalone?ref=$(TRAINING_OPERATOR_VERSION)" in mk


def containers_of(job: dict) -> list[dict]:
    return job["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_volume_owner_job_hands_the_volume_to_uid_1000(tree, overlay):
    """KFP step pods cannot set fsGroup, and RWX NFS volumes ignore it: a Job chowns the root once."""
    objs = rendered(tree, overlay)
    job = by_kind(objs, "Job", "genlab-data-owner")
    pod = job["spec"]["template"]["spec"]
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == "genlab-data"
    (container,) = containers_of(job)
    (mount,) = container["volumeMounts"]
    assert mount["name"] == volume["name"] and mount["mountPath"] == "/mnt/genlab"
    script = " ".join(container["command"])
    assert "chown 1000:1000 /mnt/genlab" in script
    # the uid the images run as (images/*.Dockerfile USER 1000:1000) and the TFJob pods' fsGroup
    for dockerfile in (ROOT / "images").glob("*.Dockerfile"):
        assert "USER 1000:1000" in dockerfile.read_text()
    # root, but with nothing beyond chown and chmod of a file it does not own
    sc = container["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc.get("privileged", False) is False
    assert pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {"genlab.io/pool": "cpu"}
    image = container["image"]
    assert image.split(":")[-1].count(".") == 2, f"{image} is not pinned to a release"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_gke_filestore_network_comes_from_terraform(tree):
    """The StorageClass joins the cluster's VPC (workload-identity.env), never `default`."""
    sc = by_kind(rendered(tree, "gke"), "StorageClass", "genlab-filestore")
    assert sc["parameters"]["network"] == "genlab-net"  # the value in workload-identity.env.example
    (tree / "overlays/gke/workload-identity.env").write_text(
        "pipeline_gsa=a@p.iam.gserviceaccount.com\ntrainer_gsa=b@p.iam.gserviceaccount.com\n"
        "filestore_network=prod-vpc\n"
    )
    try:
        sc = by_kind(rendered(tree, "gke"), "StorageClass", "genlab-filestore")
        assert sc["parameters"] == {"tier": "standard", "network": "prod-vpc"}
    finally:
        example = tree / "overlays/gke/workload-identity.env.example"
        (tree / "overlays/gke/workload-identity.env").write_text(example.read_text())
    assert "network" not in yaml.safe_load((K8S / "overlays/gke/storageclass.yaml").read_text())["parameters"]
