# The root's workloads map: defaults, validation, and the exact output the Kubernetes side
# reads (k8s-config), for both identity modes. No provider needed.

variables {
  aws_region       = "eu-west-1"
  audience         = "sts.amazonaws.com"
  role_name_prefix = "gke-"
  tags             = { team = "platform" }
  workloads = {
    "reports-reader" = {
      namespace      = "reports"
      ksa            = "reports-reader"
      s3_bucket_arns = ["arn:aws:s3:::acme-reports"]
      s3_prefixes    = ["daily/"]
    }
    "ledger-exporter" = {
      namespace      = "payments"
      ksa            = "ledger"
      identity       = "cluster"
      aws_region     = "us-east-2"
      s3_bucket_arns = ["arn:aws:s3:::acme-ledger", "arn:aws:s3:::acme-ledger-dr"]
      access         = "list"
      roles = {
        archive = { s3_bucket_arns = ["arn:aws:s3:::acme-archive"], s3_prefixes = ["ledger/"], aws_region = "eu-west-1" }
      }
    }
  }
  service_accounts = {
    "reports-reader" = {
      email                  = "reports-reader@my-project-123.iam.gserviceaccount.com"
      unique_id              = "112233445566778899001"
      kubernetes_annotations = { "iam.gke.io/gcp-service-account" = "reports-reader@my-project-123.iam.gserviceaccount.com" }
    }
  }
  role_arns = {
    "reports-reader"          = "arn:aws:iam::123456789012:role/gke-reports-reader"
    "ledger-exporter"         = "arn:aws:iam::123456789012:role/gke-ledger-exporter"
    "ledger-exporter/archive" = "arn:aws:iam::123456789012:role/gke-ledger-exporter.archive"
  }
  issuer_url = "https://container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
}

run "kubernetes_output_has_the_exact_shape" {
  command = plan

  assert {
    condition = jsonencode(output.kubernetes) == jsonencode({
      "ledger-exporter" = {
        identity       = "cluster"
        namespace      = "payments"
        ksa            = "ledger"
        gsa_email      = null
        gsa_unique_id  = null
        ksa_annotation = {}
        role_arn       = "arn:aws:iam::123456789012:role/gke-ledger-exporter"
        audience       = "sts.amazonaws.com"
        aws_region     = "us-east-2"
        access         = "list"
        s3_buckets     = ["acme-ledger", "acme-ledger-dr"]
        s3_prefixes    = []
        issuer_url     = "https://container.googleapis.com/v1/projects/my-project-123/locations/europe-west1/clusters/apps"
        roles = {
          archive = {
            role_arn    = "arn:aws:iam::123456789012:role/gke-ledger-exporter.archive"
            role_name   = "gke-ledger-exporter.archive"
            aws_region  = "eu-west-1"
            access      = "read"
            s3_buckets  = ["acme-archive"]
            s3_prefixes = ["ledger/"]
          }
        }
      }
      "reports-reader" = {
        identity       = "gsa"
        namespace      = "reports"
        ksa            = "reports-reader"
        gsa_email      = "reports-reader@my-project-123.iam.gserviceaccount.com"
        gsa_unique_id  = "112233445566778899001"
        ksa_annotation = { "iam.gke.io/gcp-service-account" = "reports-reader@my-project-123.iam.gserviceaccount.com" }
        role_arn       = "arn:aws:iam::123456789012:role/gke-reports-reader"
        audience       = "sts.amazonaws.com"
        aws_region     = "eu-west-1"
        access         = "read"
        s3_buckets     = ["acme-reports"]
        s3_prefixes    = ["daily/"]
        issuer_url     = null
        roles          = {}
      }
    })
    error_message = "Unexpected workloads output: ${jsonencode(output.kubernetes)}"
  }
}

run "modes_split_and_settings_complete" {
  command = plan

  assert {
    condition     = keys(output.gsa_workloads) == ["reports-reader"] && keys(output.cluster_workloads) == ["ledger-exporter"] && output.uses_gsa_identity && output.uses_cluster_identity
    error_message = "Workloads not split by identity: gsa ${jsonencode(keys(output.gsa_workloads))}, cluster ${jsonencode(keys(output.cluster_workloads))}"
  }

  assert {
    condition = output.settings["reports-reader"].role_name == "gke-reports-reader" && length(output.settings["reports-reader"].kms_key_arns) == 0 && jsonencode(output.settings["reports-reader"].tags) == jsonencode({
      "gke-workload" = "reports/reports-reader"
      team           = "platform"
    })
    error_message = "Unexpected settings: ${jsonencode(output.settings["reports-reader"])}"
  }
}

