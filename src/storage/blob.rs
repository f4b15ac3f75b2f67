//! The blob store: named byte objects (audit checkpoints, call recordings and their manifests),
//! always encrypted at rest.
//!
//! Owns: the [`BlobStore`] interface, the [`Blobs`] enum the server dispatches through (chosen by
//! configuration: [`Blobs::Local`] or [`Blobs::S3Kms`], see [`super::s3`]), the [`BlobWriter`]
//! both hand out, blob key validation, the master [`Keyring`], and [`LocalEncrypted`], the embedded
//! default that keeps blobs as files under one root directory. Deliberately not owned: what a blob
//! means (the audit log and recorder decide), retention, and the AEAD primitives themselves
//! ([`super::crypto`]).
//!
//! # Guarantees of [`LocalEncrypted`]
//! - Plaintext never reaches the disk: not in temporary files, not as a partial chunk. Only
//!   sealed chunks are written; a writer's unsealed tail stays in (zeroized) memory.
//! - `put` is atomic: the blob is written to `<name>.<random>.tmp` in the destination directory,
//!   fsynced, renamed over `<key>`, and the directory is fsynced. Readers see the old blob or the
//!   new one, never a mix.
//! - Every read is authenticated: a flipped byte, reordered or dropped chunks, a truncated file,
//!   a swapped header or key id give [`BlobError::Corrupt`], [`BlobError::Truncated`] or
//!   [`BlobError::UnknownKey`], never wrong bytes.
//! - Directories are created mode 0700 and files mode 0600 (the process umask can only narrow this).
//! - Blocking file I/O and encryption run on `spawn_blocking`, never on the async worker threads.
//!
//! Blob keys appear in error messages, so they must never carry PHI (use call ids, dates,
//! sequence numbers).
//!
//! # At-rest format, version 1
//! A blob file is a header followed by one or more sealed chunks. All integers are big-endian.
//!
//! | offset          | size    | field                                                        |
//! |-----------------|---------|--------------------------------------------------------------|
//! | 0               | 4       | magic `VGB1` (`56 47 42 31`)                                 |
//! | 4               | 1       | format version, `1`                                          |
//! | 5               | 1       | `n` = key id length, 1..=64                                  |
//! | 6               | n       | master key id, printable ASCII                               |
//! | 6+n             | 2       | `w` = wrapped data key length (u16, 60 in version 1)         |
//! | 8+n             | w       | wrapped data key: nonce (12) ‖ AES-256-GCM(master, data key) (32) ‖ tag (16); associated data `"voicegate/blob/data-key/v1\0"` ‖ key id |
//! | 8+n+w           | 7       | nonce prefix, random per blob                                |
//! | 15+n+w          | 4       | plaintext chunk size (u32), 65536                            |
//! | 19+n+w          | ...     | sealed chunks                                                |
//!
//! The header bytes (offset 0 up to the first chunk, exactly as stored) are the associated data
//! of every chunk, so a header, key id or nonce prefix taken from another blob is detected.
//!
//! Plaintext is cut into chunks of exactly 65536 bytes followed by one *final* chunk of 0..=65535
//! bytes (so a plaintext of 65536 bytes is one full chunk plus an empty final chunk). Chunk `i` is
//! sealed with AES-256-GCM under the blob's random 256-bit data key with
//! nonce = nonce prefix (7) ‖ `i` as u32 (4) ‖ last flag (1 byte: `1` for the final chunk, else
//! `0`), and stored as ciphertext ‖ 16-byte tag (65552 bytes for a full chunk, 16..=65551 for the
//! final one). Hence:
//! - the plaintext length follows from the file size: `full * 65536 + (rest - 16)` where
//!   `full, rest = divmod(file_size - header_len, 65552)`; `rest < 16` means a missing tail;
//! - dropping the final chunk (truncation at a chunk boundary) is detected because only a chunk
//!   sealed with flag 1 may end the file; reordering is detected by the index in the nonce.
//!
//! The data key is wrapped by the master key named in the header. A [`Keyring`] maps key ids to
//! master keys: new blobs use the current key, and blobs under earlier keys stay readable while
//! those keys are kept in `previous`.
//!
//! An incremental [`BlobWriter`] appends sealed full chunks to `<key>.partial` and renames it to
//! `<key>` when finished; after a crash, [`LocalEncrypted::recover_partial`] keeps every whole
//! sealed chunk and closes the blob with an empty final chunk.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

use super::crypto::{self, ChunkCipher, CryptoError, DataKey, KEY_LEN, NONCE_PREFIX_LEN, TAG_LEN};
use super::s3::{S3Store, S3Writer};

/// First bytes of every blob file, so a foreign or plaintext file is refused before decryption.
const MAGIC: [u8; 4] = *b"VGB1";
/// The only layout this code writes and reads; a new layout gets a new number, never a reinterpretation.
const FORMAT_VERSION: u8 = 1;
/// Plaintext bytes per chunk: bounds memory per operation, lets a range read decrypt at most two
/// chunks it doesn't need, and keeps the tag overhead at 0.02%.
pub const CHUNK_LEN: usize = 65536;
/// A full chunk as stored: ciphertext plus tag.
const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
/// Longest master key id: it is stored in every header, which stays small and parseable.
pub const MAX_KEY_ID_LEN: usize = 64;
/// Longest blob key: generous for `recordings/yyyy/mm/dd/<call>.wav`, short enough for any filesystem path.
pub const MAX_BLOB_KEY_LEN: usize = 512;
/// Suffix of an unfinished [`BlobWriter`] file; reserved, so no blob key can end with it.
const PARTIAL_SUFFIX: &str = ".partial";
/// Suffix of an in-flight `put`; reserved, so no blob key can end with it.
const TMP_SUFFIX: &str = ".tmp";
/// A [`BlobWriter`] fsyncs after this many full chunks (256 KiB), bounding what a power loss can
/// take from a long recording without an fsync per chunk.
const SYNC_EVERY_CHUNKS: u32 = 4;

/// Errors of the blob store. Messages carry blob keys and key ids, never data or key material.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob is stored under this key. Not retryable.
    #[error("blob {0:?} not found")]
    NotFound(String),
    /// The filesystem failed (disk full, permissions, EIO). Retryable: such conditions may clear.
    #[error("blob store I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The blob names a master key id the keyring doesn't hold. Not retryable: a configuration
    /// problem (a rotated-out key must stay in `previous` while its blobs are kept).
    #[error("blob is sealed under unknown master key id {0:?}")]
    UnknownKey(String),
    /// The blob failed authentication or is malformed: altered, reordered, or under a different
    /// master key with the same id. Not retryable.
    #[error("blob {key:?} is corrupt: {why}")]
    Corrupt {
        /// The blob key.
        key: String,
        /// Which check failed.
        why: &'static str,
    },
    /// The blob ends before its final chunk. Not retryable.
    #[error("blob {key:?} is truncated")]
    Truncated {
        /// The blob key.
        key: String,
    },
    /// A master key or keyring is unusable (bad hex, bad or duplicate id, missing). Not
    /// retryable: fix the configuration. The message never contains key material.
    #[error("invalid master key: {0}")]
    InvalidKey(String),
    /// A blob key or prefix was refused by [`validate_key`]. Not retryable. The offending key is
    /// not echoed: it is unvalidated input.
    #[error("invalid blob key: {0}")]
    InvalidBlobKey(&'static str),
    /// `start > end` or `end` beyond the blob. Not retryable.
    #[error("byte range is outside the blob")]
    InvalidRange,
    /// An unfinished writer's `<key>.partial` exists (another writer, or a crash to recover
    /// first with [`LocalEncrypted::recover_partial`]). Not retryable as is.
    #[error("blob {0:?} has an unfinished partial write")]
    PartialExists(String),
    /// This [`BlobWriter`] failed or was cancelled earlier; its partial file can be recovered.
    /// Not retryable on this writer.
    #[error("blob writer failed earlier and cannot continue")]
    WriterFailed,
    /// More than 2^32 chunks (256 TiB). Not retryable.
    #[error("blob is too large for the format")]
    TooLarge,
    /// The system random source failed. Retryable in principle, but the host is unhealthy.
    #[error("the system random source failed")]
    Random,
    /// A blocking worker task panicked or was cancelled at shutdown. Not retryable (a bug, or
    /// the runtime is going away).
    #[error("blob store worker task failed")]
    Task,
    /// The object store could not be reached, or failed in a way that clears (connection refused
    /// or reset, timeout, throttling, a 5xx, an interrupted download). Retryable.
    #[error("object store unavailable during {op}: {why}")]
    Unavailable {
        /// The S3 operation, e.g. `PutObject`.
        op: &'static str,
        /// What went wrong: a transport failure kind or the service's code and message, never data.
        why: String,
    },
    /// The object store refused the request: access denied, a KMS key it cannot use, a missing
    /// bucket, an aborted upload, a malformed request. Not retryable: fix the configuration or
    /// the bucket.
    #[error("object store refused {op}: {why}")]
    Rejected {
        /// The S3 operation, e.g. `PutObject`.
        op: &'static str,
        /// The service's error code and message, never data.
        why: String,
    },
    /// The blob is under Object Lock (a legal hold, or retention not yet expired) and cannot be
    /// deleted. Not retryable until the hold is lifted or the retention date passes.
    #[error("blob {0:?} is under object lock (legal hold or retention) and cannot be deleted")]
    Locked(String),
    /// The blob store's configuration is unusable (S3 settings, missing credentials, a bucket
    /// without Object Lock when retention is configured). Not retryable. Never contains secrets.
    #[error("invalid blob store configuration: {0}")]
    Config(String),
}

