//! The production blob store: Amazon S3 (or a compatible service) with SSE-KMS.
//!
//! Owns: [`S3Settings`] (the `recordings: {kind: s3, ..}` block), [`S3Store`] (every
//! [`super::blob::Blobs`] operation against one bucket) and [`S3Writer`] (multipart uploads for
//! WAVs), and the mapping of S3 failures to [`BlobError`]. Deliberately not owned: the bucket
//! itself (versioning, Object Lock, lifecycle rules and policies are infrastructure), the KMS key
//! and its policy, and what a blob means.
//!
//! # What every write sends
//! - `x-amz-server-side-encryption: aws:kms` with the configured key ARN, so the object is sealed
//!   under *our* customer-managed key even if the bucket default changes.
//! - An encryption context `{"service":"voicegate","object":"<first key segment>"}` (for example
//!   `recordings` or `checkpoints`): KMS logs it in CloudTrail with every use of the key, so it holds
//!   the kind of blob and nothing else — no call ids, no names.
//! - A SHA-256 checksum (`x-amz-checksum-sha256`) computed here over the plaintext, so S3 rejects a
//!   body damaged in transit; for multipart uploads each part carries its own and S3 stores the
//!   composite. The signed checksum header is why request payloads are sent unsigned (one less
//!   SHA-256 pass over every byte): S3 still verifies the body against a header the signature covers.
//! - When configured, Object Lock retention (`mode` + now + `retain_days`) and a legal hold.
//!
//! Blobs larger than `multipart_threshold`, and everything written through [`S3Writer`], use a
//! multipart upload whose `CreateMultipartUpload` carries the headers above. A failed upload is
//! aborted, and so is one whose writer is dropped unfinished (best effort, in the background).
//!
//! # Differences from the local store
//! - **Unfinished writes are not recoverable.** [`S3Store::list_partial`] lists the multipart
//!   uploads a crashed process left, and [`S3Store::recover_partial`] *aborts* them: the data is
//!   gone (parts of an aborted upload cannot be read back). Spools, whose whole point is surviving
//!   a crash, therefore belong on the local encrypted store; only the finished WAV, its manifest and
//!   audit checkpoints go to S3. A bucket lifecycle rule `AbortIncompleteMultipartUpload` (1 day)
//!   should back this up for uploads nobody recovers.
//! - A second writer for the same key is not refused (S3 has no such lock): the last upload to
//!   complete wins.
//! - `delete` removes every version of the key (an Object Lock bucket is versioned, and an old
//!   version of a recording is still PHI), and refuses with [`BlobError::Locked`] before removing
//!   anything if any version is under legal hold or unexpired retention.
//! - Plaintext is handed to the AWS SDK in ordinary buffers, which are not zeroized.
//!
//! # Credentials and permissions
//! Static credentials only: `access_key_id`/`secret_access_key` from configuration, or else the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`, read
//! once at [`S3Store::connect`]). Instance roles and SSO would need the `aws-config` crate's
//! provider chain, which is not built in. The identity needs `s3:PutObject`, `s3:GetObject`,
//! `s3:GetObjectVersion`, `s3:DeleteObject`, `s3:DeleteObjectVersion`, `s3:ListBucket`,
//! `s3:ListBucketVersions`, `s3:ListBucketMultipartUploads`, `s3:AbortMultipartUpload`, and with
//! Object Lock `s3:PutObjectRetention`, `s3:PutObjectLegalHold`, `s3:GetObjectRetention`,
//! `s3:GetObjectLegalHold` and (for [`S3Store::check`]) `s3:GetBucketObjectLockConfiguration`;
//! on the key, `kms:GenerateDataKey` and `kms:Decrypt`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ObjectLockEnabled,
    ObjectLockLegalHoldStatus, ObjectLockMode, ServerSideEncryption,
};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::blob::{BlobError, BlobInfo, BlobStore, to_hex, validate_key, validate_prefix};

/// One mebibyte, the unit every size setting is documented in.
const MIB: usize = 1024 * 1024;
/// A blob at most this large is one `PutObject`: one request, and a plain SHA-256 checksum
/// that S3 reports back and the SDK checks on download.
pub const DEFAULT_MULTIPART_THRESHOLD: usize = 8 * MIB;
/// Parts of 8 MiB (as the AWS CLI uses) keep a writer's buffer small and allow 78 GiB per object.
pub const DEFAULT_PART_SIZE: usize = 8 * MIB;
/// S3 refuses a part smaller than this unless it is the last one.
pub const MIN_PART_SIZE: usize = 5 * MIB;
/// S3 refuses a part, or a single `PutObject`, larger than 5 GiB.
const MAX_PART_SIZE: usize = 5 * 1024 * MIB;
/// S3 allows at most 10,000 parts in one multipart upload.
const MAX_PARTS: i32 = 10_000;
/// Object Lock retention can be set for at most 100 years; more is a typo.
const MAX_RETAIN_DAYS: u32 = 36_500;
/// Attempts per request (first try plus retries with backoff) unless configured: the SDK's standard.
const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// A TCP + TLS connect that takes longer means the endpoint is down or unreachable; failing
/// fast lets the retry policy (and the caller's) take over.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt of one request, bounded so a stalled upload of a whole part fails rather than
/// hanging a recording's finalisation; generous for 8 MiB on a slow link.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest server message kept in an error: S3's messages are short prose; anything longer is cut.
const MAX_ERROR_MESSAGE: usize = 200;

/// Object Lock mode applied to new objects (S3's own two modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// Users with `s3:BypassGovernanceRetention` can still delete early (this store never does).
    Governance,
    /// Nobody, not even the root account, can delete before the date.
    Compliance,
}

/// Object Lock retention for every new object. The bucket must have Object Lock enabled.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectLockSettings {
    /// Which of S3's retention modes.
    pub mode: LockMode,
    /// Days from the write until the object may be deleted (HIPAA: six years = 2190).
    #[serde(deserialize_with = "lenient::parse")]
    pub retain_days: u32,
}

/// Configuration of the S3 store (`recordings: {kind: s3, ..}`).
#[derive(Debug, Clone, Deserialize)]
pub struct S3Settings {
    /// Bucket name (3..=63 of `a-z 0-9 . -`).
    pub bucket: String,
    /// The bucket's region, e.g. `us-east-1`; signs every request.
    pub region: String,
    /// Another endpoint than AWS's (`http://127.0.0.1:5005` for moto, a VPC endpoint, ...).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Address the bucket in the path (`host/bucket/key`) instead of the host name: needed by
    /// most S3-compatible servers, and by anything on an IP address.
    #[serde(default, deserialize_with = "lenient::parse")]
    pub force_path_style: bool,
    /// ARN of the customer-managed KMS key (`arn:aws:kms:REGION:ACCOUNT:key/ID`): a key ARN, not
    /// an alias, so the key id recorded with each blob is exactly the key S3 used.
    pub kms_key_id: String,
    /// Folder inside the bucket for everything this deployment stores (so one bucket can serve
    /// several environments); blob keys are relative to it.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Access key; with `secret_access_key`, or neither (then the environment is used).
    #[serde(default)]
    pub access_key_id: Option<SecretString>,
    /// Secret key; never logged.
    #[serde(default)]
    pub secret_access_key: Option<SecretString>,
    /// Object Lock retention for new objects; `None` = no retention header.
    #[serde(default)]
    pub object_lock: Option<ObjectLockSettings>,
    /// Put every new object under legal hold (removed only by someone with
    /// `s3:PutObjectLegalHold`, e.g. when litigation ends).
    #[serde(default, deserialize_with = "lenient::parse")]
    pub legal_hold: bool,
    /// Blobs larger than this many bytes use a multipart upload (at most 5 GiB).
    #[serde(default = "default_multipart_threshold", deserialize_with = "lenient::parse")]
    pub multipart_threshold: usize,
    /// Bytes per uploaded part, 5 MiB ..= 5 GiB; a writer holds up to one part in memory.
    #[serde(default = "default_part_size", deserialize_with = "lenient::parse")]
    pub part_size: usize,
    /// Attempts per request including the first (retries back off exponentially).
    #[serde(default = "default_max_attempts", deserialize_with = "lenient::parse")]
    pub max_attempts: u32,
}

