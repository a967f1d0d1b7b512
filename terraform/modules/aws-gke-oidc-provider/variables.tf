variable "project_id" {
  description = "ID of the Google Cloud project of the cluster; with location and cluster_name it makes the issuer URL."
  type        = string
  default     = null

  validation {
    condition     = var.project_id == null || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be null or a project ID: 6 to 30 lowercase letters, digits and hyphens, starting with a letter, for example \"my-project-123\"."
  }
}

variable "location" {
  description = "Location of the cluster: the zone of a zonal cluster, the region of a regional one."
  type        = string
  default     = null

  validation {
    condition     = var.location == null || can(regex("^[a-z]+-[a-z]+[0-9]+(-[a-z])?$", var.location))
    error_message = "location must be null, a region such as \"europe-west1\" or a zone such as \"europe-west1-b\"."
  }
}

variable "cluster_name" {
  description = "Name of the GKE cluster whose service-account token issuer AWS trusts."
  type        = string
  default     = null

  validation {
    condition     = var.cluster_name == null || can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be null or 1 to 40 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "issuer_url" {
  description = "Issuer URL to trust instead of the GKE cluster's (a self-managed cluster's issuer); null builds it from project_id, location and cluster_name."
  type        = string
  default     = null

  validation {
    # A port is accepted for local issuers (tests, the demo on moto); real IAM wants none.
    condition     = var.issuer_url == null || can(regex("^https://[a-z0-9.-]+(:[0-9]{1,5})?(/[^\\s?#]*[^\\s?#/])?$", var.issuer_url))
    error_message = "issuer_url must be null or an https URL without a query, fragment or trailing slash (and, for real AWS, without a port), for example \"https://container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps\"."
  }
}

variable "client_ids" {
  description = "List of audiences (client IDs) the provider accepts; the projected token's audience must be one of them."
  type        = list(string)
  default     = ["sts.amazonaws.com"]

  validation {
    condition     = length(var.client_ids) > 0 && alltrue([for id in var.client_ids : can(regex("^[^\\s*?]{1,255}$", id))])
    error_message = "client_ids must hold at least one audience of 1 to 255 characters without spaces or wildcards, for example [\"sts.amazonaws.com\"]."
  }
}

variable "thumbprints" {
  description = "List of SHA-1 thumbprints of the issuer's CA, only for an issuer whose certificate does not chain to a public CA; empty leaves them to IAM."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.thumbprints : can(regex("^[0-9a-fA-F]{40}$", t))])
    error_message = "Each thumbprints entry must be a 40-hex-digit SHA-1 fingerprint."
  }
}

variable "tags" {
  description = "Map of tags to add to the provider."
  type        = map(string)
  default     = {}
}
