# The nodes' own identity: a dedicated service account with only what a GKE node needs
# (write logs and metrics; pulling genlab's images is granted on its one Artifact Registry
# repository by modules/registry), instead of the Compute Engine default (Editor).
# Workloads never use it: Workload Identity gives pods their own accounts (see modules/iam).

locals {
  node_roles = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
  ])
}

resource "google_service_account" "nodes" {
  project      = var.project_id
  account_id   = "${var.name}-nodes"
  display_name = "GKE nodes of ${var.name}"
  description  = "Minimal node identity for the ${var.name} GKE cluster (logs, metrics, image pulls)."
}

resource "google_project_iam_member" "nodes" {
  for_each = local.node_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}
