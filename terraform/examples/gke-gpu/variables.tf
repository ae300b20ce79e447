variable "project_id" {
  type        = string
  description = "Google Cloud project to create everything in (billing enabled, GPU quota in region)."
}

variable "region" {
  type        = string
  description = "Region of the network, the bucket and (by default) the cluster."
  default     = "us-central1"
}

variable "zone" {
  type        = string
  description = "Zone for a zonal cluster; null makes a regional cluster in region (3x the CPU system nodes)."
  default     = "us-central1-a"
}

variable "name" {
  type        = string
  description = "Cluster name and prefix of every resource this example creates."
  default     = "genlab"
}

variable "bucket_name" {
  type        = string
  description = "Globally unique name of the artifact bucket; null means \"<project_id>-genlab-artifacts\"."
  default     = null
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "Who may reach the Kubernetes API: your workstation's or CI's public IP as a /32 (curl -s ifconfig.me)."
}

variable "release_channel" {
  type        = string
  description = "GKE release channel (RAPID, REGULAR or STABLE)."
  default     = "REGULAR"
}

variable "cpu_machine_type" {
  type        = string
  description = "Machine type of the CPU system pool."
  default     = "e2-standard-4"
}

variable "cpu_max_nodes" {
  type        = number
  description = "Maximum CPU system nodes per zone."
  default     = 3
}

variable "gpu_accelerator_type" {
  type        = string
  description = "GPU type of the training pool, e.g. nvidia-l4 or nvidia-tesla-t4."
  default     = "nvidia-l4"
}

variable "gpu_accelerator_count" {
  type        = number
  description = "GPUs per GPU node."
  default     = 1
}

variable "gpu_machine_type" {
  type        = string
  description = "Machine type of the GPU pool, matching the accelerator (g2-standard-8 for one L4, n1-standard-8 for T4)."
  default     = "g2-standard-8"
}

variable "gpu_max_nodes" {
  type        = number
  description = "Maximum GPU nodes (the pool idles at 0); bounded by your GPU quota in region."
  default     = 2
}

variable "gpu_spot" {
  type        = bool
  description = "Use Spot VMs for GPU nodes (much cheaper, preemptible; genlab resumes from checkpoints)."
  default     = true
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of genlab's pipelines and TFJobs."
  default     = "genlab"
}

variable "genlab_overlay_path" {
  type        = string
  description = "genlab's kustomize overlay for GKE, relative to this directory."
  default     = "../../../k8s/overlays/gke"
}

variable "kfp_version" {
  type        = string
  description = "Kubeflow Pipelines standalone release to install."
  default     = "2.5.0"
}

variable "training_operator_version" {
  type        = string
  description = "Kubeflow Training Operator v1 release to install."
  default     = "v1.9.2"
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the cluster from `terraform destroy`; false here so the example can be torn down."
  default     = false
}

variable "force_destroy_bucket" {
  type        = bool
  description = "Let `terraform destroy` delete the artifact bucket with its contents."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the cluster, its nodes and the bucket."
  default     = { app = "genlab" }
}
