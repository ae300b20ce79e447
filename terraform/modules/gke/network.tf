# The VPC the cluster lives in: one subnetwork with secondary ranges for a VPC-native cluster,
# and a Cloud NAT so private nodes can pull images (ghcr.io, Docker Hub) without public IPs.

locals {
  network_name    = coalesce(var.network_name, "${var.name}-net")
  subnetwork_name = coalesce(var.subnetwork_name, "${var.name}-nodes")
  pods_range      = "${var.name}-pods"
  services_range  = "${var.name}-services"
}

resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = local.network_name
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "nodes" {
  project                  = var.project_id
  name                     = local.subnetwork_name
  region                   = var.region
  network                  = google_compute_network.this.id
  ip_cidr_range            = var.subnetwork_cidr
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = local.pods_range
    ip_cidr_range = var.pods_cidr
  }

  secondary_ip_range {
    range_name    = local.services_range
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_router" "nat" {
  project = var.project_id
  name    = "${var.name}-router"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "nat" {
  project                            = var.project_id
  name                               = "${var.name}-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Explicit firewall policy for the network (GKE adds its own rules for the control plane and
# load balancers at priority 1000). Inside the VPC, nodes and pods talk freely (TF_CONFIG
# workers reach each other on arbitrary ports); any other ingress is denied and logged.
resource "google_compute_firewall" "allow_internal" {
  project   = var.project_id
  name      = "${var.name}-allow-internal"
  network   = google_compute_network.this.id
  direction = "INGRESS"
  priority  = 1000

  source_ranges = [var.subnetwork_cidr, var.pods_cidr, var.services_cidr]

  allow {
    protocol = "all"
  }

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }
}

resource "google_compute_firewall" "deny_ingress" {
  project   = var.project_id
  name      = "${var.name}-deny-ingress"
  network   = google_compute_network.this.id
  direction = "INGRESS"
  priority  = 65534

  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Private nodes: GKE's own firewall rule lets the control plane reach the nodes on 443 and 10250
# only (https://cloud.google.com/kubernetes-engine/docs/how-to/private-clusters#add_firewall_rules),
# so calls to admission webhooks served by pods on other ports time out. genlab's components serve:
#   9443  the Training Operator v1.9.2 validating webhook, fail-closed: without this rule every
#         TFJob create fails (--webhook-server-port, default 9443, in kubeflow/training-operator
#         cmd/training-operator.v1/main.go; its Service maps 443 to 9443);
#   8443  the KFP 2.5.0 cache-server mutating webhook (containerPort webhook-api, WEBHOOK_PORT, in
#         kubeflow/pipelines manifests/kustomize/base/cache/cache-deployment.yaml).
resource "google_compute_firewall" "control_plane_webhooks" {
  project     = var.project_id
  name        = "${var.name}-control-plane-webhooks"
  network     = google_compute_network.this.id
  direction   = "INGRESS"
  priority    = 1000
  description = "GKE control plane to admission webhooks served by pods (Training Operator, KFP cache server)."

  source_ranges           = [var.master_ipv4_cidr_block]
  target_service_accounts = [google_service_account.nodes.email]

  allow {
    protocol = "tcp"
    ports    = var.control_plane_webhook_ports
  }

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }
}