impl BlobError {
    /// Whether the same call may succeed later (see each variant's doc).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BlobError::Io(_) | BlobError::Random | BlobError::Unavailable { .. }
        )
    }
}

/// A master key for wrapping per-blob data keys. Its id is public and stored in each blob header.
pub struct MasterKey {
    /// Short public name (e.g. `k2026a`), 1..=64 printable ASCII characters.
    pub id: String,
    /// The key itself, zeroized on drop and never printed.
    key: SecretBox<[u8; KEY_LEN]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey {{ id: {:?}, key: [redacted] }}", self.id)
    }
}

impl MasterKey {
    /// A master key from raw bytes. The id is checked when the keyring is used
    /// ([`LocalEncrypted::open`]), since this constructor cannot fail.
    pub fn new(id: impl Into<String>, key: [u8; KEY_LEN]) -> MasterKey {
        let mut key = key;
        let boxed = SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| *k = key);
        secrecy::zeroize::Zeroize::zeroize(&mut key);
        MasterKey {
            id: id.into(),
            key: boxed,
        }
    }

    /// A master key from 64 hex digits (surrounding whitespace ignored, either case).
    ///
    /// # Errors
    /// [`BlobError::InvalidKey`] for a malformed id or hex string; the message never quotes the hex.
    pub fn from_hex(id: impl Into<String>, hex: &str) -> Result<MasterKey, BlobError> {
        let id = id.into();
        validate_key_id(&id)?;
        let hex = hex.trim().as_bytes();
        if hex.len() != 2 * KEY_LEN {
            return Err(BlobError::InvalidKey(format!(
                "master key {id:?} must be 64 hex digits"
            )));
        }
        let mut ok = true;
        let key = SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| {
            for (byte, pair) in k.iter_mut().zip(hex.chunks_exact(2)) {
                match (hex_value(pair[0]), hex_value(pair[1])) {
                    (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
                    _ => ok = false,
                }
            }
        });
        if !ok {
            return Err(BlobError::InvalidKey(format!(
                "master key {id:?} must be 64 hex digits"
            )));
        }
        Ok(MasterKey { id, key })
    }

    fn expose(&self) -> &[u8; KEY_LEN] {
        self.key.expose_secret()
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Key ids go into every header (length in one byte) and into error messages and logs.
fn validate_key_id(id: &str) -> Result<(), BlobError> {
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BlobError::InvalidKey(
            "a master key id must be 1 to 64 printable ASCII characters".into(),
        ));
    }
    Ok(())
}

/// The master keys: `current` seals new blobs; `previous` keys only open old ones, so a rotation
/// never makes stored blobs unreadable.
#[derive(Debug)]
pub struct Keyring {
    /// Wraps the data key of every new blob.
    current: MasterKey,
    /// Kept for reading blobs sealed before a rotation.
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring with only a current key.
    pub fn new(current: MasterKey) -> Keyring {
        Keyring {
            current,
            previous: Vec::new(),
        }
    }

    /// Add an earlier key, still needed to read older blobs.
    #[must_use]
    pub fn with_previous(mut self, key: MasterKey) -> Keyring {
        self.previous.push(key);
        self
    }

    /// The key new blobs are sealed under.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The key with this id, current or previous.
    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }

    /// Every id is well formed and used once (a duplicate id would make reads ambiguous).
    ///
    /// # Errors
    /// [`BlobError::InvalidKey`] naming the problem.
    pub fn validate(&self) -> Result<(), BlobError> {
        let all: Vec<&MasterKey> = std::iter::once(&self.current).chain(&self.previous).collect();
        for (i, k) in all.iter().enumerate() {
            validate_key_id(&k.id)?;
            if all[..i].iter().any(|earlier| earlier.id == k.id) {
                return Err(BlobError::InvalidKey(format!("master key id {:?} appears twice", k.id)));
            }
        }
        Ok(())
    }
}

/// What a successful write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob key.
    pub key: String,
    /// Length of the plaintext (not of the file).
    pub plaintext_len: u64,
    /// SHA-256 of the plaintext, lowercase hex: lets manifests and audit records pin the content.
    pub sha256_hex: String,
    /// Id of the master key that wrapped the data key.
    pub key_id: String,
}

/// Check a blob key: a relative path like `checkpoints/000001.json` or
/// `recordings/2026/11/22/call_x.wav`.
///
/// Refused: empty, longer than [`MAX_BLOB_KEY_LEN`] bytes, absolute (`/…`), backslashes, NUL or
/// other control characters, empty segments (`a//b`, trailing `/`), `.` and `..` segments, and a
/// last segment ending in the reserved `.partial` or `.tmp`.
///
/// # Errors
/// [`BlobError::InvalidBlobKey`] saying which rule failed.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    validate_path_like(key, false)
}

/// Check a list prefix: like a key, but it may be empty, end with `/`, and end in anything.
///
/// # Errors
/// [`BlobError::InvalidBlobKey`] saying which rule failed.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), BlobError> {
    validate_path_like(prefix, true)
}

/// Shared by keys and list prefixes; a prefix may be empty, end with `/`, and end in anything.
fn validate_path_like(s: &str, prefix: bool) -> Result<(), BlobError> {
    let bad = |why| Err(BlobError::InvalidBlobKey(why));
    if s.is_empty() {
        return if prefix { Ok(()) } else { bad("empty") };
    }
    if s.len() > MAX_BLOB_KEY_LEN {
        return bad("longer than 512 bytes");
    }
    if s.starts_with('/') {
        return bad("absolute path");
    }
    if s.contains('\\') {
        return bad("backslash");
    }
    if s.contains('\0') {
        return bad("NUL byte");
    }
    if s.chars().any(char::is_control) {
        return bad("control character");
    }
    let body = if prefix { s.strip_suffix('/').unwrap_or(s) } else { s };
    for segment in body.split('/') {
        match segment {
            "" => return bad("empty path segment"),
            "." | ".." => return bad("dot path segment"),
            _ => {}
        }
    }
    if !prefix && (s.ends_with(PARTIAL_SUFFIX) || s.ends_with(TMP_SUFFIX)) {
        return bad("reserved suffix");
    }
    Ok(())
}

/// The blob store interface. Not object-safe on purpose (native `async fn` in traits); the
/// server dispatches through the [`Blobs`] enum instead of `dyn`.
pub trait BlobStore: Send + Sync {
    /// Store `data` under `key` atomically, replacing any blob there.
    fn put(&self, key: &str, data: &[u8]) -> impl Future<Output = Result<BlobInfo, BlobError>> + Send;
    /// The whole plaintext of a blob.
    fn get(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, BlobError>> + Send;
    /// Plaintext bytes `start..end_exclusive`, decrypting only the chunks needed.
    fn get_range(
        &self,
        key: &str,
        start: u64,
        end_exclusive: u64,
    ) -> impl Future<Output = Result<Vec<u8>, BlobError>> + Send;
    /// Plaintext length, without decrypting the whole blob.
    fn len(&self, key: &str) -> impl Future<Output = Result<u64, BlobError>> + Send;
    /// Remove a blob.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), BlobError>> + Send;
    /// Keys starting with `prefix` (a plain string prefix), sorted; unfinished writes excluded.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, BlobError>> + Send;
}

/// The blob store picked by configuration. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Blobs {
    /// Encrypted files under a local directory.
    Local(Arc<LocalEncrypted>),
    /// An S3 bucket, every object under SSE-KMS with our key. Unfinished writes cannot be
    /// recovered there, so crash-safe spools belong on [`Blobs::Local`].
    S3Kms(Arc<S3Store>),
}

impl Blobs {
    /// See [`BlobStore::put`].
    ///
    /// # Errors
    /// See [`BlobError`]; [`LocalEncrypted::put`] documents cancellation.
    pub async fn put(&self, key: &str, data: &[u8]) -> Result<BlobInfo, BlobError> {
        match self {
            Blobs::Local(s) => s.put(key, data).await,
            Blobs::S3Kms(s) => s.put(key, data).await,
        }
    }

