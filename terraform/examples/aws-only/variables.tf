variable "aws_region" {
  description = "AWS region of the provider."
  type        = string
  default     = "us-east-1"
}

variable "google_service_account_unique_id" {
  description = "Numeric unique id of the Google service account the workload runs as."
  type        = string
}

variable "bucket" {
  description = "Name of the S3 bucket the roles may use."
  type        = string
}
