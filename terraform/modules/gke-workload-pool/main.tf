locals {
  workload_pool = "${var.project_id}.svc.id.goog"
  # Printed by the checks below, so the fix can be pasted as is.
  gcloud_flags = "--location=${var.location} --project=${var.project_id}"
}

# --- create = true: a Standard cluster whose only node pool serves the GKE metadata server ---

resource "google_container_cluster" "this" {
  #checkov:skip=CKV_GCP_25:Private nodes need a VPC design (NAT, ranges) the platform team owns; out of scope of this module.
  #checkov:skip=CKV_GCP_12:Network policy is a cluster-wide choice (Dataplane V2 or Calico) this module does not make.
  #checkov:skip=CKV_GCP_61:Intranode visibility costs flow logs; the team enables it with its logging design.
  #checkov:skip=CKV_GCP_65:Google Groups for RBAC needs a Workspace domain this module cannot assume.
  #checkov:skip=CKV_GCP_66:Binary Authorization needs attestors and a policy this module does not own.
  #checkov:skip=CKV_GCP_20:Master authorized networks depend on the team's network; set them outside this module.
  #checkov:skip=CKV_GCP_21:Labels are the team's convention; none are imposed here.
  #checkov:skip=CKV_GCP_64:Private nodes need a VPC design the platform team owns (same as CKV_GCP_25).
  #checkov:skip=CKV_GCP_69:The default node pool is removed; google_container_node_pool.this below sets workload_metadata_config GKE_METADATA.
  count = var.create ? 1 : 0

  project  = var.project_id
  name     = var.cluster_name
  location = var.location

  # The default pool cannot carry our node_config; replace it with google_container_node_pool.this.
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = var.deletion_protection
  enable_shielded_nodes    = true

  # VPC-native with ranges GKE picks; an empty block keeps the caller's network choices open.
  ip_allocation_policy {}

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

# --- create = false: read the existing cluster and fail the plan with the fix ---

data "google_container_cluster" "existing" {
  count = var.create ? 0 : 1

  project  = var.project_id
  name     = var.cluster_name
  location = var.location

  lifecycle {
    postcondition {
      condition     = try(self.workload_identity_config[0].workload_pool, "") == local.workload_pool
      error_message = "Cluster ${var.cluster_name} has no Workload Identity pool ${local.workload_pool}. Enable it with:\n  gcloud container clusters update ${var.cluster_name} ${local.gcloud_flags} --workload-pool=${local.workload_pool}"
    }

    # Autopilot always runs the GKE metadata server and has no node pools to check.
    postcondition {
      condition = self.enable_autopilot == true || alltrue([
        for pool in self.node_pool : try(pool.node_config[0].workload_metadata_config[0].mode, "") == "GKE_METADATA"
      ])
      error_message = join("\n", concat(
        ["Node pools of cluster ${var.cluster_name} do not run the GKE metadata server, so pods cannot get Google ID tokens. Fix each with:"],
        [for pool in self.node_pool :
          "  gcloud container node-pools update ${pool.name} --cluster=${var.cluster_name} ${local.gcloud_flags} --workload-metadata=GKE_METADATA"
          if try(pool.node_config[0].workload_metadata_config[0].mode, "") != "GKE_METADATA"
        ],
      ))
    }
  }
}
