variable "project_id" {
  description = "ID of the Google Cloud project that holds the cluster and the service accounts."
  type        = string
}

variable "cluster_location" {
  description = "Region or zone of the GKE cluster, for example \"europe-west1\"."
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

variable "aws_region" {
  description = "AWS region the provider and the workloads use (IAM is global; the region goes to the Kubernetes side)."
  type        = string
  default     = "us-east-1"
}

variable "audience" {
  description = "Audience workloads request their Google ID token for; the roles pin it as accounts.google.com:oaud."
  type        = string
  default     = "sts.amazonaws.com"
}

variable "role_name_prefix" {
  description = "Prefix of each IAM role name; the workload name follows it."
  type        = string
  default     = "gke-"
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
  description = "Map of workload name to the Kubernetes service account that runs it and the S3 access it gets. Each gets one Google service account and one IAM role."
  type = map(object({
    namespace      = string
    ksa            = string
    s3_bucket_arns = list(string)
    s3_prefixes    = optional(list(string), [])
    access         = optional(string, "read")
  }))

  validation {
    # The name becomes the Google service account ID, which has the tighter rules.
    condition     = alltrue([for name in keys(var.workloads) : can(regex("^[a-z]([-a-z0-9]{4,28}[a-z0-9])$", name))])
    error_message = "Each workload name must be 6 to 30 lowercase letters, digits and hyphens starting with a letter (for example \"reports-reader\"): it becomes the Google service account ID."
  }
}
