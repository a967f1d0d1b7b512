# The AWS side of the demo (scripts/demo.sh), applied to moto on loopback: the roles the
# demo assumes are the ones modules/aws-workload-role really creates. Not for real AWS.

provider "aws" {
  region = "us-east-1"

  # moto accepts any keys; the demo gives terraform fake ones through the environment.
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    iam = var.aws_endpoint
    sts = var.aws_endpoint
    s3  = var.aws_endpoint
  }
}

module "reader" {
  source = "../../modules/aws-workload-role"

  role_name                        = "gke-aws-demo-reader"
  google_service_account_unique_id = var.google_service_account_unique_id
  audience                         = "sts.amazonaws.com"
  s3_bucket_arns                   = [aws_s3_bucket.this.arn]
  access                           = "read"
}

# Cluster-issuer mode, when the demo runs the emulated cluster issuer: the same bucket, read
# with the KSA's projected token. moto verifies no token against the provider; the verifier
# checks the issuer's discovery and keys itself.
module "cluster_issuer" {
  source = "../../modules/aws-gke-oidc-provider"
  count  = var.cluster_issuer_url == null ? 0 : 1

  issuer_url = var.cluster_issuer_url
}

module "cluster_reader" {
  source = "../../modules/aws-workload-role"
  count  = var.cluster_issuer_url == null ? 0 : 1

  identity = "cluster"

  role_name                   = "gke-aws-demo-cluster-reader"
  oidc_provider_arn           = module.cluster_issuer[0].arn
  issuer_host_path            = module.cluster_issuer[0].issuer_host_path
  kubernetes_service_accounts = [var.cluster_ksa]
  audience                    = "sts.amazonaws.com"
  s3_bucket_arns              = [aws_s3_bucket.this.arn]
  access                      = "read"
}

# Named roles of the same workload (the role profile "other"): they trust the same GSA, or the
# same KSA, and read only the other team's bucket, which the default roles may not. A pod with
# both roles proves each reaches its own bucket and not the other's.
module "other_reader" {
  source = "../../modules/aws-workload-role"

  role_name                        = "gke-aws-demo-reader.other"
  google_service_account_unique_id = var.google_service_account_unique_id
  audience                         = "sts.amazonaws.com"
  s3_bucket_arns                   = [aws_s3_bucket.other.arn]
  access                           = "read"
}

module "cluster_other_reader" {
  source = "../../modules/aws-workload-role"
  count  = var.cluster_issuer_url == null ? 0 : 1

  identity                    = "cluster"
  role_name                   = "gke-aws-demo-cluster-reader.other"
  oidc_provider_arn           = module.cluster_issuer[0].arn
  issuer_host_path            = module.cluster_issuer[0].issuer_host_path
  kubernetes_service_accounts = [var.cluster_ksa]
  audience                    = "sts.amazonaws.com"
  s3_bucket_arns              = [aws_s3_bucket.other.arn]
  access                      = "read"
}

# Throwaway buckets on a local emulator: encryption, logging, versioning and the like
# would only slow the demo down.
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:demo bucket on a local emulator, no access logging
  #checkov:skip=CKV_AWS_21:demo bucket on a local emulator, no versioning
  #checkov:skip=CKV_AWS_144:demo bucket on a local emulator, no replication
  #checkov:skip=CKV_AWS_145:demo bucket on a local emulator, no KMS
  #checkov:skip=CKV2_AWS_6:demo bucket on a local emulator, no public access block
  #checkov:skip=CKV2_AWS_61:demo bucket on a local emulator, no lifecycle
  #checkov:skip=CKV2_AWS_62:demo bucket on a local emulator, no event notifications
  bucket        = var.bucket
  force_destroy = true
}

locals {
  objects = {
    "daily/2024-05-01.csv" = "date,orders\n2024-05-01,112\n"
    "daily/2024-05-02.csv" = "date,orders\n2024-05-02,97\n"
    "README.txt"           = "Reports the GKE workload reads through AWS STS.\n"
  }
}

resource "aws_s3_object" "this" {
  for_each = local.objects

  bucket  = aws_s3_bucket.this.id
  key     = each.key
  content = each.value
}

# Another team's bucket: the role has no statement for it.
resource "aws_s3_bucket" "other" {
  #checkov:skip=CKV_AWS_18:demo bucket on a local emulator, no access logging
  #checkov:skip=CKV_AWS_21:demo bucket on a local emulator, no versioning
  #checkov:skip=CKV_AWS_144:demo bucket on a local emulator, no replication
  #checkov:skip=CKV_AWS_145:demo bucket on a local emulator, no KMS
  #checkov:skip=CKV2_AWS_6:demo bucket on a local emulator, no public access block
  #checkov:skip=CKV2_AWS_61:demo bucket on a local emulator, no lifecycle
  #checkov:skip=CKV2_AWS_62:demo bucket on a local emulator, no event notifications
  bucket        = var.other_bucket
  force_destroy = true
}

resource "aws_s3_object" "other" {
  bucket  = aws_s3_bucket.other.id
  key     = "payroll/2024-05.csv"
  content = "not for the reports workload\n"
}
