output "role_arn" {
  description = "ARN of the role the demo workload assumes."
  value       = module.reader.role_arn
}

output "cluster_role_arn" {
  description = "ARN of the role the cluster-mode workload assumes, or null without cluster_issuer_url."
  value       = try(module.cluster_reader[0].role_arn, null)
}

output "other_role_arn" {
  description = "ARN of the workload's named role \"other\" (the same GSA), which reads only the other bucket."
  value       = module.other_reader.role_arn
}

output "cluster_other_role_arn" {
  description = "ARN of the cluster-mode workload's named role \"other\" (the same KSA), or null without cluster_issuer_url."
  value       = try(module.cluster_other_reader[0].role_arn, null)
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider of the emulated cluster issuer, or null without cluster_issuer_url."
  value       = try(module.cluster_issuer[0].arn, null)
}

output "bucket" {
  description = "Name of the bucket the role may read."
  value       = aws_s3_bucket.this.id
}

output "other_bucket" {
  description = "Name of the bucket the role may not read."
  value       = aws_s3_bucket.other.id
}

output "object_count" {
  description = "Number of objects in the demo bucket."
  value       = length(aws_s3_object.this)
}
