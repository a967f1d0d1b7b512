terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.49.0 (May 2024) added aws_iam_policy_document's minified_json attribute
      # (provider PR #35677); the trust-policy size check in main.tf reads it,
      # and so does ../aws-s3-access-policy, which this module calls.
      version = ">= 5.49, < 7"
    }
  }
}
