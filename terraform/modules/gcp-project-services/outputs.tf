output "services" {
  description = "List of the enabled services, known once each is enabled (callers wait on it)."
  value       = [for s in google_project_service.this : s.service]
}
