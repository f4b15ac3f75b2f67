//! Settings: the typed configuration tree and its layered load.
//!
//! Layers, later wins: the embedded `deploy/config/base.yaml` (so a fresh machine needs no file),
//! an optional `--config FILE`, then `VOICEGATE__SECTION__KEY` environment variables. The OpenAI key
//! also comes from the conventional `OPENAI_API_KEY`. Everything is validated once, at start-up
//! ([`Settings::validate`]); the rest of the server only sees checked values.
//!
//! Secrets are [`KeyedSecret`]s: a [`SecretString`] plus a key id, so that a rotated key can be
//! told apart from the old one in tokens and (later) in keyed hashes and encrypted blobs. Missing
//! keys are generated only when `secrets.generate_missing` is set, which the embedded single-node
//! default does and a multi-replica deployment must not (two replicas would disagree).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The embedded defaults; see the module docs.
pub const BASE_YAML: &str = include_str!("../deploy/config/base.yaml");

/// Why settings could not be loaded; each variant names the offending key, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer could not be read or did not match the schema (not retryable: fix the file/env).
    #[error("configuration could not be loaded: {0}")]
    Load(#[from] config::ConfigError),
    /// A value is well-formed but not acceptable (not retryable).
    #[error("invalid setting `{key}`: {why}")]
    Invalid { key: &'static str, why: String },
    /// A generated key could not be written or read back (retryable once the disk is fixed).
    #[error("key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A secret with the id of the key it is; `Debug` never shows the secret.
#[derive(Clone)]
pub struct KeyedSecret {
    /// Short public name of this key (e.g. `k2026a`), carried next to whatever it protects.
    pub id: String,
    /// The key material itself.
    pub secret: SecretString,
}

impl std::fmt::Debug for KeyedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyedSecret {{ id: {:?}, secret: [redacted] }}", self.id)
    }
}

impl KeyedSecret {
    /// Parse `id:material`, or bare `material` (id `primary`), as environment variables give it.
    pub fn parse(raw: &str) -> KeyedSecret {
        match raw.split_once(':') {
            Some((id, secret))
                if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                KeyedSecret {
                    id: id.to_owned(),
                    secret: SecretString::from(secret.to_owned()),
                }
            }
            _ => KeyedSecret {
                id: "primary".to_owned(),
                secret: SecretString::from(raw.to_owned()),
            },
        }
    }

    /// The secret's bytes, for keyed MACs.
    pub fn bytes(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }
}

impl<'de> Deserialize<'de> for KeyedSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(KeyedSecret::parse(&raw))
    }
}

/// The whole configuration tree.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub secrets: SecretSettings,
    pub database: DatabaseSettings,
    pub audit: AuditSettings,
    pub recordings: RecordingsSettings,
    pub twilio: TwilioSettings,
    pub realtime: RealtimeSettings,
    pub call: CallSettings,
    pub ehr: EhrSettings,
    pub browser: BrowserSettings,
    pub review: ReviewSettings,
    pub retention: RetentionSettings,
    pub safety: SafetySettings,
    /// Confirmations and reminders (SMS, email): see [`crate::notify`].
    pub notifications: crate::notify::NotifySettings,
}

/// The server's own safety rules (red flags): what a clinic can add, and the optional second
/// opinion. The deterministic detector itself is always on; nothing here can turn it off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetySettings {
    pub red_flag: RedFlagSettings,
    pub classifier: ClassifierSettings,
    /// After a red-flag script on a phone call with a staff line, offer to connect the caller to
    /// staff (the model may then use `transfer_to_staff`, the one tool left open).
    pub offer_transfer: bool,
    /// A folder of the four script recordings replacing the built-in ones (see `safety::script`).
    pub scripts_dir: Option<std::path::PathBuf>,
}

/// A clinic's additions to the built-in red-flag knowledge (see `safety::red_flag`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedFlagSettings {
    /// Phrases added to a built-in concept or straight to a category.
    pub phrases: Vec<crate::safety::red_flag::ClinicPhrase>,
    /// Benign look-alikes: phrases that veto a symptom they overlap (local idioms, a clinic's
    /// service names).
    pub benign: Vec<String>,
}

