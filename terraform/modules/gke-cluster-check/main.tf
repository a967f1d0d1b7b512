# Internal to gke-workload-pool: decides whether an existing cluster serves Workload
# Identity, from attributes the caller read. No provider, so `terraform test` covers it
# offline. The checks are output preconditions: they fail the plan, with the gcloud fix.

locals {
  workload_pool = "${var.project_id}.svc.id.goog"
  gcloud_flags  = "--location=${var.location} --project=${var.project_id}"

  metadata_pools = [for pool in var.node_pools : pool.name if pool.workload_metadata_mode == "GKE_METADATA"]
  other_pools    = [for pool in var.node_pools : pool.name if pool.workload_metadata_mode != "GKE_METADATA"]
}
