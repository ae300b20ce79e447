# The artifact bucket: uniform bucket-level access (IAM only, no ACLs), public access prevented,
# object versioning so an overwritten checkpoint can be recovered, and lifecycle rules that
# bound what versioning and old runs cost.

resource "google_storage_bucket" "artifacts" {
  project       = var.project_id
  name          = var.bucket_name
  location      = var.location
  storage_class = var.storage_class
  labels        = var.labels
  force_destroy = var.force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  soft_delete_policy {
    retention_duration_seconds = 604800
  }

  # Old versions of an object: delete after N days, and keep at most M of them.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      num_newer_versions = var.noncurrent_versions_kept
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  # Intermediate run artifacts under the pipeline root expire; datasets and models elsewhere stay.
  dynamic "lifecycle_rule" {
    for_each = var.artifact_retention_days > 0 ? [var.artifact_retention_days] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["${var.pipeline_root_prefix}/"]
      }
      action {
        type = "Delete"
      }
    }
  }

  # Parts of multipart uploads that never completed (a killed worker) are cleaned up.
  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}
