output "kfp_namespace" {
  description = "Namespace of Kubeflow Pipelines (the Training Operator lives in kubeflow)."
  value       = var.kfp_namespace
}

output "kfp_port_forward_command" {
  description = "Command that makes the KFP UI and API reachable at http://localhost:8080 (the cluster exposes nothing publicly)."
  value       = "kubectl -n ${var.kfp_namespace} port-forward svc/ml-pipeline-ui 8080:80"
}

output "kfp_versions" {
  description = "Pinned versions installed."
  value = {
    kubeflow_pipelines = var.kfp_version
    training_operator  = var.training_operator_version
  }
}

output "pipeline_root" {
  description = "Default pipeline root written to the kfp-launcher ConfigMap."
  value       = var.pipeline_root
}

output "installed_object_count" {
  description = "How many Kubernetes objects the module manages."
  value       = length(kustomization_resource.p0) + length(kustomization_resource.p1) + length(kustomization_resource.p2)
}
