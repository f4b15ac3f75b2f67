variable "region" {
  description = "AWS region of the bucket and key (recordings.region)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of this deployment, used for the key alias, role and user names."
  type        = string
  default     = "voicegate-prod"
}

variable "bucket_name" {
  description = "The recordings bucket (recordings.bucket); globally unique."
  type        = string
}

variable "prefix" {
  description = "Folder of the bucket voicegate uses (recordings.prefix); the role is limited to it."
  type        = string
  default     = "prod"
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/-]*[a-z0-9]$", var.prefix)) && !strcontains(var.prefix, "//")
    error_message = "prefix must be a relative path such as prod or voicegate/prod."
  }
}

variable "object_lock_mode" {
  description = "Object Lock default retention: GOVERNANCE (privileged users may shorten it) or COMPLIANCE (no one can, not even the root user)."
  type        = string
  default     = "COMPLIANCE"
  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)
    error_message = "object_lock_mode must be GOVERNANCE or COMPLIANCE."
  }
}

variable "retention_days" {
  description = "Days recordings are kept (Object Lock retention; match retention.recordings_days). HIPAA documentation: 6 years."
  type        = number
  default     = 2190
  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 36500
    error_message = "retention_days must be 1 to 36500."
  }
}

variable "lifecycle_backstop_days" {
  description = "Extra days after retention_days before lifecycle removes what voicegate's own (audited) retention job left behind."
  type        = number
  default     = 30
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "eks_oidc_issuer" {
  description = "The cluster's OIDC issuer without https:// (e.g. oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE)."
  type        = string
}

variable "k8s_namespace" {
  description = "Namespace of the voicegate ServiceAccount (deploy/k8s/overlays/production)."
  type        = string
  default     = "voicegate"
}

variable "k8s_service_account" {
  description = "The voicegate ServiceAccount (deploy/k8s/base/serviceaccount.yaml)."
  type        = string
  default     = "voicegate"
}

variable "key_admin_arns" {
  description = "IAM principals that administer the KMS key (policy, rotation, deletion) but cannot use it to encrypt or decrypt. Include the identity that runs Terraform."
  type        = list(string)
  validation {
    condition     = length(var.key_admin_arns) > 0
    error_message = "At least one key administrator is needed, or the key becomes unmanageable."
  }
}

variable "static_credentials" {
  description = "Also create an IAM user with the same rights, for voicegate's static-credential S3 client (it does not read IRSA's web identity yet). Create its access key outside Terraform (aws iam create-access-key) so the secret never enters the state."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default = {
    application = "voicegate"
    data        = "phi"
  }
}
