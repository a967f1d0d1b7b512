output "reader_role_arn" {
  description = "ARN of the role that lists daily/ and reads its objects."
  value       = module.reader.role_arn
}

output "lister_role_arn" {
  description = "ARN of the role that only lists the bucket."
  value       = module.lister.role_arn
}