run "named_roles_are_roles_of_their_own_trusting_the_same_identity" {
  command = plan

  assert {
    condition     = keys(output.roles) == ["ledger-exporter", "ledger-exporter/archive", "reports-reader"]
    error_message = "Unexpected role keys: ${jsonencode(keys(output.roles))}"
  }

  assert {
    condition = jsonencode(output.roles["ledger-exporter/archive"]) == jsonencode({
      access         = "read"
      aws_region     = "eu-west-1"
      identity       = "cluster"
      kms_key_arns   = []
      ksa            = "ledger"
      name           = "archive"
      namespace      = "payments"
      role_name      = "gke-ledger-exporter.archive"
      s3_bucket_arns = ["arn:aws:s3:::acme-archive"]
      s3_prefixes    = ["ledger/"]
      tags           = { "gke-workload" = "payments/ledger", "gke-workload-role" = "archive", team = "platform" }
      workload       = "ledger-exporter"
    })
    error_message = "Unexpected named role: ${jsonencode(output.roles["ledger-exporter/archive"])}"
  }

  assert {
    condition     = output.roles["ledger-exporter"].name == null && output.roles["ledger-exporter"].role_name == "gke-ledger-exporter" && output.roles["ledger-exporter"].aws_region == "us-east-2"
    error_message = "Unexpected default role: ${jsonencode(output.roles["ledger-exporter"])}"
  }
}

run "a_named_role_without_region_takes_the_workloads" {
  command = plan

  variables {
    workloads = {
      "reports-reader" = {
        namespace      = "reports"
        ksa            = "reader"
        aws_region     = "ap-southeast-2"
        s3_bucket_arns = ["arn:aws:s3:::acme-reports"]
        roles          = { "log_shipper" = { s3_bucket_arns = ["arn:aws:s3:::acme-logs"], access = "list" } }
      }
    }
  }

  assert {
    condition     = output.roles["reports-reader/log_shipper"].aws_region == "ap-southeast-2" && output.roles["reports-reader/log_shipper"].identity == "gsa"
    error_message = "Unexpected named role: ${jsonencode(output.roles["reports-reader/log_shipper"])}"
  }
}

run "only_gsa_workloads_need_no_provider" {
  command = plan

  variables {
    workloads = {
      "reports-reader" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"] }
    }
  }

  assert {
    condition     = output.uses_gsa_identity && !output.uses_cluster_identity && output.cluster_workloads == {}
    error_message = "A gsa-only map must not ask for the cluster's OIDC provider."
  }
}

run "long_namespace_and_ksa_tag_is_cut_to_256" {
  command = plan

  variables {
    workloads = {
      "long-names" = {
        namespace      = "a-namespace-name-of-sixty-three-characters-which-is-the-maximum"
        ksa            = "${join("", [for i in range(25) : "ksa-name-0"])}ksa"
        s3_bucket_arns = ["arn:aws:s3:::acme-reports"]
      }
    }
  }

  assert {
    condition     = length(output.settings["long-names"].tags["gke-workload"]) == 256 && startswith(output.settings["long-names"].tags["gke-workload"], "a-namespace-name-of-sixty-three-characters-which-is-the-maximum/ksa-name-0")
    error_message = "Unexpected tag: ${output.settings["long-names"].tags["gke-workload"]}"
  }
}

# --- every validation rejects a bad value ---

run "rejects_name_longer_than_30" {
  command = plan
  variables {
    workloads = { "a-workload-name-longer-than-thirty" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } }
  }
  expect_failures = [var.workloads]
}

run "rejects_name_shorter_than_6" {
  command = plan
  variables {
    workloads = { "short" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } }
  }
  expect_failures = [var.workloads]
}

run "rejects_unknown_identity" {
  command = plan
  variables {
    workloads = { "reports-reader" = { namespace = "reports", ksa = "reader", identity = "irsa", s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } }
  }
  expect_failures = [var.workloads]
}

run "rejects_availability_zone_as_region" {
  command = plan
  variables {
    workloads = { "reports-reader" = { namespace = "reports", ksa = "reader", aws_region = "eu-west-1a", s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } }
  }
  expect_failures = [var.workloads]
}

run "rejects_more_than_10_named_roles" {
  command = plan
  variables {
    workloads = { "reports-reader" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"], roles = { for i in range(11) : "r${i}" => { s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } } } }
  }
  expect_failures = [var.workloads]
}

run "rejects_a_named_role_with_a_dot" {
  command = plan
  variables {
    workloads = { "reports-reader" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"], roles = { "ex.ports" = { s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } } } }
  }
  expect_failures = [var.workloads]
}

run "rejects_a_named_role_called_default" {
  command = plan
  variables {
    workloads = { "reports-reader" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"], roles = { "default" = { s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } } } }
  }
  expect_failures = [var.workloads]
}

run "rejects_a_named_role_region_that_is_a_zone" {
  command = plan
  variables {
    workloads = { "reports-reader" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"], roles = { exports = { s3_bucket_arns = ["arn:aws:s3:::acme-reports"], aws_region = "eu-west-1b" } } } }
  }
  expect_failures = [var.workloads]
}

# gke- + 30 + "." + 40 = 75 characters: over IAM's 64, refused at plan with the names.
run "rejects_a_role_name_over_64_characters" {
  command = plan
  variables {
    workloads = { "a-workload-name-of-thirty-char" = { namespace = "reports", ksa = "reader", s3_bucket_arns = ["arn:aws:s3:::acme-reports"], roles = { "a-named-role-name-of-forty-characters-xx" = { s3_bucket_arns = ["arn:aws:s3:::acme-reports"] } } } }
  }
  expect_failures = [output.roles]
}
