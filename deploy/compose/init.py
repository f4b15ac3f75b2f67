"""One-shot set-up of the compose stack (run by the `init` service before anything else).

Writes into the shared `run` volume:
  keys.json            generated once and kept: voicegate's keys and the database passwords
  pg/*-password        the passwords the PostgreSQL init script reads
  serve.yaml           what the replicas run with: the runtime role only, the keys, the bucket
  migrate.yaml         what `voicegate migrate` runs with: the schema owner and the runtime role
and makes sure moto (in memory, so empty after every restart) has the KMS key and the bucket,
configured like deploy/terraform: versioning, Object Lock, default SSE-KMS with a bucket key,
public access block and lifecycle rules.

LOCAL USE ONLY. Production keys come from a secret manager (deploy/k8s/base/secret.example.yaml
lists them); nothing here is generated in production.
"""

import json
import os
import secrets
import sys

import boto3

OUT = sys.argv[1] if len(sys.argv) > 1 else "/run/voicegate"
ENDPOINT = os.environ.get("S3_ENDPOINT", "http://moto:5000")
REGION = "us-east-1"
BUCKET = "voicegate-local-recordings"
PREFIX = "local"
ALIAS = "alias/voicegate-local-recordings"
# What src/storage/s3.rs sends with every write: {"service":"voicegate","object":<first segment>}.
RUNTIME_UID = 65532


def keys():
    path = os.path.join(OUT, "keys.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    hexkey = lambda n=32: secrets.token_hex(n)
    k = {
        "call_token_key": "local1:" + hexkey(),
        "phi_hash_key": "local1:" + hexkey(),
        "audit_checkpoint_key": "local1:" + hexkey(),
        # 64 hex digits, as secrets.blob_master_key requires.
        "blob_master_key": "local1:" + hexkey(32),
        "twilio_auth_token": "local1:" + hexkey(16),
        "browser_issuer_secret": "local1:" + hexkey(),
        "postgres_password": hexkey(16),
        "owner_password": hexkey(16),
        "runtime_password": hexkey(16),
    }
    write(path, json.dumps(k, indent=2), 0o600, 0)
    return k


def write(path, text, mode, uid):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    if os.geteuid() == 0:
        os.chown(tmp, uid, uid)
    os.replace(tmp, path)


def kms_key_arn():
    kms = boto3.client("kms", endpoint_url=ENDPOINT, region_name=REGION,
                       aws_access_key_id="local", aws_secret_access_key="local")
    for alias in kms.list_aliases()["Aliases"]:
        if alias["AliasName"] == ALIAS and alias.get("TargetKeyId"):
            return kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"]
    key = kms.create_key(Description="voicegate recordings (local stand-in)",
                         KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")
    kms.create_alias(AliasName=ALIAS, TargetKeyId=key["KeyMetadata"]["KeyId"])
    return key["KeyMetadata"]["Arn"]


def bucket(key_arn):
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name=REGION,
                      aws_access_key_id="local", aws_secret_access_key="local")
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": True}]})
    s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [{
        "ID": "abort-incomplete-multipart", "Status": "Enabled",
        "Filter": {"Prefix": PREFIX + "/"},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]})


def main():
    k = keys()
    for name in ("postgres", "owner", "runtime"):
        # Read by the postgres image's entrypoint and init script (another uid): world-readable
        # inside this private volume.
        write(os.path.join(OUT, "pg", f"{name}-password"), k[f"{name}_password"], 0o644, 0)
    key_arn = kms_key_arn()
    bucket(key_arn)
    db = "postgres://{user}:{pw}@postgres:5432/voicegate"
    common = {
        "server": {
            "public_base_url": "https://localhost:8443",
            # Local stack: shorter than production so `docker compose stop` is quick.
            "drain_deadline_secs": 30,
            "hard_deadline_secs": 10,
        },
        "secrets": {
            "generate_missing": False,
            "call_token_key": k["call_token_key"],
            "phi_hash_key": k["phi_hash_key"],
            "audit_checkpoint_key": k["audit_checkpoint_key"],
            "blob_master_key": k["blob_master_key"],
        },
        "twilio": {"auth_token": k["twilio_auth_token"], "validate_signatures": True},
        "recordings": {
            "kind": "s3", "bucket": BUCKET, "region": REGION, "endpoint": ENDPOINT,
            "force_path_style": True, "kms_key_id": key_arn, "prefix": PREFIX,
            "access_key_id": "local", "secret_access_key": "local",
            "object_lock": {"mode": "governance", "retain_days": 1},
        },
        "browser": {
            "self_mint_tokens": False,
            "issuer_secret": k["browser_issuer_secret"],
            "allowed_origins": ["https://localhost:8443"],
            "client_ip_header": "x-forwarded-for",
        },
    }
    serve = dict(common, database={"url": db.format(user="voicegate_runtime", pw=k["runtime_password"])})
    migrate = dict(common, database={
        "url": db.format(user="voicegate_runtime", pw=k["runtime_password"]),
        "migration_url": db.format(user="voicegate_owner", pw=k["owner_password"]),
        "runtime_role": "voicegate_runtime"})
    # JSON is YAML: voicegate reads --config files as YAML.
    write(os.path.join(OUT, "serve.yaml"), json.dumps(serve, indent=2), 0o600, RUNTIME_UID)
    write(os.path.join(OUT, "migrate.yaml"), json.dumps(migrate, indent=2), 0o600, RUNTIME_UID)
    print(f"init: keys in {OUT}/keys.json, bucket {BUCKET}, KMS key {key_arn}")


if __name__ == "__main__":
    main()