    /// See [`BlobStore::get`].
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        match self {
            Blobs::Local(s) => s.get(key).await,
            Blobs::S3Kms(s) => s.get(key).await,
        }
    }

    /// See [`BlobStore::get_range`].
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn get_range(&self, key: &str, start: u64, end_exclusive: u64) -> Result<Vec<u8>, BlobError> {
        match self {
            Blobs::Local(s) => s.get_range(key, start, end_exclusive).await,
            Blobs::S3Kms(s) => s.get_range(key, start, end_exclusive).await,
        }
    }

    /// See [`BlobStore::len`].
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn len(&self, key: &str) -> Result<u64, BlobError> {
        match self {
            Blobs::Local(s) => s.len(key).await,
            Blobs::S3Kms(s) => s.len(key).await,
        }
    }

    /// See [`BlobStore::delete`].
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self {
            Blobs::Local(s) => s.delete(key).await,
            Blobs::S3Kms(s) => s.delete(key).await,
        }
    }

    /// See [`BlobStore::list`].
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        match self {
            Blobs::Local(s) => s.list(prefix).await,
            Blobs::S3Kms(s) => s.list(prefix).await,
        }
    }

    /// A URL the browser can fetch the blob from directly for `ttl`: S3 only (presigned). The
    /// local store's blobs are streamed by the server instead (None).
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn presigned_get(&self, key: &str, ttl: std::time::Duration) -> Result<Option<String>, BlobError> {
        match self {
            Blobs::Local(_) => Ok(None),
            Blobs::S3Kms(s) => s.presigned_get(key, ttl).await.map(Some),
        }
    }

    /// Place or release a legal hold on the stored object. The local store keeps holds in the
    /// database only (nothing but this server can delete its files); S3 also gets an Object Lock
    /// legal hold, which no credentials can bypass.
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), BlobError> {
        match self {
            Blobs::Local(_) => Ok(()),
            Blobs::S3Kms(s) => s.set_legal_hold(key, on).await,
        }
    }

    /// Which store this is, as recorded in manifests: `local_encrypted` or `s3_kms`.
    pub fn store_kind(&self) -> &'static str {
        match self {
            Blobs::Local(_) => "local_encrypted",
            Blobs::S3Kms(_) => "s3_kms",
        }
    }

    /// See [`LocalEncrypted::create_writer`] and [`S3Store::create_writer`].
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn create_writer(&self, key: &str) -> Result<BlobWriter, BlobError> {
        match self {
            Blobs::Local(s) => s.create_writer(key).await,
            Blobs::S3Kms(s) => Ok(BlobWriter(WriterKind::S3(Box::new(s.create_writer(key)?)))),
        }
    }

    /// See [`LocalEncrypted::recover_partial`]; on S3, [`S3Store::recover_partial`] aborts the
    /// unfinished uploads and recovers nothing.
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn recover_partial(&self, key: &str) -> Result<Option<BlobInfo>, BlobError> {
        match self {
            Blobs::Local(s) => s.recover_partial(key).await,
            Blobs::S3Kms(s) => s.recover_partial(key).await,
        }
    }

    /// See [`LocalEncrypted::list_partial`] and [`S3Store::list_partial`].
    ///
    /// # Errors
    /// See [`BlobError`].
    pub async fn list_partial(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        match self {
            Blobs::Local(s) => s.list_partial(prefix).await,
            Blobs::S3Kms(s) => s.list_partial(prefix).await,
        }
    }
}

impl BlobStore for Blobs {
    fn put(&self, key: &str, data: &[u8]) -> impl Future<Output = Result<BlobInfo, BlobError>> + Send {
        Blobs::put(self, key, data)
    }
    fn get(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, BlobError>> + Send {
        Blobs::get(self, key)
    }
    fn get_range(&self, key: &str, start: u64, end: u64) -> impl Future<Output = Result<Vec<u8>, BlobError>> + Send {
        Blobs::get_range(self, key, start, end)
    }
    fn len(&self, key: &str) -> impl Future<Output = Result<u64, BlobError>> + Send {
        Blobs::len(self, key)
    }
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), BlobError>> + Send {
        Blobs::delete(self, key)
    }
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, BlobError>> + Send {
        Blobs::list(self, prefix)
    }
}

/// Encrypted blobs as files under `root` (see the module doc for the format and guarantees).
#[derive(Debug)]
pub struct LocalEncrypted {
    /// Every blob key is a path relative to this directory (mode 0700).
    root: PathBuf,
    /// Shared with the blocking tasks that do the work.
    keyring: Arc<Keyring>,
}

/// Run blocking file and crypto work off the async worker threads.
async fn blocking<T, F>(f: F) -> Result<T, BlobError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BlobError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|_| BlobError::Task)?
}

impl LocalEncrypted {
    /// Use `root` as the store, creating it (mode 0700) if missing. Blocks briefly: call at startup.
    ///
    /// # Errors
    /// [`BlobError::InvalidKey`] for a malformed keyring, [`BlobError::Io`] if `root` cannot be
    /// created or is not a directory.
    pub fn open(root: PathBuf, keyring: Keyring) -> Result<LocalEncrypted, BlobError> {
        keyring.validate()?;
        DirBuilder::new().recursive(true).mode(0o700).create(&root)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(BlobError::Io(io::Error::new(
                io::ErrorKind::NotADirectory,
                "blob root is not a directory",
            )));
        }
        Ok(LocalEncrypted {
            root,
            keyring: Arc::new(keyring),
        })
    }

    /// The directory holding the blobs.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Store `data` under `key` atomically (temp file, fsync, rename, fsync directory).
    ///
    /// # Errors
    /// [`BlobError::InvalidBlobKey`], [`BlobError::Io`], [`BlobError::Random`].
    ///
    /// # Cancel safety
    /// Dropping the future does not stop the write: it completes or fails in the background,
    /// and readers see either the old blob or the new one.
    pub async fn put(&self, key: &str, data: &[u8]) -> Result<BlobInfo, BlobError> {
        validate_key(key)?;
        let (root, keyring, key) = (self.root.clone(), Arc::clone(&self.keyring), key.to_owned());
        let data = Zeroizing::new(data.to_vec());
        blocking(move || put_blocking(&root, &keyring, &key, &data)).await
    }

    /// The whole plaintext of a blob, every chunk authenticated.
    ///
    /// # Errors
    /// [`BlobError::NotFound`], [`BlobError::Corrupt`], [`BlobError::Truncated`],
    /// [`BlobError::UnknownKey`], [`BlobError::Io`].
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        validate_key(key)?;
        let (path, keyring, key) = (self.root.join(key), Arc::clone(&self.keyring), key.to_owned());
        blocking(move || {
            let reader = BlobReader::open(&path, &key, &keyring)?;
            reader.read_all()
        })
        .await
    }

    /// Plaintext bytes `start..end_exclusive`. Decrypts only the chunks holding the range, plus
    /// the final chunk, which authenticates the length (so a cut-off blob is reported, not served
    /// as a shorter one).
    ///
    /// # Errors
    /// [`BlobError::InvalidRange`] if `start > end_exclusive` or `end_exclusive` exceeds the
    /// length; otherwise as [`LocalEncrypted::get`].
    pub async fn get_range(&self, key: &str, start: u64, end_exclusive: u64) -> Result<Vec<u8>, BlobError> {
        validate_key(key)?;
        if start > end_exclusive {
            return Err(BlobError::InvalidRange);
        }
        let (path, keyring, key) = (self.root.join(key), Arc::clone(&self.keyring), key.to_owned());
        blocking(move || {
            let reader = BlobReader::open(&path, &key, &keyring)?;
            reader.read_range(start, end_exclusive)
        })
        .await
    }

    /// Plaintext length, from the file size; only the final chunk is decrypted, to authenticate it.
    ///
    /// # Errors
    /// As [`LocalEncrypted::get`].
    pub async fn len(&self, key: &str) -> Result<u64, BlobError> {
        validate_key(key)?;
        let (path, keyring, key) = (self.root.join(key), Arc::clone(&self.keyring), key.to_owned());
        blocking(move || {
            let reader = BlobReader::open(&path, &key, &keyring)?;
            reader.verify_final()?;
            Ok(reader.plaintext_len())
        })
        .await
    }

    /// Remove a blob (and fsync its directory). Empty directories are left in place.
    ///
    /// # Errors
    /// [`BlobError::NotFound`], [`BlobError::Io`].
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        let (path, key) = (self.root.join(key), key.to_owned());
        blocking(move || {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(BlobError::NotFound(key)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound(key)),
                Err(e) => return Err(e.into()),
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound(key)),
                Err(e) => return Err(e.into()),
            }
            sync_parent(&path)
        })
        .await
    }

    /// Keys beginning with `prefix` (a string prefix: `checkpoints/` or `recordings/2026/11/0`),
    /// sorted bytewise. Unfinished writes (`.partial`) and in-flight puts (`.tmp`) are excluded.
    ///
    /// # Errors
    /// [`BlobError::InvalidBlobKey`] for a malformed prefix, [`BlobError::Io`].
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.list_kind(prefix, Kind::Blob).await
    }

    /// Keys beginning with `prefix` that have an unfinished writer file (crashed or still being
    /// written), sorted: what a startup sweep hands to [`LocalEncrypted::recover_partial`].
    ///
    /// # Errors
    /// As [`LocalEncrypted::list`].
    pub async fn list_partial(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.list_kind(prefix, Kind::Partial).await
    }

    async fn list_kind(&self, prefix: &str, kind: Kind) -> Result<Vec<String>, BlobError> {
        validate_path_like(prefix, true)?;
        let (root, prefix) = (self.root.clone(), prefix.to_owned());
        blocking(move || list_blocking(&root, &prefix, kind)).await
    }

    /// Start an incremental blob at `<key>.partial` (header written and fsynced).
    ///
    /// # Errors
    /// [`BlobError::PartialExists`] if an unfinished writer file exists, [`BlobError::InvalidBlobKey`],
    /// [`BlobError::Io`], [`BlobError::Random`].
    pub async fn create_writer(&self, key: &str) -> Result<BlobWriter, BlobError> {
        validate_key(key)?;
        let (root, keyring, owned) = (self.root.clone(), Arc::clone(&self.keyring), key.to_owned());
        let path = self.root.join(key);
        let partial = partial_path(&path);
        let partial_for_task = partial.clone();
        let core = blocking(move || {
            let sealer = Sealer::new(&keyring)?;
            ensure_parent_dirs(&root, &owned)?;
            let mut file = match create_file(&partial_for_task) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(BlobError::PartialExists(owned)),
                Err(e) => return Err(e.into()),
            };
            let guard = RemoveOnDrop(Some(partial_for_task.clone()));
            file.write_all(sealer.header())?;
            file.sync_all()?;
            sync_parent(&partial_for_task)?;
            guard.disarm();
            Ok(WriterCore {
                file,
                sealer,
                unsynced: 0,
            })
        })
        .await?;
        Ok(BlobWriter(WriterKind::Local(Box::new(LocalWriter {
            key: key.to_owned(),
            path,
            partial,
            core: Some(core),
            buf: Zeroizing::new(Vec::with_capacity(CHUNK_LEN)),
        }))))
    }

    /// Recover a crashed writer's `<key>.partial`: every whole sealed chunk that authenticates is
    /// kept, garbage after it is cut off, an empty final chunk closes the blob, and the file is
    /// renamed to `<key>` (replacing any blob there). If the writer had already sealed its final
    /// chunk, the file is renamed as it is. Returns `None` if there is no partial file, or if it
    /// ended inside the header (the writer died before storing any data; the file is removed).
    ///
    /// Recovery modifies the partial file only by truncating it to a chunk boundary and
    /// appending a sealed chunk, so a crash during recovery leaves something recoverable.
    /// Run it for a key only when no writer for that key is alive.
    ///
    /// # Errors
    /// [`BlobError::Corrupt`] or [`BlobError::UnknownKey`] for a bad header, [`BlobError::Io`].
    pub async fn recover_partial(&self, key: &str) -> Result<Option<BlobInfo>, BlobError> {
        validate_key(key)?;
        let (path, keyring, key) = (self.root.join(key), Arc::clone(&self.keyring), key.to_owned());
        blocking(move || recover_blocking(&path, &keyring, &key)).await
    }
}

