# What `gke-aws-verifier audit --aws` and `explain` call, read-only: the caller's account, each
# role a workload names (its trust policy and RoleLastUsed), the account's OIDC providers and
# one provider's client IDs. Listing providers has no resource-level permission; the rest may
# be narrowed to the workloads' roles.
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
data "aws_iam_policy_document" "this" {
  #checkov:skip=CKV_AWS_356:sts:GetCallerIdentity and iam:ListOpenIDConnectProviders have no resource-level permission (the Service Authorization Reference above lists no resource type for either), so "*" is their only resource; the role and provider reads are narrowed.
  statement {
    sid       = "CallerAccount"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadRoles"
    actions   = ["iam:GetRole"]
    resources = var.role_arns
  }

  statement {
    sid       = "ListOIDCProviders"
    actions   = ["iam:ListOpenIDConnectProviders"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadOIDCProviders"
    actions   = ["iam:GetOpenIDConnectProvider"]
    resources = ["arn:${data.aws_partition.current.partition}:iam::*:oidc-provider/*"]
  }
}

data "aws_partition" "current" {}

resource "aws_iam_policy" "this" {
  count = var.create ? 1 : 0

  name        = var.name
  description = "Read-only: what gke-aws-verifier audit --aws and explain read in IAM."
  policy      = data.aws_iam_policy_document.this.minified_json
}
