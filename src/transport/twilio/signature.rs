//! `X-Twilio-Signature`: HMAC-SHA1 over the public URL and the sorted form parameters.
//!
//! The URL is always rebuilt from the configured public base URL: behind a load balancer the URL
//! this process sees is not the one Twilio signed. Twilio's own helpers accept the signature with
//! or without the scheme's default port, because Twilio signs inconsistently; so do we. The media
//! WebSocket upgrade is signed over the `wss://` form of the URL.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<sha1::Sha1>;

/// Which form of the public URL Twilio signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// HTTP webhooks (`https://`, or `http://` for a local base URL).
    Http,
    /// The media WebSocket upgrade (`wss://`, or `ws://` for a local base URL).
    WebSocket,
}

/// The signature Twilio would send for `url` and `params`.
pub fn compute(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    // HMAC accepts keys of any length.
    let mut mac = HmacSha1::new_from_slice(auth_token).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

/// The URL strings Twilio may have signed for `path_and_query` under `public_base`.
pub fn candidate_urls(public_base: &str, path_and_query: &str, scheme: Scheme) -> Vec<String> {
    let Ok(base) = url::Url::parse(public_base) else {
        return Vec::new();
    };
    let secure = base.scheme() == "https";
    let scheme_str = match (scheme, secure) {
        (Scheme::Http, true) => "https",
        (Scheme::Http, false) => "http",
        (Scheme::WebSocket, true) => "wss",
        (Scheme::WebSocket, false) => "ws",
    };
    let default_port = if secure { 443 } else { 80 };
    let Some(host) = base.host_str() else { return Vec::new() };
    let prefix = base.path().trim_end_matches('/');
    let port = base.port().unwrap_or(default_port);
    let with_port = format!("{scheme_str}://{host}:{port}{prefix}{path_and_query}");
    if port == default_port {
        vec![format!("{scheme_str}://{host}{prefix}{path_and_query}"), with_port]
    } else {
        vec![with_port]
    }
}

/// Constant-time check of `signature` against every URL form Twilio may have signed.
pub fn validate(
    auth_token: &[u8],
    public_base: &str,
    path_and_query: &str,
    scheme: Scheme,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let mut ok = 0u8;
    for url in candidate_urls(public_base, path_and_query, scheme) {
        let expected = compute(auth_token, &url, params);
        ok |= expected.as_bytes().ct_eq(signature.as_bytes()).unwrap_u8();
    }
    ok == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn twilio_documented_test_vector() {
        let sig = compute(b"12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params());
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn accepts_with_and_without_default_port_rejects_tampering() {
        let p = params();
        let sig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(validate(
            b"12345",
            "https://mycompany.com",
            "/myapp.php?foo=1&bar=2",
            Scheme::Http,
            &p,
            sig
        ));
        let with_port = compute(b"12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", &p);
        assert!(validate(
            b"12345",
            "https://mycompany.com",
            "/myapp.php?foo=1&bar=2",
            Scheme::Http,
            &p,
            &with_port
        ));
        assert!(!validate(
            b"12345",
            "https://mycompany.com",
            "/myapp.php?foo=1&bar=3",
            Scheme::Http,
            &p,
            sig
        ));
        let mut tampered = p.clone();
        tampered[3].1 = "+19999999999".into();
        assert!(!validate(
            b"12345",
            "https://mycompany.com",
            "/myapp.php?foo=1&bar=2",
            Scheme::Http,
            &tampered,
            sig
        ));
        assert!(!validate(
            b"54321",
            "https://mycompany.com",
            "/myapp.php?foo=1&bar=2",
            Scheme::Http,
            &p,
            sig
        ));
    }

    #[test]
    fn websocket_upgrade_is_signed_over_wss() {
        let wss = compute(b"tok", "wss://voice.example.com/twilio/media", &[]);
        let https = compute(b"tok", "https://voice.example.com/twilio/media", &[]);
        let wss_port = compute(b"tok", "wss://voice.example.com:443/twilio/media", &[]);
        let base = "https://voice.example.com/";
        assert!(validate(b"tok", base, "/twilio/media", Scheme::WebSocket, &[], &wss));
        assert!(validate(
            b"tok",
            base,
            "/twilio/media",
            Scheme::WebSocket,
            &[],
            &wss_port
        ));
        assert!(!validate(b"tok", base, "/twilio/media", Scheme::WebSocket, &[], &https));
    }

    #[test]
    fn explicit_non_default_port_is_kept() {
        assert_eq!(
            candidate_urls("http://127.0.0.1:8080", "/twilio/voice", Scheme::Http),
            vec!["http://127.0.0.1:8080/twilio/voice"]
        );
        assert_eq!(
            candidate_urls("https://h.example:443/", "/x", Scheme::WebSocket),
            vec!["wss://h.example/x", "wss://h.example:443/x"]
        );
    }
}
