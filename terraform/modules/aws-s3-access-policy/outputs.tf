output "json" {
  description = "The S3 permissions policy document, as JSON."
  value       = data.aws_iam_policy_document.this.json
}

output "minified_json" {
  description = "The S3 permissions policy document, as JSON without white space (what IAM counts against its size limit)."
  value       = data.aws_iam_policy_document.this.minified_json
}
