# Trust: Kubernetes service-account tokens that the cluster's own issuer signs, for named
# KSAs and one audience. No Google service account: the IAM OIDC provider of the cluster
# (modules/aws-gke-oidc-provider) is the identity provider.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif

locals {
  subjects = [for ksa in var.kubernetes_service_accounts : "system:serviceaccount:${ksa.namespace}:${ksa.name}"]
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "KubernetesServiceAccounts"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    # sub names the KSA; StringEquals, never StringLike: a wildcard would trust every KSA
    # of a namespace, including ones created later by anyone who can create KSAs there.
    condition {
      test     = "StringEquals"
      variable = "${var.issuer_host_path}:sub"
      values   = local.subjects
    }

    # aud is the projected token's audience: a token minted for another service cannot be replayed here.
    condition {
      test     = "StringEquals"
      variable = "${var.issuer_host_path}:aud"
      values   = [var.audience]
    }
  }
}

# Permissions: written once for both role modules.
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
  description          = "Assumed by Kubernetes service accounts of ${var.issuer_host_path}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = endswith(var.oidc_provider_arn, ":oidc-provider/${var.issuer_host_path}")
      error_message = "oidc_provider_arn (${var.oidc_provider_arn}) is not the provider of issuer_host_path (${var.issuer_host_path}): pass both from the same aws-gke-oidc-provider module."
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

# IAM's trust policy quota is 2,048 characters unless raised (to 4,096 at most); each KSA
# adds about 50. Warn before AWS refuses the role.
check "trust_policy_size" {
  assert {
    condition     = length(data.aws_iam_policy_document.trust.minified_json) <= 2048
    error_message = "The trust policy of ${var.role_name} is ${length(data.aws_iam_policy_document.trust.minified_json)} characters, over IAM's default quota of 2048: raise the quota (\"Role trust policy length\", up to 4096) or split the KSAs over several roles."
  }
}
