# Internal to the root configuration: completes the workloads map (defaults, role names,
# tags) and shapes the output the Kubernetes side reads. No provider, so `terraform test`
# covers both offline; the root feeds the created identities and roles back in.

locals {
  settings = {
    for name, w in var.workloads : name => {
      identity       = w.identity
      namespace      = w.namespace
      ksa            = w.ksa
      aws_region     = coalesce(w.aws_region, var.aws_region)
      access         = w.access
      s3_bucket_arns = w.s3_bucket_arns
      s3_prefixes    = w.s3_prefixes
      kms_key_arns   = w.kms_key_arns
      role_name      = "${var.role_name_prefix}${name}"
      # IAM tag values stop at 256 characters; a namespace (63) and a KSA name (253) can
      # exceed it. The tag only helps people find the role, so a long one is cut, not refused.
      tags = merge(var.tags, { "gke-workload" = substr("${w.namespace}/${w.ksa}", 0, 256) })
    }
  }
}
