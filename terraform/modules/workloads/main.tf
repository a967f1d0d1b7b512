# Internal to the root configuration: completes the workloads map (defaults, role names,
# tags), lists every IAM role (one default role per workload, plus its named roles), and
# shapes the output the Kubernetes side reads. No provider, so `terraform test` covers both
# offline; the root feeds the created identities and roles back in.

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
      # Named roles trust the same identity (the same GSA, or the same KSA) as the default role.
      # "." cannot occur in a workload name, so PREFIX + WORKLOAD + "." + NAME never collides.
      roles = {
        for role, r in w.roles : role => {
          aws_region     = coalesce(r.aws_region, w.aws_region, var.aws_region)
          access         = r.access
          s3_bucket_arns = r.s3_bucket_arns
          s3_prefixes    = r.s3_prefixes
          kms_key_arns   = r.kms_key_arns
          role_name      = "${var.role_name_prefix}${name}.${role}"
          tags           = merge(var.tags, { "gke-workload" = substr("${w.namespace}/${w.ksa}", 0, 256), "gke-workload-role" = role })
        }
      }
    }
  }

  # Every IAM role, keyed WORKLOAD (its default role) or WORKLOAD/NAME (a named role): one
  # module instance each in the root, whatever the identity mode.
  roles = merge(
    { for name, s in local.settings : name => merge({ workload = name, name = null }, { for k, v in s : k => v if k != "roles" }) },
    merge([
      for name, s in local.settings : {
        for role, r in s.roles : "${name}/${role}" => merge(r, {
          workload = name, name = role, identity = s.identity, namespace = s.namespace, ksa = s.ksa
        })
      }
    ]...),
  )
}
