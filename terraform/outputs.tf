output "workloads" {
  description = "Per workload, what the Kubernetes side needs: `terraform output -json workloads` feeds `make k8s-config`."
  value = {
    for name, w in var.workloads : name => {
      namespace      = w.namespace
      ksa            = w.ksa
      gsa_email      = module.service_account[name].email
      gsa_unique_id  = module.service_account[name].unique_id
      ksa_annotation = module.service_account[name].kubernetes_annotations
      role_arn       = module.aws_role[name].role_arn
      audience       = var.audience
      aws_region     = var.aws_region
      access         = w.access
      s3_buckets     = [for arn in w.s3_bucket_arns : try(split(":::", arn)[1], arn)]
      s3_prefixes    = w.s3_prefixes
    }
  }
}

output "workload_pool" {
  description = "Workload Identity pool of the cluster (PROJECT_ID.svc.id.goog)."
  value       = module.workload_pool.workload_pool
}
