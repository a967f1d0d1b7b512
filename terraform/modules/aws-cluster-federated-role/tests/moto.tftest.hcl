# Apply the OIDC provider and the role to a local moto server (tests/terraform/run.sh starts
# it and exports AWS_ENDPOINT_URL), then read both back from IAM and compare them with
# literal values: the provider keeps the configured JSON in state, so state proves nothing.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

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

run "apply_creates_role" {
  command = apply

  variables {
    role_name                   = "gke-moto-ledger"
    oidc_provider_arn           = run.oidc_provider.arn
    issuer_host_path            = run.oidc_provider.issuer_host_path
    kubernetes_service_accounts = [{ namespace = "payments", name = "ledger" }]
    s3_bucket_arns              = ["arn:aws:s3:::ledger"]
    access                      = "list"
    tags                        = { team = "payments" }
  }

  assert {
    condition     = can(regex("^arn:aws:iam::[0-9]{12}:role/gke-moto-ledger$", output.role_arn))
    error_message = "Unexpected role ARN: ${output.role_arn}"
  }
}

run "stored_role_and_provider_match_literal_values" {
  command = plan

  module {
    source = "../../tests/iam-role-readback"
  }

  variables {
    role_name         = run.apply_creates_role.role_name
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
    condition     = output.tags == tomap({ team = "payments" }) && output.max_session_duration == 3600
    error_message = "IAM holds unexpected tags or session duration: ${jsonencode(output.tags)}, ${output.max_session_duration}"
  }
}
