variable "create" {
  description = "Whether to create the Google service account; false looks up an existing one by account_id."
  type        = bool
  default     = true
}

variable "project_id" {
  description = "ID of the Google Cloud project that holds the service account."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6 to 30 lowercase letters, digits and hyphens, starting with a letter, for example \"my-project-123\"."
  }
}

variable "account_id" {
  description = "Account ID of the service account (the part before @), or the full email of an existing one."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{4,28}[a-z0-9])$", var.account_id)) || can(regex("^[^@]+@[^@]+\\.gserviceaccount\\.com$", var.account_id))
    error_message = "account_id must be 6 to 30 lowercase letters, digits and hyphens starting with a letter (for example \"reports-reader\"), or an existing service account email."
  }
}

variable "display_name" {
  description = "Display name of a created service account; null uses the account ID."
  type        = string
  default     = null
}

variable "description" {
  description = "Description of a created service account."
  type        = string
  default     = "Impersonated by GKE workloads through Workload Identity to reach AWS."
}

variable "workload_pool" {
  description = "Workload Identity pool of the cluster (PROJECT_ID.svc.id.goog); pass the gke-workload-pool module output so the bindings wait for the pool."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]\\.svc\\.id\\.goog$", var.workload_pool))
    error_message = "workload_pool must look like \"my-project-123.svc.id.goog\"."
  }
}

variable "kubernetes_service_accounts" {
  description = "List of Kubernetes service accounts (namespace and name) that may impersonate the service account."
  type = list(object({
    namespace = string
    name      = string
  }))

  validation {
    condition     = length(var.kubernetes_service_accounts) > 0
    error_message = "kubernetes_service_accounts must name at least one { namespace, name }, for example [{ namespace = \"reports\", name = \"reader\" }]."
  }

  validation {
    condition = alltrue([
      for ksa in var.kubernetes_service_accounts :
      can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", ksa.namespace)) && can(regex("^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$", ksa.name))
    ])
    error_message = "Each namespace must be a DNS label (lowercase letters, digits, hyphens, at most 63) and each name a DNS subdomain, for example { namespace = \"reports\", name = \"reader\" }."
  }
}
