output "role_arn" {
  description = "ARN of the role; the pod's AWS_ROLE_ARN."
  value       = module.ledger_reader.role_arn
}

output "issuer_url" {
  description = "Issuer URL IAM trusts; the projected tokens' iss."
  value       = module.cluster_issuer.issuer_url
}
