variable "project_id" {
  description = "ID of the Google Cloud project to enable the services in."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID: 6 to 30 lowercase letters, digits and hyphens, starting with a letter, for example \"my-project-123\"."
  }
}

variable "services" {
  description = "List of service names to enable, for example [\"iamcredentials.googleapis.com\"]."
  type        = list(string)

  validation {
    condition     = alltrue([for s in var.services : can(regex("^[a-z0-9-]+\\.googleapis\\.com$", s))])
    error_message = "Each services entry must be an API service name such as \"container.googleapis.com\"."
  }
}