impl BlobStore for LocalEncrypted {
    fn put(&self, key: &str, data: &[u8]) -> impl Future<Output = Result<BlobInfo, BlobError>> + Send {
        LocalEncrypted::put(self, key, data)
    }
    fn get(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, BlobError>> + Send {
        LocalEncrypted::get(self, key)
    }
    fn get_range(&self, key: &str, start: u64, end: u64) -> impl Future<Output = Result<Vec<u8>, BlobError>> + Send {
        LocalEncrypted::get_range(self, key, start, end)
    }
    fn len(&self, key: &str) -> impl Future<Output = Result<u64, BlobError>> + Send {
        LocalEncrypted::len(self, key)
    }
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), BlobError>> + Send {
        LocalEncrypted::delete(self, key)
    }
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, BlobError>> + Send {
        LocalEncrypted::list(self, prefix)
    }
}

/// Writes one blob incrementally (spools, WAVs), whichever store it goes to: a
/// [`LocalEncrypted`] partial file, or an [`S3Writer`] multipart upload.
pub struct BlobWriter(WriterKind);

/// The store-specific writer behind a [`BlobWriter`].
enum WriterKind {
    /// Sealed chunks appended to a local `<key>.partial`. (Both variants are boxed: they are
    /// hundreds of bytes, of very different sizes, and one allocation per blob is nothing.)
    Local(Box<LocalWriter>),
    /// An S3 multipart upload (or one `PutObject` for a small blob).
    S3(Box<S3Writer>),
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            WriterKind::Local(w) => w.fmt(f),
            WriterKind::S3(w) => w.fmt(f),
        }
    }
}

impl BlobWriter {
    /// Append bytes: sealed into the local partial file, or buffered into S3 parts ([`S3Writer::write`]).
    ///
    /// # Errors
    /// [`BlobError::WriterFailed`] after an earlier failure; otherwise the store's errors.
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped future leaves the writer failed.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), BlobError> {
        match &mut self.0 {
            WriterKind::Local(w) => w.write(data).await,
            WriterKind::S3(w) => w.write(data).await,
        }
    }

    /// Store everything written as the blob: rename the local partial file into place, or
    /// complete the S3 upload ([`S3Writer::finish`]).
    ///
    /// # Errors
    /// [`BlobError::WriterFailed`] after an earlier failure; otherwise the store's errors.
    pub async fn finish(self) -> Result<BlobInfo, BlobError> {
        match self.0 {
            WriterKind::Local(w) => w.finish().await,
            WriterKind::S3(w) => w.finish().await,
        }
    }
}

/// Writes one local blob incrementally (long recordings): full chunks are sealed and appended to
/// `<key>.partial` as they fill; [`LocalWriter::finish`] seals the rest and renames the file to
/// `<key>`. Dropping the writer without finishing leaves the partial file for
/// [`LocalEncrypted::recover_partial`]; the unsealed tail (under 64 KiB) is zeroized, never written.
struct LocalWriter {
    /// The blob key, for the returned [`BlobInfo`] and errors.
    key: String,
    /// Where the finished blob goes.
    path: PathBuf,
    /// `<path>.partial`, holding the header and the sealed full chunks so far.
    partial: PathBuf,
    /// File and cipher state; `None` once an operation failed or was cancelled (the file
    /// position is then unknown, so the writer refuses to go on).
    core: Option<WriterCore>,
    /// Plaintext not yet making a full chunk; capacity fixed at one chunk so it never
    /// reallocates (a reallocation would leave an unzeroized copy behind).
    buf: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for LocalWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("key", &self.key)
            .field("failed", &self.core.is_none())
            .finish()
    }
}

/// The part of a writer that moves into blocking tasks and back.
struct WriterCore {
    /// The open `<key>.partial`, positioned at its end.
    file: File,
    /// Seals chunks and counts what was written.
    sealer: Sealer,
    /// Full chunks appended since the last fsync.
    unsynced: u32,
}

impl LocalWriter {
    /// Append plaintext. Data is buffered until a full chunk exists; every full chunk is sealed
    /// (flag 0) and appended, with an fsync every few chunks.
    ///
    /// # Errors
    /// [`BlobError::WriterFailed`] after an earlier failure, [`BlobError::Io`], [`BlobError::TooLarge`].
    ///
    /// # Cancel safety
    /// Not cancel safe: if the future is dropped while chunks are being written, the writer
    /// is marked failed; what reached the disk can be salvaged with `recover_partial`.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), BlobError> {
        if self.core.is_none() {
            return Err(BlobError::WriterFailed);
        }
        let total = self.buf.len() + data.len();
        if total < CHUNK_LEN {
            self.buf.extend_from_slice(data);
            return Ok(());
        }
        let full = total - total % CHUNK_LEN;
        let take = full - self.buf.len();
        let mut pending = Zeroizing::new(Vec::with_capacity(full));
        pending.extend_from_slice(&self.buf);
        pending.extend_from_slice(&data[..take]);
        self.buf.clear();
        self.buf.extend_from_slice(&data[take..]);
        let Some(mut core) = self.core.take() else {
            return Err(BlobError::WriterFailed);
        };
        let core = blocking(move || {
            for chunk in pending.chunks_exact(CHUNK_LEN) {
                core.sealer.seal_into(chunk, false, &mut core.file)?;
                core.unsynced += 1;
                if core.unsynced >= SYNC_EVERY_CHUNKS {
                    core.file.sync_data()?;
                    core.unsynced = 0;
                }
            }
            Ok(core)
        })
        .await?;
        self.core = Some(core);
        Ok(())
    }

    /// Seal the buffered rest as the final chunk (flag 1, possibly empty), fsync, and rename
    /// `<key>.partial` to `<key>` (then fsync the directory).
    ///
    /// # Errors
    /// [`BlobError::WriterFailed`] after an earlier failure, [`BlobError::Io`], [`BlobError::TooLarge`].
    pub async fn finish(mut self) -> Result<BlobInfo, BlobError> {
        let Some(core) = self.core.take() else {
            return Err(BlobError::WriterFailed);
        };
        let rest = std::mem::take(&mut self.buf);
        let LocalWriter { key, path, partial, .. } = self;
        blocking(move || {
            let WriterCore {
                mut file, mut sealer, ..
            } = core;
            sealer.seal_into(&rest, true, &mut file)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&partial, &path)?;
            sync_parent(&path)?;
            Ok(sealer.finish(key))
        })
        .await
    }
}

/// Seals the chunks of one new blob in order and tracks what they contained.
struct Sealer {
    /// The new blob's data-key cipher (header bytes as associated data).
    cipher: ChunkCipher,
    /// The encoded header, to be written before the first chunk.
    header: Vec<u8>,
    /// Master key id that wrapped the data key, reported in [`BlobInfo`].
    key_id: String,
    /// Index of the next chunk; checked against the format's u32 limit.
    next_index: u64,
    /// Plaintext bytes sealed so far.
    plaintext_len: u64,
    /// SHA-256 over the plaintext sealed so far.
    hasher: Sha256,
    /// Reused chunk buffer; holds plaintext briefly during sealing, so it is zeroized on drop.
    scratch: Zeroizing<Vec<u8>>,
}

impl Sealer {
    /// A fresh data key and nonce prefix, wrapped under the keyring's current key.
    fn new(keyring: &Keyring) -> Result<Sealer, BlobError> {
        let master = keyring.current();
        let data_key = DataKey::generate().map_err(crypto_to_blob)?;
        let wrapped = crypto::wrap_key(master.expose(), &master.id, &data_key).map_err(crypto_to_blob)?;
        let nonce_prefix: [u8; NONCE_PREFIX_LEN] = crypto::random_array().map_err(crypto_to_blob)?;
        let header = encode_header(&master.id, &wrapped, &nonce_prefix);
        Ok(Sealer {
            cipher: ChunkCipher::new(&data_key, nonce_prefix, header.clone()),
            header,
            key_id: master.id.clone(),
            next_index: 0,
            plaintext_len: 0,
            hasher: Sha256::new(),
            scratch: Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN)),
        })
    }

    fn header(&self) -> &[u8] {
        &self.header
    }

    /// Seal `plaintext` (at most one chunk) as the next chunk and write it to `out`.
    fn seal_into(&mut self, plaintext: &[u8], last: bool, out: &mut impl Write) -> Result<(), BlobError> {
        debug_assert!(plaintext.len() <= CHUNK_LEN && (last || plaintext.len() == CHUNK_LEN));
        let index = u32::try_from(self.next_index).map_err(|_| BlobError::TooLarge)?;
        self.hasher.update(plaintext);
        self.scratch.clear();
        self.scratch.extend_from_slice(plaintext);
        self.cipher
            .seal(index, last, &mut self.scratch)
            .map_err(|_| BlobError::TooLarge)?;
        out.write_all(&self.scratch)?;
        self.next_index += 1;
        self.plaintext_len += plaintext.len() as u64;
        Ok(())
    }

    fn finish(self, key: String) -> BlobInfo {
        BlobInfo {
            key,
            plaintext_len: self.plaintext_len,
            sha256_hex: to_hex(&self.hasher.finalize()),
            key_id: self.key_id,
        }
    }
}

