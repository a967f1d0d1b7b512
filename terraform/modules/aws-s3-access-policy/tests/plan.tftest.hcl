# The exact permission documents (literal JSON) and every input validation. Rendering is
# local, so the provider only needs fake keys and the skip_* switches.
# aws_iam_policy_document keeps Resource and condition values as sets (hash order, a bare
# string when single), so the asserts sort them into lists and compare jsonencode()d values.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}

variables {
  s3_bucket_arns = ["arn:aws:s3:::reports", "arn:aws:s3:::archive"]
}

run "read_lists_buckets_and_gets_objects" {
  command = plan

  assert {
    condition = jsonencode([for s in jsondecode(output.json).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([
      { Sid = "ListBuckets", Effect = "Allow", Action = "s3:ListBucket", Resource = ["arn:aws:s3:::archive", "arn:aws:s3:::reports"] },
      { Sid = "GetObjects", Effect = "Allow", Action = "s3:GetObject", Resource = ["arn:aws:s3:::archive/*", "arn:aws:s3:::reports/*"] },
    ])
    error_message = "Unexpected permissions: ${output.json}"
  }
}

run "prefixes_limit_listing_and_reading" {
  command = plan

  variables {
    s3_bucket_arns = ["arn:aws-us-gov:s3:::reports"]
    s3_prefixes    = ["daily/", "monthly/"]
  }

  assert {
    condition = jsonencode([for s in jsondecode(output.json).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([
      {
        Sid       = "ListBuckets"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = ["arn:aws-us-gov:s3:::reports"]
        Condition = { StringLike = { "s3:prefix" = ["daily/*", "monthly/*"] } }
      },
      { Sid = "GetObjects", Effect = "Allow", Action = "s3:GetObject", Resource = ["arn:aws-us-gov:s3:::reports/daily/*", "arn:aws-us-gov:s3:::reports/monthly/*"] },
    ])
    error_message = "Unexpected permissions: ${output.json}"
  }
}

run "list_has_no_get_object" {
  command = plan

  variables {
    access = "list"
  }

  assert {
    condition = jsonencode([for s in jsondecode(output.json).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([
      { Sid = "ListBuckets", Effect = "Allow", Action = "s3:ListBucket", Resource = ["arn:aws:s3:::archive", "arn:aws:s3:::reports"] },
    ])
    error_message = "Unexpected permissions: ${output.json}"
  }
}

run "kms_keys_decrypt_only_through_s3_of_their_region" {
  command = plan

  variables {
    s3_bucket_arns = ["arn:aws:s3:::reports"]
    kms_key_arns = [
      "arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa",
      "arn:aws:kms:us-east-1:123456789012:key/mrk-2222bbbb22bb22bb22bb2222bbbb22bb",
      "arn:aws:kms:eu-west-1:123456789012:key/3333cccc-33cc-33cc-33cc-333333cccccc",
    ]
  }

  assert {
    condition = jsonencode([for s in jsondecode(output.json).Statement : merge(s, { Resource = sort(flatten([s.Resource])) })]) == jsonencode([
      { Sid = "ListBuckets", Effect = "Allow", Action = "s3:ListBucket", Resource = ["arn:aws:s3:::reports"] },
      { Sid = "GetObjects", Effect = "Allow", Action = "s3:GetObject", Resource = ["arn:aws:s3:::reports/*"] },
      {
        Sid       = "DecryptViaS3EuWest1"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = ["arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa", "arn:aws:kms:eu-west-1:123456789012:key/3333cccc-33cc-33cc-33cc-333333cccccc"]
        Condition = { StringEquals = { "kms:ViaService" = "s3.eu-west-1.amazonaws.com" } }
      },
      {
        Sid       = "DecryptViaS3UsEast1"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = ["arn:aws:kms:us-east-1:123456789012:key/mrk-2222bbbb22bb22bb22bb2222bbbb22bb"]
        Condition = { StringEquals = { "kms:ViaService" = "s3.us-east-1.amazonaws.com" } }
      },
    ])
    error_message = "Unexpected permissions: ${output.json}"
  }
}

run "kms_keys_in_china_use_the_cn_endpoint" {
  command = plan

  variables {
    s3_bucket_arns = ["arn:aws-cn:s3:::reports"]
    kms_key_arns   = ["arn:aws-cn:kms:cn-north-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa"]
  }

  assert {
    condition     = jsondecode(output.json).Statement[2].Condition == { StringEquals = { "kms:ViaService" = "s3.cn-north-1.amazonaws.com.cn" } }
    error_message = "Unexpected KMS condition: ${output.json}"
  }
}

# --- every validation rejects a bad value ---

run "rejects_kms_keys_with_list_access" {
  command = plan
  variables {
    access       = "list"
    kms_key_arns = ["arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa"]
  }
  expect_failures = [data.aws_iam_policy_document.this]
}

run "rejects_kms_alias_instead_of_key" {
  command = plan
  variables { kms_key_arns = ["arn:aws:kms:eu-west-1:123456789012:alias/reports"] }
  expect_failures = [var.kms_key_arns]
}

run "rejects_empty_bucket_list" {
  command = plan
  variables { s3_bucket_arns = [] }
  expect_failures = [var.s3_bucket_arns]
}

run "rejects_object_arn_as_bucket" {
  command = plan
  variables { s3_bucket_arns = ["arn:aws:s3:::reports/*"] }
  expect_failures = [var.s3_bucket_arns]
}

run "rejects_bare_bucket_name" {
  command = plan
  variables { s3_bucket_arns = ["reports"] }
  expect_failures = [var.s3_bucket_arns]
}

run "rejects_prefix_with_leading_slash" {
  command = plan
  variables { s3_prefixes = ["/daily/"] }
  expect_failures = [var.s3_prefixes]
}

run "rejects_prefix_with_wildcard" {
  command = plan
  variables { s3_prefixes = ["daily/*"] }
  expect_failures = [var.s3_prefixes]
}

run "rejects_unknown_access_level" {
  command = plan
  variables { access = "write" }
  expect_failures = [var.access]
}

# 20 buckets x 15 prefixes: 300 object ARNs, past IAM's 10,240 characters for a role's inline
# policies. The plan fails here, naming the size, instead of PutRolePolicy failing at apply.
run "rejects_a_policy_over_the_inline_limit" {
  command = plan
  variables {
    s3_bucket_arns = [for i in range(20) : "arn:aws:s3:::acme-team-reports-${i}"]
    s3_prefixes    = [for i in range(15) : "exports/daily/${i}/"]
  }
  expect_failures = [output.json]
}

# Just under it: 10 buckets x 10 prefixes still plans.
run "a_policy_under_the_inline_limit_plans" {
  command = plan
  variables {
    s3_bucket_arns = [for i in range(10) : "arn:aws:s3:::acme-team-reports-${i}"]
    s3_prefixes    = [for i in range(10) : "exports/daily/${i}/"]
  }
  assert {
    condition     = length(output.minified_json) > 5000 && length(output.minified_json) <= 10240
    error_message = "Expected a large policy under the limit, got ${length(output.minified_json)} characters."
  }
}
