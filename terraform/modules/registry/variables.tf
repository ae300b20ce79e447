# Inputs of the registry module: where the image repository lives and who may pull from it.

variable "project_id" {
  type        = string
  description = "Google Cloud project that holds the Artifact Registry repository."
}

variable "location" {
  type        = string
  description = "Region of the repository, e.g. us-central1 (the cluster's region keeps pulls regional)."
}

variable "repository_id" {
  type        = string
  description = "Repository name; images are pushed to <location>-docker.pkg.dev/<project>/<repository_id>."
  default     = "genlab"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]*[a-z0-9])?$", var.repository_id))
    error_message = "repository_id must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "reader_service_accounts" {
  type        = map(string)
  description = "Service account emails that may pull images, keyed by a name known at plan time (e.g. { nodes = <GKE node service account> })."
  default     = {}
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key (projects/.../cryptoKeys/...) to encrypt the repository with; null means Google-managed encryption. The Artifact Registry service agent needs encrypt/decrypt on it."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the repository (cost attribution)."
  default     = {}
}
