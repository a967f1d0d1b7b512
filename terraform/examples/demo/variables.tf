variable "aws_endpoint" {
  description = "URL of the local AWS emulator (moto) that IAM, STS and S3 calls go to."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/]+$", var.aws_endpoint))
    error_message = "aws_endpoint must be a base URL without a path, for example \"http://127.0.0.1:5000\"."
  }
}

variable "google_service_account_unique_id" {
  description = "Numeric unique id of the emulated Google service account (the emulator's --unique-id)."
  type        = string
}

variable "bucket" {
  description = "Name of the demo bucket the role may read."
  type        = string
  default     = "gke-aws-demo-reports"
}

variable "other_bucket" {
  description = "Name of a second bucket the role has no access to."
  type        = string
  default     = "gke-aws-demo-other-team"
}

variable "cluster_issuer_url" {
  description = "Issuer URL of the emulated cluster (the emulator's gke-cluster-issuer); null leaves the cluster-issuer mode out."
  type        = string
  default     = null
}

variable "cluster_ksa" {
  description = "Kubernetes service account { namespace, name } whose projected token the cluster-mode role trusts."
  type = object({
    namespace = string
    name      = string
  })
  default = { namespace = "reports", name = "reports-reader" }
}
