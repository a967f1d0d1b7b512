variable "create" {
  description = "Whether to create the cluster and node pool; false checks an existing cluster at plan time instead."
  type        = bool
  default     = true
}

variable "project_id" {
  description = "ID of the Google Cloud project that holds the cluster; the workload pool is PROJECT_ID.svc.id.goog."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (not its number or display name): 6 to 30 lowercase letters, digits and hyphens, starting with a letter, for example \"my-project-123\"."
  }
}

variable "location" {
  description = "Region or zone of the cluster, for example \"europe-west1\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+(-[a-z])?$", var.location))
    error_message = "location must be a region such as \"europe-west1\" or a zone such as \"europe-west1-b\"."
  }
}

variable "cluster_name" {
  description = "Name of the GKE cluster to create or check."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be 1 to 40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "node_pool_name" {
  description = "Name of the node pool to create (create = true only)."
  type        = string
  default     = "workloads"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.node_pool_name))
    error_message = "node_pool_name must be 1 to 40 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "node_count" {
  description = "Number of nodes per zone in the created node pool (create = true only)."
  type        = number
  default     = 1

  validation {
    condition     = var.node_count >= 1 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number of at least 1."
  }
}

variable "machine_type" {
  description = "Machine type of the created nodes (create = true only)."
  type        = string
  default     = "e2-standard-2"
}

variable "node_service_account" {
  description = "Email of the service account the created nodes run as; null uses the Compute Engine default."
  type        = string
  default     = null

  validation {
    condition     = var.node_service_account == null || can(regex("^[^@]+@[^@]+\\.iam\\.gserviceaccount\\.com$", var.node_service_account))
    error_message = "node_service_account must be null or a service account email such as \"gke-nodes@my-project.iam.gserviceaccount.com\"."
  }
}

variable "deletion_protection" {
  description = "Whether Terraform refuses to destroy the created cluster."
  type        = bool
  default     = true
}

variable "network" {
  description = "VPC network of the created cluster (name or self link); required with create = true, no default VPC is assumed."
  type        = string
  default     = null
}

variable "subnetwork" {
  description = "Subnetwork of the created cluster (name or self link), in the cluster's region; required with create = true."
  type        = string
  default     = null
}

variable "pods_range_name" {
  description = "Name of the subnetwork's secondary range for pods; null lets GKE create one."
  type        = string
  default     = null
}

variable "services_range_name" {
  description = "Name of the subnetwork's secondary range for services; null lets GKE create one."
  type        = string
  default     = null
}

variable "enabled_services" {
  description = "List of Google APIs the caller enables (google_project_service); the created cluster waits for them."
  type        = list(string)
  default     = []
}
