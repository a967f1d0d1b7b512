# The Google APIs the configuration calls, and the one the chain needs at run time: the GKE
# metadata server mints a service account's ID tokens through iamcredentials.googleapis.com.
# Never disabled on destroy: other workloads of the project may rely on them.
resource "google_project_service" "this" {
  for_each = toset(var.services)

  project                    = var.project_id
  service                    = each.key
  disable_on_destroy         = false
  disable_dependent_services = false
}
