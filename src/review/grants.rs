//! Playback grants: after a playback was audited, a short-lived signed permission to stream that
//! call's recording, bound to the session that asked (a copied URL is useless in another session
//! or after it expires). Form: `g1.<call id>.<expiry ms>.<base64url HMAC-SHA256>`; the call id is
//! our random id, not PHI.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, KeyInit, Mac};

use crate::config::KeyedSecret;

type HmacSha256 = Hmac<sha2::Sha256>;

fn mac(key: &KeyedSecret, session_id: &str, call_id: &str, expiry_ms: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key.bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(format!("g1|{session_id}|{call_id}|{expiry_ms}|{}", key.id).as_bytes());
    m
}

/// A grant for `call_id` to `session_id` until `expiry_ms`.
pub fn mint(key: &KeyedSecret, session_id: &str, call_id: &str, expiry_ms: u64) -> String {
    let tag = mac(key, session_id, call_id, expiry_ms).finalize().into_bytes();
    format!("g1.{call_id}.{expiry_ms}.{}", B64URL.encode(tag))
}

/// The call id a grant opens, if it is genuine, unexpired and this session's.
pub fn check(key: &KeyedSecret, session_id: &str, grant: &str, now_ms: u64) -> Option<String> {
    let mut parts = grant.split('.');
    let (Some("g1"), Some(call_id), Some(expiry), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let expiry_ms: u64 = expiry.parse().ok()?;
    let tag = B64URL.decode(tag).ok()?;
    mac(key, session_id, call_id, expiry_ms).verify_slice(&tag).ok()?;
    (now_ms <= expiry_ms).then(|| call_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_opens_its_call_for_its_session_until_it_expires() {
        let key = KeyedSecret::parse("k1:grant-key");
        let g = mint(&key, "ses_a", "call_1", 1_000);
        assert_eq!(check(&key, "ses_a", &g, 1_000).as_deref(), Some("call_1"));
        assert_eq!(check(&key, "ses_a", &g, 1_001), None, "expired");
        assert_eq!(check(&key, "ses_b", &g, 500), None, "another session");
        let other_call = g.replacen("call_1", "call_2", 1);
        assert_eq!(check(&key, "ses_a", &other_call, 500), None, "forged call id");
        assert_eq!(check(&key, "ses_a", "g1.call_1", 500), None);
    }
}
