variable "s3_bucket_arns" {
  description = "List of S3 bucket ARNs the role may list (and read, with access = \"read\")."
  type        = list(string)

  validation {
    condition     = length(var.s3_bucket_arns) > 0
    error_message = "s3_bucket_arns must hold at least one bucket ARN (for example [\"arn:aws:s3:::my-bucket\"])."
  }

  validation {
    condition = alltrue([
      for arn in var.s3_bucket_arns : can(regex("^arn:aws(-cn|-us-gov)?:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", arn))
    ])
    error_message = "Each s3_bucket_arns entry must be a bucket ARN such as \"arn:aws:s3:::my-bucket\" (aws, aws-cn or aws-us-gov partition), without an object path or wildcard."
  }
}

variable "s3_prefixes" {
  description = "List of key prefixes the role is limited to in every bucket; empty means the whole bucket."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for p in var.s3_prefixes : can(regex("^[^/*?][^*?]*$", p))
    ])
    error_message = "Each s3_prefixes entry must be a non-empty key prefix that does not start with \"/\" and has no wildcard (for example \"reports/\"); the module adds the trailing \"*\" itself."
  }
}

variable "access" {
  description = "Access level: \"read\" lists and gets objects, \"list\" only lists keys."
  type        = string
  default     = "read"

  validation {
    condition     = contains(["read", "list"], var.access)
    error_message = "access must be \"read\" (s3:ListBucket and s3:GetObject) or \"list\" (s3:ListBucket only)."
  }
}

variable "kms_key_arns" {
  description = "List of KMS key ARNs that encrypt the buckets' objects (SSE-KMS); read access gets kms:Decrypt on them through S3 only."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for arn in var.kms_key_arns : can(regex("^arn:aws(-cn|-us-gov)?:kms:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:key/[-a-z0-9]+$", arn))
    ])
    error_message = "Each kms_key_arns entry must be a KMS key ARN such as \"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\" (a key, not an alias)."
  }
}
