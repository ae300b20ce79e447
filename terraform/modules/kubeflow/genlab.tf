# genlab's own Kubernetes objects from its kustomize overlay (k8s/overlays/gke): the namespace,
# the genlab-pipeline and genlab-trainer service accounts with their Workload Identity
# annotations (from workload-identity.env, which the example writes next to the overlay), the
# RBAC to launch TFJobs, and the genlab-data volume on Filestore. Terraform adds what the overlay
# cannot know: the VPC the Filestore instances must join.

data "kustomization_overlay" "genlab" {
  resources = [var.genlab_overlay_path]
  namespace = var.namespace

  patches {
    target {
      kind = "StorageClass"
      name = "genlab-filestore"
    }
    patch = yamlencode({
      apiVersion = "storage.k8s.io/v1"
      kind       = "StorageClass"
      metadata   = { name = "genlab-filestore" }
      parameters = { network = var.filestore_network }
    })
  }
}
