locals {
  workload_pool = "${var.project_id}.svc.id.goog"
}

# --- create = true: a Standard cluster whose only node pool serves the GKE metadata server ---

resource "google_container_cluster" "this" {
  #checkov:skip=CKV_GCP_25:Private nodes need a VPC design (NAT, ranges) the platform team owns; out of scope of this module.
  #checkov:skip=CKV_GCP_12:NetworkPolicy is enforced by Dataplane V2 (datapath_provider below); the Calico network_policy block must stay off with it.
  #checkov:skip=CKV_GCP_61:Intranode visibility costs flow logs; the team enables it with its logging design.
  #checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace domain this module cannot assume.
  #checkov:skip=CKV_GCP_66:Binary Authorization needs attestors and a policy this module does not own.
  #checkov:skip=CKV_GCP_20:Master authorized networks depend on the team's network; set them outside this module.
  #checkov:skip=CKV_GCP_21:Labels are the team's convention; none are imposed here.
  #checkov:skip=CKV_GCP_64:Private nodes need a VPC design the platform team owns (same as CKV_GCP_25).
  #checkov:skip=CKV_GCP_69:The default node pool is removed; google_container_node_pool.this below sets workload_metadata_config GKE_METADATA.
  count = var.create ? 1 : 0

  project    = var.project_id
  name       = var.cluster_name
  location   = var.location
  network    = var.network
  subnetwork = var.subnetwork

  # Dataplane V2 enforces NetworkPolicy, so the verifier's own policies (k8s/) take effect.
  datapath_provider = "ADVANCED_DATAPATH"

  # The default pool cannot carry our node_config; replace it with google_container_node_pool.this.
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = var.deletion_protection
  enable_shielded_nodes    = true

  # VPC-native, in the caller's subnetwork; with null range names GKE picks the ranges.
  ip_allocation_policy {
    cluster_secondary_range_name  = var.pods_range_name
    services_secondary_range_name = var.services_range_name
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  release_channel {
    channel = "REGULAR"
  }

  # Turns the cluster into a workload pool: KSAs become PROJECT.svc.id.goog[NAMESPACE/KSA].
  workload_identity_config {
    workload_pool = local.workload_pool
  }

  lifecycle {
    precondition {
      condition     = var.network != null && var.subnetwork != null
      error_message = "create = true needs network and subnetwork (the VPC and subnetwork of the cluster, for example \"projects/my-project-123/global/networks/apps\" and \"projects/my-project-123/regions/europe-west1/subnetworks/apps\"); this module does not assume the default VPC."
    }
  }

  # The cluster waits for the APIs the caller enables (container.googleapis.com).
  depends_on = [terraform_data.enabled_services]
}

# Only the created cluster waits for the services: a depends_on on the module itself would
# also defer the existing-cluster check below from plan to apply.
resource "terraform_data" "enabled_services" {
  count = var.create ? 1 : 0

  input = var.enabled_services
}

resource "google_container_node_pool" "this" {
  count = var.create ? 1 : 0

  project    = var.project_id
  name       = var.node_pool_name
  location   = var.location
  cluster    = google_container_cluster.this[0].name
  node_count = var.node_count

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type    = var.machine_type
    service_account = var.node_service_account
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]
    metadata        = { disable-legacy-endpoints = "true" }

    # Pods reach the GKE metadata server, which mints ID tokens for the mapped GSA.
    workload_metadata_config {
      mode = "GKE_METADATA"
    }

    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }
}

# --- create = false: read the existing cluster; gke-cluster-check fails the plan with the fix ---

data "google_container_cluster" "existing" {
  count = var.create ? 0 : 1

  project  = var.project_id
  name     = var.cluster_name
  location = var.location
}

module "check" {
  source = "../gke-cluster-check"
  count  = var.create ? 0 : 1

  project_id    = var.project_id
  location      = var.location
  cluster_name  = var.cluster_name
  workload_pool = try(data.google_container_cluster.existing[0].workload_identity_config[0].workload_pool, null)
  autopilot     = try(data.google_container_cluster.existing[0].enable_autopilot, false) == true
  node_pools = [for pool in try(data.google_container_cluster.existing[0].node_pool, []) : {
    name                   = pool.name
    workload_metadata_mode = try(pool.node_config[0].workload_metadata_config[0].mode, "")
  }]
}
