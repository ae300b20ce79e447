# genlab on GKE: a private cluster with a CPU system pool and a GPU training pool that scales
# from zero, an artifact bucket, Workload Identity for pipeline steps and TFJob workers, and
# standalone Kubeflow Pipelines + Training Operator configured to keep artifacts in the bucket.

locals {
  bucket_name  = coalesce(var.bucket_name, "${var.project_id}-genlab-artifacts")
  location     = coalesce(var.zone, var.region)
  overlay_path = abspath("${path.module}/${var.genlab_overlay_path}")
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "file.googleapis.com",
    "iam.googleapis.com",
    "storage.googleapis.com",
  ])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

module "gke" {
  source = "../../modules/gke"

  project_id                 = var.project_id
  name                       = var.name
  region                     = var.region
  location                   = local.location
  release_channel            = var.release_channel
  master_authorized_networks = var.master_authorized_networks
  deletion_protection        = var.deletion_protection
  labels                     = var.labels

  cpu_machine_type = var.cpu_machine_type
  cpu_max_nodes    = var.cpu_max_nodes

  gpu_accelerator_type  = var.gpu_accelerator_type
  gpu_accelerator_count = var.gpu_accelerator_count
  gpu_machine_type      = var.gpu_machine_type
  gpu_max_nodes         = var.gpu_max_nodes
  gpu_spot              = var.gpu_spot
  gpu_driver_version    = "LATEST"

  depends_on = [google_project_service.apis]
}

module "storage" {
  source = "../../modules/storage"

  project_id    = var.project_id
  bucket_name   = local.bucket_name
  location      = var.region
  force_destroy = var.force_destroy_bucket
  labels        = var.labels

  depends_on = [google_project_service.apis]
}

# The repository docs/cluster.md pushes the trainer images to; the nodes may pull from it.
module "registry" {
  source = "../../modules/registry"

  project_id              = var.project_id
  location                = var.region
  repository_id           = var.name
  labels                  = var.labels
  reader_service_accounts = { nodes = module.gke.node_service_account }

  depends_on = [google_project_service.apis]
}

module "iam" {
  source = "../../modules/iam"

  project_id             = var.project_id
  name                   = var.name
  workload_identity_pool = module.gke.workload_identity_pool
  bucket_name            = module.storage.bucket_name
  namespace              = var.namespace
  kfp_namespace          = var.namespace
}

# The overlay's input: which Google service account genlab-pipeline and genlab-trainer act as
# (k8s/overlays/gke turns it into their iam.gke.io/gcp-service-account annotations), and the VPC
# the genlab-filestore StorageClass creates Filestore instances in (the cluster's network, not
# `default`). It must exist before the overlay is built, hence step 1 of the apply in
# terraform/README.md; `kubectl apply -k k8s/overlays/gke` reads the same file.
resource "local_file" "workload_identity_env" {
  filename        = "${local.overlay_path}/workload-identity.env"
  file_permission = "0644"
  content         = <<-EOT
    pipeline_gsa=${module.iam.pipeline_service_account}
    trainer_gsa=${module.iam.trainer_service_account}
    filestore_network=${module.gke.network_name}
  EOT
}

module "kubeflow" {
  source = "../../modules/kubeflow"

  kfp_version               = var.kfp_version
  training_operator_version = var.training_operator_version
  kfp_namespace             = var.namespace
  namespace                 = var.namespace
  pipeline_root             = module.storage.pipeline_root
  genlab_overlay_path       = local.overlay_path

  pipeline_service_account = module.iam.pipeline_service_account
  kfp_ui_service_account   = module.iam.kfp_ui_service_account
}
