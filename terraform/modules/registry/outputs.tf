output "repository_url" {
  description = "Where to push and pull genlab's images: the value of GENLAB_IMAGE_REGISTRY (<location>-docker.pkg.dev/<project>/<repository>)."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${google_artifact_registry_repository.images.project}/${google_artifact_registry_repository.images.repository_id}"
}

output "repository_id" {
  description = "Full resource ID of the repository."
  value       = google_artifact_registry_repository.images.id
}
