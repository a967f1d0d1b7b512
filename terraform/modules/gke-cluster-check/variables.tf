variable "project_id" {
  description = "ID of the project of the cluster; the expected pool is PROJECT_ID.svc.id.goog."
  type        = string
}

variable "location" {
  description = "Region or zone of the cluster, for the gcloud commands."
  type        = string
}

variable "cluster_name" {
  description = "Name of the cluster."
  type        = string
}

variable "workload_pool" {
  description = "Workload Identity pool the cluster has, or null when Workload Identity is off."
  type        = string
}

variable "autopilot" {
  description = "Whether the cluster is Autopilot (it always runs the GKE metadata server)."
  type        = bool
}

variable "node_pools" {
  description = "List of the cluster's node pools with their workload metadata mode (\"GKE_METADATA\", \"GCE_METADATA\" or \"\")."
  type = list(object({
    name                   = string
    workload_metadata_mode = string
  }))
}
