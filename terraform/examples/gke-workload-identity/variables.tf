variable "project_id" {
  description = "ID of the Google Cloud project of the cluster and the GSA."
  type        = string
}

variable "cluster_location" {
  description = "Region or zone of the existing cluster."
  type        = string
}

variable "cluster_name" {
  description = "Name of the existing GKE cluster."
  type        = string
}
