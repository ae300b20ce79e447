# genlab's own Kubernetes objects from its kustomize overlay (k8s/overlays/gke): the namespace,
# the genlab-pipeline and genlab-trainer service accounts with their Workload Identity
# annotations, the RBAC to launch TFJobs, the genlab-data volume on Filestore and the one-shot Job
# that hands the volume to uid 1000. The overlay reads workload-identity.env, which the example
# writes next to it (the Google service accounts and the VPC network Filestore must join), so
# Terraform and `kubectl apply -k k8s/overlays/gke` build the same objects.

data "kustomization_overlay" "genlab" {
  resources = [var.genlab_overlay_path]
  namespace = var.namespace
}
