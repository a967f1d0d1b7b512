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
  policy = module.s3_access.json
}
