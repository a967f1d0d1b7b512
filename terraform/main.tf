# Per workload, one of two identities, and an AWS role that trusts it:
# - identity = "gsa": a Google service account the KSA may impersonate (GKE Workload
#   Identity), and a role trusting ID tokens Google signs for that service account;
# - identity = "cluster": no Google service account; a role trusting the cluster's own
#   service-account tokens through an IAM OIDC provider for the cluster's issuer.

provider "google" {
  project = var.project_id
}

provider "aws" {
  region = var.aws_region
}

# Defaults, role names, tags, and the output shape, in one provider-free (tested) place.
module "workloads" {
  source = "./modules/workloads"

  workloads        = var.workloads
  aws_region       = var.aws_region
  audience         = var.audience
  role_name_prefix = var.role_name_prefix
  tags             = var.tags

  # Fed back once created, for the workloads output.
  service_accounts = {
    for name, sa in module.service_account : name => {
      email                  = sa.email
      unique_id              = sa.unique_id
      kubernetes_annotations = sa.kubernetes_annotations
    }
  }
  role_arns  = merge({ for name, r in module.aws_role : name => r.role_arn }, { for name, r in module.aws_cluster_role : name => r.role_arn })
  issuer_url = try(module.cluster_issuer[0].issuer_url, null)
}

locals {
  # The GSA chain needs the IAM APIs (and iamcredentials at run time, in the metadata server).
  services = concat(
    ["container.googleapis.com"],
    module.workloads.uses_gsa_identity ? ["iam.googleapis.com", "iamcredentials.googleapis.com"] : [],
  )
}

module "project_services" {
  source = "./modules/gcp-project-services"

  project_id = var.project_id
  services   = local.services
}

# --- identity = "gsa" ---

# Created or checked when a workload needs the Workload Identity pool (or to create the cluster).
module "workload_pool" {
  source = "./modules/gke-workload-pool"
  count  = module.workloads.uses_gsa_identity || var.create_cluster ? 1 : 0

  create              = var.create_cluster
  project_id          = var.project_id
  location            = var.cluster_location
  cluster_name        = var.cluster_name
  network             = var.network
  subnetwork          = var.subnetwork
  pods_range_name     = var.pods_range_name
  services_range_name = var.services_range_name
  enabled_services    = module.project_services.services
}

module "service_account" {
  source   = "./modules/gcp-workload-sa"
  for_each = module.workloads.gsa_workloads

  project_id    = var.project_id
  account_id    = each.key
  workload_pool = module.workload_pool[0].workload_pool
  kubernetes_service_accounts = [{
    namespace = each.value.namespace
    name      = each.value.ksa
  }]

  depends_on = [module.project_services]
}

module "aws_role" {
  source   = "./modules/aws-federated-role"
  for_each = module.workloads.gsa_workloads

  role_name                        = each.value.role_name
  google_service_account_unique_id = module.service_account[each.key].unique_id
  audience                         = var.audience
  s3_bucket_arns                   = each.value.s3_bucket_arns
  s3_prefixes                      = each.value.s3_prefixes
  access                           = each.value.access
  kms_key_arns                     = each.value.kms_key_arns
  max_session_duration             = var.max_session_duration
  permissions_boundary             = var.permissions_boundary
  tags                             = each.value.tags
}

# --- identity = "cluster" ---

# One per cluster and AWS account (IAM registers an issuer URL once per account).
module "cluster_issuer" {
  source = "./modules/aws-gke-oidc-provider"
  count  = module.workloads.uses_cluster_identity ? 1 : 0

  project_id   = var.project_id
  location     = var.cluster_location
  cluster_name = var.cluster_name
  client_ids   = [var.audience]
  tags         = var.tags
}

module "aws_cluster_role" {
  source   = "./modules/aws-cluster-federated-role"
  for_each = module.workloads.cluster_workloads

  role_name         = each.value.role_name
  oidc_provider_arn = module.cluster_issuer[0].arn
  issuer_host_path  = module.cluster_issuer[0].issuer_host_path
  kubernetes_service_accounts = [{
    namespace = each.value.namespace
    name      = each.value.ksa
  }]
  audience             = var.audience
  s3_bucket_arns       = each.value.s3_bucket_arns
  s3_prefixes          = each.value.s3_prefixes
  access               = each.value.access
  kms_key_arns         = each.value.kms_key_arns
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary
  tags                 = each.value.tags
}
