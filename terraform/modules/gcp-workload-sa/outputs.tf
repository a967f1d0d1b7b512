output "email" {
  description = "Email of the Google service account."
  value       = local.email
}

output "unique_id" {
  description = "Numeric unique id of the Google service account; the AWS role trusts tokens whose azp and sub equal it."
  value       = local.unique_id
}

output "name" {
  description = "Fully qualified name of the service account (projects/PROJECT/serviceAccounts/EMAIL)."
  value       = local.name
}

output "members" {
  description = "List of Workload Identity members granted roles/iam.workloadIdentityUser."
  value       = [for b in google_service_account_iam_member.workload_identity_user : b.member]
}

output "kubernetes_annotations" {
  description = "Annotations to put on each Kubernetes service account so GKE maps it to this service account."
  value       = { "iam.gke.io/gcp-service-account" = local.email }
}