/// The optional second opinion: an OpenAI-compatible chat-completions endpoint asked, in
/// parallel with the deterministic detector, whether a final transcript is an emergency. It can
/// only add a flag, never remove one, and never delays the deterministic path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSettings {
    pub enabled: bool,
    /// e.g. `https://api.openai.com/v1/chat/completions`.
    pub url: Option<String>,
    pub model: String,
    /// `Authorization: Bearer` key; the realtime key (or `OPENAI_API_KEY`) unless set here.
    pub api_key: Option<KeyedSecret>,
    /// An answer later than this is ignored (the call has already moved on).
    pub timeout_ms: u64,
    /// Classifications in flight per call at most; a transcript beyond it is not sent (the
    /// deterministic detector has already seen it).
    pub max_in_flight: usize,
}

/// Compliance review (`/review`): session lifetimes and sign-in throttling.
#[derive(Debug, Clone, Deserialize)]
pub struct ReviewSettings {
    pub enabled: bool,
    /// Automatic log-off after this long without a request (HIPAA §164.312(a)(2)(iii)).
    pub idle_timeout_secs: u64,
    /// A session ends this long after sign-in whatever happens.
    pub absolute_timeout_secs: u64,
    /// Failed sign-ins (per username, and per client address) within `login_window_secs` before
    /// that key is locked for `login_lockout_secs`.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    pub login_lockout_secs: u64,
    /// How long a playback permission (local stream or S3 presigned URL) lasts; at most 300.
    pub playback_grant_secs: u64,
}

/// How long recordings are kept, and how often the deletion job runs.
#[derive(Debug, Clone, Deserialize)]
pub struct RetentionSettings {
    /// Days after a call ends before its recording and manifest are deleted; null = kept forever.
    pub recordings_days: Option<u32>,
    /// How often the job runs (daily by default).
    pub interval_secs: u64,
}

/// Browser callers: the microphone page at `/`, `POST /browser/token`, `GET /browser/ws`.
#[derive(Debug, Clone, Deserialize)]
pub struct BrowserSettings {
    /// Serve the page and accept browser calls.
    pub enabled: bool,
    /// Let the page obtain a call token with no credentials. Local use only: refused unless the
    /// server binds to loopback. Otherwise `POST /browser/token` needs the issuer secret.
    pub self_mint_tokens: bool,
    /// `Authorization: Bearer <secret>` the clinic's web backend presents to `POST /browser/token`
    /// (after signing its patient in) when self-minting is off.
    pub issuer_secret: Option<KeyedSecret>,
    /// Lifetime of a call token between issue and the page's `hello`.
    pub token_ttl_secs: u64,
    /// Origins (`scheme://host[:port]`) allowed to request tokens and open calls; empty = the
    /// origin of `server.public_base_url`. A loopback-bound server also accepts its own origin.
    pub allowed_origins: Vec<String>,
    /// The getUserMedia processing the page requests (echo cancellation on by default).
    pub audio_constraints: AudioConstraints,
    /// Where the page asks for a token (the clinic's own endpoint when it issues them).
    pub token_url: String,
    /// Playback jitter buffer on the page.
    pub prebuffer_ms: u32,
    /// Token requests and call upgrades allowed per client address: a burst, refilled per minute.
    pub rate_limit: RateLimitSettings,
    /// Header with the client address set by a trusted load balancer (e.g. `x-forwarded-for`,
    /// leftmost entry); null = the socket's peer address.
    pub client_ip_header: Option<String>,
    /// Most 20 ms frames one jump in the page's sequence numbers may skip.
    pub max_sequence_gap: u32,
    /// How many frames the page's stream may run ahead of real time before it counts as a flood.
    pub max_ahead_frames: u64,
}

