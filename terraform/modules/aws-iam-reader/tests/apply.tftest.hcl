# The managed policy created on moto (tests/terraform/run.sh sets AWS_ENDPOINT_URL).

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

run "the_managed_policy_is_created" {
  variables {
    create = true
  }

  assert {
    condition     = output.arn == "arn:aws:iam::123456789012:policy/gke-aws-audit-reader"
    error_message = "Unexpected policy ARN: ${coalesce(output.arn, "null")}"
  }

  assert {
    condition     = jsondecode(aws_iam_policy.this[0].policy).Statement[1].Action == "iam:GetRole"
    error_message = "The created policy is not the document: ${aws_iam_policy.this[0].policy}"
  }
}
