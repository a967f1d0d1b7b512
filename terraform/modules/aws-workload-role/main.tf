# One IAM role for a GKE workload; its trust is chosen by `identity`:
# - "gsa": ID tokens that Google signs for one service account, minted for one audience.
#   AWS has the accounts.google.com provider built in, so no aws_iam_openid_connect_provider.
# - "cluster": Kubernetes service-account tokens that the cluster's own issuer signs, for named
#   KSAs and one audience, through the IAM OIDC provider of modules/aws-gke-oidc-provider.
# Either way the role's address, name and ARN stay the same: switching a workload's mode is an
# in-place update of the trust policy (UpdateAssumeRolePolicy), never a new role.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif

locals {
  gsa      = var.identity == "gsa"
  subjects = [for ksa in var.kubernetes_service_accounts : "system:serviceaccount:${ksa.namespace}:${ksa.name}"]

  trust = local.gsa ? {
    sid       = "GoogleWorkloadIdentity"
    principal = "accounts.google.com"
    conditions = [
      # AWS fills accounts.google.com:aud from the token's azp: the service account's unique id.
      { variable = "accounts.google.com:aud", values = [var.google_service_account_unique_id] },
      { variable = "accounts.google.com:sub", values = [var.google_service_account_unique_id] },
      # :oaud is the token's own aud. Pinning it stops a token minted for another service being replayed here.
      { variable = "accounts.google.com:oaud", values = [var.audience] },
    ]
    } : {
    sid       = "KubernetesServiceAccounts"
    principal = var.oidc_provider_arn
    conditions = [
      # sub names the KSA; StringEquals, never StringLike: a wildcard would trust every KSA
      # of a namespace, including ones created later by anyone who can create KSAs there.
      { variable = "${var.issuer_host_path}:sub", values = local.subjects },
      # aud is the projected token's audience: a token minted for another service cannot be replayed here.
      { variable = "${var.issuer_host_path}:aud", values = [var.audience] },
    ]
  }

  # Checked against the quota by length alone, so that a failure shows a number, not the document.
  trust_policy_length = length(data.aws_iam_policy_document.trust.minified_json)

  description = local.gsa ? "Assumed by GKE workloads through Google service account ${coalesce(var.google_service_account_unique_id, "-")}" : "Assumed by Kubernetes service accounts of ${coalesce(var.issuer_host_path, "-")}"
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = local.trust.sid
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.trust.principal]
    }

    dynamic "condition" {
      for_each = local.trust.conditions
      content {
        test     = "StringEquals"
        variable = condition.value.variable
        values   = condition.value.values
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !local.gsa || (var.google_service_account_unique_id != null && var.oidc_provider_arn == null && var.issuer_host_path == null && length(var.kubernetes_service_accounts) == 0)
      error_message = "identity = \"gsa\" needs google_service_account_unique_id (the GSA's numeric uniqueId) and none of oidc_provider_arn, issuer_host_path, kubernetes_service_accounts (those are cluster mode's)."
    }
    precondition {
      condition     = local.gsa || (var.google_service_account_unique_id == null && var.oidc_provider_arn != null && var.issuer_host_path != null && length(var.kubernetes_service_accounts) > 0)
      error_message = "identity = \"cluster\" needs oidc_provider_arn, issuer_host_path (both from modules/aws-gke-oidc-provider) and at least one of kubernetes_service_accounts, for example [{ namespace = \"reports\", name = \"reader\" }], and no google_service_account_unique_id."
    }
    precondition {
      condition     = local.gsa || var.oidc_provider_arn == null || var.issuer_host_path == null || endswith(coalesce(var.oidc_provider_arn, "-"), ":oidc-provider/${coalesce(var.issuer_host_path, "-")}")
      error_message = "oidc_provider_arn (${coalesce(var.oidc_provider_arn, "null")}) is not the provider of issuer_host_path (${coalesce(var.issuer_host_path, "null")}): pass both from the same aws-gke-oidc-provider module."
    }
  }
}

# Permissions: the least-privilege S3 (and SSE-KMS) policy, rendered and size-checked there.
module "s3_access" {
  source = "../aws-s3-access-policy"

  s3_bucket_arns = var.s3_bucket_arns
  s3_prefixes    = var.s3_prefixes
  access         = var.access
  kms_key_arns   = var.kms_key_arns
}

resource "aws_iam_role" "this" {
  count = var.create ? 1 : 0

  name                 = var.role_name
  description          = local.description
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags

  lifecycle {
    # IAM counts the trust policy without white space against the account's quota
    # "Role trust policy length" (2,048 characters by default, up to 8,192 on request). Each
    # KSA adds about 50 characters. Fail at plan, not at CreateRole.
    precondition {
      condition     = local.trust_policy_length <= var.trust_policy_length_quota
      error_message = "The trust policy of ${var.role_name} is ${local.trust_policy_length} characters, over trust_policy_length_quota (${var.trust_policy_length_quota}): split the KSAs over several roles, or raise the account's quota \"Role trust policy length\" in Service Quotas (up to 8,192) and set trust_policy_length_quota to the new value."
    }
  }
}

# Inline, so the permissions live and die with the role and cannot be attached elsewhere.
resource "aws_iam_role_policy" "s3" {
  count = var.create ? 1 : 0

  name   = "s3-${var.access}"
  role   = aws_iam_role.this[0].id
  policy = module.s3_access.json
}
