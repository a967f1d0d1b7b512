# AWS IAM trusts the cluster's own OIDC issuer, as EKS's IRSA does: a projected KSA token
# goes straight to AssumeRoleWithWebIdentity, with no Google service account in between.
# GKE publishes the issuer's discovery document and keys at a public Google endpoint.

locals {
  cluster_issuer_url = "https://container.googleapis.com/v1/projects/${coalesce(var.project_id, "-")}/locations/${coalesce(var.location, "-")}/clusters/${coalesce(var.cluster_name, "-")}"
  issuer_url         = coalesce(var.issuer_url, local.cluster_issuer_url)
}

# No thumbprint_list: IAM no longer uses thumbprints for issuers whose certificate chains to
# a CA it trusts (Google's endpoint does), and a pinned thumbprint only breaks when Google
# rotates its intermediate CA. thumbprints is there for self-managed issuers with a private CA.
resource "aws_iam_openid_connect_provider" "this" {
  url             = local.issuer_url
  client_id_list  = var.client_ids
  thumbprint_list = length(var.thumbprints) > 0 ? var.thumbprints : null
  tags            = var.tags

  lifecycle {
    precondition {
      condition     = var.issuer_url != null || (var.project_id != null && var.location != null && var.cluster_name != null)
      error_message = "Set either issuer_url, or all of project_id, location and cluster_name (the GKE cluster whose issuer AWS should trust)."
    }
  }
}