/// Numbers and booleans that also accept their string form. Environment overrides
/// (`VOICEGATE__RECORDINGS__PART_SIZE=8388608`) arrive as strings, and inside a tagged enum such as
/// `recordings: {kind: s3, ..}` serde buffers them before the `config` crate could convert them.
mod lenient {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    /// What the buffered value may be.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OrText<T> {
        /// Already the right type (YAML, JSON).
        Value(T),
        /// A string to parse (environment).
        Text(String),
    }

    pub(super) fn parse<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match OrText::<T>::deserialize(d)? {
            OrText::Value(v) => Ok(v),
            OrText::Text(s) => s.trim().parse().map_err(D::Error::custom),
        }
    }
}

fn default_multipart_threshold() -> usize {
    DEFAULT_MULTIPART_THRESHOLD
}

fn default_part_size() -> usize {
    DEFAULT_PART_SIZE
}

fn default_max_attempts() -> u32 {
    DEFAULT_MAX_ATTEMPTS
}

impl S3Settings {
    /// Settings with the required fields and every default, for code and tests that build them.
    pub fn new(bucket: impl Into<String>, region: impl Into<String>, kms_key_id: impl Into<String>) -> S3Settings {
        S3Settings {
            bucket: bucket.into(),
            region: region.into(),
            endpoint: None,
            force_path_style: false,
            kms_key_id: kms_key_id.into(),
            prefix: None,
            access_key_id: None,
            secret_access_key: None,
            object_lock: None,
            legal_hold: false,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Check everything that can be checked without the network.
    ///
    /// # Errors
    /// [`BlobError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), BlobError> {
        let bad = |why: &str| Err(BlobError::Config(why.to_owned()));
        let b = &self.bucket;
        if b.len() < 3
            || b.len() > 63
            || !b
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        {
            return bad("s3.bucket must be 3 to 63 characters of a-z, 0-9, '.' and '-'");
        }
        if self.region.is_empty() || !self.region.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
            return bad("s3.region must be a region name such as us-east-1");
        }
        let arn: Vec<&str> = self.kms_key_id.splitn(6, ':').collect();
        if arn.len() != 6 || arn[0] != "arn" || arn[2] != "kms" || !arn[5].starts_with("key/") || arn[5].len() <= 4 {
            return bad("s3.kms_key_id must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)");
        }
        if let Some(endpoint) = &self.endpoint {
            match url::Url::parse(endpoint) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => return bad("s3.endpoint must be an http:// or https:// URL"),
            }
        }
        if let Some(prefix) = &self.prefix
            && (prefix.is_empty() || validate_prefix(prefix).is_err())
        {
            return bad("s3.prefix must be a relative path such as voicegate/prod");
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad("s3.access_key_id and s3.secret_access_key are set together or not at all");
        }
        if let Some(lock) = &self.object_lock
            && !(1..=MAX_RETAIN_DAYS).contains(&lock.retain_days)
        {
            return bad("s3.object_lock.retain_days must be 1 to 36500");
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return bad("s3.part_size must be 5 MiB to 5 GiB");
        }
        if self.multipart_threshold > MAX_PART_SIZE {
            return bad("s3.multipart_threshold must be at most 5 GiB");
        }
        if self.max_attempts == 0 {
            return bad("s3.max_attempts must be at least 1");
        }
        Ok(())
    }
}

/// A bucket holding blobs under SSE-KMS (see the module doc). Cheap to clone: the SDK client is
/// shared.
#[derive(Clone)]
pub struct S3Store {
    /// The SDK client (connection pool, signer, retry policy).
    client: Client,
    /// The bucket every object lives in.
    bucket: String,
    /// Prepended to every blob key: empty, or a validated path ending in `/`.
    prefix: String,
    /// KMS key ARN sent with every write and reported as [`BlobInfo::key_id`].
    kms_key_id: String,
    /// Retention applied to new objects.
    object_lock: Option<ObjectLockSettings>,
    /// Whether new objects get a legal hold.
    legal_hold: bool,
    /// Blobs above this size are uploaded in parts.
    multipart_threshold: usize,
    /// Size of every part but the last.
    part_size: usize,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("kms_key_id", &self.kms_key_id)
            .finish_non_exhaustive()
    }
}

/// Which static credentials to sign with: configuration first, else the environment.
fn credentials(settings: &S3Settings) -> Result<Credentials, BlobError> {
    if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
        return Ok(Credentials::new(
            id.expose_secret(),
            secret.expose_secret(),
            None,
            None,
            "voicegate-config",
        ));
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Credentials::new(
            id,
            secret,
            var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        )),
        _ => Err(BlobError::Config(
            "S3 credentials: set s3.access_key_id and s3.secret_access_key, or AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY"
                .into(),
        )),
    }
}

