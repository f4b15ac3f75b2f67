//! Short-lived signed tokens that admit a caller's socket.
//!
//! **Twilio stream tokens** are minted in the webhook answer and checked on `start`. Twilio drops
//! query strings from the `<Stream>` URL, so the token travels as a `<Parameter>` and arrives in
//! `start.customParameters`. It binds the media stream to the CallSid whose webhook we answered
//! (signed), and expires quickly, so a leaked token cannot open a stream later or for another call.
//! Form: `v1.<CallSid>.<expiry unix s>.<key id>.<base64url HMAC-SHA256>`.
//!
//! **Browser call tokens** are minted by `POST /browser/token` (for the clinic's web backend, or
//! for the page itself in local use) and checked on the page's `hello`. A random nonce takes the
//! CallSid's place. Form: `b1.<nonce>.<expiry>.<key id>.<tag>`, and the signed string carries the
//! audience, so neither kind of token is accepted where the other is expected.
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, KeyInit, Mac};

use crate::clock::Clock;
use crate::config::KeyedSecret;

type HmacSha256 = Hmac<sha2::Sha256>;

/// Why a token was refused (PHI-free; becomes a close reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing")]
    Missing,
    #[error("malformed")]
    Malformed,
    #[error("unknown key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("issued for another call")]
    WrongCall,
}

impl TokenError {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenError::Missing => "missing",
            TokenError::Malformed => "malformed",
            TokenError::UnknownKey => "unknown key",
            TokenError::BadSignature => "bad signature",
            TokenError::Expired => "expired",
            TokenError::WrongCall => "issued for another call",
        }
    }
}

fn mac(key: &KeyedSecret, call_sid: &str, expiry: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key.bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(format!("v1|{call_sid}|{expiry}|{}", key.id).as_bytes());
    m
}

fn browser_mac(key: &KeyedSecret, nonce: &str, expiry: u64) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key.bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    m.update(format!("b1|browser|{nonce}|{expiry}|{}", key.id).as_bytes());
    m
}

/// A browser call token valid for `ttl_secs` from now.
pub fn mint_browser(key: &KeyedSecret, clock: &dyn Clock, ttl_secs: u64) -> String {
    let mut nonce = [0u8; 12];
    // Without OS entropy the nonce is only a label; the signature and expiry still hold.
    let _ = getrandom::fill(&mut nonce);
    let nonce = B64URL.encode(nonce);
    let expiry = clock.now_unix() + ttl_secs;
    let tag = browser_mac(key, &nonce, expiry).finalize().into_bytes();
    format!("b1.{nonce}.{expiry}.{}.{}", key.id, B64URL.encode(tag))
}

/// Check a browser call token now.
///
/// # Errors
/// The first reason the token is not acceptable.
pub fn verify_browser(key: &KeyedSecret, clock: &dyn Clock, token: Option<&str>) -> Result<(), TokenError> {
    check(key, clock, token, "b1", browser_mac).map(|_| ())
}

/// Parse `<version>.<subject>.<expiry>.<key id>.<tag>`, check the signature made by `mac_of`, then
/// the expiry; returns the subject.
fn check<'t>(
    key: &KeyedSecret,
    clock: &dyn Clock,
    token: Option<&'t str>,
    version: &str,
    mac_of: fn(&KeyedSecret, &str, u64) -> HmacSha256,
) -> Result<&'t str, TokenError> {
    let token = token.ok_or(TokenError::Missing)?;
    let parts: Vec<&str> = token.split('.').collect();
    let [found_version, subject, expiry, key_id, tag] = parts.as_slice() else {
        return Err(TokenError::Malformed);
    };
    if *found_version != version {
        return Err(TokenError::Malformed);
    }
    let expiry: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    if *key_id != key.id {
        return Err(TokenError::UnknownKey);
    }
    let tag = B64URL.decode(tag).map_err(|_| TokenError::Malformed)?;
    mac_of(key, subject, expiry)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    if clock.now_unix() > expiry {
        return Err(TokenError::Expired);
    }
    Ok(subject)
}

