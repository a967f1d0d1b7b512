# Plan-level checks in both identity modes: the exact trust and permissions documents, and
# every input validation (the S3 inputs are checked in modules/aws-s3-access-policy).
# aws_iam_policy_document keeps Resource as a set (hash order, a bare string when single),
# so the permission assertions sort Resource into a list and compare jsonencode()d
# values (a list and a tuple with equal elements are not == in Terraform).
# No AWS calls happen at plan time (the policy documents are rendered locally), so the
# provider only needs fake keys and the skip_* switches.

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
  role_name                        = "gke-reports-reader"
  google_service_account_unique_id = "112233445566778899001"
  s3_bucket_arns                   = ["arn:aws:s3:::reports", "arn:aws:s3:::archive"]
}

run "trust_policy_pins_google_identity_and_audience" {
  command = plan

  assert {
    condition = jsondecode(output.trust_policy_json).Statement == [{
      Sid       = "GoogleWorkloadIdentity"
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = "accounts.google.com" }
      Condition = {
        StringEquals = {
          "accounts.google.com:aud"  = "112233445566778899001"
          "accounts.google.com:sub"  = "112233445566778899001"
          "accounts.google.com:oaud" = "sts.amazonaws.com"
        }
      }
    }]
    error_message = "Unexpected trust policy: ${output.trust_policy_json}"
  }

  assert {
    condition = jsondecode(aws_iam_role.this[0].assume_role_policy).Statement == [{
      Sid       = "GoogleWorkloadIdentity"
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = "accounts.google.com" }
      Condition = {
        StringEquals = {
          "accounts.google.com:aud"  = "112233445566778899001"
          "accounts.google.com:sub"  = "112233445566778899001"
          "accounts.google.com:oaud" = "sts.amazonaws.com"
        }
      }
    }]
    error_message = "The role carries an unexpected trust policy: ${aws_iam_role.this[0].assume_role_policy}"
  }

  assert {
    condition     = aws_iam_role.this[0].max_session_duration == 3600 && aws_iam_role.this[0].permissions_boundary == null
    error_message = "Defaults: one hour sessions, no permissions boundary."
  }
}

run "custom_audience_is_pinned_as_oaud" {
  command = plan

  variables {
    audience = "https://example.com/aws"
  }

  assert {
    condition = jsondecode(aws_iam_role.this[0].assume_role_policy).Statement[0].Condition == {
      StringEquals = {
        "accounts.google.com:aud"  = "112233445566778899001"
        "accounts.google.com:sub"  = "112233445566778899001"
        "accounts.google.com:oaud" = "https://example.com/aws"
      }
    }
    error_message = "oaud must be the requested audience: ${aws_iam_role.this[0].assume_role_policy}"
  }
}

