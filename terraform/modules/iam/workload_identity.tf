# Workload Identity: which Kubernetes service account (namespace/name) may act as which Google
# service account. Nothing else can impersonate these accounts; no keys are ever created.

locals {
  ksa_bindings = {
    "pipeline:${var.namespace}/${var.pipeline_ksa}"       = { account = "pipeline", namespace = var.namespace, ksa = var.pipeline_ksa }
    "pipeline:${var.kfp_namespace}/${var.kfp_runner_ksa}" = { account = "pipeline", namespace = var.kfp_namespace, ksa = var.kfp_runner_ksa }
    "trainer:${var.namespace}/${var.trainer_ksa}"         = { account = "trainer", namespace = var.namespace, ksa = var.trainer_ksa }
    "kfp_ui:${var.kfp_namespace}/${var.kfp_ui_ksa}"       = { account = "kfp_ui", namespace = var.kfp_namespace, ksa = var.kfp_ui_ksa }
  }
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each = local.ksa_bindings

  service_account_id = google_service_account.this[each.value.account].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_identity_pool}[${each.value.namespace}/${each.value.ksa}]"
}