/// A token for `call_sid` valid for `ttl_secs` from now.
pub fn mint(key: &KeyedSecret, clock: &dyn Clock, call_sid: &str, ttl_secs: u64) -> String {
    let expiry = clock.now_unix() + ttl_secs;
    let tag = mac(key, call_sid, expiry).finalize().into_bytes();
    format!("v1.{call_sid}.{expiry}.{}.{}", key.id, B64URL.encode(tag))
}

/// Check `token` for `call_sid` now.
///
/// # Errors
/// The first reason the token is not acceptable.
pub fn verify(key: &KeyedSecret, clock: &dyn Clock, token: Option<&str>, call_sid: &str) -> Result<(), TokenError> {
    if check(key, clock, token, "v1", mac)? != call_sid {
        return Err(TokenError::WrongCall);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    fn key() -> KeyedSecret {
        KeyedSecret::parse("k1:secret-material")
    }

    #[test]
    fn a_fresh_token_verifies_for_its_call_only() {
        let clock = ManualClock::at_unix(1_800_000_000);
        let t = mint(&key(), clock.as_ref(), "CA1", 60);
        assert_eq!(verify(&key(), clock.as_ref(), Some(&t), "CA1"), Ok(()));
        assert_eq!(
            verify(&key(), clock.as_ref(), Some(&t), "CA2"),
            Err(TokenError::WrongCall)
        );
    }

    #[test]
    fn expiry_is_enforced_on_the_injected_clock() {
        let clock = ManualClock::at_unix(1_800_000_000);
        let t = mint(&key(), clock.as_ref(), "CA1", 60);
        clock.advance(Duration::from_secs(60));
        assert_eq!(verify(&key(), clock.as_ref(), Some(&t), "CA1"), Ok(()));
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            verify(&key(), clock.as_ref(), Some(&t), "CA1"),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn browser_tokens_expire_and_are_not_twilio_tokens() {
        let clock = ManualClock::at_unix(1_800_000_000);
        let t = mint_browser(&key(), clock.as_ref(), 60);
        assert_eq!(verify_browser(&key(), clock.as_ref(), Some(&t)), Ok(()));
        // A browser token's nonce in place of a CallSid does not open a Twilio stream, and a
        // Twilio token does not open a browser call.
        let nonce = t.split('.').nth(1).unwrap();
        assert_eq!(
            verify(&key(), clock.as_ref(), Some(&t), nonce),
            Err(TokenError::Malformed)
        );
        let twilio = mint(&key(), clock.as_ref(), "CA1", 60);
        assert_eq!(
            verify_browser(&key(), clock.as_ref(), Some(&twilio)),
            Err(TokenError::Malformed)
        );
        let relabelled = twilio.replacen("v1.", "b1.", 1);
        assert_eq!(
            verify_browser(&key(), clock.as_ref(), Some(&relabelled)),
            Err(TokenError::BadSignature)
        );
        clock.advance(Duration::from_secs(61));
        assert_eq!(
            verify_browser(&key(), clock.as_ref(), Some(&t)),
            Err(TokenError::Expired)
        );
        assert_ne!(
            mint_browser(&key(), clock.as_ref(), 60),
            mint_browser(&key(), clock.as_ref(), 60)
        );
    }

    #[test]
    fn forged_and_malformed_tokens_fail() {
        let clock = ManualClock::at_unix(1_800_000_000);
        let t = mint(&key(), clock.as_ref(), "CA1", 60);
        let later = t.replace(".1800000060.", ".1900000060.");
        assert_eq!(
            verify(&key(), clock.as_ref(), Some(&later), "CA1"),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify(&key(), clock.as_ref(), None, "CA1"), Err(TokenError::Missing));
        assert_eq!(
            verify(&key(), clock.as_ref(), Some("junk"), "CA1"),
            Err(TokenError::Malformed)
        );
        let other = KeyedSecret::parse("k2:other");
        assert_eq!(
            verify(&other, clock.as_ref(), Some(&t), "CA1"),
            Err(TokenError::UnknownKey)
        );
    }
}
