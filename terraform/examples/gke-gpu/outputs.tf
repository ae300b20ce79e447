output "get_credentials_command" {
  description = "gcloud command that writes a kubeconfig entry for the cluster."
  value       = "gcloud container clusters get-credentials ${module.gke.cluster_name} --location ${module.gke.location} --project ${var.project_id}"
}

output "bucket" {
  description = "gs:// URL of the artifact bucket."
  value       = module.storage.bucket_url
}

output "image_registry" {
  description = "Artifact Registry repository for the trainer images: make images GENLAB_IMAGE_REGISTRY=<this>, and the same value for genlab compile/submit."
  value       = module.registry.repository_url
}

output "pipeline_root" {
  description = "Default pipeline root of KFP runs on this cluster."
  value       = module.storage.pipeline_root
}

output "kfp_port_forward_command" {
  description = "Run this, then open http://localhost:8080 or use `genlab submit --host http://localhost:8080`."
  value       = module.kubeflow.kfp_port_forward_command
}

output "kfp_endpoint" {
  description = "KFP endpoint for `genlab submit --host` while the port-forward runs."
  value       = "http://localhost:8080"
}

output "gpu_node_selector" {
  description = "Node selector of the GPU pool, for the TFJob launcher's GPU workers."
  value       = module.gke.gpu_node_selector
}

output "gpu_toleration" {
  description = "Toleration GPU workers need for the GPU pool's taint."
  value       = module.gke.gpu_toleration
}

output "service_accounts" {
  description = "Google service accounts the Kubernetes service accounts act as through Workload Identity."
  value = {
    pipeline = module.iam.pipeline_service_account
    trainer  = module.iam.trainer_service_account
    kfp_ui   = module.iam.kfp_ui_service_account
  }
}

output "namespace" {
  description = "Kubernetes namespace of genlab's pipelines and TFJobs."
  value       = var.namespace
}
