# Two node pools:
#   cpu — the system pool: Kubeflow Pipelines, the Training Operator, CPU pipeline steps.
#   gpu — the training pool: GKE installs the NVIDIA driver, it scales from 0 and is tainted so
#         only pods that tolerate nvidia.com/gpu (TFJob GPU workers) land there. The TFJob launcher
#         selects it with the label genlab.io/pool=gpu (see the example's gpu_node_selector output).

resource "google_container_node_pool" "cpu" {
  project        = var.project_id
  name           = "cpu"
  cluster        = google_container_cluster.this.id
  location       = var.location
  node_locations = length(var.node_locations) > 0 ? var.node_locations : null

  initial_node_count = var.cpu_min_nodes

  autoscaling {
    min_node_count = var.cpu_min_nodes
    max_node_count = var.cpu_max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.cpu_machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = var.cpu_disk_size_gb
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = { "genlab.io/pool" = "cpu" }
    resource_labels = var.labels

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }

  lifecycle {
    ignore_changes = [initial_node_count]
  }
}

resource "google_container_node_pool" "gpu" {
  project        = var.project_id
  name           = "gpu-${replace(var.gpu_accelerator_type, "nvidia-", "")}"
  cluster        = google_container_cluster.this.id
  location       = var.location
  node_locations = length(var.gpu_node_locations) > 0 ? var.gpu_node_locations : null

  initial_node_count = 0

  # Scale from zero: no GPU is billed until a TFJob asks for nvidia.com/gpu.
  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.gpu_max_nodes
    location_policy      = "ANY"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.gpu_machine_type
    image_type      = "COS_CONTAINERD"
    disk_type       = "pd-balanced"
    disk_size_gb    = var.gpu_disk_size_gb
    spot            = var.gpu_spot
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    labels          = { "genlab.io/pool" = "gpu" }
    resource_labels = var.labels

    guest_accelerator {
      type  = var.gpu_accelerator_type
      count = var.gpu_accelerator_count

      gpu_driver_installation_config {
        gpu_driver_version = var.gpu_driver_version
      }
    }

    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    metadata = {
      disable-legacy-endpoints = "true"
    }
  }

  lifecycle {
    ignore_changes = [initial_node_count]
  }
}
