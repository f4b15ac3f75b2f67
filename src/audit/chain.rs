//! The tamper-evident audit chain: record hashing, signed checkpoints and a streaming verifier.
//!
//! Each record stores its RFC 8785 bytes verbatim together with
//! `hash = SHA-256(0x00 ‖ prev_hash ‖ canonical)`, where `prev_hash` is the previous record's hash
//! ([`GENESIS`] for record 1). Changing, removing or moving any record therefore changes a hash that
//! a later record (or a checkpoint) has committed to. Because the preimage is plain JCS bytes, an
//! auditor can recompute the chain with any SHA-256 and JCS tool, without our code.
//!
//! A chain alone cannot detect the *tail* being cut off or rewritten wholesale: whoever can write the
//! database can also recompute every later hash. [`Checkpoint`]s close that gap: periodically the
//! chain length and head hash are MAC'd under a key the database never sees and written elsewhere.
//!
//! This module is pure: no database, no clock (timestamps come in as arguments), no key storage
//! (keys come from a lookup the caller supplies). Appending records and deciding their content is
//! `audit::log`'s job; fetching rows is `storage`'s.
//!
//! # Which break is reported where
//! [`Verifier`] reports the first break in chain order, as a [`ChainBreak`] naming an index and a
//! [`BreakKind`]. Records are checked in this order:
//!
//! 1. **Index.** The expected index is one more than the last record's (1 at the start).
//!    - Lower than expected (a repeat or a step backwards): `Reordered` at the record's index.
//!    - Higher than expected: the expected index is missing *here*, but from this record alone a
//!      deletion (`1 2 3 5 6`) cannot be told from a swap (`1 2 3 5 4 6`). The verifier looks one
//!      record further: if the next index is lower than the one that jumped ahead, the missing record
//!      turned up later, so `Reordered` at the missing index; otherwise (or if the chain ends there)
//!      `Deleted` at the missing index.
//! 2. **Content.** `record_hash(prev_hash, canonical) != hash`: `Edited` at this index. Whatever
//!    changed (content, the stored `prev_hash`, or the stored hash), the row no longer agrees with itself.
//! 3. **Canonical form.** The bytes hash correctly but do not parse as JSON whose RFC 8785 form is the
//!    bytes themselves: `NotCanonical` at this index. An external auditor's JCS tool would not reproduce
//!    these bytes, so the record is not independently verifiable even though the hash is intact.
//! 4. **Link.** The row agrees with itself, but its `prev_hash` is not the previous record's hash.
//!    - At index 1 (`prev_hash` is not [`GENESIS`]): `Reordered` at 1, as the record does not start the chain.
//!    - At index `j > 1`, either record `j-1` was edited *and its hash recomputed* (record `j` still
//!      points at its original hash), or record `j` itself does not belong here. The next record
//!      decides, because SHA-256 makes it impossible to rewrite a record without changing its hash:
//!      - next `prev_hash` == hash of `j`: the chain resumes after `j`, so the only inconsistency is the
//!        link into `j`: record `j-1` was rewritten and rehashed. `Edited` at `j-1`, the first record
//!        whose content no longer fits the chain.
//!      - next `prev_hash` == hash of `j-1`: the next record belongs right after `j-1`; `j` and `j+1`
//!        were swapped. `Reordered` at `j`.
//!      - neither: record `j` fits neither neighbour (moved from elsewhere, or several consecutive
//!        records rewritten). `Reordered` at `j`.
//!      - no next record: `Edited` at `j-1`, the same single-broken-link reading as mid-chain.
//!
//! Because of the one-record lookahead, [`Verifier::push`] may report a break one call late (its
//! index is then lower than the record just pushed), and [`Verifier::finish`] may report a break that
//! no push did. Edits to the last record (content edited and rehashed) are invisible to the chain
//! itself; only a checkpoint covering it can catch them.
//!
//! After the records, each checkpoint is checked (in [`Verifier::finish`]), the break with the lowest
//! index winning and list order deciding ties:
//! - unknown key id, or MAC invalid under that key: `ForgedCheckpoint` at the checkpoint's claimed length;
//! - valid, but the chain is shorter than its length: `TruncatedAfterCheckpoint` at that length;
//! - valid, but the record at its length has another hash (or `head_hash_hex` is not 64 hex digits):
//!   `CheckpointMismatch` at that length. A checkpoint of length 0 must carry [`GENESIS`].

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical::{CanonicalError, canonicalize, write_string};

/// The `prev_hash` of record 1. All zeros, so "the chain starts here" needs no extra column and an
/// auditor needs no out-of-band value to start recomputing.
pub const GENESIS: [u8; 32] = [0; 32];

