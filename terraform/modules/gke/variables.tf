# Inputs of the gke module: the cluster, its network and its two node pools.

variable "project_id" {
  type        = string
  description = "Google Cloud project that holds the cluster, its network and its node service account."
}

variable "name" {
  type        = string
  description = "Cluster name; also the prefix of the network, subnetwork, router, NAT and node service account."
  default     = "genlab"

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{0,20}[a-z0-9]$", var.name))
    error_message = "name must be 2-22 characters of lowercase letters, digits and hyphens, starting with a letter (it prefixes other resource names)."
  }
}

variable "region" {
  type        = string
  description = "Region of the network, the Cloud NAT and (for a regional cluster) the cluster itself, e.g. us-central1."
}

variable "location" {
  type        = string
  description = "Where the cluster lives: a region (regional cluster, control plane replicated across zones) or a zone in that region (zonal cluster, cheaper)."
}

variable "node_locations" {
  type        = list(string)
  description = "Zones the CPU system pool's nodes run in; empty means GKE's default for the location."
  default     = []
}

variable "release_channel" {
  type        = string
  description = "GKE release channel that drives control plane and node upgrades."
  default     = "REGULAR"

  validation {
    condition     = contains(["RAPID", "REGULAR", "STABLE"], var.release_channel)
    error_message = "release_channel must be RAPID, REGULAR or STABLE."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse `terraform destroy` of the cluster until this is set to false and applied."
  default     = true
}

variable "enable_binary_authorization" {
  type        = bool
  description = "Enforce the project's Binary Authorization policy on the cluster (needs binaryauthorization.googleapis.com and a policy that admits your trainer images)."
  default     = false
}

variable "rbac_security_group" {
  type        = string
  description = "Google Groups for RBAC: the gke-security-groups@YOUR-DOMAIN group whose member groups may be RBAC subjects; null disables it (needs Google Workspace or Cloud Identity)."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Resource labels put on the cluster and its nodes (cost attribution)."
  default     = {}
}

# --- network -----------------------------------------------------------------

variable "network_name" {
  type        = string
  description = "Name of the VPC network created for the cluster; null means \"<name>-net\"."
  default     = null
}

variable "subnetwork_name" {
  type        = string
  description = "Name of the subnetwork created for the nodes; null means \"<name>-nodes\"."
  default     = null
}

variable "subnetwork_cidr" {
  type        = string
  description = "Primary IPv4 range of the node subnetwork."
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  type        = string
  description = "Secondary range of the subnetwork used for Pod IPs (VPC-native cluster)."
  default     = "10.20.0.0/14"
}

variable "services_cidr" {
  type        = string
  description = "Secondary range of the subnetwork used for Service IPs (VPC-native cluster)."
  default     = "10.24.0.0/20"
}

variable "master_ipv4_cidr_block" {
  type        = string
  description = "The /28 range for the private control plane endpoint; must not overlap the other ranges."
  default     = "172.16.0.0/28"
}

variable "control_plane_webhook_ports" {
  type        = list(string)
  description = "TCP ports the private control plane may reach on the nodes besides GKE's own 443/10250: admission webhooks served by pods (9443 Training Operator, 8443 KFP cache server)."
  default     = ["8443", "9443"]

  validation {
    condition     = alltrue([for p in var.control_plane_webhook_ports : can(regex("^[0-9]{1,5}$", p))])
    error_message = "control_plane_webhook_ports must be single TCP port numbers such as \"9443\"."
  }
}

variable "master_authorized_networks" {
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  description = "CIDR blocks allowed to reach the cluster's public control plane endpoint (kubectl, terraform). Nodes are always private."
}

# --- CPU system pool ---------------------------------------------------------

variable "cpu_machine_type" {
  type        = string
  description = "Machine type of the CPU system pool (Kubeflow Pipelines, the Training Operator, CPU pipeline steps)."
  default     = "e2-standard-4"
}

variable "cpu_min_nodes" {
  type        = number
  description = "Minimum nodes of the CPU system pool per zone; keep at least 1 so Kubeflow's control plane has a home."
  default     = 1
}

variable "cpu_max_nodes" {
  type        = number
  description = "Maximum nodes of the CPU system pool per zone."
  default     = 4
}

variable "cpu_disk_size_gb" {
  type        = number
  description = "Boot disk size of a CPU node in GB."
  default     = 100
}

# --- GPU training pool -------------------------------------------------------

variable "gpu_accelerator_type" {
  type        = string
  description = "GPU type attached to each GPU node, e.g. nvidia-l4 (with g2-standard-*), nvidia-tesla-t4 (with n1-standard-*), nvidia-tesla-a100 (with a2-highgpu-*)."
  default     = "nvidia-l4"
}

variable "gpu_accelerator_count" {
  type        = number
  description = "GPUs per GPU node; must be a count the machine type supports (g2-standard-4..32: 1, g2-standard-48: 4)."
  default     = 1

  validation {
    condition     = var.gpu_accelerator_count >= 1
    error_message = "gpu_accelerator_count must be at least 1."
  }
}

variable "gpu_machine_type" {
  type        = string
  description = "Machine type of the GPU pool; it must match the accelerator (g2-* for L4, n1-* for T4/V100, a2-* for A100)."
  default     = "g2-standard-8"
}

variable "gpu_driver_version" {
  type        = string
  description = "Which NVIDIA driver GKE installs on GPU nodes: DEFAULT or LATEST for the node's GKE version."
  default     = "LATEST"

  validation {
    condition     = contains(["DEFAULT", "LATEST"], var.gpu_driver_version)
    error_message = "gpu_driver_version must be DEFAULT or LATEST: genlab relies on GKE installing the driver."
  }
}

variable "gpu_node_locations" {
  type        = list(string)
  description = "Zones the GPU pool may use; they must offer the accelerator type (check `gcloud compute accelerator-types list`). Empty means the cluster's zones."
  default     = []
}

variable "gpu_max_nodes" {
  type        = number
  description = "Maximum GPU nodes across all zones of the pool; the pool scales down to 0 when no TFJob needs a GPU."
  default     = 2
}

variable "gpu_spot" {
  type        = bool
  description = "Use Spot VMs for the GPU pool (60-90% cheaper, may be preempted; genlab resumes from the latest checkpoint)."
  default     = false
}

variable "gpu_disk_size_gb" {
  type        = number
  description = "Boot disk size of a GPU node in GB (trainer images with CUDA are large)."
  default     = 200
}