/// getUserMedia processing constraints, as the page passes them.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
pub struct AudioConstraints {
    #[serde(rename(serialize = "echoCancellation"))]
    pub echo_cancellation: bool,
    #[serde(rename(serialize = "noiseSuppression"))]
    pub noise_suppression: bool,
    #[serde(rename(serialize = "autoGainControl"))]
    pub auto_gain_control: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RateLimitSettings {
    pub burst: u32,
    pub per_minute: u32,
}

/// Which EHR the tools talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EhrKind {
    /// The scheduling store in the project database (the demo clinic is seeded on first start).
    Builtin,
    /// A FHIR R4 server (`ehr.fhir`).
    Fhir,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EhrSettings {
    pub kind: EhrKind,
    /// Longest a tool waits on the EHR before the agent says so and offers a callback (a caller
    /// is waiting in silence).
    pub timeout_ms: u64,
    #[serde(default)]
    pub fhir: Option<crate::tools::ehr::fhir::FhirSettings>,
}

/// Where finished recordings, manifests and audit checkpoints go. Spools always stay local.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordingsSettings {
    /// The encrypted folder `data_dir/blobs`.
    Local,
    /// An S3 bucket, every object under SSE-KMS with our key.
    S3(crate::storage::s3::S3Settings),
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`; None = SQLite file under the data directory.
    pub url: Option<SecretString>,
    /// Schema owner used by `voicegate migrate` (PostgreSQL); None = `url`.
    pub migration_url: Option<SecretString>,
    /// Role `voicegate migrate` grants runtime rights to (PostgreSQL).
    pub runtime_role: Option<String>,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditSettings {
    /// Write a signed checkpoint every this many records.
    pub checkpoint_every: u64,
    /// Retry interval for records spooled while the database was unavailable.
    pub spool_retry_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address to bind; turning signature checks off is refused unless this is loopback.
    pub host: IpAddr,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// The public URL Twilio reaches us at (`https://host[:port]`); webhooks and the media socket
    /// are signed against it.
    pub public_base_url: String,
    /// Root of everything the server writes locally.
    pub data_dir: PathBuf,
    /// Calls beyond this are refused politely rather than degrading everyone's audio.
    pub max_concurrent_calls: usize,
    /// How long live calls may continue after SIGTERM.
    pub drain_deadline_secs: u64,
    /// After the drain deadline, how long finalisation may take before exit.
    pub hard_deadline_secs: u64,
    /// Serve HTTPS/WSS natively (rustls) instead of plain HTTP; None = plain HTTP behind a
    /// TLS-terminating proxy or load balancer.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
}

/// Native TLS for `serve` (see [`crate::http::tls`]): for deployments without a terminating
/// proxy in front.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first (what certbot calls `fullchain.pem`).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf certificate.
    pub key_file: PathBuf,
    /// How often the two files are checked for a change (renewals are picked up without a
    /// restart; connections already open keep the certificate they started with).
    #[serde(default = "default_tls_reload_secs")]
    pub reload_interval_secs: u64,
}

/// A minute: renewals happen weeks before expiry, and a stat of two files costs nothing.
fn default_tls_reload_secs() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
pub struct SecretSettings {
    /// Create missing keys under `data_dir/keys` (single node only).
    pub generate_missing: bool,
    /// Signs the per-call stream tokens passed through Twilio.
    pub call_token_key: Option<KeyedSecret>,
    /// Keys [`crate::telemetry::PhiRef`] hashes.
    pub phi_hash_key: Option<KeyedSecret>,
    /// Signs audit checkpoints.
    pub audit_checkpoint_key: Option<KeyedSecret>,
    /// Master key of the encrypted local blob store (64 hex digits).
    pub blob_master_key: Option<KeyedSecret>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TwilioSettings {
    /// When set, a `start` from another account is refused.
    pub account_sid: Option<String>,
    /// Twilio's auth token: the HMAC key of `X-Twilio-Signature`.
    pub auth_token: Option<KeyedSecret>,
    /// Off only for local work on loopback, and loudly logged.
    pub validate_signatures: bool,
    /// Lifetime of the token minted in the webhook answer.
    pub stream_token_ttl_secs: u64,
    /// Where "transfer to staff" and the unavailable fallback dial; None = no staff line.
    pub staff_number: Option<String>,
    /// Voice for `<Say>` in fallback TwiML.
    pub say_voice: String,
}

/// Which header carries the upstream key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthHeader {
    /// `Authorization: Bearer KEY` (OpenAI).
    Bearer,
    /// `api-key: KEY` (Azure OpenAI).
    ApiKey,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RealtimeSettings {
    pub url: String,
    pub model: String,
    pub voice: String,
    pub auth_header: AuthHeader,
    /// From `OPENAI_API_KEY` unless set here.
    pub api_key: Option<KeyedSecret>,
    pub instructions: String,
    pub transcription_model: Option<String>,
    /// Never hard-wired: None lets the model detect the language.
    pub transcription_language: Option<String>,
    /// `near_field`, `far_field` or null.
    pub noise_reduction: Option<String>,
    pub vad_threshold: f32,
    pub vad_prefix_padding_ms: u32,
    pub vad_silence_duration_ms: u32,
    pub connect_timeout_secs: u64,
    pub ping_interval_secs: u64,
    pub pong_timeout_secs: u64,
    /// Attempts to replace an upstream lost mid-call (0 = end the AI part of the call at once).
    pub reconnect_attempts: u32,
    /// Move a long call to a fresh upstream session at a turn boundary after this long (the
    /// Realtime API ends a session at 60 minutes); 0 = never.
    pub recycle_after_secs: u64,
    /// Instruction for the agent's first turn, sent once the session is configured; empty = wait
    /// for the caller to speak first.
    pub greeting: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CallSettings {
    pub start_timeout_secs: u64,
    pub idle_prompt_after_secs: u64,
    pub idle_hangup_after_secs: u64,
    pub idle_prompt: String,
    pub max_duration_secs: u64,
    pub disclosure_text: String,
    pub disclosure_wav: Option<PathBuf>,
    /// When the assistant cannot be reached (or restored), phone callers get a keypad menu.
    pub keypad_fallback: bool,
    /// How long the menu waits for a key after it has played.
    pub keypad_timeout_secs: u64,
    /// A folder of WAVs replacing the built-in service prompts by file name.
    pub prompts_dir: Option<PathBuf>,
}

impl RealtimeSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }
    pub fn pong_timeout(&self) -> Duration {
        Duration::from_secs(self.pong_timeout_secs)
    }
}

