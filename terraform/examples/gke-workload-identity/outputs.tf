output "unique_id" {
  description = "Numeric unique id of the GSA, for aws-workload-role's google_service_account_unique_id."
  value       = module.service_account.unique_id
}

output "ksa_annotation" {
  description = "Annotation to put on the KSA reports/reports-reader."
  value       = module.service_account.kubernetes_annotations
}