fn crypto_to_blob(e: CryptoError) -> BlobError {
    match e {
        CryptoError::Random => BlobError::Random,
        // Sealing and wrapping cannot fail authentication; a length error means a chunk beyond GCM's limit.
        CryptoError::Auth | CryptoError::Length => BlobError::TooLarge,
    }
}

/// Lowercase hex, as [`BlobInfo::sha256_hex`] uses.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn encode_header(key_id: &str, wrapped: &[u8], nonce_prefix: &[u8; NONCE_PREFIX_LEN]) -> Vec<u8> {
    let mut h = Vec::with_capacity(4 + 1 + 1 + key_id.len() + 2 + wrapped.len() + NONCE_PREFIX_LEN + 4);
    h.extend_from_slice(&MAGIC);
    h.push(FORMAT_VERSION);
    // Invariant: key ids are at most MAX_KEY_ID_LEN (64) bytes, checked by Keyring::validate in
    // LocalEncrypted::open, and the keyring is immutable afterwards.
    h.push(key_id.len() as u8);
    h.extend_from_slice(key_id.as_bytes());
    // Invariant: a wrapped key is WRAPPED_KEY_LEN (60) bytes.
    h.extend_from_slice(&(wrapped.len() as u16).to_be_bytes());
    h.extend_from_slice(wrapped);
    h.extend_from_slice(nonce_prefix);
    h.extend_from_slice(&(CHUNK_LEN as u32).to_be_bytes());
    h
}

/// A parsed header.
struct Header {
    /// Names the master key that wrapped the data key.
    key_id: String,
    /// The data key, wrapped.
    wrapped_key: Vec<u8>,
    /// Per-blob nonce prefix.
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// The header exactly as stored: every chunk's associated data.
    bytes: Vec<u8>,
}

/// Why a header could not be read.
enum HeaderError {
    /// The file ends inside the header.
    Eof,
    /// A field has a value this version never writes.
    Bad(&'static str),
    /// Reading failed.
    Io(io::Error),
}

impl Header {
    fn read(r: &mut impl Read) -> Result<Header, HeaderError> {
        let mut bytes = Vec::with_capacity(128);
        let mut take = |n: usize| -> Result<Vec<u8>, HeaderError> {
            let mut field = vec![0u8; n];
            r.read_exact(&mut field).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => HeaderError::Eof,
                _ => HeaderError::Io(e),
            })?;
            bytes.extend_from_slice(&field);
            Ok(field)
        };
        if take(4)? != MAGIC {
            return Err(HeaderError::Bad("not a blob file (bad magic)"));
        }
        if take(1)?[0] != FORMAT_VERSION {
            return Err(HeaderError::Bad("unsupported format version"));
        }
        let id_len = usize::from(take(1)?[0]);
        if id_len == 0 || id_len > MAX_KEY_ID_LEN {
            return Err(HeaderError::Bad("bad key id length"));
        }
        let key_id = String::from_utf8(take(id_len)?).map_err(|_| HeaderError::Bad("key id is not UTF-8"))?;
        if !key_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HeaderError::Bad("key id is not printable ASCII"));
        }
        let wrapped_len = take(2)?;
        let wrapped_len = usize::from(u16::from_be_bytes([wrapped_len[0], wrapped_len[1]]));
        if wrapped_len != crypto::WRAPPED_KEY_LEN {
            return Err(HeaderError::Bad("bad wrapped key length"));
        }
        let wrapped_key = take(wrapped_len)?;
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&take(NONCE_PREFIX_LEN)?);
        let chunk = take(4)?;
        if u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize != CHUNK_LEN {
            return Err(HeaderError::Bad("unsupported chunk size"));
        }
        Ok(Header {
            key_id,
            wrapped_key,
            nonce_prefix,
            bytes,
        })
    }

    /// Parse, find the master key, unwrap the data key: everything needed to open chunks.
    fn read_and_unlock(file: &mut File, key: &str, keyring: &Keyring) -> Result<(Header, ChunkCipher), BlobError> {
        let header = Header::read(file).map_err(|e| match e {
            HeaderError::Eof => BlobError::Truncated { key: key.to_owned() },
            HeaderError::Bad(why) => BlobError::Corrupt {
                key: key.to_owned(),
                why,
            },
            HeaderError::Io(e) => BlobError::Io(e),
        })?;
        let master = keyring
            .get(&header.key_id)
            .ok_or_else(|| BlobError::UnknownKey(header.key_id.clone()))?;
        let data_key = crypto::unwrap_key(master.expose(), &header.key_id, &header.wrapped_key).map_err(|_| {
            BlobError::Corrupt {
                key: key.to_owned(),
                why: "data key does not unwrap (wrong master key or altered header)",
            }
        })?;
        let cipher = ChunkCipher::new(&data_key, header.nonce_prefix, header.bytes.clone());
        Ok((header, cipher))
    }
}

/// An open, unlocked blob file whose chunk layout has been derived from its size.
struct BlobReader {
    /// Read with positional reads, so chunks can be fetched in any order.
    file: File,
    /// The blob key, for errors.
    key: String,
    /// Opens this blob's chunks.
    cipher: ChunkCipher,
    /// Where chunk 0 starts.
    header_len: u64,
    /// Number of full (65536-byte) chunks; the final chunk has this index.
    full_chunks: u64,
    /// Stored length of the final chunk, 16..=65551.
    final_sealed_len: usize,
}

impl BlobReader {
    fn open(path: &Path, key: &str, keyring: &Keyring) -> Result<BlobReader, BlobError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::NotFound(key.to_owned())),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata()?;
        if !size.is_file() {
            return Err(BlobError::NotFound(key.to_owned()));
        }
        let (header, cipher) = Header::read_and_unlock(&mut file, key, keyring)?;
        let header_len = header.bytes.len() as u64;
        let body = size.len().saturating_sub(header_len);
        let full_chunks = body / SEALED_CHUNK_LEN as u64;
        let rest = body % SEALED_CHUNK_LEN as u64;
        if rest < TAG_LEN as u64 {
            return Err(BlobError::Truncated { key: key.to_owned() });
        }
        if u32::try_from(full_chunks).is_err() {
            return Err(BlobError::Corrupt {
                key: key.to_owned(),
                why: "more chunks than the format allows",
            });
        }
        Ok(BlobReader {
            file,
            key: key.to_owned(),
            cipher,
            header_len,
            full_chunks,
            // `rest` < SEALED_CHUNK_LEN, so it fits.
            final_sealed_len: rest as usize,
        })
    }

    fn plaintext_len(&self) -> u64 {
        self.full_chunks * CHUNK_LEN as u64 + (self.final_sealed_len - TAG_LEN) as u64
    }

    /// Read and open chunk `index` into `out` (appended); returns the plaintext length.
    fn read_chunk_into(&self, index: u64, out: &mut Vec<u8>) -> Result<usize, BlobError> {
        let last = index == self.full_chunks;
        let sealed_len = if last { self.final_sealed_len } else { SEALED_CHUNK_LEN };
        let offset = self.header_len + index * SEALED_CHUNK_LEN as u64;
        let start = out.len();
        out.resize(start + sealed_len, 0);
        self.file
            .read_exact_at(&mut out[start..], offset)
            .map_err(|e| match e.kind() {
                // The file shrank since its size was read.
                io::ErrorKind::UnexpectedEof => BlobError::Truncated { key: self.key.clone() },
                _ => BlobError::Io(e),
            })?;
        // Invariant: index <= full_chunks, which BlobReader::open checked fits a u32.
        let index32 = u32::try_from(index).map_err(|_| BlobError::TooLarge)?;
        match self.cipher.open(index32, last, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(n)
            }
            Err(_) => {
                out.truncate(start);
                let why = if last {
                    "final chunk failed authentication"
                } else {
                    "chunk failed authentication"
                };
                Err(BlobError::Corrupt {
                    key: self.key.clone(),
                    why,
                })
            }
        }
    }

    /// Authenticate the final chunk, which proves the file ends where it should.
    fn verify_final(&self) -> Result<(), BlobError> {
        let mut scratch = Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN));
        self.read_chunk_into(self.full_chunks, &mut scratch).map(|_| ())
    }

    fn read_all(&self) -> Result<Vec<u8>, BlobError> {
        // Exact capacity (+ one tag for the in-place open) so the buffer never reallocates and
        // leaves no unzeroized copy; on error the partial plaintext is zeroized.
        let capacity = usize::try_from(self.plaintext_len()).map_err(|_| BlobError::TooLarge)? + TAG_LEN;
        let mut out = Zeroizing::new(Vec::with_capacity(capacity));
        for index in 0..=self.full_chunks {
            self.read_chunk_into(index, &mut out)?;
        }
        Ok(std::mem::take(&mut *out))
    }

    fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>, BlobError> {
        if end > self.plaintext_len() {
            return Err(BlobError::InvalidRange);
        }
        let chunk = CHUNK_LEN as u64;
        let last_needed = if start == end { None } else { Some((end - 1) / chunk) };
        if last_needed != Some(self.full_chunks) {
            self.verify_final()?;
        }
        let Some(last_needed) = last_needed else {
            return Ok(Vec::new());
        };
        let len = usize::try_from(end - start).map_err(|_| BlobError::TooLarge)?;
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        let mut scratch = Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN));
        for index in start / chunk..=last_needed {
            scratch.clear();
            self.read_chunk_into(index, &mut scratch)?;
            let base = index * chunk;
            // Both bounds lie within this chunk's plaintext, so they fit a usize.
            let from = (start.max(base) - base) as usize;
            let to = (end.min(base + chunk) - base) as usize;
            out.extend_from_slice(&scratch[from..to]);
        }
        Ok(std::mem::take(&mut *out))
    }
}