impl S3Store {
    /// Build the client. No request is sent (see [`S3Store::check`]); no runtime is needed.
    ///
    /// # Errors
    /// [`BlobError::Config`] for invalid settings or missing credentials.
    pub fn connect(settings: &S3Settings) -> Result<S3Store, BlobError> {
        settings.validate()?;
        let credentials = credentials(settings)?;
        // rustls with ring: https for AWS, and plain http for a loopback test peer.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.force_path_style)
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            );
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        let prefix = match &settings.prefix {
            Some(p) if p.ends_with('/') => p.clone(),
            Some(p) => format!("{p}/"),
            None => String::new(),
        };
        Ok(S3Store {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            prefix,
            kms_key_id: settings.kms_key_id.clone(),
            object_lock: settings.object_lock.clone(),
            legal_hold: settings.legal_hold,
            multipart_threshold: settings.multipart_threshold,
            part_size: settings.part_size,
        })
    }

    /// The KMS key ARN new blobs are sealed under.
    /// Test support: create the configured bucket (moto), optionally with Object Lock.
    ///
    /// # Errors
    /// The bucket cannot be created.
    #[cfg(feature = "testkit")]
    pub async fn create_bucket_for_tests(&self, object_lock: bool) -> Result<(), BlobError> {
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .object_lock_enabled_for_bucket(object_lock)
            .send()
            .await
            .map_err(|e| BlobError::Rejected {
                op: "CreateBucket",
                why: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    /// Test support: the server-side encryption HeadObject reports for `key` (algorithm, KMS key id).
    ///
    /// # Errors
    /// The object cannot be read.
    #[cfg(feature = "testkit")]
    pub async fn head_encryption(&self, key: &str) -> Result<(Option<String>, Option<String>), BlobError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| BlobError::Rejected {
                op: "HeadObject",
                why: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok((
            head.server_side_encryption().map(|s| s.as_str().to_owned()),
            head.ssekms_key_id().map(str::to_owned),
        ))
    }

    pub fn kms_key_id(&self) -> &str {
        &self.kms_key_id
    }

    /// Startup check: the bucket is reachable with these credentials and, when retention or legal
    /// holds are configured, has Object Lock enabled (otherwise every write would be refused).
    ///
    /// # Errors
    /// [`BlobError::Unavailable`] if S3 cannot be reached, [`BlobError::Rejected`] for a missing
    /// bucket or denied access, [`BlobError::Config`] for a bucket without Object Lock.
    pub async fn check(&self) -> Result<(), BlobError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| match s3_error("HeadBucket", "", e) {
                // HeadBucket's 404 has no body to say more.
                BlobError::NotFound(_) => BlobError::Rejected {
                    op: "HeadBucket",
                    why: format!("bucket {:?} does not exist", self.bucket),
                },
                other => other,
            })?;
        if self.object_lock.is_some() || self.legal_hold {
            let lock = self
                .client
                .get_object_lock_configuration()
                .bucket(&self.bucket)
                .send()
                .await
                .map_err(|e| s3_error("GetObjectLockConfiguration", "", e));
            let enabled = match lock {
                Ok(out) => out
                    .object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    .is_some_and(|e| *e == ObjectLockEnabled::Enabled),
                Err(BlobError::Rejected { .. } | BlobError::NotFound(_)) => false,
                Err(e) => return Err(e),
            };
            if !enabled {
                return Err(BlobError::Config(format!(
                    "bucket {:?} does not have Object Lock enabled, but s3.object_lock or s3.legal_hold is set",
                    self.bucket
                )));
            }
        }
        Ok(())
    }

    fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Retention mode and date for an object written now.
    fn retention(&self) -> Option<(ObjectLockMode, DateTime)> {
        let lock = self.object_lock.as_ref()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let until = now + u64::from(lock.retain_days) * 86_400;
        let mode = match lock.mode {
            LockMode::Governance => ObjectLockMode::Governance,
            LockMode::Compliance => ObjectLockMode::Compliance,
        };
        // `until` is far below i64::MAX: retain_days is at most 36,500.
        Some((mode, DateTime::from_secs(i64::try_from(until).unwrap_or(i64::MAX))))
    }

    fn legal_hold_status(&self) -> Option<ObjectLockLegalHoldStatus> {
        self.legal_hold.then_some(ObjectLockLegalHoldStatus::On)
    }

    /// Store `data` under `key`, replacing any blob there (on a versioned bucket the old one
    /// becomes a noncurrent version). Up to `multipart_threshold` bytes go in one `PutObject`,
    /// more through a multipart upload.
    ///
    /// # Errors
    /// [`BlobError::InvalidBlobKey`], [`BlobError::Unavailable`] (retryable), [`BlobError::Rejected`].
    ///
    /// # Cancel safety
    /// If dropped, the object is either stored whole or not at all; a started multipart upload
    /// is aborted in the background.
    pub async fn put(&self, key: &str, data: &[u8]) -> Result<BlobInfo, BlobError> {
        validate_key(key)?;
        if data.len() > self.multipart_threshold {
            let mut writer = self.create_writer(key)?;
            writer.write(data).await?;
            return writer.finish().await;
        }
        let sha = Sha256::digest(data);
        self.put_single(key, data.to_vec(), &sha).await?;
        Ok(BlobInfo {
            key: key.to_owned(),
            plaintext_len: data.len() as u64,
            sha256_hex: to_hex(&sha),
            key_id: self.kms_key_id.clone(),
        })
    }

    async fn put_single(&self, key: &str, body: Vec<u8>, sha: &[u8]) -> Result<(), BlobError> {
        let (mode, until) = self.retention().unzip();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .content_length(body.len() as i64)
            .body(ByteStream::from(body))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.kms_key_id)
            .ssekms_encryption_context(encryption_context(key))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(b64(sha))
            .set_object_lock_mode(mode)
            .set_object_lock_retain_until_date(until)
            .set_object_lock_legal_hold_status(self.legal_hold_status())
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| s3_error("PutObject", key, e))?;
        Ok(())
    }

    /// The whole blob. For blobs stored in one piece, the SDK checks the SHA-256 S3 returns.
    ///
    /// # Errors
    /// [`BlobError::NotFound`], [`BlobError::Unavailable`] (retryable), [`BlobError::Rejected`].
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        validate_key(key)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| s3_error("GetObject", key, e))?;
        read_body("GetObject", out.body).await
    }

    /// A presigned `GetObject` URL for `key`, valid for `ttl` (review playback: the browser
    /// fetches the object straight from S3; KMS decrypts for the signer's credentials).
    ///
    /// # Errors
    /// An invalid key or TTL (presigning is local: no request is made).
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        validate_key(key)?;
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl).map_err(|e| BlobError::Unavailable {
            op: "PresignGetObject",
            why: e.to_string(),
        })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .response_content_type("audio/wav")
            .presigned(config)
            .await
            .map_err(|e| s3_error("PresignGetObject", key, e))?;
        Ok(request.uri().to_owned())
    }

    /// Place or release an Object Lock legal hold on the current version of `key` (the bucket
    /// must have Object Lock enabled).
    ///
    /// # Errors
    /// As the other requests; a bucket without Object Lock answers with an error.
    pub async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), BlobError> {
        validate_key(key)?;
        let status = if on {
            ObjectLockLegalHoldStatus::On
        } else {
            ObjectLockLegalHoldStatus::Off
        };
        self.client
            .put_object_legal_hold()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .legal_hold(aws_sdk_s3::types::ObjectLockLegalHold::builder().status(status).build())
            .send()
            .await
            .map_err(|e| s3_error("PutObjectLegalHold", key, e))?;
        Ok(())
    }

    /// Bytes `start..end_exclusive` with one ranged `GetObject`.
    ///
    /// # Errors
    /// [`BlobError::InvalidRange`] if `start > end_exclusive` or `end_exclusive` is beyond the
    /// blob; otherwise as [`S3Store::get`].
    pub async fn get_range(&self, key: &str, start: u64, end_exclusive: u64) -> Result<Vec<u8>, BlobError> {
        validate_key(key)?;
        if start > end_exclusive {
            return Err(BlobError::InvalidRange);
        }
        if start == end_exclusive {
            // S3 has no empty range; the length check still reports a missing blob or a bad bound.
            return if end_exclusive <= self.len(key).await? {
                Ok(Vec::new())
            } else {
                Err(BlobError::InvalidRange)
            };
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .range(format!("bytes={start}-{}", end_exclusive - 1))
            .send()
            .await
            .map_err(|e| s3_error("GetObject", key, e))?;
        let bytes = read_body("GetObject", out.body).await?;
        // S3 serves a range that runs past the end as far as the object goes; this store refuses it.
        if bytes.len() as u64 != end_exclusive - start {
            return Err(BlobError::InvalidRange);
        }
        Ok(bytes)
    }

    /// Length from `HeadObject`.
    ///
    /// # Errors
    /// As [`S3Store::get`].
    pub async fn len(&self, key: &str) -> Result<u64, BlobError> {
        validate_key(key)?;
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| s3_error("HeadObject", key, e))?;
        out.content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| BlobError::Rejected {
                op: "HeadObject",
                why: "no Content-Length in the response".into(),
            })
    }

    /// Remove the blob: every version of the key and every delete marker, so no copy of the
    /// content is left in the bucket. Nothing is removed if any version is under legal hold or
    /// unexpired retention.
    ///
    /// # Errors
    /// [`BlobError::NotFound`] if no version holds content (stray delete markers are still
    /// removed), [`BlobError::Locked`], [`BlobError::Unavailable`], [`BlobError::Rejected`].
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let full = self.object_key(key);
        let versions = self.versions_of(key, &full).await?;
        let has_content = versions.iter().any(|v| !v.delete_marker);
        let versioned = versions.iter().any(|v| v.id.as_deref().is_some_and(|id| id != "null"));
        if versioned {
            // Unversioned buckets cannot have Object Lock, so only versioned ones are checked.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            for v in versions.iter().filter(|v| !v.delete_marker) {
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .set_version_id(v.id.clone())
                    .send()
                    .await
                    .map_err(|e| s3_error("HeadObject", key, e))?;
                let held = head.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On);
                let retained = head
                    .object_lock_retain_until_date()
                    .is_some_and(|until| until.secs() > i64::try_from(now).unwrap_or(i64::MAX));
                if held || retained {
                    return Err(BlobError::Locked(key.to_owned()));
                }
            }
        }
        for v in &versions {
            let version_id = v.id.clone().filter(|id| id != "null" || versioned);
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&full)
                .set_version_id(version_id)
                .send()
                .await
                .map_err(|e| match s3_error("DeleteObject", key, e) {
                    // Locked since the check above (or a lock this identity cannot read).
                    BlobError::Rejected { why, .. } if why.starts_with("AccessDenied") => {
                        BlobError::Locked(key.to_owned())
                    }
                    other => other,
                })?;
        }
        if has_content {
            Ok(())
        } else {
            Err(BlobError::NotFound(key.to_owned()))
        }
    }

    /// Every version and delete marker of exactly `full` (the listing is by prefix).
    async fn versions_of(&self, key: &str, full: &str) -> Result<Vec<Version>, BlobError> {
        let mut found = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(full)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| s3_error("ListObjectVersions", key, e))?;
            for v in out.versions().iter().filter(|v| v.key() == Some(full)) {
                found.push(Version {
                    id: v.version_id().map(str::to_owned),
                    delete_marker: false,
                });
            }
            for m in out.delete_markers().iter().filter(|m| m.key() == Some(full)) {
                found.push(Version {
                    id: m.version_id().map(str::to_owned),
                    delete_marker: true,
                });
            }
            if out.is_truncated() != Some(true) || out.next_key_marker().is_none() {
                return Ok(found);
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            version_marker = out.next_version_id_marker().map(str::to_owned);
        }
    }

    /// Keys beginning with `prefix` (a string prefix), sorted bytewise. Unfinished multipart
    /// uploads are not objects, so they are never listed.
    ///
    /// # Errors
    /// [`BlobError::InvalidBlobKey`] for a malformed prefix, [`BlobError::Unavailable`],
    /// [`BlobError::Rejected`].
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.object_key(prefix))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error("ListObjectsV2", prefix, e))?;
            keys.extend(page.contents().iter().filter_map(|o| self.blob_key(o.key()?)));
        }
        keys.sort();
        Ok(keys)
    }

    /// The blob key of an object key, if it is ours (under the prefix, and a valid key).
    fn blob_key(&self, object_key: &str) -> Option<String> {
        let key = object_key.strip_prefix(&self.prefix)?;
        validate_key(key).ok().map(|()| key.to_owned())
    }

    /// Keys beginning with `prefix` that have an unfinished multipart upload (a writer still
    /// running, here or on another replica, or one a crash left), sorted.
    ///
    /// # Errors
    /// As [`S3Store::list`].
    pub async fn list_partial(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let mut keys: Vec<String> = self
            .uploads(prefix, &self.object_key(prefix))
            .await?
            .into_iter()
            .filter_map(|(key, _)| self.blob_key(&key))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Abort every unfinished multipart upload of `key`. Their parts are deleted by S3 and cannot
    /// be read back, so nothing is recovered: always `Ok(None)`. Run it only when no writer for
    /// this key is alive on any replica.
    ///
    /// # Errors
    /// [`BlobError::InvalidBlobKey`], [`BlobError::Unavailable`], [`BlobError::Rejected`].
    pub async fn recover_partial(&self, key: &str) -> Result<Option<BlobInfo>, BlobError> {
        validate_key(key)?;
        let full = self.object_key(key);
        let uploads = self.uploads(key, &full).await?;
        let mut aborted = 0usize;
        for (_, upload_id) in uploads.into_iter().filter(|(k, _)| *k == full) {
            abort_upload(&self.client, &self.bucket, &full, &upload_id)
                .await
                .map_err(|e| s3_error("AbortMultipartUpload", key, e))?;
            aborted += 1;
        }
        if aborted > 0 {
            tracing::warn!(
                key = %key,
                uploads = aborted,
                "unfinished S3 multipart uploads aborted; their data is lost"
            );
        }
        Ok(None)
    }

    /// (object key, upload id) of every multipart upload under `object_prefix`.
    async fn uploads(&self, what: &str, object_prefix: &str) -> Result<Vec<(String, String)>, BlobError> {
        let mut found = Vec::new();
        let (mut key_marker, mut upload_marker) = (None, None);
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(object_prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_marker.take())
                .send()
                .await
                .map_err(|e| s3_error("ListMultipartUploads", what, e))?;
            for u in out.uploads() {
                if let (Some(k), Some(id)) = (u.key(), u.upload_id()) {
                    found.push((k.to_owned(), id.to_owned()));
                }
            }
            if out.is_truncated() != Some(true) || out.next_key_marker().is_none() {
                return Ok(found);
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            upload_marker = out.next_upload_id_marker().map(str::to_owned);
        }
    }

    /// An incremental writer for `key`. Nothing is sent until more than `multipart_threshold`
    /// bytes are written (then a multipart upload starts) or the writer finishes (then a small
    /// blob is one `PutObject`).
    ///
    /// # Errors
    /// [`BlobError::InvalidBlobKey`].
    pub fn create_writer(&self, key: &str) -> Result<S3Writer, BlobError> {
        validate_key(key)?;
        Ok(S3Writer {
            store: self.clone(),
            key: key.to_owned(),
            buf: Vec::new(),
            hasher: Sha256::new(),
            len: 0,
            upload: None,
            failed: false,
        })
    }
}

