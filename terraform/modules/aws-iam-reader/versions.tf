terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.49.0 (May 2024) added aws_iam_policy_document's minified_json attribute.
      version = ">= 5.49, < 7"
    }
  }
}
