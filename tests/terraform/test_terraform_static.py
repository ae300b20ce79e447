"""Offline checks of terraform/: structure, house style and the GKE/GPU/IAM contracts.

No provider or cloud access is needed: the HCL is parsed with python-hcl2 and read as data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TF_ROOT = Path(__file__).resolve().parents[2] / "terraform"
TF_FILES = sorted(p for p in TF_ROOT.rglob("*.tf") if ".terraform" not in p.parts)
MODULE_DIRS = ["modules/gke", "modules/storage", "modules/iam", "modules/kubeflow", "modules/registry"]
ALL_DIRS = MODULE_DIRS + ["examples/gke-gpu"]
PRIMITIVE_ROLES = ("roles/owner", "roles/editor", "roles/viewer")


# --- every file, every variable, every provider -------------------------------------------------


def test_terraform_tree_exists():
    assert TF_FILES, f"no .tf files under {TF_ROOT}"
    for d in ALL_DIRS:
        assert (TF_ROOT / d).is_dir(), f"missing terraform/{d}"


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_tf_file_parses(path):
    hcl2 = pytest.importorskip("hcl2")
    with path.open(encoding="utf-8") as fh:
        parsed = hcl2.load(fh)
    assert isinstance(parsed, dict)


@pytest.mark.parametrize("d", ALL_DIRS)
def test_one_file_per_concern(d):
    names = {p.name for p in (TF_ROOT / d).glob("*.tf")}
    missing = {"versions.tf", "variables.tf", "outputs.tf"} - names
    assert not missing, f"terraform/{d} lacks {sorted(missing)}"
    assert "main.tf" in names or len(names) > 3, f"terraform/{d} has no resources file"


@pytest.mark.parametrize("d", ALL_DIRS)
def test_every_variable_has_type_and_description(tree, d):
    tf = tree[d]
    assert tf.variables, f"terraform/{d} declares no variables"
    for name, var in tf.variables.items():
        assert "type" in var and tf.type_expr(var["type"]).strip(), f"{d}: variable {name} has no type"
        desc = var.get("description", "")
        assert isinstance(desc, str) and len(desc.strip()) >= 10, f"{d}: variable {name} has no description"


@pytest.mark.parametrize("d", ALL_DIRS)
def test_every_output_has_description(tree, d):
    for name, out in tree[d].outputs.items():
        assert str(out.get("description", "")).strip(), f"{d}: output {name} has no description"


def _version_has_upper_bound(constraint: str) -> bool:
    return (
        "<" in constraint or "~>" in constraint or re.fullmatch(r"=?\s*\d+\.\d+\.\d+", constraint) is not None
    )


@pytest.mark.parametrize("d", ALL_DIRS)
def test_versions_tf_pins_terraform_and_providers(tree, d):
    tf = tree[d]
    versions = tf.files["versions.tf"]
    terraform_blocks = versions.get("terraform", [])
    assert len(terraform_blocks) == 1, f"{d}/versions.tf must hold the one terraform block"
    block = terraform_blocks[0]
    required_version = block.get("required_version", "")
    assert ">=" in required_version and _version_has_upper_bound(required_version), (
        f"{d}: required_version {required_version!r} is not a bounded range"
    )
    required = {}
    for entry in tf.blocks(block, "required_providers"):
        required.update(entry)
    assert required, f"{d}: no required_providers"
    for name, spec in required.items():
        assert isinstance(spec, dict) and "/" in spec.get("source", ""), f"{d}: provider {name} has no source"
        version = spec.get("version", "")
        assert version and _version_has_upper_bound(version), (
            f"{d}: provider {name} version {version!r} unpinned"
        )

    # every provider a resource or data source uses is declared with a pinned version
    used = {rtype.split("_", 1)[0] for rtype, _ in list(tf.resources) + list(tf.data)}
    assert used <= set(required), f"{d}: providers {sorted(used - set(required))} used but not required"


def test_providers_pinned_to_the_same_ranges_everywhere(tree):
    seen: dict[str, set[str]] = {}
    for d in ALL_DIRS:
        block = tree[d].files["versions.tf"]["terraform"][0]
        for entry in tree[d].blocks(block, "required_providers"):
            for spec in entry.values():
                seen.setdefault(spec["source"], set()).add(spec["version"])
    drift = {src: sorted(v) for src, v in seen.items() if len(v) > 1}
    assert not drift, f"providers pinned differently across modules: {drift}"


def test_modules_do_not_configure_providers(tree):
    for d in MODULE_DIRS:
        assert not tree[d].providers, f"{d} configures providers; only examples (root modules) may"


# --- gke ----------------------------------------------------------------------------------------


def test_cluster_is_private_with_workload_identity_and_shielded_nodes(tree):
    gke = tree["modules/gke"]
    cluster = gke.resource("google_container_cluster", "this")
    assert cluster["remove_default_node_pool"] is True
    assert cluster["location"] == "${var.location}", "cluster location (regional or zonal) is a variable"

    private = gke.one_block(cluster, "private_cluster_config")
    assert private["enable_private_nodes"] is True

    wi = gke.one_block(cluster, "workload_identity_config")
    assert wi["workload_pool"] == "${var.project_id}.svc.id.goog"

    assert cluster["enable_shielded_nodes"] is True
    assert gke.one_block(cluster, "release_channel")["channel"] == "${var.release_channel}"
    assert gke.resolve("${var.release_channel}") in {"RAPID", "REGULAR", "STABLE"}
    assert cluster["network"].startswith("${google_compute_network.")
    assert cluster["subnetwork"].startswith("${google_compute_subnetwork.")
    assert cluster.get("enable_legacy_abac", False) is False
    client_cert = gke.one_block(gke.one_block(cluster, "master_auth"), "client_certificate_config")
    assert client_cert["issue_client_certificate"] is False


def test_nodes_use_a_dedicated_service_account_with_minimal_roles(tree):
    gke = tree["modules/gke"]
    assert ("google_service_account", "nodes") in gke.resources
    sa_ref = "${google_service_account.nodes.email}"
    for name, pool in gke.resources_of("google_container_node_pool").items():
        assert gke.one_block(pool, "node_config")["service_account"] == sa_ref, f"pool {name}"
    roles = set(re.findall(r"roles/[\w.]+", str(gke.locals["node_roles"])))
    assert "roles/logging.logWriter" in roles and "roles/monitoring.metricWriter" in roles
    too_broad = {r for r in roles if r in PRIMITIVE_ROLES or r.endswith(".admin") or r.endswith("Admin")}
    assert not too_broad, f"node service account roles too broad: {too_broad}"
    member = gke.resource("google_project_iam_member", "nodes")
    assert member["member"] == "serviceAccount:${google_service_account.nodes.email}"


def test_every_node_pool_is_hardened(tree):
    gke = tree["modules/gke"]
    pools = gke.resources_of("google_container_node_pool")
    assert set(pools) == {"cpu", "gpu"}
    for name, pool in pools.items():
        cfg = gke.one_block(pool, "node_config")
        assert gke.one_block(cfg, "workload_metadata_config")["mode"] == "GKE_METADATA", name
        shielded = gke.one_block(cfg, "shielded_instance_config")
        assert shielded["enable_secure_boot"] is True and shielded["enable_integrity_monitoring"] is True, (
            name
        )
        mgmt = gke.one_block(pool, "management")
        assert mgmt["auto_repair"] is True and mgmt["auto_upgrade"] is True, name


def test_cpu_pool_is_labelled_for_the_system_workloads(tree):
    gke = tree["modules/gke"]
    cfg = gke.one_block(gke.resource("google_container_node_pool", "cpu"), "node_config")
    assert cfg["labels"] == {"genlab.io/pool": "cpu"}
    assert not gke.blocks(cfg, "guest_accelerator")
    assert not gke.blocks(cfg, "taint")


def test_gpu_pool_is_tainted_labelled_scales_from_zero_and_installs_drivers(tree):
    gke = tree["modules/gke"]
    pool = gke.resource("google_container_node_pool", "gpu")
    cfg = gke.one_block(pool, "node_config")

    taints = gke.blocks(cfg, "taint")
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in taints
    assert cfg["labels"] == {"genlab.io/pool": "gpu"}

    accel = gke.one_block(cfg, "guest_accelerator")
    assert accel["type"] == "${var.gpu_accelerator_type}"
    assert accel["count"] == "${var.gpu_accelerator_count}"
    assert gke.resolve(accel["type"]).startswith("nvidia-")
    driver = gke.one_block(accel, "gpu_driver_installation_config")
    version_var = gke.variables["gpu_driver_version"]
    assert driver["gpu_driver_version"] == "${var.gpu_driver_version}"
    assert gke.resolve(driver["gpu_driver_version"]) in {"DEFAULT", "LATEST"}
    assert "INSTALLATION_DISABLED" not in str(version_var.get("validation")), (
        "drivers must be installed by GKE"
    )
    assert "contains" in str(version_var.get("validation")), "gpu_driver_version must be validated"

    autoscaling = gke.one_block(pool, "autoscaling")
    low = autoscaling.get("total_min_node_count", autoscaling.get("min_node_count"))
    high = autoscaling.get("total_max_node_count", autoscaling.get("max_node_count"))
    assert low == 0, "the GPU pool must scale down to zero nodes"
    assert high is not None and gke.resolve(high) >= 1
    assert pool.get("initial_node_count") == 0

    assert cfg["spot"] == "${var.gpu_spot}"
    assert isinstance(gke.resolve("${var.gpu_spot}"), bool)


def test_gpu_node_selector_output_matches_the_pool_label(tree):
    gke = tree["modules/gke"]
    selector = gke.outputs["gpu_node_selector"]["value"]
    assert "genlab.io/pool" in selector
    assert "labels" in selector["genlab.io/pool"] or selector["genlab.io/pool"] == "gpu"
    toleration = gke.outputs["gpu_toleration"]["value"]
    assert toleration["key"] == "nvidia.com/gpu" and toleration["effect"] == "NoSchedule"


# --- storage ------------------------------------------------------------------------------------


def test_bucket_is_private_versioned_with_lifecycle(tree):
    st = tree["modules/storage"]
    bucket = st.resource("google_storage_bucket", "artifacts")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert st.one_block(bucket, "versioning")["enabled"] is True
    rules = st.blocks(bucket, "lifecycle_rule")
    assert rules, "the bucket needs at least one lifecycle rule"
    assert any(st.one_block(r, "action")["type"] == "Delete" for r in rules)


def test_nothing_is_granted_to_the_public(tree):
    for d in ALL_DIRS:
        text = tree[d].text()
        for who in ("allUsers", "allAuthenticatedUsers"):
            assert who not in text, f"{d} grants something to {who}"
        for rtype in (
            "google_storage_bucket_acl",
            "google_storage_object_acl",
            "google_storage_default_object_acl",
        ):
            assert not tree[d].resources_of(rtype), f"{d} uses ACLs ({rtype}); the bucket is IAM-only"


# --- iam ----------------------------------------------------------------------------------------


def test_no_primitive_roles_anywhere(tree):
    for d in ALL_DIRS:
        text = tree[d].text()
        for role in PRIMITIVE_ROLES:
            assert f'"{role}"' not in text, f"{d} grants the primitive role {role}"
        for rtype in ("google_project_iam_binding", "google_project_iam_policy"):
            assert not tree[d].resources_of(rtype), f"{d} uses authoritative {rtype}"


def test_workload_identity_binds_the_genlab_service_accounts(tree):
    iam = tree["modules/iam"]
    assert iam.resolve("${var.namespace}") == "genlab"
    assert iam.resolve("${var.pipeline_ksa}") == "genlab-pipeline"
    assert iam.resolve("${var.trainer_ksa}") == "genlab-trainer"

    accounts = iam.locals["accounts"]
    assert {"pipeline", "trainer"} <= set(accounts)
    bindings = iam.locals["ksa_bindings"]
    pairs = {(b["account"], b["namespace"], b["ksa"]) for b in bindings.values()}
    assert ("pipeline", "${var.namespace}", "${var.pipeline_ksa}") in pairs
    assert ("trainer", "${var.namespace}", "${var.trainer_ksa}") in pairs

    wi = iam.resource("google_service_account_iam_member", "workload_identity")
    assert wi["role"] == "roles/iam.workloadIdentityUser"
    assert wi["member"].startswith("serviceAccount:${var.workload_identity_pool}[")


def test_workloads_get_only_bucket_roles(tree):
    iam = tree["modules/iam"]
    assert not iam.resources_of("google_project_iam_member"), "workload accounts get no project-wide roles"
    member = iam.resource("google_storage_bucket_iam_member", "this")
    assert member["bucket"] == "${var.bucket_name}"
    roles = iam.locals["bucket_roles"]
    allowed = {"roles/storage.objectViewer", "roles/storage.objectCreator", "roles/storage.objectUser"}
    assert set(roles.values()) <= allowed, f"bucket roles beyond object access: {roles}"
    assert roles["kfp_ui"] == "roles/storage.objectViewer"
    assert not iam.resources_of("google_service_account_key"), "Workload Identity means no keys"


# --- kubeflow -----------------------------------------------------------------------------------


def test_kubeflow_versions_are_pinned(tree):
    kf = tree["modules/kubeflow"]
    assert kf.resolve("${var.kfp_version}") == "2.5.0"
    assert kf.resolve("${var.training_operator_version}") == "v1.9.2"
    assert kf.locals["kfp_repo"] == "github.com/kubeflow/pipelines/manifests/kustomize"
    remote = [u for body in kf.data.values() for u in body.get("resources", []) if "?ref=" in u]
    assert len(remote) == 3, f"expected KFP cluster, KFP env and Training Operator sources, got {remote}"
    for u in remote:
        assert u.endswith(("?ref=${var.kfp_version}", "?ref=${var.training_operator_version}")), u
    text = kf.text()
    assert "training-operator.git/manifests/overlays/standalone?ref=" in text
    assert "cluster-scoped-resources?ref=" in text and "env/platform-agnostic?ref=" in text


def test_kubeflow_uses_the_bucket_as_pipeline_root_and_workload_identity(tree):
    kf = tree["modules/kubeflow"]
    kfp = kf.data[("kustomization_overlay", "kfp")]
    launcher = kf.resource("kustomization_resource", "kfp_launcher")["manifest"]
    for part in ("kfp-launcher", "defaultPipelineRoot", "var.pipeline_root", "var.kfp_namespace"):
        assert part in launcher, f"kfp-launcher ConfigMap lacks {part}"
    assert "local.kfp_launcher_id" in kf.locals["ids_wave1"], "an upstream kfp-launcher must be left out"

    assert kfp["namespace"] == "${var.kfp_namespace}"
    assert kf.resolve("${var.kfp_namespace}") == "genlab", (
        "KFP runs in genlab's namespace, as k8s/kfp installs it"
    )
    kfp_targets = {kf.one_block(p, "target")["name"] for p in kf.blocks(kfp, "patches")}
    assert kfp_targets == {"pipeline-runner", "ml-pipeline-ui"}
    assert kf.locals["wi_key"] == "iam.gke.io/gcp-service-account"

    genlab = kf.data[("kustomization_overlay", "genlab")]
    assert genlab["resources"] == ["${var.genlab_overlay_path}"]
    assert kf.resolve("${var.namespace}") == "genlab"
    # The overlay takes the Filestore network from workload-identity.env; no second way here.
    assert not kf.blocks(genlab, "patches")


def test_kubeflow_install_agrees_with_k8s_kfp(tree, tf_root):
    """terraform/ and k8s/kfp install the same KFP release into the same namespace."""
    text = (tf_root.parent / "k8s" / "kfp" / "kustomization.yaml").read_text(encoding="utf-8")
    kf = tree["modules/kubeflow"]
    version = kf.resolve("${var.kfp_version}")
    namespace = kf.resolve("${var.kfp_namespace}")
    assert f"env/platform-agnostic?ref={version}" in text, f"k8s/kfp does not install KFP {version}"
    assert re.search(rf"^namespace:\s*{namespace}\s*$", text, flags=re.M), f"k8s/kfp is not in {namespace}"


def test_example_writes_the_overlays_workload_identity_env(tree, tf_root):
    ex = tree["examples/gke-gpu"]
    env_file = ex.resource("local_file", "workload_identity_env")
    assert env_file["filename"] == "${local.overlay_path}/workload-identity.env"
    keys = set(re.findall(r"^\s*(\w+)=", env_file["content"], flags=re.M))
    assert keys == {"pipeline_gsa", "trainer_gsa", "filestore_network"}, keys
    assert "filestore_network=${module.gke.network_name}" in env_file["content"]
    example = tf_root.parent / "k8s" / "overlays" / "gke" / "workload-identity.env.example"
    if example.is_file():
        expected = set(re.findall(r"^(\w+)=", example.read_text(encoding="utf-8"), flags=re.M))
        assert keys == expected, f"k8s/overlays/gke expects {expected}"


def test_kubeflow_applies_in_priority_waves(tree):
    kf = tree["modules/kubeflow"]
    for wave, dep in (("p0", None), ("p1", "p0"), ("p2", "p1")):
        res = kf.resource("kustomization_resource", wave)
        assert str(wave[-1]) in res["for_each"]
        if dep:
            assert res["depends_on"] == [f"${{kustomization_resource.{dep}}}"]


# --- the example: the tested contract -----------------------------------------------------------


def test_example_wires_every_module(tree, tf_root):
    ex = tree["examples/gke-gpu"]
    assert set(ex.modules) == {"gke", "storage", "iam", "kubeflow", "registry"}
    for name, mod in ex.modules.items():
        source = mod["source"]
        assert source == f"../../modules/{name}"
        assert (tf_root / "examples" / "gke-gpu" / source).resolve().is_dir()


def test_example_module_inputs_exist_in_the_modules(tree):
    ex = tree["examples/gke-gpu"]
    meta = {"source", "depends_on", "providers", "count", "for_each", "version"}
    for name, mod in ex.modules.items():
        declared = set(tree[f"modules/{name}"].variables)
        passed = set(mod) - meta
        assert passed <= declared, f"module {name} has no variables {sorted(passed - declared)}"
        required = {v for v, spec in tree[f"modules/{name}"].variables.items() if "default" not in spec}
        assert required <= passed, f"module {name} misses required inputs {sorted(required - passed)}"


def test_example_module_outputs_used_exist(tree):
    ex = tree["examples/gke-gpu"]
    used = set(re.findall(r"module\.(\w+)\.(\w+)", ex.text()))
    for mod, out in used:
        assert out in tree[f"modules/{mod}"].outputs, f"module.{mod}.{out} is not an output"


def test_example_outputs_are_the_contract(tree):
    outs = tree["examples/gke-gpu"].outputs
    for name in (
        "get_credentials_command",
        "bucket",
        "kfp_port_forward_command",
        "kfp_endpoint",
        "gpu_node_selector",
    ):
        assert name in outs, f"example output {name} missing"
    assert outs["get_credentials_command"]["value"].startswith("gcloud container clusters get-credentials")
    assert outs["gpu_node_selector"]["value"] == "${module.gke.gpu_node_selector}"


def test_example_points_at_the_genlab_overlay(tree, tf_root):
    ex = tree["examples/gke-gpu"]
    rel = ex.resolve("${var.genlab_overlay_path}")
    overlay = (tf_root / "examples" / "gke-gpu" / rel).resolve()
    assert overlay == tf_root.parent / "k8s" / "overlays" / "gke"
    if overlay.is_dir():
        names = {p.name for p in overlay.iterdir()}
        assert names & {"kustomization.yaml", "kustomization.yml", "Kustomization"}, overlay
    assert ex.resolve("${var.namespace}") == "genlab"
    assert ex.resolve("${var.kfp_version}") == "2.5.0"
    assert ex.resolve("${var.training_operator_version}") == "v1.9.2"


def test_example_has_a_tfvars_template():
    text = (TF_ROOT / "examples" / "gke-gpu" / "terraform.tfvars.example").read_text(encoding="utf-8")
    assert "project_id" in text and "master_authorized_networks" in text


# --- checkov configuration ----------------------------------------------------------------------


def test_checkov_skips_are_listed_once_with_reasons():
    config = TF_ROOT / ".checkov.yaml"
    assert config.is_file(), "terraform/.checkov.yaml holds checkov's settings and skip list"
    lines = config.read_text(encoding="utf-8").splitlines()
    skipped = [line for line in lines if re.match(r"\s*-\s*CKV2?_[A-Z0-9]+_\d+", line)]
    for line in skipped:
        m = re.match(r"\s*-\s*(CKV2?_[A-Z0-9]+_\d+)\s*#\s*(.*\S)", line)
        assert m and len(m.group(2)) > 15, f"skipped check without a reason: {line.strip()}"
    # the only place checks are skipped: no inline checkov:skip comments in the .tf files
    for path in TF_FILES:
        assert "checkov:skip" not in path.read_text(encoding="utf-8"), f"inline skip in {path}"


# --- docs ---------------------------------------------------------------------------------------


def test_readme_documents_every_example_input_and_output(tree):
    readme = (TF_ROOT / "README.md").read_text(encoding="utf-8")
    ex = tree["examples/gke-gpu"]
    for name in list(ex.variables) + list(ex.outputs):
        assert f"| `{name}` |" in readme, f"terraform/README.md has no table row for {name}"
    for topic in ("terraform apply", "terraform destroy", "GPUS_ALL_REGIONS", "genlab submit", "--host"):
        assert topic in readme, f"terraform/README.md does not cover {topic}"


# --- issue 11: private-cluster webhooks, the image registry, the Filestore network, KFP's namespace


def test_control_plane_reaches_the_webhook_ports(tree):
    """GKE opens only 443/10250 from a private control plane; the operators' webhooks need theirs."""
    gke = tree["modules/gke"]
    rule = gke.resource("google_compute_firewall", "control_plane_webhooks")
    assert rule["direction"] == "INGRESS"
    assert rule["source_ranges"] == ["${var.master_ipv4_cidr_block}"]
    assert rule["target_service_accounts"] == ["${google_service_account.nodes.email}"]
    allow = gke.one_block(rule, "allow")
    assert allow["protocol"] == "tcp" and allow["ports"] == "${var.control_plane_webhook_ports}"
    ports = set(gke.resolve(allow["ports"]))
    assert {"9443", "8443"} <= ports  # Training Operator v1.9.2, KFP 2.5.0 cache server
    cluster = gke.resource("google_container_cluster", "this")
    private = gke.one_block(cluster, "private_cluster_config")
    assert private["master_ipv4_cidr_block"] == "${var.master_ipv4_cidr_block}"