/// One entry of a key's version history.
struct Version {
    /// `None` or `"null"` on a bucket that never had versioning.
    id: Option<String>,
    /// A delete marker holds no content, but is removed too so the key leaves no trace.
    delete_marker: bool,
}

impl BlobStore for S3Store {
    async fn put(&self, key: &str, data: &[u8]) -> Result<BlobInfo, BlobError> {
        S3Store::put(self, key, data).await
    }
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        S3Store::get(self, key).await
    }
    async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Vec<u8>, BlobError> {
        S3Store::get_range(self, key, start, end).await
    }
    async fn len(&self, key: &str) -> Result<u64, BlobError> {
        S3Store::len(self, key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        S3Store::delete(self, key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        S3Store::list(self, prefix).await
    }
}

/// Writes one blob incrementally through a multipart upload (see [`S3Store::create_writer`]).
/// Holds at most one part (or, before the upload starts, `multipart_threshold` bytes) in memory.
/// Dropped unfinished, or after a failure, its upload is aborted.
pub struct S3Writer {
    /// Where the requests go, and the SSE/lock settings they carry.
    store: S3Store,
    /// The blob key (without the store prefix).
    key: String,
    /// Bytes not yet sent: less than one part once the upload has started.
    buf: Vec<u8>,
    /// SHA-256 over everything written, for [`BlobInfo::sha256_hex`].
    hasher: Sha256,
    /// Bytes written so far.
    len: u64,
    /// The multipart upload, once started.
    upload: Option<Multipart>,
    /// Set while a request is in flight and left set if it fails or its future is dropped: the
    /// upload's state is then unknown, so the writer refuses to continue.
    failed: bool,
}

/// A started multipart upload.
struct Multipart {
    /// S3's id for it, needed by every part and by complete/abort.
    id: String,
    /// Parts uploaded so far, with the ETag and checksum S3 needs to complete.
    parts: Vec<CompletedPart>,
}

impl fmt::Debug for S3Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Writer")
            .field("key", &self.key)
            .field("len", &self.len)
            .field("parts", &self.upload.as_ref().map_or(0, |u| u.parts.len()))
            .field("failed", &self.failed)
            .finish()
    }
}

