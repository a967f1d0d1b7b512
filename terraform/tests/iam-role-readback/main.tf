# Test helper: reads a role back from the IAM API, so the tests compare what AWS stored
# with literal statements. A resource's own attributes will not do: the AWS provider keeps
# the configured JSON in state whenever AWS's copy is equivalent. The provider has no data
# source for inline policies, so tests/terraform/test_e2e_moto.py reads those with boto3.

variable "role_name" {
  description = "Name of the role to read back."
  type        = string
}

data "aws_iam_role" "stored" {
  name = var.role_name
}

output "trust_policy" {
  description = "Trust policy as IAM stores it, decoded."
  value       = jsondecode(data.aws_iam_role.stored.assume_role_policy)
}

output "tags" {
  description = "Tags of the stored role."
  value       = data.aws_iam_role.stored.tags
}

output "max_session_duration" {
  description = "Maximum session duration of the stored role."
  value       = data.aws_iam_role.stored.max_session_duration
}

variable "oidc_provider_arn" {
  description = "ARN of an IAM OIDC provider to read back as well, or null."
  type        = string
  default     = null
}

data "aws_iam_openid_connect_provider" "stored" {
  count = var.oidc_provider_arn == null ? 0 : 1

  arn = var.oidc_provider_arn
}

output "oidc_provider" {
  description = "URL, client IDs and thumbprints of the stored OIDC provider, or null."
  value = try({
    url             = data.aws_iam_openid_connect_provider.stored[0].url
    client_id_list  = data.aws_iam_openid_connect_provider.stored[0].client_id_list
    thumbprint_list = data.aws_iam_openid_connect_provider.stored[0].thumbprint_list
    tags            = data.aws_iam_openid_connect_provider.stored[0].tags
  }, null)
}
