# The pods' role (IRSA): assumable only by the voicegate ServiceAccount of one namespace.
resource "aws_iam_role" "service" {
  name               = var.name
  description        = "voicegate pods: the recordings prefix of ${var.bucket_name} and its KMS key"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

data "aws_iam_policy_document" "trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.k8s_namespace}:${var.k8s_service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

# Exactly what src/storage/s3.rs calls, on the prefix only. KMS rights are in the key policy.
data "aws_iam_policy_document" "service" {
  statement {
    sid    = "RecordingObjects"
    effect = "Allow"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
      "s3:PutObjectRetention",
      "s3:GetObjectRetention",
      "s3:PutObjectLegalHold",
      "s3:GetObjectLegalHold",
    ]
    resources = [local.prefix_arn]
  }

  # Versions (what retention and legal holds walk) only under the prefix.
  statement {
    sid       = "ListThePrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucketVersions"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*", "${var.prefix}/"]
    }
  }

  # HeadBucket (the server's start-up check) is authorised as s3:ListBucket with no prefix, so
  # ListBucket cannot be conditioned on one: the role can see key names (call ids and dates, no
  # PHI) elsewhere in the bucket, never read them. One bucket per environment if that matters.
  # Also the Object Lock check and the uploads a crash left behind.
  statement {
    sid       = "BucketChecks"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:GetBucketObjectLockConfiguration", "s3:ListBucketMultipartUploads"]
    resources = [local.bucket_arn]
  }
}

resource "aws_iam_policy" "service" {
  name   = var.name
  policy = data.aws_iam_policy_document.service.json
}

resource "aws_iam_role_policy_attachment" "service" {
  role       = aws_iam_role.service.name
  policy_arn = aws_iam_policy.service.arn
}

# Until voicegate reads web-identity credentials: a user with the same rights whose access key
# (created outside Terraform) goes into the voicegate-secrets Secret.
resource "aws_iam_user" "static" {
  count = var.static_credentials ? 1 : 0
  name  = "${var.name}-static"
}

resource "aws_iam_user_policy_attachment" "static" {
  count      = var.static_credentials ? 1 : 0
  user       = aws_iam_user.static[0].name
  policy_arn = aws_iam_policy.service.arn
}
