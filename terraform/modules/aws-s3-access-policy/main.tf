# The S3 permissions of a workload role (aws-workload-role, in either identity mode): list
# the buckets (under the prefixes) and, for read access, get their objects and decrypt them
# with the named KMS keys through S3 only. Nothing else.

locals {
  # "reports/" becomes "reports/*": that also matches listing the prefix itself.
  key_patterns = length(var.s3_prefixes) > 0 ? [for p in var.s3_prefixes : "${p}*"] : ["*"]
  object_arns  = flatten([for b in var.s3_bucket_arns : [for k in local.key_patterns : "${b}/${k}"]])

  # S3 only uses a KMS key of its own region, so each key is usable through that region's
  # S3 endpoint only: region and partition come from the key ARN (arn:PARTITION:kms:REGION:…).
  kms_keys_by_region = { for arn in var.kms_key_arns : split(":", arn)[3] => arn... }
  kms_dns_suffix     = { aws = "amazonaws.com", "aws-cn" = "amazonaws.com.cn", "aws-us-gov" = "amazonaws.com" }
  kms_via_service = {
    for region, keys in local.kms_keys_by_region :
    region => "s3.${region}.${local.kms_dns_suffix[split(":", keys[0])[1]]}"
  }
}

data "aws_iam_policy_document" "this" {
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

  # SSE-KMS objects: S3 decrypts with the caller's permission, so the role needs kms:Decrypt,
  # but only when S3 asks for it (kms:ViaService), never directly.
  dynamic "statement" {
    for_each = var.access == "read" ? local.kms_keys_by_region : {}
    content {
      sid       = "DecryptViaS3${replace(title(statement.key), "-", "")}"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = statement.value

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.kms_via_service[statement.key]]
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.access == "read" || length(var.kms_key_arns) == 0
      error_message = "kms_key_arns is only used with access = \"read\" (listing keys never decrypts objects): remove kms_key_arns or set access = \"read\"."
    }
  }
}

# IAM caps a role's inline policies at 10,240 characters in all, white space not counted (not
# adjustable). Read access lists one object ARN per bucket x prefix, so the policy grows with
# their product: fail at plan with the size, not at PutRolePolicy. (The check is on the
# length alone, so that the failure shows a number, not the whole document.)
locals {
  policy_length = length(data.aws_iam_policy_document.this.minified_json)
}
