# The Docker repository genlab's trainer images are pushed to (`make images
# GENLAB_IMAGE_REGISTRY=<repository_url>`, then docker push), and read access for the identities
# that pull them: the GKE nodes' service account pulls every step and TFJob image. Access is
# granted on this repository only, not project-wide.

resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.location
  repository_id = var.repository_id
  format        = "DOCKER"
  description   = "genlab trainer images (genlab-trainer, genlab-trainer-gpu)."
  labels        = var.labels
  kms_key_name  = var.kms_key_name
}

resource "google_artifact_registry_repository_iam_member" "readers" {
  for_each = var.reader_service_accounts

  project    = google_artifact_registry_repository.images.project
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${each.value}"
}
