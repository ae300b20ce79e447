# Inputs of the kubeflow module: what to install (pinned upstream manifests), where artifacts go,
# and which Google service accounts the Kubernetes service accounts act as.

variable "kfp_version" {
  type        = string
  description = "Kubeflow Pipelines release (a git tag of kubeflow/pipelines) whose standalone manifests are installed."
  default     = "2.5.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.kfp_version))
    error_message = "kfp_version must be an exact release tag such as 2.5.0, never a branch."
  }
}

variable "training_operator_version" {
  type        = string
  description = "Kubeflow Training Operator v1 release (a git tag of kubeflow/training-operator) installed standalone."
  default     = "v1.9.2"

  validation {
    condition     = can(regex("^v1\\.[0-9]+\\.[0-9]+$", var.training_operator_version))
    error_message = "training_operator_version must be an exact v1.x.y tag: genlab uses the kubeflow.org/v1 TFJob API."
  }
}

variable "kfp_namespace" {
  type        = string
  description = "Namespace Kubeflow Pipelines is installed into; genlab's own (as k8s/kfp does) so pipeline steps, their TFJobs and the genlab-data PVC share it."
  default     = "genlab"
}

variable "pipeline_root" {
  type        = string
  description = "Default pipeline root of KFP v2 runs, gs://BUCKET/PREFIX (written to the kfp-launcher ConfigMap)."

  validation {
    condition     = startswith(var.pipeline_root, "gs://")
    error_message = "pipeline_root must be a gs:// URL."
  }
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of genlab's pipelines and TFJobs."
  default     = "genlab"
}

variable "genlab_overlay_path" {
  type        = string
  description = "Absolute path of genlab's kustomize overlay for GKE (k8s/overlays/gke): namespace, service accounts, RBAC, Filestore volume. It reads workload-identity.env, which the example writes."
}

variable "pipeline_service_account" {
  type        = string
  description = "Email of the Google service account KFP's pipeline-runner acts as (genlab-pipeline gets it from workload-identity.env)."
}

variable "kfp_ui_service_account" {
  type        = string
  description = "Email of the read-only Google service account of the KFP UI."
}
