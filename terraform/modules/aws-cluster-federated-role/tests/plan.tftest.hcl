# Plan-level checks: the exact trust policy (literal JSON), the shared S3 permissions on the
# role, and every validation of this module's own inputs (the S3 inputs are checked in
# modules/aws-s3-access-policy). Rendering is local: fake keys and the skip_* switches.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

variables {
  role_name                   = "gke-ledger-reader"
  oidc_provider_arn           = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
  issuer_host_path            = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
  kubernetes_service_accounts = [{ namespace = "payments", name = "ledger" }]
  s3_bucket_arns              = ["arn:aws:s3:::ledger"]
  s3_prefixes                 = ["exports/"]
}

run "trust_policy_pins_the_ksa_and_audience" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role.this[0].assume_role_policy) == {
      Version = "2012-10-17"
      Statement = [{
        Sid       = "KubernetesServiceAccounts"
        Effect    = "Allow"
        Action    = "sts:AssumeRoleWithWebIdentity"
        Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps" }
        Condition = {
          StringEquals = {
            "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps:sub" = "system:serviceaccount:payments:ledger"
            "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps:aud" = "sts.amazonaws.com"
          }
        }
      }]
    }
    error_message = "Unexpected trust policy: ${aws_iam_role.this[0].assume_role_policy}"
  }
}

run "several_ksas_and_a_custom_audience" {
  command = plan

  variables {
    audience = "https://example.com/aws"
    kubernetes_service_accounts = [
      { namespace = "payments", name = "ledger" },
      { namespace = "payments", name = "ledger-batch" },
    ]
  }

  assert {
    condition = jsonencode(jsondecode(aws_iam_role.this[0].assume_role_policy).Statement[0].Condition.StringEquals) == jsonencode({
      "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps:aud" = "https://example.com/aws"
      "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps:sub" = ["system:serviceaccount:payments:ledger", "system:serviceaccount:payments:ledger-batch"]
    })
    error_message = "Unexpected trust conditions: ${aws_iam_role.this[0].assume_role_policy}"
  }
}

run "permissions_come_from_the_shared_s3_policy" {
  command = plan

  assert {
    condition = aws_iam_role_policy.s3[0].name == "s3-read" && jsondecode(aws_iam_role_policy.s3[0].policy) == {
      Version = "2012-10-17"
      Statement = [
        {
          Sid       = "ListBuckets"
          Effect    = "Allow"
          Action    = "s3:ListBucket"
          Resource  = "arn:aws:s3:::ledger"
          Condition = { StringLike = { "s3:prefix" = "exports/*" } }
        },
        { Sid = "GetObjects", Effect = "Allow", Action = "s3:GetObject", Resource = "arn:aws:s3:::ledger/exports/*" },
      ]
    }
    error_message = "Unexpected permissions: ${aws_iam_role_policy.s3[0].policy}"
  }
}

run "create_false_plans_nothing" {
  command = plan

  variables {
    create = false
  }

  assert {
    condition     = length(aws_iam_role.this) == 0 && length(aws_iam_role_policy.s3) == 0 && output.role_arn == null
    error_message = "create = false must plan no role and null outputs."
  }
}

# --- every validation rejects a bad value ---

run "rejects_provider_of_another_issuer" {
  command = plan
  variables { issuer_host_path = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/other" }
  expect_failures = [aws_iam_role.this]
}

run "rejects_issuer_with_scheme" {
  command = plan
  variables { issuer_host_path = "https://container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps" }
  expect_failures = [var.issuer_host_path]
}

run "rejects_issuer_with_trailing_slash" {
  command = plan
  variables { issuer_host_path = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps/" }
  expect_failures = [var.issuer_host_path]
}

run "rejects_role_arn_as_provider" {
  command = plan
  variables { oidc_provider_arn = "arn:aws:iam::123456789012:role/apps" }
  expect_failures = [var.oidc_provider_arn]
}

run "rejects_no_ksa" {
  command = plan
  variables { kubernetes_service_accounts = [] }
  expect_failures = [var.kubernetes_service_accounts]
}

run "rejects_wildcard_ksa" {
  command = plan
  variables { kubernetes_service_accounts = [{ namespace = "payments", name = "*" }] }
  expect_failures = [var.kubernetes_service_accounts]
}

run "rejects_wildcard_audience" {
  command = plan
  variables { audience = "sts.*" }
  expect_failures = [var.audience]
}

run "rejects_role_name_longer_than_64" {
  command = plan
  variables { role_name = "a-role-name-that-is-much-too-long-for-iam-because-iam-stops-at-64-chars" }
  expect_failures = [var.role_name]
}

run "rejects_tag_value_longer_than_256" {
  command = plan
  variables { tags = { gke-workload = "${join("", [for i in range(257) : "x"])}" } }
  expect_failures = [var.tags]
}

run "warns_when_the_trust_policy_outgrows_the_default_quota" {
  command = plan
  variables {
    kubernetes_service_accounts = [for i in range(40) : { namespace = "payments", name = "ledger-${i}" }]
  }
  expect_failures = [check.trust_policy_size]
}
