# The recordings bucket, its KMS key and the pods' IAM role for voicegate (recordings.kind: s3).
#   terraform -chdir=deploy/terraform init
#   terraform -chdir=deploy/terraform apply -var-file=prod.tfvars
# See deploy/README.md ("Terraform") for the variables and how the outputs reach the config.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 7.0.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  bucket_arn = "arn:${local.partition}:s3:::${var.bucket_name}"
  # Everything voicegate stores lives under this folder of the bucket (recordings.prefix).
  prefix_arn = "${local.bucket_arn}/${var.prefix}/*"
  # The identities that may use the key and the prefix: the IRSA role, and the static-credentials
  # user while voicegate cannot read web-identity credentials (var.static_credentials).
  service_principals = concat(
    [aws_iam_role.service.arn],
    var.static_credentials ? [aws_iam_user.static[0].arn] : [],
  )
}
