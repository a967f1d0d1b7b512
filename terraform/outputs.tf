output "workloads" {
  description = "Per workload, what the Kubernetes side needs: `terraform output -json workloads` feeds `make k8s-config`."
  value       = module.workloads.kubernetes
}

output "workload_pool" {
  description = "Workload Identity pool of the cluster (PROJECT_ID.svc.id.goog), or null when no workload uses a Google service account."
  value       = try(module.workload_pool[0].workload_pool, null)
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider of the cluster's issuer, or null when no workload uses identity = \"cluster\"."
  value       = try(module.cluster_issuer[0].arn, null)
}
