//! Tracing setup: JSON logs, filter from `RUST_LOG` (default `info`).
//!
//! PHI never reaches a log line: spans use `skip_all` with explicit safe fields, domain types that
//! hold PHI redact themselves, and free text from callers (transcripts, tool arguments) is never
//! logged. Tests pass a capturing writer (`testkit::LogCapture`) and search it for PHI.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// A JSON subscriber writing to `sink`.
pub fn subscriber<W>(default_filter: &str, sink: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(sink),
    )
}

/// Install `subscriber` for the process (once; later calls are ignored).
pub fn init(subscriber: impl Subscriber + Send + Sync) {
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// A patient reference safe for logs and audit records: HMAC-SHA256 of the identifier under a
/// key from configuration, carrying the key's id so keys can rotate without orphaning references.
/// Never a bare hash of a guessable value (a phone number's SHA-256 is reversible by enumeration).
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PhiRef(String);

impl PhiRef {
    /// The reference of `value` (an internal patient id, or a normalised identifier) of `kind`
    /// (e.g. `patient`, `phone`): `phi:<key id>:<32 hex digits>`.
    pub fn new(key: &crate::config::KeyedSecret, kind: &str, value: &str) -> PhiRef {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        PhiRef(format!("phi:{}:{}", key.id, crate::config::hex(&digest[..16])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the key that made this reference.
    pub fn key_id(&self) -> Option<&str> {
        self.0.strip_prefix("phi:").and_then(|rest| rest.split(':').next())
    }
}

impl std::fmt::Debug for PhiRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhiRef({})", self.0)
    }
}

impl std::fmt::Display for PhiRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyedSecret;

    #[test]
    fn phi_refs_are_keyed_stable_and_carry_the_key_id() {
        let k1 = KeyedSecret::parse("k1:secret-one");
        let k2 = KeyedSecret::parse("k2:secret-two");
        let a = PhiRef::new(&k1, "phone", "+15551234567");
        assert_eq!(a, PhiRef::new(&k1, "phone", "+15551234567"));
        assert_ne!(
            a,
            PhiRef::new(&k2, "phone", "+15551234567"),
            "another key, another reference"
        );
        assert_ne!(a, PhiRef::new(&k1, "patient", "+15551234567"), "kinds are separated");
        assert_eq!(a.key_id(), Some("k1"));
        assert!(!a.as_str().contains("5551234567"));
        // Not a bare SHA-256 of the value.
        use sha2::Digest;
        let bare = crate::config::hex(&sha2::Sha256::digest(b"+15551234567")[..16]);
        assert!(!a.as_str().contains(&bare));
    }
}
