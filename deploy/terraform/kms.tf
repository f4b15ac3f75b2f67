# The customer-managed key every recording, manifest and audit checkpoint is sealed under.
resource "aws_kms_key" "recordings" {
  description             = "${var.name}: voicegate recordings (SSE-KMS)"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "recordings" {
  name          = "alias/${var.name}-recordings"
  target_key_id = aws_kms_key.recordings.key_id
}

# Only two things may happen with this key: administrators manage it (never use it), and
# voicegate's identity generates data keys and decrypts — only through S3, only for this bucket,
# and only with the encryption context voicegate sends (src/storage/s3.rs):
#   {"service": "voicegate", "object": "<first segment of the blob key>"}
# where the segments are "recordings" (WAVs and manifests) and "audit" (audit/checkpoints/).
# S3 adds aws:s3:arn (the object's ARN; the bucket's ARN when the bucket key is used, and then
# S3 calls KMS once per bucket key rather than per object, without voicegate's pairs — hence
# IfExists on those two, while EncryptionContextKeys still admits no other pair).
data "aws_iam_policy_document" "key" {
  statement {
    sid    = "KeyAdministration"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = var.key_admin_arns
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:Create*",
      "kms:Delete*",
      "kms:Describe*",
      "kms:Disable*",
      "kms:Enable*",
      "kms:Get*",
      "kms:List*",
      "kms:Put*",
      "kms:Revoke*",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:Update*",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "VoicegateRecordingsThroughS3"
    effect = "Allow"
    principals {
      type        = "AWS"
      identifiers = local.service_principals
    }
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.bucket_arn, local.prefix_arn]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = ["aws:s3:arn", "service", "object"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "kms:EncryptionContext:service"
      values   = ["voicegate"]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "kms:EncryptionContext:object"
      values   = ["recordings", "audit"]
    }
  }
}
