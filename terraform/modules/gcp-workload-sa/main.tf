resource "google_service_account" "this" {
  count = var.create ? 1 : 0

  project      = var.project_id
  account_id   = var.account_id
  display_name = coalesce(var.display_name, var.account_id)
  description  = var.description
}

data "google_service_account" "existing" {
  count = var.create ? 0 : 1

  project    = var.project_id
  account_id = var.account_id
}

locals {
  # Resource and data source differ in type, so pick attribute by attribute.
  name      = try(google_service_account.this[0].name, data.google_service_account.existing[0].name)
  email     = try(google_service_account.this[0].email, data.google_service_account.existing[0].email)
  unique_id = try(google_service_account.this[0].unique_id, data.google_service_account.existing[0].unique_id)

  kubernetes_service_accounts = { for ksa in var.kubernetes_service_accounts : "${ksa.namespace}/${ksa.name}" => ksa }
}

# One binding per KSA, never the whole policy: other bindings on the GSA are left alone.
# var.workload_pool comes from the pool module, so these wait until the pool exists.
resource "google_service_account_iam_member" "workload_identity_user" {
  for_each = local.kubernetes_service_accounts

  service_account_id = local.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_pool}[${each.key}]"
}
