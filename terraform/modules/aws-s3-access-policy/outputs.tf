output "json" {
  description = "The S3 permissions policy document, as JSON."
  value       = data.aws_iam_policy_document.this.json
}
