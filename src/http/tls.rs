//! Native TLS for `serve` (rustls): HTTPS and WSS straight from the server, for deployments with
//! no TLS-terminating proxy or load balancer in front (`server.tls`).
//!
//! Owns: reading the PEM certificate chain and private key, the listener that performs TLS
//! handshakes beside the accept loop (a slow or silent client never holds up the next one), and
//! reloading the pair when either file changes. The files are polled (modification time and size,
//! following symlinks) every `reload_interval_secs`, which also catches the symlink swap by which
//! Kubernetes updates a mounted Secret and the rename by which certbot and cert-manager renew. New
//! handshakes get the new pair; connections already open keep the one they started with. A pair
//! that does not load at start-up is fatal; on reload it is logged and the previous pair is kept
//! (a renewal that wrote the certificate but not yet the key is simply picked up at the next
//! change).
//!
//! Deliberately not owned: client certificates (no mTLS), OCSP stapling, ACME, HTTP/2 (ALPN offers
//! `http/1.1` only, which is what WebSocket upgrades need).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsSettings;

/// Longest a client may take over its handshake before the connection is dropped: a handshake
/// is a few round trips, and a connection that never sends a ClientHello must not live forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at most; past this, new connections wait in the kernel's backlog
/// rather than each costing a task (a flood of half-open clients stays bounded).
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Why a certificate and key could not be used (not retryable until the files are fixed).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file held no usable PEM block of the expected kind.
    #[error("{path}: {why}")]
    Pem { path: PathBuf, why: String },
    /// The key is not supported, or is not the certificate's key.
    #[error("certificate and key do not form a usable pair: {0}")]
    Pair(#[from] rustls::Error),
}

/// Hands every handshake the pair currently loaded; the reload task swaps it.
#[derive(Debug)]
struct CurrentCert {
    /// Replaced whole on reload; read (an `Arc` clone) once per handshake.
    pair: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pair.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

/// What the files looked like when last read: a change in either means "read them again".
type Stamp = [(Option<SystemTime>, u64); 2];

/// The loaded configuration, ready to wrap a bound listener.
pub struct Tls {
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    current: Arc<CurrentCert>,
    acceptor: TlsAcceptor,
    loaded: Stamp,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.settings.cert_file)
            .field("key_file", &self.settings.key_file)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Read and check the pair named by `settings`.
    ///
    /// # Errors
    /// An unreadable file, no certificate or no key in it, an unsupported key, or a key that is
    /// not the certificate's.
    pub fn load(settings: &TlsSettings) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = stamp(settings);
        let pair = load_pair(settings, &provider)?;
        let current = Arc::new(CurrentCert {
            pair: RwLock::new(Arc::new(pair)),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            settings: settings.clone(),
            provider,
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            loaded,
        })
    }

    /// Serve TLS on `tcp`, and start watching the files. The watcher ends once the listener (and
    /// every connection's handshake state) is gone.
    pub fn listener(self, tcp: TcpListener) -> TlsListener {
        let interval = Duration::from_secs(self.settings.reload_interval_secs.max(1));
        tokio::spawn(watch(
            self.settings,
            self.provider,
            Arc::downgrade(&self.current),
            self.loaded,
            interval,
        ));
        TlsListener {
            tcp,
            acceptor: self.acceptor,
            handshakes: JoinSet::new(),
        }
    }
}

/// A TCP listener whose connections come out TLS-wrapped (for `axum::serve`).
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    /// Handshakes in progress; owned here so they end with the listener.
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    // Cancel safety: `TcpListener::accept` and `JoinSet::join_next` are both cancel-safe, and
    // the handshakes live in `self`, so a dropped `accept` (graceful shutdown) loses nothing.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                biased;
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
                accepted = self.tcp.accept(), if self.handshakes.len() < MAX_PENDING_HANDSHAKES => {
                    match accepted {
                        Ok((tcp, addr)) => {
                            // Audio frames are small and latency-sensitive: no Nagle delay.
                            let _ = tcp.set_nodelay(true);
                            let acceptor = self.acceptor.clone();
                            self.handshakes.spawn(async move {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                    Ok(Ok(stream)) => Some((stream, addr)),
                                    Ok(Err(e)) => {
                                        tracing::debug!(error.message = %e, "TLS handshake failed");
                                        None
                                    }
                                    Err(_) => {
                                        tracing::debug!("TLS handshake timed out");
                                        None
                                    }
                                }
                            });
                        }
                        Err(e) => accept_error(e).await,
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// As axum's own listener does: a connection that died before we took it is no error; anything
/// else (out of file descriptors) is logged and backed off so the loop does not spin.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error.message = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Poll the two files; on a change, load the pair and swap it in (or keep the old one).
async fn watch(
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    current: Weak<CurrentCert>,
    mut seen: Stamp,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(current) = current.upgrade() else {
            return;
        };
        let now = {
            let settings = settings.clone();
            match tokio::task::spawn_blocking(move || stamp(&settings)).await {
                Ok(now) => now,
                Err(_) => continue,
            }
        };
        if now == seen {
            continue;
        }
        seen = now;
        let loaded = {
            let (settings, provider) = (settings.clone(), provider.clone());
            tokio::task::spawn_blocking(move || load_pair(&settings, &provider)).await
        };
        match loaded {
            Ok(Ok(pair)) => {
                *current.pair.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
                tracing::info!(
                    cert_file = %settings.cert_file.display(),
                    "TLS certificate reloaded; new connections use it"
                );
            }
            Ok(Err(e)) => tracing::warn!(
                error.message = %e,
                "TLS certificate or key changed but could not be loaded; still serving the previous pair"
            ),
            Err(_) => {}
        }
    }
}

fn stamp(settings: &TlsSettings) -> Stamp {
    let one = |path: &Path| match std::fs::metadata(path) {
        Ok(meta) => (meta.modified().ok(), meta.len()),
        Err(_) => (None, 0),
    };
    [one(&settings.cert_file), one(&settings.key_file)]
}

fn load_pair(settings: &TlsSettings, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let pem_error = |path: &Path, why: String| TlsError::Pem {
        path: path.to_path_buf(),
        why,
    };
    let cert_pem = read(&settings.cert_file)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&settings.cert_file, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(&settings.cert_file, "no CERTIFICATE block".into()));
    }
    let key_pem = read(&settings.key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| pem_error(&settings.key_file, format!("no usable private key ({e})")))?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}
