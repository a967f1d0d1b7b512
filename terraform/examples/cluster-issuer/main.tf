# Cluster-issuer mode, AWS side only: IAM trusts the GKE cluster's own service-account token
# issuer, and one role accepts the projected token of the KSA payments/ledger. No Google
# service account is involved; the pod mounts a projected token with audience sts.amazonaws.com.

provider "aws" {
  region = var.aws_region
}

# Once per cluster and AWS account.
module "cluster_issuer" {
  source = "../../modules/aws-gke-oidc-provider"

  project_id   = var.project_id
  location     = var.cluster_location
  cluster_name = var.cluster_name
}

module "ledger_reader" {
  source = "../../modules/aws-workload-role"

  identity = "cluster"

  role_name                   = "gke-ledger-reader"
  oidc_provider_arn           = module.cluster_issuer.arn
  issuer_host_path            = module.cluster_issuer.issuer_host_path
  kubernetes_service_accounts = [{ namespace = "payments", name = "ledger" }]
  s3_bucket_arns              = ["arn:aws:s3:::${var.bucket}"]
  s3_prefixes                 = ["exports/"]
  kms_key_arns                = var.kms_key_arns
}
