output "workload_pool" {
  description = "Workload Identity pool of the cluster (PROJECT_ID.svc.id.goog), known only once the pool exists or is checked."
  value = try(
    google_container_cluster.this[0].workload_identity_config[0].workload_pool,
    module.check[0].workload_pool,
  )
  # IAM bindings on the pool are only useful once nodes serve the GKE metadata server.
  depends_on = [google_container_node_pool.this]
}

output "cluster_name" {
  description = "Name of the cluster."
  value       = try(google_container_cluster.this[0].name, data.google_container_cluster.existing[0].name)
}

output "location" {
  description = "Region or zone of the cluster."
  value       = var.location
}

output "autopilot" {
  description = "Whether the cluster is Autopilot (always false for a created cluster)."
  value       = try(data.google_container_cluster.existing[0].enable_autopilot, false)
}
