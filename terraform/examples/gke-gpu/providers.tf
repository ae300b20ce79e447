# Provider configuration. The kustomization provider talks to the cluster this example creates,
# with the caller's own Google credentials (the same ones `terraform apply` runs with), so apply
# in two steps on a fresh project: the cluster first, then Kubeflow (see terraform/README.md).

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_client_config" "current" {}

locals {
  cluster_host = "https://${module.gke.endpoint}"

  kubeconfig = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = "genlab"
    clusters = [{
      name = "genlab"
      cluster = {
        server                     = local.cluster_host
        certificate-authority-data = module.gke.ca_certificate
      }
    }]
    users = [{
      name = "genlab"
      user = { token = data.google_client_config.current.access_token }
    }]
    contexts = [{
      name    = "genlab"
      context = { cluster = "genlab", user = "genlab" }
    }]
  })
}

provider "kustomization" {
  kubeconfig_raw = local.kubeconfig
}
