output "settings" {
  description = "Per workload: identity, namespace, ksa, aws_region, access, S3 and KMS inputs, role_name, tags and named roles, with defaults filled in."
  value       = local.settings
}

output "roles" {
  description = "Every IAM role, keyed WORKLOAD (the default role) or WORKLOAD/NAME (a named role): workload, name, identity, namespace, ksa, aws_region, S3 and KMS inputs, role_name, tags."
  value       = local.roles

  precondition {
    condition     = alltrue([for r in values(local.roles) : length(r.role_name) <= 64])
    error_message = "IAM role names stop at 64 characters, and these would be longer: ${join(", ", [for r in values(local.roles) : r.role_name if length(r.role_name) > 64])}. Shorten the named role's NAME, the workload name or role_name_prefix."
  }
}

output "gsa_workloads" {
  description = "The settings of workloads with identity = \"gsa\"."
  value       = { for name, s in local.settings : name => s if s.identity == "gsa" }
}

output "cluster_workloads" {
  description = "The settings of workloads with identity = \"cluster\"."
  value       = { for name, s in local.settings : name => s if s.identity == "cluster" }
}

output "uses_gsa_identity" {
  description = "Whether any workload uses a Google service account."
  value       = anytrue([for s in values(local.settings) : s.identity == "gsa"])
}

output "uses_cluster_identity" {
  description = "Whether any workload uses the cluster's issuer (the OIDC provider is then created once)."
  value       = anytrue([for s in values(local.settings) : s.identity == "cluster"])
}

output "kubernetes" {
  description = "Per workload, what the Kubernetes side needs (the root's workloads output)."
  value = {
    for name, s in local.settings : name => {
      identity       = s.identity
      namespace      = s.namespace
      ksa            = s.ksa
      gsa_email      = s.identity == "gsa" ? try(var.service_accounts[name].email, null) : null
      gsa_unique_id  = s.identity == "gsa" ? try(var.service_accounts[name].unique_id, null) : null
      ksa_annotation = s.identity == "gsa" ? try(var.service_accounts[name].kubernetes_annotations, {}) : {}
      role_arn       = lookup(var.role_arns, name, null)
      audience       = var.audience
      aws_region     = s.aws_region
      access         = s.access
      s3_buckets     = [for arn in s.s3_bucket_arns : try(split(":::", arn)[1], arn)]
      s3_prefixes    = s.s3_prefixes
      issuer_url     = s.identity == "cluster" ? var.issuer_url : null
      # Named roles: the KSA annotations gke-aws-verifier/role.NAME and region.NAME.
      roles = {
        for role, r in s.roles : role => {
          role_arn    = lookup(var.role_arns, "${name}/${role}", null)
          role_name   = r.role_name
          aws_region  = r.aws_region
          access      = r.access
          s3_buckets  = [for arn in r.s3_bucket_arns : try(split(":::", arn)[1], arn)]
          s3_prefixes = r.s3_prefixes
        }
      }
    }
  }
}
