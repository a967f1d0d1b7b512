variable "create" {
  description = "Whether to create the role. With false the module only renders the policy documents."
  type        = bool
  default     = true
}

variable "role_name" {
  description = "Name of the IAM role the GKE workload's KSA assumes."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be 1 to 64 characters from letters, digits and +=,.@_- (for example \"gke-reports-reader\")."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider of the cluster's issuer (aws-gke-oidc-provider's arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN such as \"arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps\"."
  }
}

variable "issuer_host_path" {
  description = "Issuer URL without https:// (aws-gke-oidc-provider's issuer_host_path); the condition keys are ISSUER_HOST_PATH:sub and :aud."
  type        = string

  validation {
    # A port is accepted for local issuers (tests, the demo on moto); real IAM wants none.
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]{1,5})?(/[^\\s?#]*[^\\s?#/])?$", var.issuer_host_path))
    error_message = "issuer_host_path must be the issuer URL without \"https://\" and without a trailing slash, for example \"container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps\"."
  }
}

variable "kubernetes_service_accounts" {
  description = "List of Kubernetes service accounts (namespace and name) whose tokens may assume the role."
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

variable "audience" {
  description = "Audience of the projected service-account token; pinned as ISSUER:aud and one of the OIDC provider's client IDs."
  type        = string
  default     = "sts.amazonaws.com"

  validation {
    condition     = can(regex("^[^\\s*?]+$", var.audience))
    error_message = "audience must be a non-empty string without spaces or wildcards (for example \"sts.amazonaws.com\")."
  }
}

# The S3 inputs are checked by modules/aws-s3-access-policy, which renders the permissions.
variable "s3_bucket_arns" {
  description = "List of S3 bucket ARNs the role may list (and read, with access = \"read\")."
  type        = list(string)
}

variable "s3_prefixes" {
  description = "List of key prefixes the role is limited to in every bucket; empty means the whole bucket."
  type        = list(string)
  default     = []
}

variable "access" {
  description = "Access level: \"read\" lists and gets objects, \"list\" only lists keys."
  type        = string
  default     = "read"
}

variable "kms_key_arns" {
  description = "List of KMS key ARNs of SSE-KMS buckets; with read access the role may decrypt with them through S3 only."
  type        = list(string)
  default     = []
}

variable "max_session_duration" {
  description = "Maximum session duration in seconds for credentials issued for the role."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200 && floor(var.max_session_duration) == var.max_session_duration
    error_message = "max_session_duration must be a whole number of seconds from 3600 (1 hour) to 43200 (12 hours)."
  }
}

variable "permissions_boundary" {
  description = "ARN of the managed policy to set as the role's permissions boundary, or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws(-cn|-us-gov)?:iam::([0-9]{12}|aws):policy/.+$", var.permissions_boundary))
    error_message = "permissions_boundary must be null or an IAM policy ARN such as \"arn:aws:iam::123456789012:policy/boundary\"."
  }
}

variable "tags" {
  description = "Map of tags to add to the role."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256])
    error_message = "Each tag key must be at most 128 characters and each value at most 256 (IAM's limits)."
  }
}