def test_artifact_registry_repository_and_pull_access(tree):
    reg = tree["modules/registry"]
    repo = reg.resource("google_artifact_registry_repository", "images")
    assert repo["format"] == "DOCKER" and repo["location"] == "${var.location}"
    member = reg.resource("google_artifact_registry_repository_iam_member", "readers")
    assert member["role"] == "roles/artifactregistry.reader"
    assert member["repository"] == "${google_artifact_registry_repository.images.name}"
    assert "docker.pkg.dev" in reg.outputs["repository_url"]["value"]
    # pull access lives on the repository, not project-wide on the nodes
    assert "artifactregistry" not in str(tree["modules/gke"].locals["node_roles"])
    ex = tree["examples/gke-gpu"]
    mod = ex.modules["registry"]
    assert mod["reader_service_accounts"] == {"nodes": "${module.gke.node_service_account}"}
    assert mod["location"] == "${var.region}"
    assert ex.outputs["image_registry"]["value"] == "${module.registry.repository_url}"
    apis = ex.resource("google_project_service", "apis")["for_each"]
    assert "artifactregistry.googleapis.com" in str(apis)


def test_kfp_cluster_scoped_part_follows_kfp_into_its_namespace(tree):
    kf = tree["modules/kubeflow"]
    cluster = kf.data[("kustomization_overlay", "kfp_cluster")]
    assert cluster["namespace"] == "${var.kfp_namespace}"
    (patch,) = kf.blocks(cluster, "patches")
    assert kf.one_block(patch, "target") == {
        "kind": "ClusterRoleBinding",
        "name": "kubeflow-pipelines-cache-deployer-clusterrolebinding",
    }
    assert "/subjects/0/namespace" in patch["patch"] and "var.kfp_namespace" in patch["patch"]