impl S3Writer {
    /// Append bytes; every full part is uploaded before this returns.
    ///
    /// # Errors
    /// [`BlobError::WriterFailed`] after an earlier failure, [`BlobError::TooLarge`] past 10,000
    /// parts, [`BlobError::Unavailable`], [`BlobError::Rejected`]. On error the upload is aborted.
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped future leaves the writer failed (and its upload is aborted when
    /// the writer is dropped).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), BlobError> {
        if self.failed {
            return Err(BlobError::WriterFailed);
        }
        self.failed = true;
        match self.write_inner(data).await {
            Ok(()) => {
                self.failed = false;
                Ok(())
            }
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    async fn write_inner(&mut self, mut data: &[u8]) -> Result<(), BlobError> {
        self.hasher.update(data);
        self.len += data.len() as u64;
        let part_size = self.store.part_size;
        if self.upload.is_none() {
            if self.buf.len() + data.len() <= self.store.multipart_threshold {
                self.buf.extend_from_slice(data);
                return Ok(());
            }
            self.start().await?;
            // The buffer holds at most `multipart_threshold` bytes: send the whole parts in it.
            while self.buf.len() >= part_size {
                let rest = self.buf.split_off(part_size);
                let part = std::mem::replace(&mut self.buf, rest);
                self.upload_part(part).await?;
            }
        }
        loop {
            let need = part_size - self.buf.len();
            if data.len() < need {
                self.buf.extend_from_slice(data);
                return Ok(());
            }
            self.buf.extend_from_slice(&data[..need]);
            data = &data[need..];
            let part = std::mem::replace(&mut self.buf, Vec::with_capacity(part_size));
            self.upload_part(part).await?;
        }
    }

    async fn start(&mut self) -> Result<(), BlobError> {
        let s = &self.store;
        let (mode, until) = s.retention().unzip();
        let out = s
            .client
            .create_multipart_upload()
            .bucket(&s.bucket)
            .key(s.object_key(&self.key))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&s.kms_key_id)
            .ssekms_encryption_context(encryption_context(&self.key))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_object_lock_mode(mode)
            .set_object_lock_retain_until_date(until)
            .set_object_lock_legal_hold_status(s.legal_hold_status())
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", &self.key, e))?;
        let id = out.upload_id().ok_or_else(|| BlobError::Rejected {
            op: "CreateMultipartUpload",
            why: "no upload id in the response".into(),
        })?;
        self.upload = Some(Multipart {
            id: id.to_owned(),
            parts: Vec::new(),
        });
        Ok(())
    }

    async fn upload_part(&mut self, part: Vec<u8>) -> Result<(), BlobError> {
        let s = &self.store;
        let upload = self.upload.as_mut().ok_or(BlobError::WriterFailed)?;
        // Part numbers start at 1; the count is bounded by MAX_PARTS below, so it fits an i32.
        let number = i32::try_from(upload.parts.len() + 1).map_err(|_| BlobError::TooLarge)?;
        if number > MAX_PARTS {
            return Err(BlobError::TooLarge);
        }
        let checksum = b64(&Sha256::digest(&part));
        let out = s
            .client
            .upload_part()
            .bucket(&s.bucket)
            .key(s.object_key(&self.key))
            .upload_id(&upload.id)
            .part_number(number)
            .content_length(part.len() as i64)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&checksum)
            .body(ByteStream::from(part))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| s3_error("UploadPart", &self.key, e))?;
        upload.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .checksum_sha256(checksum)
                .build(),
        );
        Ok(())
    }

    /// Send the rest and complete the upload (or, for a small blob, send it in one `PutObject`).
    ///
    /// # Errors
    /// As [`S3Writer::write`]; on error the upload is aborted.
    pub async fn finish(mut self) -> Result<BlobInfo, BlobError> {
        if self.failed {
            return Err(BlobError::WriterFailed);
        }
        self.failed = true;
        match self.finish_inner().await {
            Ok(info) => {
                self.failed = false;
                Ok(info)
            }
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    async fn finish_inner(&mut self) -> Result<BlobInfo, BlobError> {
        let sha = self.hasher.clone().finalize();
        if self.upload.is_none() {
            let body = std::mem::take(&mut self.buf);
            self.store.put_single(&self.key, body, &sha).await?;
        } else {
            let rest = std::mem::take(&mut self.buf);
            // An upload starts only with bytes in hand, so it has a part or a non-empty rest.
            if !rest.is_empty() {
                self.upload_part(rest).await?;
            }
            let s = &self.store;
            let upload = self.upload.as_ref().ok_or(BlobError::WriterFailed)?;
            s.client
                .complete_multipart_upload()
                .bucket(&s.bucket)
                .key(s.object_key(&self.key))
                .upload_id(&upload.id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(upload.parts.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| s3_error("CompleteMultipartUpload", &self.key, e))?;
            self.upload = None;
        }
        Ok(BlobInfo {
            key: self.key.clone(),
            plaintext_len: self.len,
            sha256_hex: to_hex(&sha),
            key_id: self.store.kms_key_id.clone(),
        })
    }

    /// Abort the upload after a failure (logged if that fails too; a lifecycle rule or
    /// `recover_partial` cleans up later).
    async fn abort(&mut self) {
        self.buf = Vec::new();
        if let Some(upload) = self.upload.take() {
            let s = &self.store;
            let full = s.object_key(&self.key);
            if let Err(e) = abort_upload(&s.client, &s.bucket, &full, &upload.id).await {
                let e = s3_error("AbortMultipartUpload", &self.key, e);
                tracing::warn!(key = %self.key, error.message = %e, "failed S3 upload could not be aborted");
            }
        }
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        let Some(upload) = self.upload.take() else {
            return;
        };
        // Unfinished: abort in the background so the parts (PHI) do not linger. Without a
        // runtime (process exit) the upload stays for `recover_partial` or the lifecycle rule.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (client, bucket) = (self.store.client.clone(), self.store.bucket.clone());
            let (key, full) = (self.key.clone(), self.store.object_key(&self.key));
            runtime.spawn(async move {
                if let Err(e) = abort_upload(&client, &bucket, &full, &upload.id).await {
                    let e = s3_error("AbortMultipartUpload", &key, e);
                    tracing::warn!(key = %key, error.message = %e, "abandoned S3 upload could not be aborted");
                }
            });
        }
    }
}

async fn abort_upload(
    client: &Client,
    bucket: &str,
    full: &str,
    upload_id: &str,
) -> Result<(), SdkError<aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError, HttpResponse>> {
    client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(full)
        .upload_id(upload_id)
        .send()
        .await
        .map(|_| ())
}

/// Base64 (standard, padded), as S3 wants checksums and encryption contexts.
fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The KMS encryption context for a blob: the service and the blob's kind (its key's first
/// segment), never anything that identifies a call or a patient. KMS requires the same context
/// to decrypt, and S3 stores it with the object, so reads need not send it.
fn encryption_context(key: &str) -> String {
    let kind = key.split('/').next().unwrap_or_default();
    b64(serde_json::json!({"service": "voicegate", "object": kind})
        .to_string()
        .as_bytes())
}

async fn read_body(op: &'static str, body: ByteStream) -> Result<Vec<u8>, BlobError> {
    match body.collect().await {
        Ok(bytes) => Ok(bytes.into_bytes().to_vec()),
        // A reset connection, a stall, or a checksum mismatch on the way: worth another try.
        Err(_) => Err(BlobError::Unavailable {
            op,
            why: "the response body was interrupted or failed its checksum".into(),
        }),
    }
}

/// Map an SDK failure to the store's error. `key` names the blob (or prefix) for
/// [`BlobError::NotFound`]; server messages are kept (S3 writes short prose and never echoes a
/// body), transport errors are reduced to their kind.
fn s3_error<E>(op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> BlobError
where
    E: ProvideErrorMetadata,
{
    let unavailable = |why: &str| BlobError::Unavailable { op, why: why.into() };
    match err {
        SdkError::TimeoutError(_) => unavailable("timed out"),
        SdkError::DispatchFailure(d) if d.is_timeout() => unavailable("timed out"),
        SdkError::DispatchFailure(d) if d.is_io() => unavailable("connection failed"),
        SdkError::DispatchFailure(_) => unavailable("request could not be sent"),
        SdkError::ResponseError(_) => unavailable("response could not be read"),
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.err();
            let code = err.code().unwrap_or("").to_owned();
            let mut why = match err.message() {
                Some(m) if !code.is_empty() => format!("{code}: {m}"),
                Some(m) => format!("HTTP {status}: {m}"),
                None if !code.is_empty() => code.clone(),
                None => format!("HTTP {status}"),
            };
            if why.len() > MAX_ERROR_MESSAGE {
                let mut cut = MAX_ERROR_MESSAGE;
                while !why.is_char_boundary(cut) {
                    cut -= 1;
                }
                why.truncate(cut);
            }
            match (status, code.as_str()) {
                (_, "NoSuchKey") => BlobError::NotFound(key.to_owned()),
                (_, "InvalidRange") | (416, _) => BlobError::InvalidRange,
                (_, "NoSuchBucket" | "NoSuchUpload") => BlobError::Rejected { op, why },
                // HeadObject has no body, so its 404 carries no code.
                (404, _) => BlobError::NotFound(key.to_owned()),
                (429 | 500..=599, _) => BlobError::Unavailable { op, why },
                (_, c) if c.contains("Throttl") || c == "SlowDown" || c == "RequestTimeout" => {
                    BlobError::Unavailable { op, why }
                }
                _ => BlobError::Rejected { op, why },
            }
        }
        _ => BlobError::Rejected {
            op,
            why: "request could not be built".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::blob::Blobs;
    use std::sync::Arc;

    /// The moto server to test against, from `VOICEGATE_TEST_S3` (`.ci/run` starts one). Unset:
    /// CI fails, a developer's run skips with a note.
    fn moto() -> Option<String> {
        match std::env::var("VOICEGATE_TEST_S3") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var_os("CI").is_some() => panic!("CI must provide moto: VOICEGATE_TEST_S3 is not set"),
            _ => {
                eprintln!("SKIPPED (S3): VOICEGATE_TEST_S3 is not set; `.ci/run` shows how to start moto");
                None
            }
        }
    }

    fn random_hex(n: usize) -> String {
        let bytes: [u8; 16] = crate::storage::crypto::random_array().unwrap();
        to_hex(&bytes)[..n].to_owned()
    }

    /// A made-up key ARN: moto echoes whatever key id it is sent and does not check that it exists.
    fn fake_kms_arn() -> String {
        let h = random_hex(32);
        format!(
            "arn:aws:kms:us-east-1:123456789012:key/{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    fn settings_for(endpoint: &str, bucket: &str) -> S3Settings {
        let mut s = S3Settings::new(bucket, "us-east-1", fake_kms_arn());
        s.endpoint = Some(endpoint.to_owned());
        s.force_path_style = true;
        s.access_key_id = Some(SecretString::from("testing"));
        s.secret_access_key = Some(SecretString::from("testing"));
        s
    }

    /// A store on a new bucket of its own (with Object Lock if `lock`), after `tweak`.
    async fn fresh_store(lock: bool, tweak: impl FnOnce(&mut S3Settings)) -> Option<S3Store> {
        let endpoint = moto()?;
        let bucket = format!("vg-test-{}", random_hex(16));
        let mut settings = settings_for(&endpoint, &bucket);
        tweak(&mut settings);
        let store = S3Store::connect(&settings).unwrap();
        store
            .client
            .create_bucket()
            .bucket(&bucket)
            .object_lock_enabled_for_bucket(lock)
            .send()
            .await
            .unwrap();
        Some(store)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn sha_hex(d: &[u8]) -> String {
        to_hex(&Sha256::digest(d))
    }

    async fn head(store: &S3Store, key: &str) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
        store
            .client
            .head_object()
            .bucket(&store.bucket)
            .key(store.object_key(key))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn single_put_is_sse_kms_with_sha256() {
        let Some(s) = fresh_store(false, |_| {}).await else {
            return;
        };
        let body = br#"{"length": 1000, "head": "abc"}"#;
        let info = s.put("checkpoints/000001.json", body).await.unwrap();
        assert_eq!(
            info,
            BlobInfo {
                key: "checkpoints/000001.json".into(),
                plaintext_len: body.len() as u64,
                sha256_hex: sha_hex(body),
                key_id: s.kms_key_id().to_owned(),
            }
        );
        let h = head(&s, "checkpoints/000001.json").await;
        assert_eq!(h.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
        assert_eq!(h.ssekms_key_id(), Some(s.kms_key_id()));
        assert_eq!(h.checksum_sha256(), Some(b64(&Sha256::digest(body)).as_str()));
        assert_eq!(h.content_length(), Some(body.len() as i64));
        assert_eq!(s.get("checkpoints/000001.json").await.unwrap(), body);
        assert_eq!(s.len("checkpoints/000001.json").await.unwrap(), body.len() as u64);
        assert_eq!(s.get_range("checkpoints/000001.json", 2, 8).await.unwrap(), &body[2..8]);

        // Replacing a blob replaces its content.
        s.put("checkpoints/000001.json", b"second").await.unwrap();
        assert_eq!(s.get("checkpoints/000001.json").await.unwrap(), b"second");
    }

    #[tokio::test]
    async fn multipart_writer_uploads_11_mib_under_kms() {
        let Some(s) = fresh_store(false, |c| c.part_size = MIN_PART_SIZE).await else {
            return;
        };
        let key = "recordings/2026/11/22/call_x.wav";
        let d = data(11 * MIB);
        let mut w = s.create_writer(key).unwrap();
        for piece in d.chunks(700_001) {
            w.write(piece).await.unwrap();
        }
        // Past the threshold the upload is in flight, and shows as unfinished.
        assert_eq!(s.list_partial("recordings/").await.unwrap(), [key]);
        assert!(s.list("recordings/").await.unwrap().is_empty());
        let info = w.finish().await.unwrap();
        assert_eq!(
            (info.plaintext_len, info.sha256_hex.as_str()),
            (d.len() as u64, sha_hex(&d).as_str())
        );
        assert_eq!(info.key_id, s.kms_key_id());

        let h = head(&s, key).await;
        assert_eq!(h.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
        assert_eq!(h.ssekms_key_id(), Some(s.kms_key_id()));
        assert_eq!(h.content_length(), Some(d.len() as i64));
        // 5 + 5 + 1 MiB.
        assert!(
            h.e_tag().is_some_and(|t| t.trim_matches('"').ends_with("-3")),
            "{:?}",
            h.e_tag()
        );

        assert!(s.get(key).await.unwrap() == d, "downloaded bytes differ");
        let boundary = MIN_PART_SIZE as u64;
        let range = s.get_range(key, boundary - 10, boundary + 10).await.unwrap();
        assert_eq!(range, &d[MIN_PART_SIZE - 10..MIN_PART_SIZE + 10]);
        let end = d.len() as u64;
        assert_eq!(s.get_range(key, end - 3, end).await.unwrap(), &d[d.len() - 3..]);
        assert!(s.get_range(key, end, end).await.unwrap().is_empty());
        assert!(matches!(
            s.get_range(key, end - 3, end + 1).await,
            Err(BlobError::InvalidRange)
        ));
        assert!(matches!(
            s.get_range(key, end + 5, end + 9).await,
            Err(BlobError::InvalidRange)
        ));
        assert!(matches!(s.get_range(key, 9, 3).await, Err(BlobError::InvalidRange)));
        assert!(matches!(
            s.get_range(key, end + 1, end + 1).await,
            Err(BlobError::InvalidRange)
        ));
        assert!(s.list_partial("").await.unwrap().is_empty());
        assert_eq!(s.list("recordings/").await.unwrap(), [key]);
    }

    #[tokio::test]
    async fn large_put_goes_multipart_and_small_writer_goes_single() {
        let Some(s) = fresh_store(false, |c| {
            c.part_size = MIN_PART_SIZE;
            c.multipart_threshold = MIB;
        })
        .await
        else {
            return;
        };
        let d = data(MIN_PART_SIZE + 3);
        let info = s.put("recordings/big.wav", &d).await.unwrap();
        assert_eq!(info.sha256_hex, sha_hex(&d));
        let h = head(&s, "recordings/big.wav").await;
        assert!(
            h.e_tag().is_some_and(|t| t.trim_matches('"').ends_with("-2")),
            "{:?}",
            h.e_tag()
        );
        assert_eq!(h.ssekms_key_id(), Some(s.kms_key_id()));
        assert!(s.get("recordings/big.wav").await.unwrap() == d);

        let mut w = s.create_writer("recordings/small.wav").unwrap();
        w.write(b"RIFF").await.unwrap();
        w.write(b"").await.unwrap();
        assert!(
            s.list_partial("").await.unwrap().is_empty(),
            "nothing is sent below the threshold"
        );
        let info = w.finish().await.unwrap();
        assert_eq!(info.plaintext_len, 4);
        let h = head(&s, "recordings/small.wav").await;
        assert_eq!(h.checksum_sha256(), Some(b64(&Sha256::digest(b"RIFF")).as_str()));
        assert_eq!(h.ssekms_key_id(), Some(s.kms_key_id()));

        // An empty blob is a blob.
        let w = s.create_writer("recordings/empty.wav").unwrap();
        assert_eq!(w.finish().await.unwrap().sha256_hex, sha_hex(b""));
        assert!(s.get("recordings/empty.wav").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn list_delete_and_not_found() {
        let Some(s) = fresh_store(false, |c| c.prefix = Some("tenant-a/prod".into())).await else {
            return;
        };
        for key in [
            "checkpoints/002.json",
            "checkpoints/001.json",
            "recordings/a.wav",
            "checkpoints/010.json",
        ] {
            s.put(key, b"x").await.unwrap();
        }
        // Something outside the prefix is not ours.
        s.client
            .put_object()
            .bucket(&s.bucket)
            .key("elsewhere/checkpoints/003.json")
            .body(ByteStream::from_static(b"y"))
            .send()
            .await
            .unwrap();
        let cps = ["checkpoints/001.json", "checkpoints/002.json", "checkpoints/010.json"];
        assert_eq!(s.list("checkpoints/").await.unwrap(), cps);
        assert_eq!(s.list("checkpoints/00").await.unwrap(), &cps[..2]);
        assert_eq!(s.list("").await.unwrap().len(), 4);
        assert!(s.list("nothing/").await.unwrap().is_empty());
        assert!(matches!(s.list("../").await, Err(BlobError::InvalidBlobKey(_))));
        assert!(head(&s, "checkpoints/001.json").await.ssekms_key_id() == Some(s.kms_key_id()));

        s.delete("checkpoints/002.json").await.unwrap();
        assert_eq!(
            s.list("checkpoints/").await.unwrap(),
            ["checkpoints/001.json", "checkpoints/010.json"]
        );
        let gone = "checkpoints/002.json";
        assert!(matches!(s.get(gone).await, Err(BlobError::NotFound(k)) if k == gone));
        assert!(matches!(s.len(gone).await, Err(BlobError::NotFound(_))));
        assert!(matches!(s.get_range(gone, 0, 1).await, Err(BlobError::NotFound(_))));
        assert!(matches!(s.get_range(gone, 0, 0).await, Err(BlobError::NotFound(_))));
        assert!(matches!(s.delete(gone).await, Err(BlobError::NotFound(_))));
        // A prefix of a key is not that key.
        assert!(matches!(s.delete("checkpoints/01").await, Err(BlobError::NotFound(_))));
        assert!(matches!(s.get("/etc/passwd").await, Err(BlobError::InvalidBlobKey(_))));
        let e = s.get("never/was").await.unwrap_err();
        assert!(!e.is_retryable() && e.to_string().contains("never/was"), "{e}");
    }

    #[tokio::test]
    async fn legal_hold_and_retention_refuse_deletion() {
        let Some(held) = fresh_store(true, |c| c.legal_hold = true).await else {
            return;
        };
        held.check().await.unwrap();
        held.put("recordings/held.wav", b"audio").await.unwrap();
        let h = head(&held, "recordings/held.wav").await;
        assert_eq!(h.object_lock_legal_hold_status(), Some(&ObjectLockLegalHoldStatus::On));
        let e = held.delete("recordings/held.wav").await.unwrap_err();
        assert!(
            matches!(&e, BlobError::Locked(k) if k == "recordings/held.wav"),
            "{e:?}"
        );
        assert!(!e.is_retryable());
        assert_eq!(held.get("recordings/held.wav").await.unwrap(), b"audio");

        // Retention. (Single part only: moto ignores Object Lock headers on CreateMultipartUpload,
        // which S3 honours.)
        let Some(retained) = fresh_store(true, |c| {
            c.object_lock = Some(ObjectLockSettings {
                mode: LockMode::Governance,
                retain_days: 1,
            });
        })
        .await
        else {
            return;
        };
        retained.put("recordings/kept.wav", b"audio").await.unwrap();
        let h = head(&retained, "recordings/kept.wav").await;
        assert_eq!(h.object_lock_mode(), Some(&ObjectLockMode::Governance));
        assert_eq!(h.ssekms_key_id(), Some(retained.kms_key_id()));
        assert!(matches!(
            retained.delete("recordings/kept.wav").await,
            Err(BlobError::Locked(_))
        ));
    }

    #[tokio::test]
    async fn delete_removes_every_version() {
        let Some(s) = fresh_store(true, |_| {}).await else {
            return;
        };
        s.put("recordings/v.wav", b"one").await.unwrap();
        s.put("recordings/v.wav", b"two").await.unwrap();
        s.put("recordings/v.wav.manifest.json", b"{}").await.unwrap();
        s.delete("recordings/v.wav").await.unwrap();
        let left = s
            .client
            .list_object_versions()
            .bucket(&s.bucket)
            .prefix("recordings/v.wav")
            .send()
            .await
            .unwrap();
        let keys: Vec<_> = left
            .versions()
            .iter()
            .filter_map(|v| v.key())
            .chain(left.delete_markers().iter().filter_map(|m| m.key()))
            .collect();
        assert_eq!(keys, ["recordings/v.wav.manifest.json"]);
        assert!(matches!(
            s.delete("recordings/v.wav").await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn crashed_upload_is_listed_then_aborted() {
        let Some(s) = fresh_store(false, |c| {
            c.part_size = MIN_PART_SIZE;
            c.multipart_threshold = 0;
        })
        .await
        else {
            return;
        };
        let key = "recordings/spool/call_y-8000.pcm";
        let mut w = s.create_writer(key).unwrap();
        w.write(&data(MIN_PART_SIZE + 1)).await.unwrap();
        // The crash: the process is gone, so nothing aborts the upload.
        std::mem::forget(w);
        assert_eq!(s.list_partial("recordings/spool/").await.unwrap(), [key]);
        assert!(s.recover_partial(key).await.unwrap().is_none());
        assert!(s.list_partial("").await.unwrap().is_empty());
        assert!(matches!(s.get(key).await, Err(BlobError::NotFound(_))));
        assert!(s.recover_partial(key).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn failed_upload_is_aborted_and_writer_refuses_to_continue() {
        let Some(s) = fresh_store(false, |c| {
            c.part_size = MIN_PART_SIZE;
            c.multipart_threshold = 0;
            c.max_attempts = 1;
        })
        .await
        else {
            return;
        };
        let key = "recordings/broken.wav";
        let mut w = s.create_writer(key).unwrap();
        w.write(b"started").await.unwrap();
        // Someone else aborts the upload: the next part is refused.
        assert!(s.recover_partial(key).await.unwrap().is_none());
        let e = w.write(&data(MIN_PART_SIZE)).await.unwrap_err();
        // S3 answers 404 NoSuchUpload (Rejected); moto 5.2.5 fails with a 500 (Unavailable).
        assert!(
            matches!(
                e,
                BlobError::Rejected { op: "UploadPart", .. } | BlobError::Unavailable { op: "UploadPart", .. }
            ),
            "{e:?}"
        );
        assert!(matches!(w.write(b"more").await, Err(BlobError::WriterFailed)));
        assert!(matches!(w.finish().await, Err(BlobError::WriterFailed)));
        assert!(s.list_partial("").await.unwrap().is_empty());
        assert!(matches!(s.get(key).await, Err(BlobError::NotFound(_))));
    }

    #[tokio::test]
    async fn dropped_writer_aborts_its_upload() {
        let Some(s) = fresh_store(false, |c| {
            c.part_size = MIN_PART_SIZE;
            c.multipart_threshold = 0;
        })
        .await
        else {
            return;
        };
        let mut w = s.create_writer("recordings/abandoned.wav").unwrap();
        w.write(&data(MIN_PART_SIZE + 1)).await.unwrap();
        assert_eq!(s.list_partial("").await.unwrap(), ["recordings/abandoned.wav"]);
        drop(w);
        // The abort runs in the background: wait for its effect (the timeout only turns a hang
        // into a failure).
        tokio::time::timeout(Duration::from_secs(10), async {
            while !s.list_partial("").await.unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the abandoned upload was never aborted");
        assert!(matches!(
            s.get("recordings/abandoned.wav").await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn blobs_enum_dispatches_to_s3() {
        let Some(s) = fresh_store(false, |_| {}).await else {
            return;
        };
        let blobs = Blobs::S3Kms(Arc::new(s.clone()));
        assert_eq!(blobs.store_kind(), "s3_kms");
        blobs.put("checkpoints/1.json", b"one").await.unwrap();
        assert_eq!(blobs.get("checkpoints/1.json").await.unwrap(), b"one");
        assert_eq!(blobs.get_range("checkpoints/1.json", 1, 3).await.unwrap(), b"ne");
        assert_eq!(blobs.len("checkpoints/1.json").await.unwrap(), 3);
        let mut w = blobs.create_writer("recordings/2.wav").await.unwrap();
        w.write(b"two").await.unwrap();
        let info = w.finish().await.unwrap();
        assert_eq!((info.plaintext_len, info.key_id.as_str()), (3, s.kms_key_id()));
        assert!(blobs.list_partial("").await.unwrap().is_empty());
        assert!(blobs.recover_partial("recordings/2.wav").await.unwrap().is_none());
        blobs.delete("checkpoints/1.json").await.unwrap();
        assert_eq!(blobs.list("").await.unwrap(), ["recordings/2.wav"]);
    }

    #[tokio::test]
    async fn check_reports_missing_bucket_and_missing_object_lock() {
        let Some(plain) = fresh_store(false, |_| {}).await else {
            return;
        };
        plain.check().await.unwrap();
        let mut settings = settings_for(&moto().unwrap(), &plain.bucket);
        settings.legal_hold = true;
        let wants_lock = S3Store::connect(&settings).unwrap();
        assert!(matches!(wants_lock.check().await, Err(BlobError::Config(_))));
        settings.bucket = format!("vg-missing-{}", random_hex(8));
        let missing = S3Store::connect(&settings).unwrap();
        let e = missing.check().await.unwrap_err();
        assert!(
            matches!(&e, BlobError::Rejected { why, .. } if why.contains("does not exist")),
            "{e:?}"
        );
        let e = missing.put("checkpoints/x.json", b"x").await.unwrap_err();
        assert!(matches!(e, BlobError::Rejected { .. }), "{e:?}");
    }

    /// Needs no moto: a closed port stands in for S3 being down.
    #[tokio::test]
    async fn unreachable_store_fails_retryably() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut settings = settings_for(&format!("http://127.0.0.1:{port}"), "vg-down");
        settings.max_attempts = 1;
        let s = S3Store::connect(&settings).unwrap();
        let e = s.put("checkpoints/000001.json", b"secret content").await.unwrap_err();
        assert!(e.is_retryable(), "{e:?}");
        assert!(matches!(e, BlobError::Unavailable { op: "PutObject", .. }), "{e:?}");
        assert!(!e.to_string().contains("secret content"));
        let mut w = s.create_writer("recordings/a.wav").unwrap();
        w.write(b"x").await.unwrap();
        assert!(w.finish().await.unwrap_err().is_retryable());
        assert!(s.get("checkpoints/000001.json").await.unwrap_err().is_retryable());
        assert!(s.list("").await.unwrap_err().is_retryable());
    }

    #[test]
    fn encryption_context_names_only_the_kind() {
        let ctx = base64::engine::general_purpose::STANDARD
            .decode(encryption_context("recordings/2026/11/22/call_x.wav"))
            .unwrap();
        let ctx: serde_json::Value = serde_json::from_slice(&ctx).unwrap();
        assert_eq!(ctx, serde_json::json!({"service": "voicegate", "object": "recordings"}));
        let ctx = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encryption_context("checkpoints/000001.json"))
                .unwrap(),
        )
        .unwrap();
        assert!(ctx.contains("\"checkpoints\"") && !ctx.contains("000001"), "{ctx}");
    }

    #[test]
    fn settings_are_validated() {
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let ok = || {
            let mut s = S3Settings::new("voicegate-recordings", "us-east-1", arn);
            s.access_key_id = Some(SecretString::from("AKIA"));
            s.secret_access_key = Some(SecretString::from("shh"));
            s
        };
        assert!(ok().validate().is_ok());
        assert!(S3Store::connect(&ok()).is_ok());
        type Spoil = Box<dyn Fn(&mut S3Settings)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("bucket", Box::new(|s| s.bucket = "Bad_Bucket".into())),
            ("bucket", Box::new(|s| s.bucket = "ab".into())),
            ("region", Box::new(|s| s.region = String::new())),
            ("kms_key_id", Box::new(|s| s.kms_key_id = "alias/voicegate".into())),
            (
                "kms_key_id",
                Box::new(|s| s.kms_key_id = "arn:aws:kms:us-east-1:123456789012:alias/vg".into()),
            ),
            ("kms_key_id", Box::new(|s| s.kms_key_id = "arn:aws:s3:::bucket".into())),
            ("endpoint", Box::new(|s| s.endpoint = Some("127.0.0.1:5005".into()))),
            ("prefix", Box::new(|s| s.prefix = Some("../up".into()))),
            ("prefix", Box::new(|s| s.prefix = Some("/abs".into()))),
            ("prefix", Box::new(|s| s.prefix = Some(String::new()))),
            ("secret_access_key", Box::new(|s| s.secret_access_key = None)),
            ("part_size", Box::new(|s| s.part_size = MIN_PART_SIZE - 1)),
            (
                "multipart_threshold",
                Box::new(|s| s.multipart_threshold = MAX_PART_SIZE + 1),
            ),
            ("max_attempts", Box::new(|s| s.max_attempts = 0)),
            (
                "retain_days",
                Box::new(|s| {
                    s.object_lock = Some(ObjectLockSettings {
                        mode: LockMode::Compliance,
                        retain_days: 0,
                    })
                }),
            ),
        ];
        for (field, spoil) in cases {
            let mut s = ok();
            spoil(&mut s);
            match s.validate() {
                Err(BlobError::Config(why)) => assert!(why.contains(field), "{field}: {why}"),
                other => panic!("{field}: {other:?}"),
            }
        }
        // The secret never shows in Debug.
        assert!(!format!("{:?}", ok()).contains("shh"));
    }

    #[test]
    fn settings_deserialize_with_defaults() {
        let s: S3Settings = serde_json::from_value(serde_json::json!({
            "bucket": "voicegate-recordings",
            "region": "us-east-1",
            "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k",
            "object_lock": {"mode": "compliance", "retain_days": 2190},
            "legal_hold": false,
        }))
        .unwrap();
        assert_eq!(
            (s.multipart_threshold, s.part_size, s.max_attempts),
            (8 * MIB, 8 * MIB, 3)
        );
        assert!(!s.force_path_style && s.endpoint.is_none() && s.prefix.is_none());
        assert_eq!(
            s.object_lock.map(|l| (l.mode, l.retain_days)),
            Some((LockMode::Compliance, 2190))
        );
    }

    /// The production shape: a tagged `recordings` enum overridden from the environment, where every
    /// value is a string.
    #[test]
    fn settings_load_from_environment_strings() {
        #[derive(Debug, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Recordings {
            Local,
            S3(S3Settings),
        }
        #[derive(Debug, Deserialize)]
        struct Top {
            recordings: Recordings,
        }
        let env: std::collections::HashMap<String, String> = [
            ("KIND", "s3"),
            ("BUCKET", "voicegate-recordings"),
            ("REGION", "us-east-1"),
            ("KMS_KEY_ID", "arn:aws:kms:us-east-1:123456789012:key/k"),
            ("FORCE_PATH_STYLE", "true"),
            ("LEGAL_HOLD", "true"),
            ("PART_SIZE", "6291456"),
            ("MULTIPART_THRESHOLD", "0"),
            ("MAX_ATTEMPTS", "5"),
            ("OBJECT_LOCK__MODE", "governance"),
            ("OBJECT_LOCK__RETAIN_DAYS", "2190"),
        ]
        .into_iter()
        .map(|(k, v)| (format!("VOICEGATE__RECORDINGS__{k}"), v.to_owned()))
        .collect();
        let top: Top = config::Config::builder()
            .add_source(config::File::from_str(
                "recordings:\n  kind: local\n",
                config::FileFormat::Yaml,
            ))
            .add_source(
                config::Environment::with_prefix("VOICEGATE")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env)),
            )
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        let Recordings::S3(s) = top.recordings else {
            panic!("kind: s3 was not picked up")
        };
        assert!(s.force_path_style && s.legal_hold);
        assert_eq!((s.part_size, s.multipart_threshold, s.max_attempts), (6 * MIB, 0, 5));
        let lock = s.object_lock.map(|l| (l.mode, l.retain_days));
        assert_eq!(lock, Some((LockMode::Governance, 2190)));
        let bad: Result<S3Settings, _> = serde_json::from_value(serde_json::json!({
            "bucket": "b-b-b", "region": "r", "kms_key_id": "k", "part_size": "lots",
        }));
        assert!(bad.is_err());
    }
}
