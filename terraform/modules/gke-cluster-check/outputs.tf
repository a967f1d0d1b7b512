output "workload_pool" {
  description = "Workload Identity pool of the checked cluster (PROJECT_ID.svc.id.goog)."
  value       = local.workload_pool

  precondition {
    condition     = var.workload_pool == local.workload_pool
    error_message = "Cluster ${var.cluster_name} has no Workload Identity pool ${local.workload_pool}. Enable it with:\n  gcloud container clusters update ${var.cluster_name} ${local.gcloud_flags} --workload-pool=${local.workload_pool}"
  }

  # At least one node pool, not all: GPU or legacy pools may run without it. The pods that
  # reach AWS must be scheduled on such a pool (nodeSelector iam.gke.io/gke-metadata-server-enabled: "true").
  precondition {
    condition = var.autopilot || length(local.metadata_pools) > 0
    error_message = join("\n", concat(
      ["No node pool of cluster ${var.cluster_name} runs the GKE metadata server, so no pod can get a Google ID token. At least one node pool needs it (the pods that reach AWS are scheduled there). Enable it on one with:"],
      [for name in local.other_pools : "  gcloud container node-pools update ${name} --cluster=${var.cluster_name} ${local.gcloud_flags} --workload-metadata=GKE_METADATA"],
      ["or add one:", "  gcloud container node-pools create workloads --cluster=${var.cluster_name} ${local.gcloud_flags} --workload-metadata=GKE_METADATA"],
    ))
  }
}

output "metadata_node_pools" {
  description = "Names of the node pools that run the GKE metadata server (empty on Autopilot)."
  value       = local.metadata_pools
}
