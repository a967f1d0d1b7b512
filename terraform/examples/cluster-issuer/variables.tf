variable "aws_region" {
  description = "AWS region of the provider."
  type        = string
  default     = "eu-west-1"
}

variable "project_id" {
  description = "ID of the Google Cloud project of the cluster."
  type        = string
}

variable "cluster_location" {
  description = "Zone or region of the cluster, as in its issuer URL."
  type        = string
}

variable "cluster_name" {
  description = "Name of the GKE cluster."
  type        = string
}

variable "bucket" {
  description = "Name of the S3 bucket the role may read under exports/."
  type        = string
}

variable "kms_key_arns" {
  description = "List of KMS key ARNs of the bucket, if it uses SSE-KMS."
  type        = list(string)
  default     = []
}
