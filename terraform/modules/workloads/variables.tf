variable "workloads" {
  description = "Map of workload name to its Kubernetes service account, identity mode, region, S3 access and named roles (the root's workloads input)."
  type = map(object({
    namespace      = string
    ksa            = string
    identity       = optional(string, "gsa")
    aws_region     = optional(string)
    s3_bucket_arns = list(string)
    s3_prefixes    = optional(list(string), [])
    access         = optional(string, "read")
    kms_key_arns   = optional(list(string), [])
    roles = optional(map(object({
      s3_bucket_arns = list(string)
      s3_prefixes    = optional(list(string), [])
      access         = optional(string, "read")
      kms_key_arns   = optional(list(string), [])
      aws_region     = optional(string)
    })), {})
  }))

  validation {
    # The name becomes the Google service account ID (gsa mode), which has the tighter rules;
    # cluster mode keeps them so a workload can move between modes and k8s overlays agree.
    condition     = alltrue([for name in keys(var.workloads) : can(regex("^[a-z]([-a-z0-9]{4,28}[a-z0-9])$", name))])
    error_message = "Each workload name must be 6 to 30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (for example \"reports-reader\"): it becomes the Google service account ID."
  }

  validation {
    condition     = alltrue([for w in values(var.workloads) : contains(["gsa", "cluster"], w.identity)])
    error_message = "Each workload's identity must be \"gsa\" (a Google service account through Workload Identity, the default) or \"cluster\" (the cluster's own service-account tokens, no Google service account)."
  }

  validation {
    condition     = alltrue([for w in values(var.workloads) : w.aws_region == null || can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", w.aws_region))])
    error_message = "Each workload's aws_region must be null (the root's aws_region) or an AWS region such as \"eu-west-1\"."
  }

  validation {
    condition     = alltrue([for w in values(var.workloads) : length(w.roles) <= 10])
    error_message = "A workload may have at most 10 named roles (roles = { NAME = { ... } }): the pod gets one AWS profile per role, and the KSA one annotation each."
  }

  validation {
    # NAME becomes the KSA annotations gke-aws-verifier/role.NAME and region.NAME (at most 63
    # characters after the "/"), an AWS profile name, and the end of the IAM role name.
    condition     = alltrue(flatten([for w in values(var.workloads) : [for role in keys(w.roles) : can(regex("^[A-Za-z0-9_-]{1,56}$", role)) && role != "default"]]))
    error_message = "Each named role's NAME (the key in roles) must be 1 to 56 letters, digits, \"-\" or \"_\" (for example \"exports\" or \"log_shipper\"), and not \"default\" (the pod's default profile is the workload's own role)."
  }

  validation {
    condition     = alltrue(flatten([for w in values(var.workloads) : [for r in values(w.roles) : r.aws_region == null || can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", r.aws_region))]]))
    error_message = "Each named role's aws_region must be null (the workload's region) or an AWS region such as \"eu-west-1\"."
  }
}

variable "aws_region" {
  description = "AWS region of workloads that set none."
  type        = string
}

variable "audience" {
  description = "Audience of every workload's token."
  type        = string
}

variable "role_name_prefix" {
  description = "Prefix of each IAM role name; the workload name follows it."
  type        = string
}

variable "tags" {
  description = "Map of tags to add to every AWS role, before the gke-workload tag."
  type        = map(string)
  default     = {}
}

variable "service_accounts" {
  description = "Map of gsa workload name to its Google service account { email, unique_id, kubernetes_annotations }, once created."
  type = map(object({
    email                  = string
    unique_id              = string
    kubernetes_annotations = map(string)
  }))
  default = {}
}

variable "role_arns" {
  description = "Map of role key (WORKLOAD for the default role, WORKLOAD/NAME for a named role) to its IAM role ARN, once created."
  type        = map(string)
  default     = {}
}

variable "issuer_url" {
  description = "Issuer URL of the cluster that cluster workloads' tokens come from, or null."
  type        = string
  default     = null
}
