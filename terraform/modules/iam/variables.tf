# Inputs of the iam module: Google service accounts for genlab's workloads and the
# Kubernetes service accounts that may act as them through Workload Identity.

variable "project_id" {
  type        = string
  description = "Google Cloud project that holds the service accounts."
}

variable "name" {
  type        = string
  description = "Prefix of the service account IDs (e.g. \"genlab\" gives genlab-pipeline@, genlab-trainer@, genlab-kfp-ui@)."
  default     = "genlab"

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{0,17}$", var.name))
    error_message = "name must be 1-18 lowercase letters, digits or hyphens starting with a letter (account IDs are at most 30 characters)."
  }
}

variable "workload_identity_pool" {
  type        = string
  description = "The cluster's Workload Identity pool, PROJECT.svc.id.goog (the gke module's workload_identity_pool output, so bindings wait for the cluster)."
}

variable "bucket_name" {
  type        = string
  description = "Artifact bucket the service accounts get object roles on (and nothing else)."
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of genlab's pipeline and trainer service accounts."
  default     = "genlab"
}

variable "pipeline_ksa" {
  type        = string
  description = "Kubernetes service account that runs genlab pipeline steps and creates TFJobs."
  default     = "genlab-pipeline"
}

variable "trainer_ksa" {
  type        = string
  description = "Kubernetes service account of TFJob worker pods."
  default     = "genlab-trainer"
}

variable "kfp_namespace" {
  type        = string
  description = "Namespace standalone Kubeflow Pipelines is installed in (its runs execute there); genlab installs it into its own namespace (k8s/kfp)."
  default     = "genlab"
}

variable "kfp_runner_ksa" {
  type        = string
  description = "KFP's default run service account; bound to the pipeline account so runs submitted without a service account reach the bucket too."
  default     = "pipeline-runner"
}

variable "kfp_ui_ksa" {
  type        = string
  description = "Service account of the KFP UI, which reads artifacts to show them (read-only account)."
  default     = "ml-pipeline-ui"
}
