# Kubeflow Pipelines, standalone, from the upstream manifests at a pinned tag, laid out as
# k8s/kfp does it (tests/terraform checks the two agree):
#   cluster-scoped-resources  — CRDs (Argo, Application, ScheduledWorkflow), ClusterRoles, and the
#                               cache deployer's service account, moved into genlab's namespace too
#   env/platform-agnostic     — the API server, UI, Argo, MySQL, the in-cluster object store, moved
#                               into genlab's namespace: standalone KFP runs every workflow in its
#                               own namespace, and genlab's steps, TFJobs and PVC live there
# The upstream objects are changed in three ways, all here:
#   * the kfp-launcher ConfigMap makes gs://BUCKET/PREFIX the default pipeline root of v2 runs
#     (some KFP releases ship a placeholder one, others none: ours replaces it either way);
#   * pipeline-runner (KFP's default run identity) acts as the pipeline Google account;
#   * ml-pipeline-ui acts as a read-only Google account so the UI can show gs:// artifacts.

locals {
  kfp_repo = "github.com/kubeflow/pipelines/manifests/kustomize"
  wi_key   = "iam.gke.io/gcp-service-account"
}

# The cluster-scoped part follows KFP into its namespace exactly as k8s/kfp/cluster-scoped does
# (see the comments there): the cache deployer's service account is created in var.kfp_namespace,
# and the subject of its ClusterRoleBinding, which upstream writes as a literal `kubeflow`, is
# pointed there too.
data "kustomization_overlay" "kfp_cluster" {
  resources = ["${local.kfp_repo}/cluster-scoped-resources?ref=${var.kfp_version}"]
  namespace = var.kfp_namespace

  patches {
    target {
      kind = "ClusterRoleBinding"
      name = "kubeflow-pipelines-cache-deployer-clusterrolebinding"
    }
    patch = yamlencode([{
      op    = "replace"
      path  = "/subjects/0/namespace"
      value = var.kfp_namespace
    }])
  }
}

data "kustomization_overlay" "kfp" {
  resources = ["${local.kfp_repo}/env/platform-agnostic?ref=${var.kfp_version}"]
  namespace = var.kfp_namespace

  patches {
    target {
      kind = "ServiceAccount"
      name = "pipeline-runner"
    }
    patch = yamlencode({
      apiVersion = "v1"
      kind       = "ServiceAccount"
      metadata = {
        name        = "pipeline-runner"
        annotations = { (local.wi_key) = var.pipeline_service_account }
      }
    })
  }

  patches {
    target {
      kind = "ServiceAccount"
      name = "ml-pipeline-ui"
    }
    patch = yamlencode({
      apiVersion = "v1"
      kind       = "ServiceAccount"
      metadata = {
        name        = "ml-pipeline-ui"
        annotations = { (local.wi_key) = var.kfp_ui_service_account }
      }
    })
  }
}

# Applied on its own (not from the overlay) so that it works whether or not the pinned KFP
# release ships a kfp-launcher ConfigMap: apply.tf leaves any upstream one out.
resource "kustomization_resource" "kfp_launcher" {
  manifest = jsonencode({
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata = {
      name      = "kfp-launcher"
      namespace = var.kfp_namespace
      labels    = { "application-crd-id" = "kubeflow-pipelines" }
    }
    data = {
      defaultPipelineRoot = var.pipeline_root
    }
  })

  depends_on = [kustomization_resource.p0]
}
