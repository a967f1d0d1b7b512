# One GKE workload pool, then per workload: a Google service account the KSA may impersonate,
# and an AWS role that trusts ID tokens Google signs for that service account.

provider "google" {
  project = var.project_id
}

provider "aws" {
  region = var.aws_region
}

module "workload_pool" {
  source = "./modules/gke-workload-pool"

  create       = var.create_cluster
  project_id   = var.project_id
  location     = var.cluster_location
  cluster_name = var.cluster_name
}

module "service_account" {
  source   = "./modules/gcp-workload-sa"
  for_each = var.workloads

  project_id    = var.project_id
  account_id    = each.key
  workload_pool = module.workload_pool.workload_pool
  kubernetes_service_accounts = [{
    namespace = each.value.namespace
    name      = each.value.ksa
  }]
}

module "aws_role" {
  source   = "./modules/aws-federated-role"
  for_each = var.workloads

  role_name                        = "${var.role_name_prefix}${each.key}"
  google_service_account_unique_id = module.service_account[each.key].unique_id
  audience                         = var.audience
  s3_bucket_arns                   = each.value.s3_bucket_arns
  s3_prefixes                      = each.value.s3_prefixes
  access                           = each.value.access
  max_session_duration             = var.max_session_duration
  permissions_boundary             = var.permissions_boundary
  tags                             = merge(var.tags, { "gke-workload" = "${each.value.namespace}/${each.value.ksa}" })
}
