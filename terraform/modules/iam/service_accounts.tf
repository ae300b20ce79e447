# One Google service account per kind of workload. Their emails are built from the inputs
# (not read back from the resources) so that they are known at plan time: the kubeflow module
# writes them into Kubernetes annotations of resources it plans with for_each.

locals {
  accounts = {
    pipeline = {
      account_id   = "${var.name}-pipeline"
      display_name = "genlab pipeline steps"
      description  = "Runs genlab Kubeflow pipeline steps: reads and writes artifacts in gs://${var.bucket_name}."
    }
    trainer = {
      account_id   = "${var.name}-trainer"
      display_name = "genlab TFJob workers"
      description  = "genlab TFJob workers: read datasets, write checkpoints and models in gs://${var.bucket_name}."
    }
    kfp_ui = {
      account_id   = "${var.name}-kfp-ui"
      display_name = "Kubeflow Pipelines UI"
      description  = "Lets the Kubeflow Pipelines UI read (only read) run artifacts in gs://${var.bucket_name}."
    }
  }

  emails = { for key, sa in local.accounts : key => "${sa.account_id}@${var.project_id}.iam.gserviceaccount.com" }
}

resource "google_service_account" "this" {
  for_each = local.accounts

  project      = var.project_id
  account_id   = each.value.account_id
  display_name = each.value.display_name
  description  = each.value.description
}
