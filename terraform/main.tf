# Per workload, one of two identities, and AWS roles that trust it (its default role and any
# named roles, all trusting the same identity):
# - identity = "gsa": a Google service account the KSA may impersonate (GKE Workload
#   Identity), and roles trusting ID tokens Google signs for that service account;
# - identity = "cluster": no Google service account; roles trusting the cluster's own
#   service-account tokens through an IAM OIDC provider for the cluster's issuer.
# Each role has one address, module.aws_role[KEY], in both modes: switching a workload's mode
# updates its roles' trust policies in place (same ARNs).

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
  role_arns  = { for key, r in module.aws_role : key => r.role_arn }
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

# --- the roles, both modes ---

locals {
  gsa_unique_ids = { for name, sa in module.service_account : name => sa.unique_id }
}

# Keyed WORKLOAD (the default role) or WORKLOAD/NAME (a named role).
module "aws_role" {
  source   = "./modules/aws-workload-role"
  for_each = module.workloads.roles

  role_name                        = each.value.role_name
  identity                         = each.value.identity
  google_service_account_unique_id = each.value.identity == "gsa" ? lookup(local.gsa_unique_ids, each.value.workload, null) : null
  oidc_provider_arn                = each.value.identity == "cluster" ? one(module.cluster_issuer[*].arn) : null
  issuer_host_path                 = each.value.identity == "cluster" ? one(module.cluster_issuer[*].issuer_host_path) : null
  kubernetes_service_accounts      = each.value.identity == "cluster" ? [{ namespace = each.value.namespace, name = each.value.ksa }] : []
  audience                         = var.audience
  s3_bucket_arns                   = each.value.s3_bucket_arns
  s3_prefixes                      = each.value.s3_prefixes
  access                           = each.value.access
  kms_key_arns                     = each.value.kms_key_arns
  max_session_duration             = var.max_session_duration
  permissions_boundary             = var.permissions_boundary
  tags                             = each.value.tags
}

# State from before the one role module: GSA-mode roles were module.aws_role[NAME] already
# (same address, same resources inside, nothing to move); cluster-mode roles were
# module.aws_cluster_role[NAME]. Each instance moves to module.aws_role[NAME], whose key no
# GSA role can hold (a workload has one mode), so one statement covers every workload.
moved {
  from = module.aws_cluster_role
  to   = module.aws_role
}