/// Domain-separation byte prefixed to every record-hash preimage, so a record hash can never be
/// reinterpreted as (or collide by construction with) a hash or MAC of some other structure.
const RECORD_DOMAIN: u8 = 0x00;

/// Domain-separation byte prefixed to every checkpoint-MAC message. Differs from [`RECORD_DOMAIN`] so
/// a checkpoint MAC can never be replayed as a MAC over a record, should the same key ever serve both.
const CHECKPOINT_DOMAIN: u8 = 0x01;

type HmacSha256 = Hmac<Sha256>;

/// Computes a record's hash: `SHA-256(0x00 ‖ prev_hash ‖ canonical)`.
///
/// `prev_hash` has a fixed length and comes first, so the preimage splits unambiguously without a
/// length prefix on `canonical`.
pub fn record_hash(prev_hash: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([RECORD_DOMAIN]);
    hasher.update(prev_hash);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// One audit row as stored. Fields are public because `storage` maps rows to this and the verifier
/// has to see exactly what was stored, including inconsistent rows.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in the chain, from 1, contiguous. Carried explicitly so a deleted row shows as a gap
    /// rather than only as a broken link.
    pub index: u64,
    /// The previous record's `hash` ([`GENESIS`] for index 1): the link that fixes this record's position.
    pub prev_hash: [u8; 32],
    /// `record_hash(prev_hash, canonical)` as computed when the record was appended.
    pub hash: [u8; 32],
    /// The record's RFC 8785 bytes, stored verbatim: the exact preimage, so nothing needs re-encoding
    /// (and nothing can be re-encoded differently) at verification time.
    pub canonical: Vec<u8>,
}

impl StoredRecord {
    /// Canonicalizes `content` and links it after a record whose hash is `prev_hash` (use [`GENESIS`]
    /// for index 1). The appender's one way to build a record, so writer and verifier cannot disagree
    /// on the encoding.
    ///
    /// # Errors
    /// [`CanonicalError`] if `content` has no RFC 8785 form (integers beyond ±2^53, NaN/Infinity).
    pub fn seal(index: u64, prev_hash: [u8; 32], content: &Value) -> Result<Self, CanonicalError> {
        let canonical = canonicalize(content)?;
        let hash = record_hash(&prev_hash, &canonical);
        Ok(Self {
            index,
            prev_hash,
            hash,
            canonical,
        })
    }
}

/// Hand-written so the record content, which may hold PHI, never reaches a log through `{:?}`.
impl fmt::Debug for StoredRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredRecord")
            .field("index", &self.index)
            .field("prev_hash", &hex(&self.prev_hash))
            .field("hash", &hex(&self.hash))
            .field("canonical_len", &self.canonical.len())
            .finish()
    }
}

/// A periodic checkpoint written OUTSIDE the database: chain length and head hash at that time, signed
/// with HMAC-SHA256 under a key from configuration (key id carried so keys can rotate).
///
/// The MAC covers `0x01 ‖ JCS({"created_at_unix_ms", "head_hash_hex", "key_id", "length"})`, so it can
/// be checked with any HMAC and JCS tool. Hash and MAC are text (hex, standard padded base64) so the
/// serialised checkpoint is plain JSON an operator can read and archive.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Number of records in the chain when the checkpoint was taken; the record at this index is the head.
    pub length: u64,
    /// Lowercase hex of the head record's hash ([`GENESIS`] for length 0).
    pub head_hash_hex: String,
    /// When the checkpoint was taken, supplied by the caller (this module has no clock). MAC'd so it
    /// cannot be back-dated.
    pub created_at_unix_ms: u64,
    /// Which configured key signed this, so old checkpoints stay verifiable after a key rotation.
    pub key_id: String,
    /// Standard (padded) base64 of the 32-byte HMAC-SHA256 tag.
    pub mac_b64: String,
}

impl Checkpoint {
    /// Signs a checkpoint for a chain of `length` records whose last hash is `head_hash`.
    ///
    /// Key strength is configuration's concern (`Settings::validate` should demand at least 32 random
    /// bytes); HMAC itself accepts any key.
    pub fn sign(length: u64, head_hash: &[u8; 32], created_at_unix_ms: u64, key_id: &str, key: &[u8]) -> Checkpoint {
        let head_hash_hex = hex(head_hash);
        let message = checkpoint_message(length, &head_hash_hex, created_at_unix_ms, key_id);
        let mut mac = keyed_mac(key);
        mac.update(&message);
        let tag = mac.finalize().into_bytes();
        Checkpoint {
            length,
            head_hash_hex,
            created_at_unix_ms,
            key_id: key_id.to_owned(),
            mac_b64: BASE64.encode(tag),
        }
    }

