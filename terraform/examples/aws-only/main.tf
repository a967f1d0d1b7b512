# The AWS half alone, for a team whose Google side is already set up: give it the
# service account's unique id (gcloud iam service-accounts describe EMAIL --format='value(uniqueId)').

provider "aws" {
  region = var.aws_region
}

module "reader" {
  source = "../../modules/aws-workload-role"

  role_name                        = "gke-reports-reader"
  google_service_account_unique_id = var.google_service_account_unique_id
  s3_bucket_arns                   = ["arn:aws:s3:::${var.bucket}"]
  s3_prefixes                      = ["daily/"]
}

module "lister" {
  source = "../../modules/aws-workload-role"

  role_name                        = "gke-reports-lister"
  google_service_account_unique_id = var.google_service_account_unique_id
  s3_bucket_arns                   = ["arn:aws:s3:::${var.bucket}"]
  access                           = "list"
}