run "read_access_lists_buckets_and_gets_objects" {
  command = plan

  assert {
    condition = jsonencode([for s in jsondecode(output.permissions_policy_json).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([
      {
        Sid      = "ListBuckets"
        Effect   = "Allow"
        Action   = "s3:ListBucket"
        Resource = ["arn:aws:s3:::archive", "arn:aws:s3:::reports"]
      },
      {
        Sid      = "GetObjects"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = ["arn:aws:s3:::archive/*", "arn:aws:s3:::reports/*"]
      },
    ])
    error_message = "Unexpected permissions: ${output.permissions_policy_json}"
  }

  assert {
    condition = aws_iam_role_policy.s3[0].name == "s3-read" && jsonencode([for s in jsondecode(aws_iam_role_policy.s3[0].policy).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([
      {
        Sid      = "ListBuckets"
        Effect   = "Allow"
        Action   = "s3:ListBucket"
        Resource = ["arn:aws:s3:::archive", "arn:aws:s3:::reports"]
      },
      {
        Sid      = "GetObjects"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = ["arn:aws:s3:::archive/*", "arn:aws:s3:::reports/*"]
      },
    ])
    error_message = "The inline policy ${aws_iam_role_policy.s3[0].name} carries unexpected permissions: ${aws_iam_role_policy.s3[0].policy}"
  }
}

run "prefixes_limit_listing_and_reading" {
  command = plan

  variables {
    s3_bucket_arns = ["arn:aws-us-gov:s3:::reports"]
    s3_prefixes    = ["daily/", "monthly/"]
  }

  assert {
    condition = jsonencode([for s in jsondecode(output.permissions_policy_json).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([
      {
        Sid       = "ListBuckets"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = ["arn:aws-us-gov:s3:::reports"]
        Condition = { StringLike = { "s3:prefix" = ["daily/*", "monthly/*"] } }
      },
      {
        Sid      = "GetObjects"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = ["arn:aws-us-gov:s3:::reports/daily/*", "arn:aws-us-gov:s3:::reports/monthly/*"]
      },
    ])
    error_message = "Unexpected permissions: ${output.permissions_policy_json}"
  }
}

run "list_access_has_no_get_object" {
  command = plan

  variables {
    access = "list"
  }

  assert {
    condition = jsonencode([for s in jsondecode(output.permissions_policy_json).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([{
      Sid      = "ListBuckets"
      Effect   = "Allow"
      Action   = "s3:ListBucket"
      Resource = ["arn:aws:s3:::archive", "arn:aws:s3:::reports"]
    }])
    error_message = "Unexpected permissions: ${output.permissions_policy_json}"
  }
}

run "kms_keys_are_decrypted_through_s3_only" {
  command = plan

  variables {
    s3_bucket_arns = ["arn:aws:s3:::reports"]
    kms_key_arns   = ["arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa"]
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.s3[0].policy).Statement[2] == {
      Sid       = "DecryptViaS3EuWest1"
      Effect    = "Allow"
      Action    = "kms:Decrypt"
      Resource  = "arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa"
      Condition = { StringEquals = { "kms:ViaService" = "s3.eu-west-1.amazonaws.com" } }
    }
    error_message = "Unexpected permissions: ${aws_iam_role_policy.s3[0].policy}"
  }
}

run "optional_role_settings_are_passed_through" {
  command = plan

  variables {
    max_session_duration = 43200
    permissions_boundary = "arn:aws:iam::123456789012:policy/workload-boundary"
    tags                 = { team = "platform" }
  }

  assert {
    condition     = aws_iam_role.this[0].max_session_duration == 43200
    error_message = "max_session_duration not passed to the role."
  }

  assert {
    condition     = aws_iam_role.this[0].permissions_boundary == "arn:aws:iam::123456789012:policy/workload-boundary"
    error_message = "permissions_boundary not passed to the role."
  }

  assert {
    condition     = aws_iam_role.this[0].tags == tomap({ team = "platform" })
    error_message = "tags not passed to the role."
  }
}

run "create_false_plans_nothing" {
  command = plan

  variables {
    create = false
  }

  assert {
    condition     = length(aws_iam_role.this) == 0 && output.role_arn == null && output.role_name == null
    error_message = "create = false must plan no role and null outputs."
  }
}

# --- every validation rejects a bad value ---

run "rejects_role_name_with_slash" {
  command = plan
  variables { role_name = "team/reader" }
  expect_failures = [var.role_name]
}

run "rejects_role_name_longer_than_64" {
  command = plan
  variables { role_name = "a-role-name-that-is-much-too-long-for-iam-because-iam-stops-at-64-chars" }
  expect_failures = [var.role_name]
}

run "rejects_service_account_email_as_unique_id" {
  command = plan
  variables { google_service_account_unique_id = "reader@my-project.iam.gserviceaccount.com" }
  expect_failures = [var.google_service_account_unique_id]
}

run "rejects_empty_audience" {
  command = plan
  variables { audience = "" }
  expect_failures = [var.audience]
}

run "rejects_wildcard_audience" {
  command = plan
  variables { audience = "sts.*" }
  expect_failures = [var.audience]
}

run "rejects_session_shorter_than_an_hour" {
  command = plan
  variables { max_session_duration = 900 }
  expect_failures = [var.max_session_duration]
}

run "rejects_session_longer_than_12_hours" {
  command = plan
  variables { max_session_duration = 43201 }
  expect_failures = [var.max_session_duration]
}

run "rejects_boundary_that_is_not_a_policy_arn" {
  command = plan
  variables { permissions_boundary = "arn:aws:iam::123456789012:role/boundary" }
  expect_failures = [var.permissions_boundary]
}

run "rejects_tag_value_longer_than_256" {
  command = plan
  variables { tags = { gke-workload = "${join("", [for i in range(257) : "x"])}" } }
  expect_failures = [var.tags]
}

# --- identity = "cluster": the cluster's issuer, pinned to the KSA and the audience ---

run "cluster_trust_pins_the_ksa_and_audience" {
  command = plan

  variables {
    identity                         = "cluster"
    google_service_account_unique_id = null
    oidc_provider_arn                = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    issuer_host_path                 = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    kubernetes_service_accounts      = [{ namespace = "payments", name = "ledger" }]
  }

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

  assert {
    condition     = aws_iam_role.this[0].name == "gke-reports-reader" && aws_iam_role.this[0].description == "Assumed by Kubernetes service accounts of container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    error_message = "The role keeps its name whatever the mode; the description names the issuer: ${aws_iam_role.this[0].description}"
  }

  # The permissions do not depend on the mode.
  assert {
    condition     = aws_iam_role_policy.s3[0].name == "s3-read" && length(jsondecode(aws_iam_role_policy.s3[0].policy).Statement) == 2
    error_message = "Unexpected permissions: ${aws_iam_role_policy.s3[0].policy}"
  }
}

run "cluster_several_ksas_and_a_custom_audience" {
  command = plan

  variables {
    identity                         = "cluster"
    google_service_account_unique_id = null
    oidc_provider_arn                = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    issuer_host_path                 = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    audience                         = "https://example.com/aws"
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

run "rejects_cluster_mode_without_a_ksa" {
  command = plan
  variables {
    identity                         = "cluster"
    google_service_account_unique_id = null
    oidc_provider_arn                = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    issuer_host_path                 = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    kubernetes_service_accounts      = []
  }
  expect_failures = [data.aws_iam_policy_document.trust]
}

run "rejects_cluster_mode_with_a_google_service_account" {
  command = plan
  variables {
    identity                         = "cluster"
    oidc_provider_arn                = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    issuer_host_path                 = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    kubernetes_service_accounts      = [{ namespace = "payments", name = "ledger" }]
    google_service_account_unique_id = "112233445566778899001"
  }
  expect_failures = [data.aws_iam_policy_document.trust]
}

run "rejects_gsa_mode_with_cluster_inputs" {
  command = plan
  variables {
    kubernetes_service_accounts = [{ namespace = "payments", name = "ledger" }]
  }
  expect_failures = [data.aws_iam_policy_document.trust]
}

run "rejects_gsa_mode_without_a_unique_id" {
  command = plan
  variables {
    google_service_account_unique_id = null
  }
  expect_failures = [data.aws_iam_policy_document.trust]
}

run "rejects_provider_of_another_issuer" {
  command = plan
  variables {
    identity                         = "cluster"
    google_service_account_unique_id = null
    oidc_provider_arn                = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    kubernetes_service_accounts      = [{ namespace = "payments", name = "ledger" }]
    issuer_host_path                 = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/other"
  }
  expect_failures = [data.aws_iam_policy_document.trust]
}

run "rejects_unknown_identity" {
  command = plan
  variables { identity = "aws" }
  expect_failures = [var.identity]
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

run "rejects_wildcard_ksa" {
  command = plan
  variables { kubernetes_service_accounts = [{ namespace = "payments", name = "*" }] }
  expect_failures = [var.kubernetes_service_accounts]
}

# 40 KSAs make about 2,600 characters: over the default quota the plan fails, naming the size;
# with the quota raised (and said so) it plans.
run "rejects_a_trust_policy_over_the_quota" {
  command = plan
  variables {
    identity                         = "cluster"
    google_service_account_unique_id = null
    oidc_provider_arn                = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    issuer_host_path                 = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    kubernetes_service_accounts      = [for i in range(40) : { namespace = "payments", name = "ledger-${i}" }]
  }
  expect_failures = [aws_iam_role.this]
}

run "a_raised_quota_allows_a_longer_trust_policy" {
  command = plan
  variables {
    identity                         = "cluster"
    google_service_account_unique_id = null
    oidc_provider_arn                = "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    issuer_host_path                 = "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    kubernetes_service_accounts      = [for i in range(40) : { namespace = "payments", name = "ledger-${i}" }]
    trust_policy_length_quota        = 4096
  }
  assert {
    condition     = length(jsondecode(aws_iam_role.this[0].assume_role_policy).Statement[0].Condition.StringEquals["container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps:sub"]) == 40
    error_message = "Expected 40 subjects in the trust policy."
  }
}

run "rejects_a_quota_iam_does_not_grant" {
  command = plan
  variables { trust_policy_length_quota = 10000 }
  expect_failures = [var.trust_policy_length_quota]
}