    /// Whether `mac_b64` is a valid HMAC of this checkpoint's fields under `key`. The tag comparison is
    /// constant-time (`Mac::verify_slice`), so timing reveals nothing about the expected tag.
    /// Undecodable base64 simply fails verification.
    pub fn verify_mac(&self, key: &[u8]) -> bool {
        let Ok(tag) = BASE64.decode(&self.mac_b64) else {
            return false;
        };
        let message = checkpoint_message(self.length, &self.head_hash_hex, self.created_at_unix_ms, &self.key_id);
        let mut mac = keyed_mac(key);
        mac.update(&message);
        mac.verify_slice(&tag).is_ok()
    }
}

/// The exact bytes a checkpoint MAC covers: `0x01 ‖ JCS({"created_at_unix_ms", "head_hash_hex",
/// "key_id", "length"})`, written directly because the shape is fixed (members already in RFC 8785
/// order) and so signing cannot fail.
///
/// The one place this can differ from JCS is an integer above 2^53, which JCS would round to the
/// nearest double: here it stays exact, so two different lengths never share a MAC. Neither field
/// gets there in practice (2^53 ms is ~285,000 years; 2^53 records is beyond any database).
fn checkpoint_message(length: u64, head_hash_hex: &str, created_at_unix_ms: u64, key_id: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(160 + key_id.len());
    message.push(CHECKPOINT_DOMAIN);
    message.extend_from_slice(b"{\"created_at_unix_ms\":");
    message.extend_from_slice(created_at_unix_ms.to_string().as_bytes());
    message.extend_from_slice(b",\"head_hash_hex\":");
    write_string(head_hash_hex, &mut message);
    message.extend_from_slice(b",\"key_id\":");
    write_string(key_id, &mut message);
    message.extend_from_slice(b",\"length\":");
    message.extend_from_slice(length.to_string().as_bytes());
    message.push(b'}');
    message
}

fn keyed_mac(key: &[u8]) -> HmacSha256 {
    // HMAC (RFC 2104) is defined for keys of any length: long keys are hashed, short ones padded.
    // `new_from_slice` can only fail for MACs with a fixed key size, which HMAC is not.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// What kind of inconsistency a [`ChainBreak`] found. The module docs say exactly when each is reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// A record's bytes don't hash to its stored hash, or (detected at the next record) it was
    /// rewritten and rehashed so that the next record no longer links to it.
    Edited,
    /// An index is missing.
    Deleted,
    /// A record is out of place: indices out of order or repeated, or its `prev_hash` links to neither neighbour.
    Reordered,
    /// The chain is shorter than a valid checkpoint says it was.
    TruncatedAfterCheckpoint,
    /// The record at a valid checkpoint's length has a different hash than the checkpoint recorded.
    CheckpointMismatch,
    /// A checkpoint's MAC is invalid, or its key id is unknown.
    ForgedCheckpoint,
    /// A record's bytes hash correctly but are not the RFC 8785 form of themselves.
    NotCanonical,
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakKind::Edited => "record edited",
            BreakKind::Deleted => "record deleted",
            BreakKind::Reordered => "record out of order",
            BreakKind::TruncatedAfterCheckpoint => "chain truncated after a checkpoint",
            BreakKind::CheckpointMismatch => "record does not match checkpoint",
            BreakKind::ForgedCheckpoint => "checkpoint forged or signed with an unknown key",
            BreakKind::NotCanonical => "record bytes are not canonical JSON",
        })
    }
}

/// The first inconsistency found in a chain. Not retryable: it describes stored data, so verifying the
/// same data again finds the same break. Carries only an index and a kind, never record content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at index {index}: {kind}")]
pub struct ChainBreak {
    /// The chain index the break is attributed to (see the module docs); for checkpoint breaks, the
    /// checkpoint's length.
    pub index: u64,
    /// What was found there.
    pub kind: BreakKind,
}

/// A break that is certain but whose index or kind depends on the next record (module docs, steps 1 and 4).
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// Index `missing` was expected but `seen` arrived.
    Gap { missing: u64, seen: u64 },
    /// Record `at` (> 1), whose own hash is `own`, does not link to its predecessor.
    Link { at: u64, own: [u8; 32] },
}

