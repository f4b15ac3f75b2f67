# What voicegate's recordings.* settings take (deploy/config/production.yaml).
output "recordings_bucket" {
  description = "recordings.bucket"
  value       = aws_s3_bucket.recordings.bucket
}

output "recordings_region" {
  description = "recordings.region"
  value       = var.region
}

output "recordings_kms_key_id" {
  description = "recordings.kms_key_id (a key ARN, as voicegate requires)"
  value       = aws_kms_key.recordings.arn
}

output "recordings_prefix" {
  description = "recordings.prefix"
  value       = var.prefix
}

output "recordings_object_lock" {
  description = "recordings.object_lock"
  value = {
    mode        = lower(var.object_lock_mode)
    retain_days = var.retention_days
  }
}

# The same as environment variables, for the overlay's recordings.env:
#   terraform output -json recordings_env | jq -r 'to_entries[] | "\(.key)=\(.value)"'
output "recordings_env" {
  description = "VOICEGATE__RECORDINGS__* environment variables"
  value = {
    VOICEGATE__RECORDINGS__BUCKET     = aws_s3_bucket.recordings.bucket
    VOICEGATE__RECORDINGS__REGION     = var.region
    VOICEGATE__RECORDINGS__KMS_KEY_ID = aws_kms_key.recordings.arn
    VOICEGATE__RECORDINGS__PREFIX     = var.prefix
  }
}

output "service_role_arn" {
  description = "eks.amazonaws.com/role-arn of the voicegate ServiceAccount (IRSA)"
  value       = aws_iam_role.service.arn
}

output "static_credentials_user" {
  description = "The IAM user to create an access key for (aws iam create-access-key), when static_credentials is on"
  value       = var.static_credentials ? aws_iam_user.static[0].name : null
}
