# Kubeflow Training Operator v1 (TFJob, kubeflow.org/v1), standalone overlay at a pinned tag.
# It installs into the kubeflow namespace and watches TFJobs in every namespace, genlab's included.

data "kustomization_overlay" "training_operator" {
  resources = [
    "github.com/kubeflow/training-operator.git/manifests/overlays/standalone?ref=${var.training_operator_version}",
  ]
}