/// Streaming verifier: feed records in ascending index order (so 100,000+ records never sit in memory at once).
///
/// It keeps each record's 32-byte hash (3.2 MB per 100,000 records) because [`Verifier::finish`] only
/// learns the checkpoint lengths at the end; record content is dropped as soon as it is checked.
#[derive(Default)]
pub struct Verifier {
    /// Records accepted so far; the next record must have index `length + 1`.
    length: u64,
    /// The last accepted record's hash: what the next `prev_hash` must equal.
    head: [u8; 32],
    /// Hash of every accepted record, position `i` holding index `i + 1`, for checkpoint checks.
    hashes: Vec<[u8; 32]>,
    /// A known break awaiting the next record to be classified.
    pending: Option<Pending>,
    /// The first break, once found. Sticky, so calls after a break keep reporting it.
    broken: Option<ChainBreak>,
}

impl Verifier {
    /// A verifier expecting record 1, linked to [`GENESIS`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next record.
    ///
    /// # Errors
    /// The first [`ChainBreak`], possibly about the previous record (one-record lookahead, see the
    /// module docs). Once a break is found, every later call returns it again.
    pub fn push(&mut self, record: &StoredRecord) -> Result<(), ChainBreak> {
        if let Some(found) = &self.broken {
            return Err(found.clone());
        }
        self.check(record)
            .inspect_err(|found| self.broken = Some(found.clone()))
    }

    fn check(&mut self, record: &StoredRecord) -> Result<(), ChainBreak> {
        if let Some(pending) = self.pending.take() {
            return Err(resolve(pending, record));
        }

        let expected = self.length + 1;
        if record.index < expected {
            return Err(ChainBreak {
                index: record.index,
                kind: BreakKind::Reordered,
            });
        }
        if record.index > expected {
            self.pending = Some(Pending::Gap {
                missing: expected,
                seen: record.index,
            });
            return Ok(());
        }

        if record_hash(&record.prev_hash, &record.canonical) != record.hash {
            return Err(ChainBreak {
                index: record.index,
                kind: BreakKind::Edited,
            });
        }
        if !is_canonical(&record.canonical) {
            return Err(ChainBreak {
                index: record.index,
                kind: BreakKind::NotCanonical,
            });
        }
        if record.prev_hash != self.head {
            if record.index == 1 {
                return Err(ChainBreak {
                    index: 1,
                    kind: BreakKind::Reordered,
                });
            }
            self.pending = Some(Pending::Link {
                at: record.index,
                own: record.hash,
            });
        }

        self.length = record.index;
        self.head = record.hash;
        self.hashes.push(record.hash);
        Ok(())
    }