impl Settings {
    /// Load the layers described in the module docs, then [`validate`](Self::validate).
    ///
    /// # Errors
    /// A layer that does not parse or a value that fails validation.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(BASE_YAML, config::FileFormat::Yaml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Yaml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("VOICEGATE")
                .prefix_separator("__")
                .separator("__"),
        );
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        if settings.realtime.api_key.is_none()
            && let Ok(key) = std::env::var("OPENAI_API_KEY")
            && !key.is_empty()
        {
            settings.realtime.api_key = Some(KeyedSecret {
                id: "env".into(),
                secret: SecretString::from(key),
            });
        }
        settings.validate()?;
        Ok(settings)
    }

    /// The embedded defaults alone (tests start from these and change what they need).
    ///
    /// # Errors
    /// Only if the embedded file is broken, which a unit test rules out.
    pub fn embedded() -> Result<Settings, ConfigError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(BASE_YAML, config::FileFormat::Yaml))
            .build()?
            .try_deserialize()?;
        Ok(settings)
    }

    /// Checks that cannot be expressed in types.
    ///
    /// # Errors
    /// The first invalid value, by key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, why: &str| {
            Err(ConfigError::Invalid {
                key,
                why: why.to_owned(),
            })
        };
        let base = url::Url::parse(&self.server.public_base_url).map_err(|e| ConfigError::Invalid {
            key: "server.public_base_url",
            why: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return invalid("server.public_base_url", "must be an http(s) URL with a host");
        }
        if !self.twilio.validate_signatures && !self.server.host.is_loopback() {
            return invalid(
                "twilio.validate_signatures",
                "signature checks may be turned off only when the server binds to loopback",
            );
        }
        if self.twilio.validate_signatures && self.twilio.auth_token.is_none() && !self.secrets.generate_missing {
            return invalid("twilio.auth_token", "required when signatures are validated");
        }
        if !self.secrets.generate_missing {
            let required = [
                ("secrets.call_token_key", self.secrets.call_token_key.is_none()),
                ("secrets.phi_hash_key", self.secrets.phi_hash_key.is_none()),
                (
                    "secrets.audit_checkpoint_key",
                    self.secrets.audit_checkpoint_key.is_none(),
                ),
                ("secrets.blob_master_key", self.secrets.blob_master_key.is_none()),
            ];
            if let Some((key, _)) = required.iter().find(|(_, missing)| *missing) {
                return invalid(key, "required (generate_missing is off)");
            }
        }
        if let Some(k) = &self.secrets.blob_master_key
            && !(k.bytes().len() == 64 && k.bytes().iter().all(u8::is_ascii_hexdigit))
        {
            return invalid("secrets.blob_master_key", "must be 64 hex digits (32 bytes)");
        }
        let twilio_ready = self.twilio.account_sid.is_some() && self.twilio.auth_token.is_some();
        self.notifications
            .validate(twilio_ready)
            .map_err(|e| ConfigError::Invalid { key: e.key, why: e.why })?;
        if let RecordingsSettings::S3(s3) = &self.recordings {
            s3.validate().map_err(|e| ConfigError::Invalid {
                key: "recordings",
                why: e.to_string(),
            })?;
        }
        if self.browser.enabled && self.browser.self_mint_tokens && !self.server.host.is_loopback() {
            return invalid(
                "browser.self_mint_tokens",
                "a page may mint its own call tokens only when the server binds to loopback; \
                 set an issuer_secret for the clinic's web backend instead",
            );
        }
        if self.browser.rate_limit.burst == 0 || self.browser.rate_limit.per_minute == 0 {
            return invalid("browser.rate_limit", "burst and per_minute must be at least 1");
        }
        if self.browser.token_ttl_secs == 0 {
            return invalid("browser.token_ttl_secs", "must be at least 1");
        }
        for origin in &self.browser.allowed_origins {
            match url::Url::parse(origin) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.path() == "/" && u.query().is_none() => {}
                _ => return invalid("browser.allowed_origins", "each must be scheme://host[:port]"),
            }
        }
        if self.ehr.kind == EhrKind::Fhir && self.ehr.fhir.is_none() {
            return invalid("ehr.fhir", "required when ehr.kind is fhir (base_url at least)");
        }
        if self.review.playback_grant_secs == 0 || self.review.playback_grant_secs > 300 {
            return invalid("review.playback_grant_secs", "must be 1 to 300 (five minutes at most)");
        }
        if self.review.idle_timeout_secs == 0 || self.review.absolute_timeout_secs < self.review.idle_timeout_secs {
            return invalid(
                "review.idle_timeout_secs",
                "must be > 0 and not longer than review.absolute_timeout_secs",
            );
        }
        if self.retention.interval_secs == 0 {
            return invalid("retention.interval_secs", "must be > 0");
        }
        if self.ehr.timeout_ms == 0 {
            return invalid("ehr.timeout_ms", "must be at least 1");
        }
        if self.safety.classifier.enabled {
            match self.safety.classifier.url.as_deref().map(url::Url::parse) {
                Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return invalid(
                        "safety.classifier.url",
                        "required when the classifier is enabled: an http(s) URL",
                    );
                }
            }
            if self.safety.classifier.timeout_ms == 0 || self.safety.classifier.max_in_flight == 0 {
                return invalid("safety.classifier", "timeout_ms and max_in_flight must be at least 1");
            }
        }
        if let Err(e) =
            crate::safety::red_flag::Detector::new(&self.safety.red_flag.phrases, &self.safety.red_flag.benign)
        {
            return Err(ConfigError::Invalid {
                key: "safety.red_flag",
                why: e.to_string(),
            });
        }
        if self.audit.checkpoint_every == 0 {
            return invalid("audit.checkpoint_every", "must be at least 1");
        }
        if let Some(tls) = &self.server.tls
            && tls.reload_interval_secs == 0
        {
            return invalid("server.tls.reload_interval_secs", "must be at least 1");
        }
        if self.server.max_concurrent_calls == 0 {
            return invalid("server.max_concurrent_calls", "must be at least 1");
        }
        let rt = url::Url::parse(&self.realtime.url).map_err(|e| ConfigError::Invalid {
            key: "realtime.url",
            why: e.to_string(),
        })?;
        if !matches!(rt.scheme(), "ws" | "wss") {
            return invalid("realtime.url", "must be a ws:// or wss:// URL");
        }
        if self.realtime.ping_interval_secs == 0 || self.realtime.pong_timeout_secs == 0 {
            return invalid(
                "realtime.ping_interval_secs",
                "ping interval and pong timeout must be > 0",
            );
        }
        if self.call.max_duration_secs == 0 {
            return invalid("call.max_duration_secs", "must be > 0");
        }
        if self.realtime.reconnect_attempts > 10 {
            return invalid(
                "realtime.reconnect_attempts",
                "at most 10: a caller should not wait on more",
            );
        }
        if self.realtime.recycle_after_secs != 0 && self.realtime.recycle_after_secs > 3540 {
            return invalid(
                "realtime.recycle_after_secs",
                "must leave a minute before the Realtime API's 60-minute limit (at most 3540), or be 0",
            );
        }
        Ok(())
    }

    /// The database URL: configured, or the SQLite file under the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("voicegate.db").display()
            ),
        }
    }

    /// `public_base_url` without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.server.public_base_url.trim_end_matches('/')
    }

    /// Fill in missing keys: generate them under `data_dir/keys` (mode 0600, with a warning) when
    /// allowed. After this every key the server needs is present.
    ///
    /// # Errors
    /// A key file that cannot be written or read.
    pub fn ensure_keys(&mut self) -> Result<(), ConfigError> {
        if !self.secrets.generate_missing {
            return Ok(());
        }
        let dir = self.server.data_dir.join("keys");
        for (slot, name) in [
            (&mut self.secrets.call_token_key, "call-token"),
            (&mut self.secrets.phi_hash_key, "phi-hash"),
            (&mut self.secrets.audit_checkpoint_key, "audit-checkpoint"),
            (&mut self.secrets.blob_master_key, "blob-master"),
        ] {
            if slot.is_none() {
                *slot = Some(load_or_generate(&dir, name)?);
            }
        }
        if self.twilio.auth_token.is_none() && self.twilio.validate_signatures {
            self.twilio.auth_token = Some(load_or_generate(&dir, "twilio-auth-token")?);
        }
        Ok(())
    }
}

