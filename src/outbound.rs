//! The HTTPS client for outbound HTTP peers (the FHIR EHR, the red-flag classifier): rustls with
//! the ring provider and the system's roots, HTTP/1.1, one connection pool per client.
//!
//! Kept in one place so every peer gets the same TLS policy. A plain-`http` URL (a sidecar, a test
//! peer on loopback) works on a machine without root certificates, since TLS is never used for it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP(S) client whose requests carry a full body.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why no client could be built. Not retryable: the machine's TLS setup is missing.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No system root certificates, and the peer is reached over https.
    #[error("no TLS root certificates found for an https peer")]
    NoRoots,
    /// rustls refused its own default configuration (not expected with the ring provider).
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// A client for a peer whose URL scheme is `scheme` (`http` or `https`).
///
/// # Errors
/// [`ClientError::NoRoots`] for an https peer on a machine without root certificates.
pub fn client_for(scheme: &str) -> Result<HttpsClient, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(builder) => builder,
        Err(_) if scheme == "http" => {
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| ClientError::Tls(e.to_string()))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
        Err(_) => return Err(ClientError::NoRoots),
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