    /// Ends the stream and checks `checkpoints` against it. `keys` maps a key id to its key, `None` for
    /// ids the configuration doesn't know.
    ///
    /// # Errors
    /// A break still pending from the last records, else the checkpoint break with the lowest index.
    pub fn finish(
        self,
        checkpoints: &[Checkpoint],
        keys: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<VerifiedChain, ChainBreak> {
        if let Some(found) = self.broken {
            return Err(found);
        }
        match self.pending {
            Some(Pending::Gap { missing, .. }) => {
                return Err(ChainBreak {
                    index: missing,
                    kind: BreakKind::Deleted,
                });
            }
            Some(Pending::Link { at, .. }) => {
                return Err(ChainBreak {
                    index: at - 1,
                    kind: BreakKind::Edited,
                });
            }
            None => {}
        }

        let mut first: Option<ChainBreak> = None;
        for checkpoint in checkpoints {
            if let Some(kind) = self.check_checkpoint(checkpoint, keys)
                && first.as_ref().is_none_or(|f| checkpoint.length < f.index)
            {
                first = Some(ChainBreak {
                    index: checkpoint.length,
                    kind,
                });
            }
        }
        match first {
            Some(found) => Err(found),
            None => Ok(VerifiedChain {
                length: self.length,
                head_hash: self.head,
                checkpoints_checked: checkpoints.len(),
            }),
        }
    }

    fn check_checkpoint(&self, checkpoint: &Checkpoint, keys: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<BreakKind> {
        let Some(key) = keys(&checkpoint.key_id) else {
            return Some(BreakKind::ForgedCheckpoint);
        };
        if !checkpoint.verify_mac(&key) {
            return Some(BreakKind::ForgedCheckpoint);
        }
        let expected = match checkpoint.length {
            0 => Some(&GENESIS),
            n => usize::try_from(n - 1).ok().and_then(|i| self.hashes.get(i)),
        };
        let Some(expected) = expected else {
            return Some(BreakKind::TruncatedAfterCheckpoint);
        };
        match from_hex32(&checkpoint.head_hash_hex) {
            Some(claimed) if &claimed == expected => None,
            _ => Some(BreakKind::CheckpointMismatch),
        }
    }
}

/// Classifies a pending break once the record after it is known (module docs, steps 1 and 4).
fn resolve(pending: Pending, next: &StoredRecord) -> ChainBreak {
    match pending {
        Pending::Gap { missing, seen } => {
            let kind = if next.index < seen {
                BreakKind::Reordered
            } else {
                BreakKind::Deleted
            };
            ChainBreak { index: missing, kind }
        }
        Pending::Link { at, own } => {
            // The next record links to `at`: the chain resumes, so the only broken link is the one into
            // `at`, meaning record `at - 1` was rewritten and rehashed. Any other next link (back to
            // `at - 1`, i.e. a swap, or to neither) leaves `at` as the record out of place.
            if next.prev_hash == own {
                ChainBreak {
                    index: at - 1,
                    kind: BreakKind::Edited,
                }
            } else {
                ChainBreak {
                    index: at,
                    kind: BreakKind::Reordered,
                }
            }
        }
    }
}

/// The bytes parse as JSON and are exactly their own RFC 8785 form. Catches whitespace, unsorted or
/// duplicate member names, non-minimal escapes and non-ES number spellings, none of which an
/// auditor's JCS tool would reproduce.
fn is_canonical(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|value| canonicalize(&value).ok())
        .is_some_and(|again| again == bytes)
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Number of records, all contiguous, self-consistent and linked.
    pub length: u64,
    /// The last record's hash ([`GENESIS`] for an empty chain): what the next checkpoint should sign.
    pub head_hash: [u8; 32],
    /// How many checkpoints were checked, all valid and matching. Zero means the tail is unprotected.
    pub checkpoints_checked: usize,
}

/// Lowercase hex, the form checkpoints and audit exports use for hashes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses exactly 64 hex digits (either case) into a hash; `None` for anything else.
pub fn from_hex32(s: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Content shaped like real audit records (record `i` of a made-up log), including doubles with 17
/// significant digits so canonical-form checks exercise number round trips through serde_json's
/// parser. For the chain's tests and the verification benchmark; never written to a real log.
#[cfg(any(test, feature = "testkit"))]
pub fn sample_content(i: u64) -> Value {
    serde_json::json!({
        "event": if i.is_multiple_of(3) { "call.ended" } else { "tool.called" },
        "call_id": format!("call-{:06}", i / 4),
        "t_ms": 1_700_000_000_000_u64 + i * 137,
        "detail": {"duration_s": i as f64 / 7.0, "note": "caller said \"hi\"\n", "k\u{e9}y": [i, null, true]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY_ID: &str = "ckpt-2025-01";
    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OLD_KEY_ID: &str = "ckpt-2024-07";
    const OLD_KEY: &[u8] = b"an older key, still configured for verification";

    fn keys(id: &str) -> Option<Vec<u8>> {
        match id {
            KEY_ID => Some(KEY.to_vec()),
            OLD_KEY_ID => Some(OLD_KEY.to_vec()),
            _ => None,
        }
    }

    use super::sample_content as content;

    fn build_chain(n: u64) -> Vec<StoredRecord> {
        let mut records = Vec::new();
        let mut prev = GENESIS;
        for i in 1..=n {
            let record = StoredRecord::seal(i, prev, &content(i)).expect("test content is canonicalizable");
            prev = record.hash;
            records.push(record);
        }
        records
    }

    fn checkpoint_at(records: &[StoredRecord], length: u64, key_id: &str, key: &[u8]) -> Checkpoint {
        let head = if length == 0 {
            GENESIS
        } else {
            records[length as usize - 1].hash
        };
        Checkpoint::sign(length, &head, 1_700_000_000_000 + length, key_id, key)
    }

    fn verify(records: &[StoredRecord], checkpoints: &[Checkpoint]) -> Result<VerifiedChain, ChainBreak> {
        let mut verifier = Verifier::new();
        for record in records {
            verifier.push(record)?;
        }
        verifier.finish(checkpoints, &keys)
    }

    fn broken(index: u64, kind: BreakKind) -> Result<VerifiedChain, ChainBreak> {
        Err(ChainBreak { index, kind })
    }

    /// Rewrites record `i`'s content (1-based) without touching its hashes.
    fn edit_content(records: &mut [StoredRecord], i: u64) {
        let mut value = content(i);
        value["event"] = json!("consent.withdrawn");
        records[i as usize - 1].canonical = canonicalize(&value).expect("canonicalizable");
    }

    #[test]
    fn clean_chain_of_1000_verifies() {
        let records = build_chain(1000);
        let checkpoints = [
            checkpoint_at(&records, 500, OLD_KEY_ID, OLD_KEY),
            checkpoint_at(&records, 1000, KEY_ID, KEY),
        ];
        let verified = verify(&records, &checkpoints).expect("clean chain");
        assert_eq!(
            verified,
            VerifiedChain {
                length: 1000,
                head_hash: records[999].hash,
                checkpoints_checked: 2
            }
        );
    }

    #[test]
    fn empty_chain_verifies_to_genesis() {
        let verified = verify(&[], &[checkpoint_at(&[], 0, KEY_ID, KEY)]).expect("empty chain");
        assert_eq!(
            verified,
            VerifiedChain {
                length: 0,
                head_hash: GENESIS,
                checkpoints_checked: 1
            }
        );
    }

    #[test]
    fn record_hash_is_sha256_of_domain_byte_prev_and_bytes() {
        let prev = [7u8; 32];
        let mut preimage = vec![0x00];
        preimage.extend_from_slice(&prev);
        preimage.extend_from_slice(br#"{"a":1}"#);
        assert_eq!(
            record_hash(&prev, br#"{"a":1}"#),
            <[u8; 32]>::from(Sha256::digest(&preimage))
        );
        // Known answer, so a change of construction cannot pass unnoticed: SHA-256 of 33 zero bytes.
        assert_eq!(
            hex(&record_hash(&GENESIS, b"")),
            "7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"
        );
    }

    #[test]
    fn edited_content_is_reported_at_the_edited_index() {
        let mut records = build_chain(1000);
        edit_content(&mut records, 417);
        assert_eq!(verify(&records, &[]), broken(417, BreakKind::Edited));
    }

    #[test]
    fn edited_and_rehashed_is_reported_at_the_edited_index() {
        let mut records = build_chain(1000);
        edit_content(&mut records, 417);
        let r = &mut records[416];
        r.hash = record_hash(&r.prev_hash, &r.canonical);
        assert_eq!(verify(&records, &[]), broken(417, BreakKind::Edited));
    }

    #[test]
    fn edited_and_rehashed_second_to_last_is_reported_at_finish() {
        let mut records = build_chain(10);
        edit_content(&mut records, 9);
        let r = &mut records[8];
        r.hash = record_hash(&r.prev_hash, &r.canonical);
        assert_eq!(verify(&records, &[]), broken(9, BreakKind::Edited));
    }

    #[test]
    fn edited_and_rehashed_head_is_caught_only_by_a_checkpoint() {
        let mut records = build_chain(10);
        let checkpoint = checkpoint_at(&records, 10, KEY_ID, KEY);
        edit_content(&mut records, 10);
        let r = &mut records[9];
        r.hash = record_hash(&r.prev_hash, &r.canonical);
        assert!(
            verify(&records, &[]).is_ok(),
            "without a checkpoint the head is unprotected"
        );
        assert_eq!(
            verify(&records, &[checkpoint]),
            broken(10, BreakKind::CheckpointMismatch)
        );
    }

    #[test]
    fn edited_prev_hash_is_an_edit_of_that_record() {
        let mut records = build_chain(20);
        records[4].prev_hash[0] ^= 1;
        assert_eq!(verify(&records, &[]), broken(5, BreakKind::Edited));
    }

    #[test]
    fn deleted_middle_record_is_reported_at_the_missing_index() {
        let mut records = build_chain(1000);
        records.remove(599); // index 600
        assert_eq!(verify(&records, &[]), broken(600, BreakKind::Deleted));
    }

    #[test]
    fn deleted_first_and_second_to_last_records() {
        let mut records = build_chain(10);
        records.remove(0);
        assert_eq!(verify(&records, &[]), broken(1, BreakKind::Deleted));

        let mut records = build_chain(10);
        records.remove(8); // index 9: the gap is only classified at finish
        assert_eq!(verify(&records, &[]), broken(9, BreakKind::Deleted));
    }

    #[test]
    fn swapped_rows_are_reordered_at_the_first_out_of_place_index() {
        // Rows fed in storage order with their index column: 1 .. 299 301 300 302 ..
        let mut records = build_chain(1000);
        records.swap(299, 300);
        assert_eq!(verify(&records, &[]), broken(300, BreakKind::Reordered));

        // Far apart: 1 .. 299 700 301 .. 699 300 701 ..
        let mut records = build_chain(1000);
        records.swap(299, 699);
        assert_eq!(verify(&records, &[]), broken(300, BreakKind::Reordered));
    }

    #[test]
    fn swapped_contents_under_fixed_indices_are_reordered() {
        // The index column left in place, everything else swapped: the verifier sees ascending
        // indices, and the links give the swap away.
        for (a, b) in [(299_usize, 300_usize), (299, 699), (0, 1)] {
            let mut records = build_chain(1000);
            records.swap(a, b);
            let (ia, ib) = (records[a].index, records[b].index);
            records[a].index = ib;
            records[b].index = ia;
            assert_eq!(
                verify(&records, &[]),
                broken(a as u64 + 1, BreakKind::Reordered),
                "swap {a} {b}"
            );
        }
    }

    #[test]
    fn repeated_or_backward_indices_are_reordered() {
        let mut records = build_chain(10);
        records.insert(5, records[4].clone()); // index 5 twice
        assert_eq!(verify(&records, &[]), broken(5, BreakKind::Reordered));
    }

    #[test]
    fn truncated_tail_after_checkpoint() {
        let mut records = build_chain(1000);
        let checkpoint = checkpoint_at(&records, 800, KEY_ID, KEY);
        records.truncate(750);
        assert_eq!(
            verify(&records, &[checkpoint]),
            broken(800, BreakKind::TruncatedAfterCheckpoint)
        );
    }

    #[test]
    fn forged_checkpoint_length_without_the_key() {
        let mut records = build_chain(1000);
        let mut checkpoint = checkpoint_at(&records, 800, KEY_ID, KEY);
        // An attacker truncates to 700 and moves the checkpoint back to match, unable to re-MAC it.
        records.truncate(700);
        checkpoint.length = 700;
        checkpoint.head_hash_hex = hex(&records[699].hash);
        assert_eq!(
            verify(&records, &[checkpoint]),
            broken(700, BreakKind::ForgedCheckpoint)
        );
    }

    #[test]
    fn checkpoint_under_unknown_key_id_is_forged() {
        let records = build_chain(1000);
        let checkpoint = checkpoint_at(&records, 900, "attacker-key", b"attacker chose this key");
        assert_eq!(
            verify(&records, &[checkpoint]),
            broken(900, BreakKind::ForgedCheckpoint)
        );
        // A known key id with a different key's MAC is forged too.
        let checkpoint = checkpoint_at(&records, 900, KEY_ID, OLD_KEY);
        assert_eq!(
            verify(&records, &[checkpoint]),
            broken(900, BreakKind::ForgedCheckpoint)
        );
    }

    #[test]
    fn checkpoint_with_another_head_hash_is_a_mismatch() {
        let records = build_chain(100);
        let checkpoint = Checkpoint::sign(50, &records[50].hash, 1, KEY_ID, KEY);
        assert_eq!(
            verify(&records, &[checkpoint]),
            broken(50, BreakKind::CheckpointMismatch)
        );
    }

    #[test]
    fn the_lowest_index_checkpoint_break_wins() {
        let records = build_chain(100);
        let truncated = checkpoint_at(&records, 100, KEY_ID, KEY);
        let forged = checkpoint_at(&records, 30, "nobody", b"x");
        let fine = checkpoint_at(&records, 10, KEY_ID, KEY);
        let ok = verify(&records[..90], &[truncated, fine, forged]);
        assert_eq!(ok, broken(30, BreakKind::ForgedCheckpoint));
    }

    #[test]
    fn non_canonical_bytes_with_a_correct_hash() {
        // As if a buggy writer stored pretty-printed JSON: hashes and links are all consistent.
        let mut records = Vec::new();
        let mut prev = GENESIS;
        for i in 1..=1000 {
            let canonical = if i == 321 {
                serde_json::to_vec_pretty(&content(i)).expect("serialisable")
            } else {
                canonicalize(&content(i)).expect("canonicalizable")
            };
            let hash = record_hash(&prev, &canonical);
            records.push(StoredRecord {
                index: i,
                prev_hash: prev,
                hash,
                canonical,
            });
            prev = hash;
        }
        assert_eq!(verify(&records, &[]), broken(321, BreakKind::NotCanonical));
    }

    #[test]
    fn canonical_check_rejects_each_non_jcs_spelling() {
        for bytes in [
            &br#"{"a": 1}"#[..],
            br#"{"b":1,"a":2}"#,
            br#"{"a":1,"a":1}"#,
            br#"{"a":1.0}"#,
            br#"{"a":1E2}"#,
            br#"{"a":"\u0041"}"#,
            br#"{"a":"\/"}"#,
            br#"{"a":9007199254740993}"#,
            b"not json",
            b"\xff",
        ] {
            assert!(!is_canonical(bytes), "{}", String::from_utf8_lossy(bytes));
        }
        assert!(is_canonical(br#"{"a":[1,0.5,1e+21,"\u001f"],"b":null}"#));
    }

    #[test]
    fn breaks_are_sticky() {
        let mut records = build_chain(10);
        edit_content(&mut records, 3);
        let mut verifier = Verifier::new();
        let first = records.iter().find_map(|r| verifier.push(r).err()).expect("a break");
        assert_eq!(
            first,
            ChainBreak {
                index: 3,
                kind: BreakKind::Edited
            }
        );
        assert_eq!(verifier.push(&records[3]), Err(first.clone()));
        assert_eq!(verifier.finish(&[], &keys).map(|v| v.length), Err(first));
    }

    #[test]
    fn checkpoint_mac_covers_the_jcs_of_its_fields() {
        let head = [0xab; 32];
        let checkpoint = Checkpoint::sign(42, &head, 1_700_000_000_123, KEY_ID, KEY);
        assert!(checkpoint.verify_mac(KEY));
        assert!(!checkpoint.verify_mac(OLD_KEY));

        // Recompute the MAC from the documented construction, as an auditor would.
        let fields = json!({"length": 42, "key_id": KEY_ID, "head_hash_hex": hex(&head), "created_at_unix_ms": 1_700_000_000_123_u64});
        let mut message = vec![0x01];
        message.extend(canonicalize(&fields).expect("canonicalizable"));
        let mut mac = HmacSha256::new_from_slice(KEY).expect("any key length");
        mac.update(&message);
        assert_eq!(checkpoint.mac_b64, BASE64.encode(mac.finalize().into_bytes()));

        for tamper in [
            Checkpoint {
                length: 43,
                ..checkpoint.clone()
            },
            Checkpoint {
                created_at_unix_ms: 1,
                ..checkpoint.clone()
            },
            Checkpoint {
                key_id: OLD_KEY_ID.into(),
                ..checkpoint.clone()
            },
            Checkpoint {
                head_hash_hex: hex(&[0xac; 32]),
                ..checkpoint.clone()
            },
            Checkpoint {
                head_hash_hex: checkpoint.head_hash_hex.to_uppercase(),
                ..checkpoint.clone()
            },
            Checkpoint {
                mac_b64: "not base64!".into(),
                ..checkpoint.clone()
            },
            Checkpoint {
                mac_b64: String::new(),
                ..checkpoint.clone()
            },
            Checkpoint {
                length: u64::MAX,
                ..checkpoint.clone()
            },
        ] {
            assert!(!tamper.verify_mac(KEY), "{tamper:?}");
        }
    }

    #[test]
    fn checkpoint_round_trips_through_json() {
        let checkpoint = Checkpoint::sign(7, &[1; 32], 99, KEY_ID, KEY);
        let text = serde_json::to_string(&checkpoint).expect("serialisable");
        let back: Checkpoint = serde_json::from_str(&text).expect("deserialisable");
        assert_eq!(back, checkpoint);
        assert!(back.verify_mac(KEY));
    }

    #[test]
    fn checkpoint_message_is_jcs_and_stays_exact_beyond_2_pow_53() {
        let awkward_id = "k\u{1}\"\\é😀";
        let fields = json!({"length": 9, "key_id": awkward_id, "head_hash_hex": "ab", "created_at_unix_ms": 5});
        let mut want = vec![0x01];
        want.extend(canonicalize(&fields).expect("canonicalizable"));
        assert_eq!(checkpoint_message(9, "ab", 5, awkward_id), want);

        // Past 2^53 the MAC still tells neighbouring values apart.
        let big = Checkpoint::sign(u64::MAX, &GENESIS, u64::MAX, KEY_ID, KEY);
        assert!(big.verify_mac(KEY));
        assert!(
            !Checkpoint {
                length: u64::MAX - 1,
                ..big.clone()
            }
            .verify_mac(KEY)
        );
        assert!(
            !Checkpoint {
                created_at_unix_ms: u64::MAX - 1,
                ..big
            }
            .verify_mac(KEY)
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_malformed() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(from_hex32(&hex(&bytes)), Some(bytes));
        assert_eq!(from_hex32(&hex(&bytes).to_uppercase()), Some(bytes));
        assert_eq!(hex(&[0x00, 0x0f, 0xf0, 0xff]), "000ff0ff");
        for bad in [
            "",
            "00",
            &"0".repeat(63),
            &"0".repeat(65),
            &format!("{}g", "0".repeat(63)),
            &"é".repeat(32),
        ] {
            assert_eq!(from_hex32(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_does_not_print_record_content() {
        let record = StoredRecord::seal(1, GENESIS, &json!({"patient": "Jane Doe"})).expect("canonicalizable");
        let debug = format!("{record:?}");
        assert!(!debug.contains("Jane"), "{debug}");
        assert!(debug.contains("canonical_len"));
    }
}
