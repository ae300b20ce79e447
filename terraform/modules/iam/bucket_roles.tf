# Roles on the artifact bucket only — no project-wide storage roles, no primitive roles.
#   pipeline: objectUser   (create, read, overwrite, delete objects: artifacts, datasets)
#   trainer:  objectUser   (read datasets, write checkpoints and the final model)
#   kfp_ui:   objectViewer (show artifacts in the Kubeflow UI)

locals {
  bucket_roles = {
    pipeline = "roles/storage.objectUser"
    trainer  = "roles/storage.objectUser"
    kfp_ui   = "roles/storage.objectViewer"
  }
}

resource "google_storage_bucket_iam_member" "this" {
  for_each = local.bucket_roles

  bucket = var.bucket_name
  role   = each.value
  member = "serviceAccount:${google_service_account.this[each.key].email}"
}
