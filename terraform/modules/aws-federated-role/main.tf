# Trust: ID tokens that Google signs for one service account, minted for one audience.
# AWS has the accounts.google.com provider built in, so no aws_iam_openid_connect_provider.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GoogleWorkloadIdentity"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = ["accounts.google.com"]
    }

    # AWS fills accounts.google.com:aud from the token's azp: the service account's unique id.
    condition {
      test     = "StringEquals"
      variable = "accounts.google.com:aud"
      values   = [var.google_service_account_unique_id]
    }

    condition {
      test     = "StringEquals"
      variable = "accounts.google.com:sub"
      values   = [var.google_service_account_unique_id]
    }

    # :oaud is the token's own aud. Pinning it stops a token minted for another service being replayed here.
    condition {
      test     = "StringEquals"
      variable = "accounts.google.com:oaud"
      values   = [var.audience]
    }
  }
}

locals {
  # "reports/" becomes "reports/*": that also matches listing the prefix itself.
  key_patterns = length(var.s3_prefixes) > 0 ? [for p in var.s3_prefixes : "${p}*"] : ["*"]
  object_arns  = flatten([for b in var.s3_bucket_arns : [for k in local.key_patterns : "${b}/${k}"]])
}

# Permissions: list the buckets (under the prefixes) and, for read access, get their objects. Nothing else.
data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "ListBuckets"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = var.s3_bucket_arns

    dynamic "condition" {
      for_each = length(var.s3_prefixes) > 0 ? [1] : []
      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = local.key_patterns
      }
    }
  }

  dynamic "statement" {
    for_each = var.access == "read" ? [1] : []
    content {
      sid       = "GetObjects"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = local.object_arns
    }
  }
}

resource "aws_iam_role" "this" {
  count = var.create ? 1 : 0

  name                 = var.role_name
  description          = "Assumed by GKE workloads through Google service account ${var.google_service_account_unique_id}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

# Inline, so the permissions live and die with the role and cannot be attached elsewhere.
resource "aws_iam_role_policy" "s3" {
  count = var.create ? 1 : 0

  name   = "s3-${var.access}"
  role   = aws_iam_role.this[0].id
  policy = data.aws_iam_policy_document.permissions.json
}
