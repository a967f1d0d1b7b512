output "role_arn" {
  description = "ARN of the role; the workload passes it to AssumeRoleWithWebIdentity (AWS_ROLE_ARN, the KSA annotation amazonaws.com/role-arn)."
  value       = try(aws_iam_role.this[0].arn, null)
}

output "role_name" {
  description = "Name of the role."
  value       = try(aws_iam_role.this[0].name, null)
}

output "trust_policy_json" {
  description = "Trust policy of the role, as JSON."
  value       = data.aws_iam_policy_document.trust.json
}

output "permissions_policy_json" {
  description = "Inline S3 permissions policy of the role, as JSON."
  value       = module.s3_access.json
}
