variable "create" {
  description = "Whether to create the role. With false the module only renders the policy documents."
  type        = bool
  default     = true
}

variable "role_name" {
  description = "Name of the IAM role the GKE workload assumes."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be 1 to 64 characters from letters, digits and +=,.@_- (for example \"gke-reports-reader\")."
  }
}

variable "google_service_account_unique_id" {
  description = "Numeric unique id of the Google service account whose ID tokens may assume the role (its `uniqueId`, not its email)."
  type        = string

  validation {
    # AWS matches accounts.google.com:aud (the token's azp) and :sub against this string exactly.
    condition     = can(regex("^[0-9]{10,30}$", var.google_service_account_unique_id))
    error_message = "google_service_account_unique_id must be the service account's numeric uniqueId, digits only (21 digits typical, for example \"112233445566778899001\"); the email address does not work here."
  }
}

variable "audience" {
  description = "Audience the workload requests its ID token for; pinned as accounts.google.com:oaud. Same default as the verifier."
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