fn recover_blocking(path: &Path, keyring: &Keyring, key: &str) -> Result<Option<BlobInfo>, BlobError> {
    let partial = partial_path(path);
    let mut file = match OpenOptions::new().read(true).write(true).open(&partial) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let (header, cipher) = match Header::read_and_unlock(&mut file, key, keyring) {
        Ok(h) => h,
        Err(BlobError::Truncated { .. }) => {
            // Died while writing the header: no data was ever stored.
            drop(file);
            fs::remove_file(&partial)?;
            sync_parent(&partial)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let header_len = header.bytes.len() as u64;
    let file_len = file.metadata()?.len();
    let mut hasher = Sha256::new();
    let mut buf = Zeroizing::new(vec![0u8; SEALED_CHUNK_LEN]);
    let mut good: u64 = 0;
    let mut complete_len: Option<usize> = None;
    loop {
        let offset = header_len + good * SEALED_CHUNK_LEN as u64;
        let remaining = file_len.saturating_sub(offset);
        let Ok(index) = u32::try_from(good) else { break };
        if remaining == 0 {
            break;
        }
        let piece = remaining.min(SEALED_CHUNK_LEN as u64) as usize;
        file.read_exact_at(&mut buf[..piece], offset)?;
        if piece == SEALED_CHUNK_LEN
            && let Ok(n) = cipher.open(index, false, &mut buf[..piece])
        {
            hasher.update(&buf[..n]);
            good += 1;
            continue;
        }
        // The writer may have sealed its final chunk and died before the rename.
        if piece as u64 == remaining {
            file.read_exact_at(&mut buf[..piece], offset)?;
            if let Ok(n) = cipher.open(index, true, &mut buf[..piece]) {
                hasher.update(&buf[..n]);
                complete_len = Some(n);
            }
        }
        break;
    }
    let mut plaintext_len = good * CHUNK_LEN as u64;
    match complete_len {
        Some(n) => plaintext_len += n as u64,
        None => {
            let end = header_len + good * SEALED_CHUNK_LEN as u64;
            file.set_len(end)?;
            let index = u32::try_from(good).map_err(|_| BlobError::TooLarge)?;
            let mut last = Vec::with_capacity(TAG_LEN);
            cipher.seal(index, true, &mut last).map_err(crypto_to_blob)?;
            file.write_all_at(&last, end)?;
        }
    }
    file.sync_all()?;
    drop(file);
    fs::rename(&partial, path)?;
    sync_parent(path)?;
    Ok(Some(BlobInfo {
        key: key.to_owned(),
        plaintext_len,
        sha256_hex: to_hex(&hasher.finalize()),
        key_id: header.key_id,
    }))
}

fn put_blocking(root: &Path, keyring: &Keyring, key: &str, data: &[u8]) -> Result<BlobInfo, BlobError> {
    let mut sealer = Sealer::new(keyring)?;
    ensure_parent_dirs(root, key)?;
    let path = root.join(key);
    let suffix: [u8; 8] = crypto::random_array().map_err(crypto_to_blob)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}{TMP_SUFFIX}", to_hex(&suffix)));
    let tmp = path.with_file_name(tmp_name);
    let mut file = create_file(&tmp)?;
    let guard = RemoveOnDrop(Some(tmp.clone()));
    file.write_all(sealer.header())?;
    let mut chunks = data.chunks_exact(CHUNK_LEN);
    for chunk in chunks.by_ref() {
        sealer.seal_into(chunk, false, &mut file)?;
    }
    sealer.seal_into(chunks.remainder(), true, &mut file)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, &path)?;
    guard.disarm();
    sync_parent(&path)?;
    Ok(sealer.finish(key.to_owned()))
}

/// What a directory walk collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Finished blobs.
    Blob,
    /// Keys with an unfinished `<key>.partial`.
    Partial,
}

