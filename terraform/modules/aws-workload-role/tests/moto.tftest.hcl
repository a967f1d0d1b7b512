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
}

# Read the role back from IAM and compare with a literal trust policy: a module that widened
# the trust (oaud = "*") fails here, whatever it rendered. The stored inline permissions are
# read back and compared the same way in tests/terraform/test_e2e_moto.py (boto3).
run "stored_role_matches_literal_trust_and_tags" {
  command = plan

  module {
    source = "../../tests/iam-role-readback"
  }

  variables {
    role_name = run.apply_creates_role_and_inline_policy.role_name
  }

  assert {
    condition = output.trust_policy == {
      Version = "2012-10-17"
      Statement = [{
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
    }
    error_message = "IAM holds an unexpected trust policy: ${jsonencode(output.trust_policy)}"
  }

  assert {
    condition     = output.tags == tomap({ team = "platform" }) && output.max_session_duration == 7200
    error_message = "IAM holds unexpected tags or session duration: ${jsonencode(output.tags)}, ${output.max_session_duration}"
  }
}

# --- the same role switched to identity = "cluster" and back, one apply each ---
# The role keeps its address in state, so each switch is an in-place update of its trust
# policy (and description): no second CreateRole racing a DeleteRole, the same ARN.

run "oidc_provider" {
  command = apply

  module {
    source = "../aws-gke-oidc-provider"
  }

  variables {
    project_id   = "my-project-123"
    location     = "europe-west1"
    cluster_name = "apps"
  }
}

run "switch_to_cluster_mode" {
  command = apply

  variables {
    identity                         = "cluster"
    google_service_account_unique_id = null
    oidc_provider_arn                = run.oidc_provider.arn
    issuer_host_path                 = run.oidc_provider.issuer_host_path
    kubernetes_service_accounts      = [{ namespace = "payments", name = "ledger" }]
  }

  assert {
    condition     = output.role_arn == run.apply_creates_role_and_inline_policy.role_arn
    error_message = "The switch must keep the role's ARN: ${output.role_arn} != ${run.apply_creates_role_and_inline_policy.role_arn}"
  }
}

run "stored_cluster_trust_and_provider_match_literal_values" {
  command = plan

  module {
    source = "../../tests/iam-role-readback"
  }

  variables {
    role_name         = "gke-moto-reader"
    oidc_provider_arn = run.oidc_provider.arn
  }

  assert {
    condition = output.trust_policy.Statement == [{
      Sid       = "KubernetesServiceAccounts"
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = run.oidc_provider.arn }
      Condition = {
        StringEquals = {
          "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps:sub" = "system:serviceaccount:payments:ledger"
          "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps:aud" = "sts.amazonaws.com"
        }
      }
    }]
    error_message = "IAM holds an unexpected trust policy: ${jsonencode(output.trust_policy)}"
  }

  assert {
    condition     = can(regex("^arn:aws:iam::[0-9]{12}:oidc-provider/container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps$", run.oidc_provider.arn))
    error_message = "Unexpected provider ARN: ${run.oidc_provider.arn}"
  }

  assert {
    condition     = output.oidc_provider.client_id_list == tolist(["sts.amazonaws.com"]) && trimprefix(output.oidc_provider.url, "https://") == "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    error_message = "IAM holds an unexpected OIDC provider: ${jsonencode(output.oidc_provider)}"
  }

  assert {
    condition     = output.tags == tomap({ team = "platform" }) && output.max_session_duration == 7200
    error_message = "The switch must keep tags and session duration: ${jsonencode(output.tags)}, ${output.max_session_duration}"
  }
}

run "switch_back_to_gsa_mode" {
  command = apply

  assert {
    condition     = output.role_arn == run.apply_creates_role_and_inline_policy.role_arn
    error_message = "The switch back must keep the role's ARN: ${output.role_arn}"
  }
}

run "stored_trust_is_google_again" {
  command = plan

  module {
    source = "../../tests/iam-role-readback"
  }

  variables {
    role_name = "gke-moto-reader"
  }

  assert {
    condition = output.trust_policy.Statement == [{
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
    error_message = "IAM holds an unexpected trust policy: ${jsonencode(output.trust_policy)}"
  }
}
