# The exact read-only document, every validation, and the managed policy applied on moto.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

run "the_document_allows_the_four_reads_and_nothing_else" {
  command = plan

  assert {
    condition = jsonencode([for s in jsondecode(output.json).Statement : [s.Sid, s.Action, sort(flatten([s.Resource]))]]) == jsonencode([
      ["CallerAccount", "sts:GetCallerIdentity", ["*"]],
      ["ReadRoles", "iam:GetRole", ["*"]],
      ["ListOIDCProviders", "iam:ListOpenIDConnectProviders", ["*"]],
      ["ReadOIDCProviders", "iam:GetOpenIDConnectProvider", ["arn:aws:iam::*:oidc-provider/*"]],
    ])
    error_message = "Unexpected document: ${output.json}"
  }

  assert {
    condition     = alltrue([for s in jsondecode(output.json).Statement : s.Effect == "Allow" && !can(regex("(Create|Update|Delete|Put|Attach|Tag|PassRole|AssumeRole)", jsonencode(s.Action)))])
    error_message = "The reader may only read: ${output.json}"
  }

  assert {
    condition     = output.arn == null
    error_message = "create = false must create nothing."
  }
}

run "roles_can_be_narrowed_to_the_workloads" {
  command = plan

  variables {
    role_arns = ["arn:aws:iam::123456789012:role/gke-*"]
  }

  assert {
    condition     = [for s in jsondecode(output.json).Statement : s.Resource if s.Sid == "ReadRoles"][0] == "arn:aws:iam::123456789012:role/gke-*"
    error_message = "GetRole is not narrowed: ${output.json}"
  }
}

run "a_role_arn_that_is_not_one_is_refused" {
  command = plan

  variables {
    role_arns = ["arn:aws:iam::123456789012:user/alice"]
  }

  expect_failures = [var.role_arns]
}

run "an_empty_list_is_refused" {
  command = plan

  variables {
    role_arns = []
  }

  expect_failures = [var.role_arns]
}

run "a_name_iam_refuses_is_refused" {
  command = plan

  variables {
    create = true
    name   = "has spaces"
  }

  expect_failures = [var.name]
}
