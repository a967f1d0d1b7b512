output "arn" {
  description = "ARN of the IAM OIDC provider; aws-workload-role trusts it in cluster mode."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "issuer_url" {
  description = "Issuer URL AWS trusts; the projected tokens' iss must equal it."
  value       = local.issuer_url
}

output "issuer_host_path" {
  description = "Issuer URL without https://, as IAM condition keys use it (HOST_PATH:sub, HOST_PATH:aud)."
  value       = trimprefix(local.issuer_url, "https://")
}
