resource "aws_s3_bucket" "recordings" {
  bucket = var.bucket_name
  # Object Lock can only be turned on when the bucket is created (and then never off).
  object_lock_enabled = true
  # A bucket of PHI is never destroyed by `terraform destroy`.
  force_destroy = false
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "recordings" {
  bucket = aws_s3_bucket.recordings.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "recordings" {
  bucket                  = aws_s3_bucket.recordings.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Object Lock needs versioning; voicegate's retention deletes every version of a recording.
resource "aws_s3_bucket_versioning" "recordings" {
  bucket = aws_s3_bucket.recordings.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Default retention for every new object version; voicegate also sends its own retention
# (recordings.object_lock) and legal holds on each write.
resource "aws_s3_bucket_object_lock_configuration" "recordings" {
  bucket = aws_s3_bucket.recordings.id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.recordings]
}

# Default SSE-KMS with the customer-managed key; the bucket key cuts KMS calls (and cost) by
# letting S3 derive per-object keys from a short-lived bucket-level key.
resource "aws_s3_bucket_server_side_encryption_configuration" "recordings" {
  bucket = aws_s3_bucket.recordings.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.recordings.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "recordings" {
  bucket = aws_s3_bucket.recordings.id

  # A crashed upload is aborted by voicegate at its next start; this catches the rest (parts of
  # an unfinished upload are PHI and are billed).
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Retention is voicegate's own job (audited, skips legal holds). This is only the backstop for
  # what it could not delete: after retention + backstop days the current version gets a delete
  # marker and old versions go; Object Lock keeps anything still retained or on legal hold.
  rule {
    id     = "retention-backstop"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/recordings/"
    }
    expiration {
      days = var.retention_days + var.lifecycle_backstop_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.lifecycle_backstop_days
    }
  }

  rule {
    id     = "expired-delete-markers"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/"
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.recordings]
}

resource "aws_s3_bucket_policy" "recordings" {
  bucket     = aws_s3_bucket.recordings.id
  policy     = data.aws_iam_policy_document.bucket.json
  depends_on = [aws_s3_bucket_public_access_block.recordings]
}

data "aws_iam_policy_document" "bucket" {
  # Plain HTTP is refused for every request, and TLS older than 1.2.
  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid    = "DenyOutdatedTls"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # A write that does not ask for SSE-KMS is refused (voicegate always sends
  # x-amz-server-side-encryption: aws:kms with the key ARN; SSE-C requests carry no such header).
  statement {
    sid    = "DenyUnencryptedObjectUploads"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["true"]
    }
  }

  statement {
    sid    = "DenyOtherEncryption"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid    = "DenyOtherKmsKeys"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]
    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.recordings.arn]
    }
  }
}