fn list_blocking(root: &Path, prefix: &str, kind: Kind) -> Result<Vec<String>, BlobError> {
    // Start at the deepest directory the prefix names; below it, filter by the full prefix.
    let dir_part = prefix.rfind('/').map_or("", |i| &prefix[..i]);
    let start = if dir_part.is_empty() {
        root.to_path_buf()
    } else {
        root.join(dir_part)
    };
    let mut out = Vec::new();
    walk(&start, dir_part, prefix, kind, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, rel: &str, prefix: &str, kind: Kind, out: &mut Vec<String>) -> Result<(), BlobError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        // Missing prefix directory, or removed while walking: nothing there.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // Symlinks are neither followed nor listed: everything in the store is a plain file.
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            let as_dir = format!("{child}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(&entry.path(), &child, prefix, kind, out)?;
            }
        } else if file_type.is_file() {
            let key = match (kind, child.strip_suffix(PARTIAL_SUFFIX)) {
                (Kind::Partial, Some(key)) => key.to_owned(),
                (Kind::Blob, None) if !child.ends_with(TMP_SUFFIX) => child,
                _ => continue,
            };
            if key.starts_with(prefix) && validate_key(&key).is_ok() {
                out.push(key);
            }
        }
    }
    Ok(())
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// Create a new file that nobody else can read, failing if it exists.
fn create_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Create the missing directories of `key` under `root` (mode 0700), fsyncing each new entry's
/// parent so a later rename into it survives a crash.
fn ensure_parent_dirs(root: &Path, key: &str) -> Result<(), BlobError> {
    let mut dir = root.to_path_buf();
    let segments: Vec<&str> = key.split('/').collect();
    for segment in &segments[..segments.len().saturating_sub(1)] {
        let parent = dir.clone();
        dir.push(segment);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn sync_parent(path: &Path) -> Result<(), BlobError> {
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Removes a file on drop unless disarmed: no stray temp or half-made files after an error.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    /// The file is wanted after all (renamed into place, or handed to a writer).
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // Best effort: the file holds only ciphertext, and list() ignores it.
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use tempfile::TempDir;

    const K1: [u8; 32] = [0x11; 32];
    const K2: [u8; 32] = [0x22; 32];

    fn store_with(dir: &TempDir, keyring: Keyring) -> LocalEncrypted {
        LocalEncrypted::open(dir.path().join("blobs"), keyring).unwrap()
    }

    fn store() -> (TempDir, LocalEncrypted) {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with(&dir, Keyring::new(MasterKey::new("k1", K1)));
        (dir, s)
    }

    /// Deterministic bytes that differ per position, so swapped chunks would be noticed.
    fn data(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x9e37_79b9;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn sha_hex(d: &[u8]) -> String {
        to_hex(&Sha256::digest(d))
    }

    fn file_of(s: &LocalEncrypted, key: &str) -> PathBuf {
        s.root().join(key)
    }

    fn header_len(id: &str) -> usize {
        4 + 1 + 1 + id.len() + 2 + crypto::WRAPPED_KEY_LEN + NONCE_PREFIX_LEN + 4
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    const SIZES: [usize; 6] = [0, 1, 65535, 65536, 65537, 3 * 65536 + 17];

    #[tokio::test]
    async fn round_trips_every_size() {
        let (_dir, s) = store();
        for size in SIZES {
            let key = format!("rt/{size}.bin");
            let d = data(size);
            let info = s.put(&key, &d).await.unwrap();
            assert_eq!(
                info,
                BlobInfo {
                    key: key.clone(),
                    plaintext_len: size as u64,
                    sha256_hex: sha_hex(&d),
                    key_id: "k1".into()
                }
            );
            assert_eq!(s.get(&key).await.unwrap(), d, "size {size}");
            assert_eq!(s.len(&key).await.unwrap(), size as u64);
            let full = size / CHUNK_LEN;
            let expected = header_len("k1") + full * SEALED_CHUNK_LEN + (size % CHUNK_LEN) + TAG_LEN;
            assert_eq!(fs::metadata(file_of(&s, &key)).unwrap().len(), expected as u64);
        }
    }

    #[tokio::test]
    async fn get_range_matches_slices_across_chunk_boundaries() {
        let (_dir, s) = store();
        let d = data(3 * CHUNK_LEN + 17);
        s.put("r.bin", &d).await.unwrap();
        let c = CHUNK_LEN;
        let n = d.len();
        for (a, b) in [
            (0, 0),
            (0, 1),
            (5, 5),
            (c - 1, c + 1),
            (c - 5, 2 * c + 5),
            (c, 2 * c),
            (0, n),
            (3 * c, n),
            (n - 1, n),
            (n, n),
            (2 * c + 100, 3 * c + 3),
        ] {
            assert_eq!(
                s.get_range("r.bin", a as u64, b as u64).await.unwrap(),
                &d[a..b],
                "{a}..{b}"
            );
        }
        for (a, b) in [(10, 5), (0, n + 1), (n + 1, n + 1), (n, n + 1)] {
            let r = s.get_range("r.bin", a as u64, b as u64).await;
            assert!(matches!(r, Err(BlobError::InvalidRange)), "{a}..{b}: {r:?}");
        }
        s.put("empty", b"").await.unwrap();
        assert!(s.get_range("empty", 0, 0).await.unwrap().is_empty());
        assert!(matches!(s.get_range("empty", 0, 1).await, Err(BlobError::InvalidRange)));
        assert!(matches!(
            s.get_range("missing", 0, 0).await,
            Err(BlobError::NotFound(_))
        ));
    }

    fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { all_files(&p, out) } else { out.push(p) }
        }
    }

    #[tokio::test]
    async fn plaintext_never_reaches_the_disk() {
        let (_dir, s) = store();
        let marker = b"PATIENT-MARKER-0123456789abcdef!";
        assert_eq!(marker.len(), 32);
        let d: Vec<u8> = marker.iter().copied().cycle().take(3 * CHUNK_LEN + 100).collect();
        s.put("a/put.bin", &d).await.unwrap();
        let mut w = s.create_writer("a/stream.bin").await.unwrap();
        w.write(&d[..CHUNK_LEN + 500]).await.unwrap();
        // The partial file exists now, holding one sealed chunk; check it too.
        let mut files = Vec::new();
        all_files(s.root(), &mut files);
        assert_eq!(files.len(), 2);
        for f in &files {
            let bytes = fs::read(f).unwrap();
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker),
                "{f:?} holds plaintext"
            );
        }
        w.write(&d[CHUNK_LEN + 500..]).await.unwrap();
        w.finish().await.unwrap();
        let bytes = fs::read(file_of(&s, "a/stream.bin")).unwrap();
        assert!(!bytes.windows(marker.len()).any(|w| w == marker));
    }

    /// Alter the stored file, then try get, len and get_range(0, 1); returns their errors (`None` = it succeeded).
    async fn tampered(s: &LocalEncrypted, key: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<Option<BlobError>> {
        let path = file_of(s, key);
        let mut bytes = fs::read(&path).unwrap();
        f(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        vec![
            s.get(key).await.err(),
            s.len(key).await.err(),
            s.get_range(key, 0, 1).await.err(),
        ]
    }

    #[tokio::test]
    async fn tampering_is_detected_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with(
            &dir,
            Keyring::new(MasterKey::new("k1", K1)).with_previous(MasterKey::new("k2", K2)),
        );
        let d = data(3 * CHUNK_LEN + 17);
        let h = header_len("k1");
        let chunk = |i: usize| h + i * SEALED_CHUNK_LEN..h + (i + 1) * SEALED_CHUNK_LEN;
        let corrupt = |e: &Option<BlobError>| matches!(e, Some(BlobError::Corrupt { .. }));
        let truncated = |e: &Option<BlobError>| matches!(e, Some(BlobError::Truncated { .. }));

        // A flipped bit in a middle chunk: get fails; len and a range in chunk 0 don't read it.
        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b[chunk(1).start + 100] ^= 0x01).await;
        assert!(corrupt(&errs[0]) && errs[1].is_none() && errs[2].is_none(), "{errs:?}");
        assert!(matches!(
            s.get_range("t", CHUNK_LEN as u64, CHUNK_LEN as u64 + 1).await,
            Err(BlobError::Corrupt { .. })
        ));

        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| {
            let first = b[chunk(0)].to_vec();
            b.copy_within(chunk(1), chunk(0).start);
            b[chunk(1)].copy_from_slice(&first);
        })
        .await;
        assert!(corrupt(&errs[0]) && corrupt(&errs[2]), "{errs:?}");

        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b.truncate(b.len() - 5)).await;
        assert!(errs.iter().all(|e| corrupt(e) || truncated(e)), "{errs:?}");

        // Dropping the final chunk: truncation at a chunk boundary.
        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b.truncate(chunk(2).end)).await;
        assert!(errs.iter().all(truncated), "{errs:?}");

        // A 65536-byte blob cut back to its full chunk loses only the empty final chunk.
        s.put("t", &d[..CHUNK_LEN]).await.unwrap();
        let errs = tampered(&s, "t", |b| b.truncate(chunk(0).end)).await;
        assert!(errs.iter().all(truncated), "{errs:?}");

        // Key id "k1" is at offset 6..8.
        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b[7] = b'9').await;
        assert!(
            errs.iter()
                .all(|e| matches!(e, Some(BlobError::UnknownKey(id)) if id == "k9")),
            "{errs:?}"
        );

        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b[7] = b'2').await;
        assert!(errs.iter().all(corrupt), "{errs:?}");

        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b[h - 6] ^= 0x80).await; // inside the nonce prefix
        assert!(errs.iter().all(corrupt), "{errs:?}");

        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b[0] = b'X').await;
        assert!(errs.iter().all(corrupt), "{errs:?}");

        // The header of another blob (same master key) doesn't fit these chunks.
        s.put("u", &d).await.unwrap();
        let other_header = fs::read(file_of(&s, "u")).unwrap()[..h].to_vec();
        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b[..h].copy_from_slice(&other_header)).await;
        assert!(errs.iter().all(corrupt), "{errs:?}");

        s.put("t", &d).await.unwrap();
        let errs = tampered(&s, "t", |b| b.truncate(10)).await;
        assert!(errs.iter().all(truncated), "{errs:?}");
    }

    #[tokio::test]
    async fn old_blobs_read_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let old = store_with(&dir, Keyring::new(MasterKey::new("k1", K1)));
        let d = data(CHUNK_LEN + 3);
        old.put("cp/1", &d).await.unwrap();

        let rotated = store_with(
            &dir,
            Keyring::new(MasterKey::new("k2", K2)).with_previous(MasterKey::new("k1", K1)),
        );
        assert_eq!(rotated.get("cp/1").await.unwrap(), d);
        assert_eq!(rotated.put("cp/2", &d).await.unwrap().key_id, "k2");
        assert_eq!(rotated.get("cp/2").await.unwrap(), d);

        let forgot = store_with(&dir, Keyring::new(MasterKey::new("k2", K2)));
        assert!(matches!(forgot.get("cp/1").await, Err(BlobError::UnknownKey(id)) if id == "k1"));
        let wrong = store_with(&dir, Keyring::new(MasterKey::new("k1", K2)));
        assert!(matches!(wrong.get("cp/1").await, Err(BlobError::Corrupt { .. })));
    }

    #[tokio::test]
    async fn writer_in_odd_pieces_equals_put() {
        let (_dir, s) = store();
        for size in [0, 1, CHUNK_LEN, 2 * CHUNK_LEN, 5 * CHUNK_LEN + 123] {
            let d = data(size);
            let put = s.put("p", &d).await.unwrap();
            let mut w = s.create_writer("w").await.unwrap();
            let pieces = [1, 7, 1000, CHUNK_LEN - 1, CHUNK_LEN, 3, 70_000, 2 * CHUNK_LEN + 9];
            let mut at = 0;
            for p in pieces.iter().cycle() {
                if at >= size {
                    break;
                }
                let end = (at + p).min(size);
                w.write(&d[at..end]).await.unwrap();
                at = end;
            }
            w.write(&[]).await.unwrap();
            let info = w.finish().await.unwrap();
            assert_eq!(info, BlobInfo { key: "w".into(), ..put }, "size {size}");
            assert_eq!(s.get("w").await.unwrap(), d);
            assert_eq!(
                fs::metadata(file_of(&s, "w")).unwrap().len(),
                fs::metadata(file_of(&s, "p")).unwrap().len()
            );
            assert!(!partial_path(&file_of(&s, "w")).exists());
        }
    }

    #[tokio::test]
    async fn crashed_writer_recovers_whole_chunks() {
        let (_dir, s) = store();
        let d = data(5 * CHUNK_LEN / 2);
        let mut w = s.create_writer("rec/call.wav").await.unwrap();
        for piece in d.chunks(10_000) {
            w.write(piece).await.unwrap();
        }
        drop(w); // the crash: the last half chunk was only in memory
        assert!(matches!(s.get("rec/call.wav").await, Err(BlobError::NotFound(_))));
        assert_eq!(s.list_partial("rec/").await.unwrap(), ["rec/call.wav"]);
        assert!(matches!(
            s.create_writer("rec/call.wav").await,
            Err(BlobError::PartialExists(_))
        ));
        // A half-written chunk at the end (crash inside a write) is cut off.
        let partial = partial_path(&file_of(&s, "rec/call.wav"));
        let mut f = OpenOptions::new().append(true).open(&partial).unwrap();
        f.write_all(&[0xAB; 1000]).unwrap();
        drop(f);

        let info = s.recover_partial("rec/call.wav").await.unwrap().unwrap();
        let kept = &d[..2 * CHUNK_LEN];
        assert_eq!(info.plaintext_len, kept.len() as u64);
        assert_eq!(info.sha256_hex, sha_hex(kept));
        assert_eq!(s.get("rec/call.wav").await.unwrap(), kept);
        assert_eq!(s.len("rec/call.wav").await.unwrap(), kept.len() as u64);
        assert!(s.recover_partial("rec/call.wav").await.unwrap().is_none());
        assert!(s.list_partial("").await.unwrap().is_empty());
        assert_eq!(s.list("").await.unwrap(), ["rec/call.wav"]);
    }

    #[tokio::test]
    async fn recovery_edge_cases() {
        let (_dir, s) = store();
        assert!(s.recover_partial("none").await.unwrap().is_none());

        // Finished sealing, died before the rename: recovered whole.
        let d = data(CHUNK_LEN + 10);
        let mut w = s.create_writer("done").await.unwrap();
        w.write(&d).await.unwrap();
        let info = w.finish().await.unwrap();
        fs::rename(file_of(&s, "done"), partial_path(&file_of(&s, "done"))).unwrap();
        assert_eq!(s.recover_partial("done").await.unwrap(), Some(info));
        assert_eq!(s.get("done").await.unwrap(), d);

        // Crashed before any chunk: an empty blob.
        drop(s.create_writer("early").await.unwrap());
        let info = s.recover_partial("early").await.unwrap().unwrap();
        assert_eq!((info.plaintext_len, info.sha256_hex), (0, sha_hex(b"")));
        assert!(s.get("early").await.unwrap().is_empty());

        // Died inside the header: nothing to recover, and the stub is removed.
        let stub = partial_path(&file_of(&s, "stub"));
        fs::write(&stub, b"VGB1\x01").unwrap();
        assert!(s.recover_partial("stub").await.unwrap().is_none());
        assert!(!stub.exists());

        // Not ours: refused and left alone for a human.
        let foreign = partial_path(&file_of(&s, "foreign"));
        fs::write(&foreign, vec![b'x'; 200]).unwrap();
        assert!(matches!(
            s.recover_partial("foreign").await,
            Err(BlobError::Corrupt { .. })
        ));
        assert!(foreign.exists());
    }

    #[test]
    fn validate_key_rules() {
        for ok in [
            "checkpoints/000001.json",
            "recordings/2026/11/22/call_x.wav",
            "a",
            "a.partial.json",
            ".hidden",
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(MAX_BLOB_KEY_LEN + 1);
        let bad_keys: [&str; 13] = [
            "../x",
            "a/../b",
            "/abs",
            "a//b",
            "a\\b",
            "",
            "a/",
            "./a",
            "a\0b",
            "a\nb",
            "x.partial",
            "d/x.tmp",
            &long,
        ];
        for bad in bad_keys {
            assert!(
                matches!(validate_key(bad), Err(BlobError::InvalidBlobKey(_))),
                "{bad:?}"
            );
        }
        assert!(validate_key(&"a".repeat(MAX_BLOB_KEY_LEN)).is_ok());
    }

    #[tokio::test]
    async fn invalid_keys_are_refused_before_touching_disk() {
        let (_dir, s) = store();
        assert!(matches!(
            s.put("../escape", b"x").await,
            Err(BlobError::InvalidBlobKey(_))
        ));
        assert!(matches!(s.get("/etc/passwd").await, Err(BlobError::InvalidBlobKey(_))));
        assert!(matches!(s.list("../").await, Err(BlobError::InvalidBlobKey(_))));
        assert!(matches!(
            s.create_writer("a//b").await,
            Err(BlobError::InvalidBlobKey(_))
        ));
    }

    #[tokio::test]
    async fn list_is_sorted_and_skips_unfinished_files() {
        let (_dir, s) = store();
        for key in [
            "recordings/2026/11/22/b.wav",
            "checkpoints/002.json",
            "checkpoints/001.json",
            "checkpoints/010.json",
        ] {
            s.put(key, b"x").await.unwrap();
        }
        s.put("recordings/2026/11/22/a.wav", b"x").await.unwrap();
        let _w = s.create_writer("checkpoints/003.json").await.unwrap();
        fs::write(s.root().join("checkpoints/004.json.0123456789abcdef.tmp"), b"junk").unwrap();
        let cps = ["checkpoints/001.json", "checkpoints/002.json", "checkpoints/010.json"];
        assert_eq!(s.list("checkpoints/").await.unwrap(), cps);
        assert_eq!(s.list("checkpoints/00").await.unwrap(), &cps[..2]);
        assert_eq!(s.list("check").await.unwrap(), cps);
        assert_eq!(
            s.list("recordings/2026").await.unwrap(),
            ["recordings/2026/11/22/a.wav", "recordings/2026/11/22/b.wav"]
        );
        assert_eq!(s.list("").await.unwrap().len(), 5);
        assert!(s.list("nothing/here/").await.unwrap().is_empty());
        assert_eq!(s.list_partial("").await.unwrap(), ["checkpoints/003.json"]);
    }

    #[tokio::test]
    async fn files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let s = store_with(&dir, Keyring::new(MasterKey::new("k1", K1)));
        assert_eq!(mode(s.root()), 0o700);
        s.put("a/b/c.bin", b"x").await.unwrap();
        assert_eq!(mode(&s.root().join("a")), 0o700);
        assert_eq!(mode(&s.root().join("a/b")), 0o700);
        assert_eq!(mode(&file_of(&s, "a/b/c.bin")), 0o600);
        let _w = s.create_writer("d/e.wav").await.unwrap();
        assert_eq!(mode(&s.root().join("d")), 0o700);
        assert_eq!(mode(&partial_path(&file_of(&s, "d/e.wav"))), 0o600);
    }

    #[tokio::test]
    async fn delete_removes_and_reports_missing() {
        let (_dir, s) = store();
        s.put("x/y", b"data").await.unwrap();
        s.delete("x/y").await.unwrap();
        assert!(matches!(s.get("x/y").await, Err(BlobError::NotFound(_))));
        assert!(matches!(s.delete("x/y").await, Err(BlobError::NotFound(_))));
        assert!(matches!(s.delete("x").await, Err(BlobError::NotFound(_))));
        assert!(matches!(s.get("x").await, Err(BlobError::NotFound(_))));
    }

    #[tokio::test]
    async fn failed_writer_refuses_to_continue() {
        let (_dir, s) = store();
        let mut w = s.create_writer("f").await.unwrap();
        match &mut w.0 {
            WriterKind::Local(local) => local.core = None, // as after a cancelled or failed write
            WriterKind::S3(_) => unreachable!("a local store makes local writers"),
        }
        assert!(matches!(w.write(&data(CHUNK_LEN)).await, Err(BlobError::WriterFailed)));
        assert!(matches!(w.finish().await, Err(BlobError::WriterFailed)));
    }

    #[tokio::test]
    async fn blobs_enum_delegates() {
        let (_dir, s) = store();
        let blobs = Blobs::Local(Arc::new(s));
        assert_eq!(blobs.store_kind(), "local_encrypted");
        async fn via_trait(store: &impl BlobStore) -> Vec<String> {
            store.put("k/1", b"one").await.unwrap();
            store.list("k/").await.unwrap()
        }
        assert_eq!(via_trait(&blobs).await, ["k/1"]);
        assert_eq!(blobs.get("k/1").await.unwrap(), b"one");
        assert_eq!(blobs.get_range("k/1", 1, 3).await.unwrap(), b"ne");
        assert_eq!(blobs.len("k/1").await.unwrap(), 3);
        let mut w = blobs.clone().create_writer("k/2").await.unwrap();
        w.write(b"two").await.unwrap();
        assert_eq!(w.finish().await.unwrap().plaintext_len, 3);
        assert!(blobs.list_partial("").await.unwrap().is_empty());
        assert!(blobs.recover_partial("k/2").await.unwrap().is_none());
        blobs.delete("k/1").await.unwrap();
        assert_eq!(blobs.list("").await.unwrap(), ["k/2"]);
    }

    #[test]
    fn master_keys_parse_and_never_print() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let k = MasterKey::from_hex("k2026a", &format!(" {hex}\n")).unwrap();
        assert_eq!(k.expose()[..3], [0x00, 0x11, 0x22]);
        assert_eq!(k.expose()[31], 0xff);
        let shown = format!("{k:?}");
        let shown = format!("{shown} {:?}", Keyring::new(k));
        assert!(shown.contains("k2026a") && shown.contains("redacted"));
        assert!(
            !shown.to_lowercase().contains("8899aabb") && !shown.contains("17"),
            "{shown}"
        );
        let (zz, long) = ("zz".repeat(32), format!("{hex}00"));
        let bad_hex: [&str; 4] = [&hex[..62], &zz, &long, ""];
        for bad in bad_hex {
            let e = MasterKey::from_hex("k", bad).unwrap_err();
            assert!(matches!(e, BlobError::InvalidKey(_)));
            assert!(bad.is_empty() || !e.to_string().contains(&bad[..8]));
        }
        assert!(MasterKey::from_hex("", hex).is_err());
        assert!(MasterKey::from_hex("has space", hex).is_err());
        assert!(MasterKey::from_hex("x".repeat(65), hex).is_err());
    }

    #[test]
    fn keyrings_are_validated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let dup = Keyring::new(MasterKey::new("k1", K1)).with_previous(MasterKey::new("k1", K2));
        assert!(matches!(
            LocalEncrypted::open(dir.path().into(), dup),
            Err(BlobError::InvalidKey(_))
        ));
        let long = Keyring::new(MasterKey::new("k".repeat(65), K1));
        assert!(matches!(
            LocalEncrypted::open(dir.path().into(), long),
            Err(BlobError::InvalidKey(_))
        ));
        let ring = Keyring::new(MasterKey::new("k1", K1)).with_previous(MasterKey::new("k0", K2));
        assert_eq!(ring.get("k0").map(|k| k.id.as_str()), Some("k0"));
        assert_eq!(ring.current().id, "k1");
        assert!(ring.get("k9").is_none());
    }

    #[test]
    fn retryability() {
        assert!(BlobError::Io(io::Error::other("x")).is_retryable());
        assert!(!BlobError::Truncated { key: "k".into() }.is_retryable());
        assert!(!BlobError::InvalidRange.is_retryable());
        let (op, why) = ("PutObject", String::from("x"));
        assert!(BlobError::Unavailable { op, why: why.clone() }.is_retryable());
        assert!(!BlobError::Rejected { op, why }.is_retryable());
        assert!(!BlobError::Locked("k".into()).is_retryable());
        assert!(!BlobError::Config("c".into()).is_retryable());
    }
}
