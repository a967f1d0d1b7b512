# The issuer URL the provider registers, and every input validation. Rendering is local.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

variables {
  project_id   = "my-project-123"
  location     = "europe-west1"
  cluster_name = "apps"
}

run "gke_cluster_issuer" {
  command = plan

  assert {
    condition     = aws_iam_openid_connect_provider.this.url == "https://container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    error_message = "Unexpected issuer URL: ${aws_iam_openid_connect_provider.this.url}"
  }

  assert {
    condition     = output.issuer_url == "https://container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    error_message = "Unexpected issuer_url output: ${output.issuer_url}"
  }

  assert {
    condition     = output.issuer_host_path == "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    error_message = "Unexpected issuer_host_path: ${output.issuer_host_path}"
  }

  assert {
    condition     = aws_iam_openid_connect_provider.this.client_id_list == toset(["sts.amazonaws.com"])
    error_message = "The provider must accept the audience sts.amazonaws.com by default."
  }
}

run "zonal_cluster_uses_the_zone" {
  command = plan

  variables {
    location = "europe-west1-b"
  }

  assert {
    condition     = output.issuer_host_path == "container.googleapis.com/v1/projects/my-project-123/locations/europe-west1-b/clusters/apps"
    error_message = "Unexpected issuer_host_path: ${output.issuer_host_path}"
  }
}

run "explicit_issuer_url_wins" {
  command = plan

  variables {
    project_id   = null
    location     = null
    cluster_name = null
    issuer_url   = "https://issuer.example.com/clusters/apps"
  }

  assert {
    condition     = output.issuer_host_path == "issuer.example.com/clusters/apps" && aws_iam_openid_connect_provider.this.url == "https://issuer.example.com/clusters/apps"
    error_message = "Unexpected issuer: ${output.issuer_host_path}"
  }
}

run "local_issuer_with_a_port_for_emulators" {
  command = plan

  variables {
    issuer_url = "https://127.0.0.1:8443/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
  }

  assert {
    condition     = output.issuer_host_path == "127.0.0.1:8443/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
    error_message = "Unexpected issuer_host_path: ${output.issuer_host_path}"
  }
}

run "rejects_missing_cluster_and_issuer" {
  command = plan
  variables {
    cluster_name = null
  }
  expect_failures = [aws_iam_openid_connect_provider.this]
}

run "rejects_issuer_with_trailing_slash" {
  command = plan
  variables { issuer_url = "https://issuer.example.com/" }
  expect_failures = [var.issuer_url]
}

run "rejects_plain_http_issuer" {
  command = plan
  variables { issuer_url = "http://issuer.example.com" }
  expect_failures = [var.issuer_url]
}

run "rejects_empty_client_ids" {
  command = plan
  variables { client_ids = [] }
  expect_failures = [var.client_ids]
}

run "rejects_short_thumbprint" {
  command = plan
  variables { thumbprints = ["abcdef"] }
  expect_failures = [var.thumbprints]
}

run "rejects_project_number" {
  command = plan
  variables { project_id = "123456789012" }
  expect_failures = [var.project_id]
}
