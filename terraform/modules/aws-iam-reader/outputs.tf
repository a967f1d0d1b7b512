output "json" {
  description = "The read-only policy document, as JSON: attach it to the audit's role or a person's."
  value       = data.aws_iam_policy_document.this.json
}

output "minified_json" {
  description = "The read-only policy document, as JSON without white space."
  value       = data.aws_iam_policy_document.this.minified_json
}

output "arn" {
  description = "ARN of the managed IAM policy (null unless create = true)."
  value       = try(aws_iam_policy.this[0].arn, null)
}
