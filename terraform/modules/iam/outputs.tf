output "pipeline_service_account" {
  description = "Email of the Google service account genlab pipeline steps act as."
  value       = local.emails.pipeline
}

output "trainer_service_account" {
  description = "Email of the Google service account TFJob workers act as."
  value       = local.emails.trainer
}

output "kfp_ui_service_account" {
  description = "Email of the read-only Google service account of the Kubeflow Pipelines UI."
  value       = local.emails.kfp_ui
}

output "workload_identity_bindings" {
  description = "Kubernetes service accounts (namespace/name) bound to each Google service account."
  value = {
    for key, b in local.ksa_bindings : key => google_service_account_iam_member.workload_identity[key].member
  }
}

output "ksa_annotations" {
  description = "The iam.gke.io/gcp-service-account annotation each Kubernetes service account needs, keyed by namespace/name."
  value = {
    for key, b in local.ksa_bindings : "${b.namespace}/${b.ksa}" => { "iam.gke.io/gcp-service-account" = local.emails[b.account] }
  }
}
