output "bucket_name" {
  description = "Name of the artifact bucket."
  value       = google_storage_bucket.artifacts.name
}

output "bucket_url" {
  description = "gs:// URL of the artifact bucket."
  value       = google_storage_bucket.artifacts.url
}

output "pipeline_root" {
  description = "Default pipeline root for Kubeflow Pipelines runs (gs://BUCKET/PREFIX)."
  value       = "gs://${google_storage_bucket.artifacts.name}/${var.pipeline_root_prefix}"
}