/// Read `dir/name.key`, creating it (random, 0600) when absent.
fn load_or_generate(dir: &Path, name: &str) -> Result<KeyedSecret, ConfigError> {
    use std::io::Write;
    let path = dir.join(format!("{name}.key"));
    let io_err = |source| ConfigError::KeyFile {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(raw) => return Ok(KeyedSecret::parse(raw.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let mut material = [0u8; 32];
    getrandom::fill(&mut material).map_err(|e| io_err(std::io::Error::other(e.to_string())))?;
    let mut id_bytes = [0u8; 4];
    getrandom::fill(&mut id_bytes).map_err(|e| io_err(std::io::Error::other(e.to_string())))?;
    let id = format!("gen{}", hex(&id_bytes));
    let line = format!("{id}:{}", hex(&material));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io_err)?;
    file.write_all(line.as_bytes()).map_err(io_err)?;
    tracing::warn!(
        key = name,
        key_id = %id,
        path = %path.display(),
        "generated a missing key for this single node; a multi-replica deployment must configure it"
    );
    Ok(KeyedSecret::parse(&line))
}

/// Lower-case hex, for ids and generated key material.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load_and_validate() {
        let s = Settings::embedded().expect("base.yaml parses");
        s.validate().expect("base.yaml validates");
        assert_eq!(s.realtime.model, "gpt-realtime");
        assert!(s.twilio.validate_signatures, "signature checks are on by default");
        assert_eq!(s.realtime.transcription_language, None, "language is never hard-wired");
    }

    #[test]
    fn disabling_signatures_off_loopback_is_refused() {
        let mut s = Settings::embedded().unwrap();
        s.twilio.validate_signatures = false;
        s.validate().expect("allowed on loopback");
        s.server.host = "0.0.0.0".parse().unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("twilio.validate_signatures"), "{err}");
    }

    #[test]
    fn keyed_secret_parses_id_and_hides_material() {
        let k = KeyedSecret::parse("k1:s3cret");
        assert_eq!(k.id, "k1");
        assert_eq!(k.bytes(), b"s3cret");
        assert!(!format!("{k:?}").contains("s3cret"));
        assert_eq!(KeyedSecret::parse("rawtoken").id, "primary");
    }

    #[test]
    fn production_requires_keys() {
        let mut s = Settings::embedded().unwrap();
        s.secrets.generate_missing = false;
        assert!(s.validate().is_err());
    }

    #[test]
    fn generated_keys_are_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::embedded().unwrap();
        s.server.data_dir = dir.path().to_path_buf();
        s.ensure_keys().unwrap();
        let first = s.secrets.call_token_key.clone().unwrap();
        let path = dir.path().join("keys/call-token.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let mut again = Settings::embedded().unwrap();
        again.server.data_dir = dir.path().to_path_buf();
        again.ensure_keys().unwrap();
        assert_eq!(again.secrets.call_token_key.unwrap().bytes(), first.bytes());
    }
}
