# GSA mode, Google side only: the APIs, a check that the existing cluster serves Workload
# Identity (the plan fails with the gcloud fix otherwise), and a GSA that the KSA
# reports/reports-reader may impersonate. Its unique_id goes to aws-workload-role.

provider "google" {
  project = var.project_id
}

module "project_services" {
  source = "../../modules/gcp-project-services"

  project_id = var.project_id
  services   = ["container.googleapis.com", "iam.googleapis.com", "iamcredentials.googleapis.com"]
}

module "workload_pool" {
  source = "../../modules/gke-workload-pool"

  create           = false
  project_id       = var.project_id
  location         = var.cluster_location
  cluster_name     = var.cluster_name
  enabled_services = module.project_services.services
}

module "service_account" {
  source = "../../modules/gcp-workload-sa"

  project_id    = var.project_id
  account_id    = "reports-reader"
  workload_pool = module.workload_pool.workload_pool
  kubernetes_service_accounts = [
    { namespace = "reports", name = "reports-reader" },
  ]

  depends_on = [module.project_services]
}
