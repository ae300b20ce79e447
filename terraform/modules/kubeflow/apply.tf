# Apply every object the overlays above build, in three waves, as the kustomization provider
# recommends: Namespaces and CRDs first, then everything else, then admission webhooks (whose
# backing Services must exist). Objects built by more than one overlay (the kubeflow Namespace)
# are applied once; an upstream kfp-launcher ConfigMap is left to pipelines.tf.

locals {
  builds = [
    data.kustomization_overlay.kfp_cluster,
    data.kustomization_overlay.kfp,
    data.kustomization_overlay.training_operator,
    data.kustomization_overlay.genlab,
  ]

  # kustomization provider IDs are GROUP/KIND/NAMESPACE/NAME, "_" for an empty group
  kfp_launcher_id = "_/ConfigMap/${var.kfp_namespace}/kfp-launcher"

  manifests = merge([for b in local.builds : b.manifests]...)
  ids_wave0 = setunion([for b in local.builds : b.ids_prio[0]]...)
  ids_wave1 = toset([for id in setunion([for b in local.builds : b.ids_prio[1]]...) : id if id != local.kfp_launcher_id])
  ids_wave2 = setunion([for b in local.builds : b.ids_prio[2]]...)
}

resource "kustomization_resource" "p0" {
  for_each = local.ids_wave0

  manifest = local.manifests[each.value]
}

resource "kustomization_resource" "p1" {
  for_each = local.ids_wave1

  manifest = local.manifests[each.value]

  depends_on = [kustomization_resource.p0]
}

resource "kustomization_resource" "p2" {
  for_each = local.ids_wave2

  manifest = local.manifests[each.value]

  depends_on = [kustomization_resource.p1]
}
