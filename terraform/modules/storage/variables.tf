# Inputs of the storage module: the artifact bucket genlab's pipelines use as pipeline root.

variable "project_id" {
  type        = string
  description = "Google Cloud project that owns the bucket."
}

variable "bucket_name" {
  type        = string
  description = "Globally unique bucket name for pipeline artifacts, datasets, checkpoints and models."

  validation {
    condition     = can(regex("^[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, hyphens and underscores."
  }
}

variable "location" {
  type        = string
  description = "Bucket location; use the cluster's region so training reads data without egress charges."
}

variable "storage_class" {
  type        = string
  description = "Default storage class of new objects."
  default     = "STANDARD"
}

variable "pipeline_root_prefix" {
  type        = string
  description = "Object prefix under which Kubeflow Pipelines writes run artifacts (the pipeline root is gs://BUCKET/PREFIX)."
  default     = "pipeline-root"
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before it is deleted."
  default     = 30
}

variable "noncurrent_versions_kept" {
  type        = number
  description = "How many older versions of an object to keep at most (the newest older versions win)."
  default     = 3
}

variable "artifact_retention_days" {
  type        = number
  description = "Days after which objects under the pipeline root (intermediate run artifacts) are deleted; 0 keeps them forever."
  default     = 90
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete a bucket that still holds objects (all artifacts are lost)."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the bucket."
  default     = {}
}
