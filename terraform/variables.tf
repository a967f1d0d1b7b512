variable "project_id" {
  description = "ID of the Google Cloud project that holds the cluster and the service accounts."
  type        = string
}

variable "cluster_location" {
  description = "Region or zone of the GKE cluster, for example \"europe-west1\" (the zone of a zonal cluster: it is part of the cluster's issuer URL)."
  type        = string
}

variable "cluster_name" {
  description = "Name of the GKE cluster whose pods reach AWS."
  type        = string
}

variable "create_cluster" {
  description = "Whether to create the cluster and a node pool; false checks that the existing cluster is ready for Workload Identity."
  type        = bool
  default     = false
}

variable "network" {
  description = "VPC network of a created cluster (name or self link); required with create_cluster = true."
  type        = string
  default     = null
}

variable "subnetwork" {
  description = "Subnetwork of a created cluster (name or self link); required with create_cluster = true."
  type        = string
  default     = null
}

variable "pods_range_name" {
  description = "Secondary range of the subnetwork for a created cluster's pods; null lets GKE create one."
  type        = string
  default     = null
}

variable "services_range_name" {
  description = "Secondary range of the subnetwork for a created cluster's services; null lets GKE create one."
  type        = string
  default     = null
}

variable "aws_region" {
  description = "AWS region of the provider, and of every workload that sets no aws_region (IAM is global; the region goes to the Kubernetes side)."
  type        = string
  default     = "us-east-1"
}

variable "audience" {
  description = "Audience of every workload's token: requested from the metadata server (gsa, pinned as accounts.google.com:oaud) or projected (cluster, pinned as ISSUER:aud and the OIDC provider's client ID)."
  type        = string
  default     = "sts.amazonaws.com"
}

variable "role_name_prefix" {
  description = "Prefix of each IAM role name; the workload name (up to 30 characters) follows it."
  type        = string
  default     = "gke-"

  validation {
    # IAM role names stop at 64 characters.
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{0,34}$", var.role_name_prefix))
    error_message = "role_name_prefix must be at most 34 characters from letters, digits and +=,.@_- (for example \"gke-\"), so that prefix and a 30-character workload name fit IAM's 64."
  }
}

variable "max_session_duration" {
  description = "Maximum session duration in seconds of every role."
  type        = number
  default     = 3600
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy to set on every role, or null."
  type        = string
  default     = null
}

variable "tags" {
  description = "Map of tags to add to every AWS role."
  type        = map(string)
  default     = {}
}

variable "workloads" {
  description = "Map of workload name to the Kubernetes service account that runs it, its identity mode, AWS region, S3 access and named roles. Each gets one IAM role (and one per named role), and a Google service account when identity = \"gsa\"."
  type = map(object({
    namespace      = string
    ksa            = string
    identity       = optional(string, "gsa")
    aws_region     = optional(string)
    s3_bucket_arns = list(string)
    s3_prefixes    = optional(list(string), [])
    access         = optional(string, "read")
    kms_key_arns   = optional(list(string), [])
    roles = optional(map(object({
      s3_bucket_arns = list(string)
      s3_prefixes    = optional(list(string), [])
      access         = optional(string, "read")
      kms_key_arns   = optional(list(string), [])
      aws_region     = optional(string)
    })), {})
  }))
  # Checked in modules/workloads (names, identity, region) and in the modules it feeds.
}
