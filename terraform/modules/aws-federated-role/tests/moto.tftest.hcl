# Apply against a local moto server: tests/terraform/run.sh starts it and exports
# AWS_ENDPOINT_URL (honoured by the AWS provider for every service). Without it this
# run would reach real AWS with fake keys and fail, which is the intent.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
}

variables {
  role_name                        = "gke-moto-reader"
  google_service_account_unique_id = "112233445566778899001"
  s3_bucket_arns                   = ["arn:aws:s3:::reports"]
  s3_prefixes                      = ["daily/"]
  max_session_duration             = 7200
  tags                             = { team = "platform" }
}

run "apply_creates_role_and_inline_policy" {
  command = apply

  assert {
    condition     = can(regex("^arn:aws:iam::[0-9]{12}:role/gke-moto-reader$", output.role_arn))
    error_message = "Unexpected role ARN: ${output.role_arn}"
  }

  assert {
    condition     = output.role_name == "gke-moto-reader"
    error_message = "Unexpected role name: ${output.role_name}"
  }

  # Read back from the API: what AWS stored must equal what was rendered.
  assert {
    condition     = jsondecode(aws_iam_role.this[0].assume_role_policy) == jsondecode(output.trust_policy_json)
    error_message = "Stored trust policy differs from the rendered one."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.s3[0].policy) == jsondecode(output.permissions_policy_json)
    error_message = "Stored permissions differ from the rendered ones."
  }

  assert {
    condition     = aws_iam_role.this[0].max_session_duration == 7200
    error_message = "Stored max_session_duration differs."
  }
}
