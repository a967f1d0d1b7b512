terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.81.0 (December 2024) made aws_iam_openid_connect_provider's thumbprint_list
      # optional (provider changelog: "Make `thumbprint_list` attribute optional", #37255);
      # ../../modules/aws-gke-oidc-provider leaves it unset (the cluster-issuer run).
      # It also covers 5.49.0, which added aws_iam_policy_document's minified_json
      # (read by the size checks of modules/aws-workload-role and aws-s3-access-policy).
      version = ">= 5.81, < 7"
    }
  }
}
