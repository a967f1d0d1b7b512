output "json" {
  description = "The S3 permissions policy document, as JSON."
  value       = data.aws_iam_policy_document.this.json

  precondition {
    condition     = local.policy_length <= 10240
    error_message = "The S3 permissions policy is ${local.policy_length} characters without white space, over IAM's 10,240 for a role's inline policies (${length(var.s3_bucket_arns)} buckets x ${max(1, length(var.s3_prefixes))} prefixes): use fewer buckets or prefixes (a shorter common prefix), or split the workload's access over named roles."
  }
}

output "minified_json" {
  description = "The S3 permissions policy document, as JSON without white space (what IAM counts against its size limit)."
  value       = data.aws_iam_policy_document.this.minified_json
}
