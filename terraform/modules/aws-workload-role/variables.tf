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

variable "identity" {
  description = "Who the role trusts: \"gsa\" (Google's ID tokens for one Google service account) or \"cluster\" (the cluster issuer's tokens for named Kubernetes service accounts)."
  type        = string
  default     = "gsa"

  validation {
    condition     = contains(["gsa", "cluster"], var.identity)
    error_message = "identity must be \"gsa\" (google_service_account_unique_id) or \"cluster\" (oidc_provider_arn, issuer_host_path, kubernetes_service_accounts)."
  }
}

variable "google_service_account_unique_id" {
  description = "GSA mode: numeric unique id of the Google service account whose ID tokens may assume the role (its `uniqueId`, not its email)."
  type        = string
  default     = null

  validation {
    # AWS matches accounts.google.com:aud (the token's azp) and :sub against this string exactly.
    condition     = var.google_service_account_unique_id == null || can(regex("^[0-9]{10,30}$", var.google_service_account_unique_id))
    error_message = "google_service_account_unique_id must be the service account's numeric uniqueId, digits only (21 digits typical, for example \"112233445566778899001\"); the email address does not work here."
  }
}

variable "oidc_provider_arn" {
  description = "Cluster mode: ARN of the IAM OIDC provider of the cluster's issuer (aws-gke-oidc-provider's arn)."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN such as \"arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps\"."
  }
}

variable "issuer_host_path" {
  description = "Cluster mode: issuer URL without https:// (aws-gke-oidc-provider's issuer_host_path); the condition keys are ISSUER_HOST_PATH:sub and :aud."
  type        = string
  default     = null

  validation {
    # A port is accepted for local issuers (tests, the demo on moto); real IAM wants none.
    condition     = var.issuer_host_path == null || can(regex("^[a-z0-9.-]+(:[0-9]{1,5})?(/[^\\s?#]*[^\\s?#/])?$", var.issuer_host_path))
    error_message = "issuer_host_path must be the issuer URL without \"https://\" and without a trailing slash, for example \"container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps\"."
  }
}

variable "kubernetes_service_accounts" {
  description = "Cluster mode: list of Kubernetes service accounts (namespace and name) whose tokens may assume the role."
  type = list(object({
    namespace = string
    name      = string
  }))
  default = []

  validation {
    condition = alltrue([
      for ksa in var.kubernetes_service_accounts :
      can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", ksa.namespace)) && can(regex("^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$", ksa.name))
    ])
    error_message = "Each namespace must be a DNS label (lowercase letters, digits, hyphens, at most 63) and each name a DNS subdomain, for example { namespace = \"reports\", name = \"reader\" }."
  }
}

variable "audience" {
  description = "Audience of the workload's token: requested from the metadata server (gsa, pinned as accounts.google.com:oaud) or projected (cluster, pinned as ISSUER:aud and one of the OIDC provider's client IDs)."
  type        = string
  default     = "sts.amazonaws.com"

  validation {
    condition     = can(regex("^[^\\s*?]+$", var.audience))
    error_message = "audience must be a non-empty string without spaces or wildcards (for example \"sts.amazonaws.com\")."
  }
}

variable "trust_policy_length_quota" {
  description = "The account's IAM quota \"Role trust policy length\" in characters (2048 unless raised, at most 8192); the plan fails when the trust policy is longer."
  type        = number
  default     = 2048

  validation {
    condition     = var.trust_policy_length_quota >= 2048 && var.trust_policy_length_quota <= 8192
    error_message = "trust_policy_length_quota must be from 2048 (IAM's default) to 8192 (the most Service Quotas grants): the value of \"Role trust policy length\" in your account."
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
