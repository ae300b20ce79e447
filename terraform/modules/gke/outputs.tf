output "cluster_name" {
  description = "Name of the GKE cluster."
  value       = google_container_cluster.this.name
}

output "location" {
  description = "Region or zone of the cluster (what `gcloud container clusters get-credentials --location` takes)."
  value       = google_container_cluster.this.location
}

output "endpoint" {
  description = "Public IP of the control plane; available once both node pools exist, so Kubernetes providers configured from it wait for nodes."
  value       = google_container_cluster.this.endpoint
  sensitive   = true
  depends_on  = [google_container_node_pool.cpu, google_container_node_pool.gpu]
}

output "ca_certificate" {
  description = "Base64-encoded cluster CA certificate."
  value       = google_container_cluster.this.master_auth[0].cluster_ca_certificate
  sensitive   = true
}

output "workload_identity_pool" {
  description = "Workload Identity pool of the cluster (PROJECT.svc.id.goog); exists once the cluster does."
  value       = google_container_cluster.this.workload_identity_config[0].workload_pool
}

output "network_name" {
  description = "Name of the VPC network (known at plan time; the Filestore StorageClass needs it)."
  value       = local.network_name
}

output "network" {
  description = "Self link of the VPC network."
  value       = google_compute_network.this.self_link
}

output "subnetwork" {
  description = "Self link of the node subnetwork."
  value       = google_compute_subnetwork.nodes.self_link
}

output "node_service_account" {
  description = "Email of the nodes' dedicated service account."
  value       = google_service_account.nodes.email
}

output "cpu_node_pool" {
  description = "Name of the CPU system node pool."
  value       = google_container_node_pool.cpu.name
}

output "gpu_node_pool" {
  description = "Name of the GPU training node pool."
  value       = google_container_node_pool.gpu.name
}

output "gpu_node_selector" {
  description = "Node selector that puts a pod on the GPU pool (the TFJob launcher's nodeSelector)."
  value = {
    "genlab.io/pool"                   = google_container_node_pool.gpu.node_config[0].labels["genlab.io/pool"]
    "cloud.google.com/gke-accelerator" = var.gpu_accelerator_type
  }
}

output "gpu_toleration" {
  description = "Toleration a GPU pod needs for the GPU pool's taint."
  value = {
    key      = "nvidia.com/gpu"
    operator = "Equal"
    value    = "present"
    effect   = "NoSchedule"
  }
}
