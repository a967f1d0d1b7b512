variable "create" {
  description = "Whether to create the policy as a managed IAM policy (else only its JSON is rendered)."
  type        = bool
  default     = false
}

variable "name" {
  description = "Name of the managed IAM policy, with create = true."
  type        = string
  default     = "gke-aws-audit-reader"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.name))
    error_message = "name must be 1-128 characters of letters, digits and +=,.@_-, e.g. gke-aws-audit-reader."
  }
}

variable "role_arns" {
  description = "List of role ARNs the audit may read (iam:GetRole); [\"*\"] means every role of the account."
  type        = list(string)
  default     = ["*"]

  validation {
    condition     = length(var.role_arns) > 0 && alltrue([for arn in var.role_arns : arn == "*" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "role_arns must be role ARNs (arn:aws:iam::123456789012:role/NAME, wildcards allowed in NAME) or [\"*\"]."
  }
}
