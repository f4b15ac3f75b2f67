//! `spawn_app()` and typed helpers shared by every integration test.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use voicegate::clock::{SharedClock, SystemClock};
use voicegate::config::{KeyedSecret, Settings};
use voicegate::startup::{AppState, Application};
use voicegate::testkit::fake_realtime::{FakeRealtime, FakeRealtimeConfig};
use voicegate::testkit::log_capture::LogCapture;
use voicegate::testkit::twilio_caller::{TwilioCaller, TwilioCallerConfig};
use voicegate::testkit::webhook::{self, HttpResponse};
use voicegate::transport::twilio::signature;

/// Twilio signs against the public URL; the server is reached on loopback. Different on purpose:
/// behind a load balancer they always are.
pub const PUBLIC_BASE: &str = "https://voice.test.example";
pub const AUTH_TOKEN: &str = "test-auth-token";
pub const API_KEY: &str = "sk-test";

/// Turns a hang into a failure; never used to wait for something to happen.
pub const GUARD: Duration = Duration::from_secs(10);

/// One log capture for the whole test binary (the subscriber is process-global).
pub fn logs() -> LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            voicegate::telemetry::init(voicegate::telemetry::subscriber("trace", capture.clone()));
            capture
        })
        .clone()
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub port: u16,
    pub state: AppState,
    pub fake: FakeRealtime,
    pub logs: LogCapture,
    stop: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
    /// Held open by the gate proxy, if any.
    pub gate: Option<Arc<Notify>>,
}

/// Options for [`spawn_app_with`].
pub struct Options {
    pub clock: SharedClock,
    /// Route the upstream through a proxy that holds every connection until `gate` is notified.
    pub gate_upstream: bool,
    /// A short disclosure (0.1 s) keeps real-time playout tests fast; false = the built-in one.
    pub short_disclosure: bool,
    /// Replace the red-flag script recordings and the keypad prompts with distinct 100 ms tones
    /// (tests wait for their marks; the real recordings last 2-18 s).
    pub short_scripts: bool,
    /// A PostgreSQL database to use instead of the SQLite default.
    pub postgres: Option<PgDatabase>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            gate_upstream: false,
            short_disclosure: true,
            short_scripts: true,
            postgres: None,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default(), |_| {}).await
}

pub async fn spawn_app_with(options: Options, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let logs = logs();
    let data = tempfile::tempdir().expect("tempdir");
    let fake = FakeRealtime::start(FakeRealtimeConfig {
        expected_auth: Some(format!("Bearer {API_KEY}")),
        ..Default::default()
    })
    .await
    .expect("fake realtime starts");
    let mut settings = Settings::embedded().expect("embedded settings");
    settings.server.port = 0;
    settings.server.data_dir = data.path().to_path_buf();
    settings.server.public_base_url = PUBLIC_BASE.into();
    settings.server.drain_deadline_secs = 2;
    settings.server.hard_deadline_secs = 5;
    settings.twilio.auth_token = Some(KeyedSecret::parse(AUTH_TOKEN));
    settings.realtime.api_key = Some(KeyedSecret::parse(API_KEY));
    settings.realtime.url = fake.url();
    if let Some(pg) = &options.postgres {
        pg.configure(&mut settings);
    }
    let mut gate = None;
    if options.gate_upstream {
        let notify = Arc::new(Notify::new());
        settings.realtime.url = gate_proxy(fake.addr(), notify.clone()).await;
        gate = Some(notify);
    }
    if options.short_disclosure {
        let path = data.path().join("disclosure.wav");
        write_tone_wav(&path, 8000, 800, 300.0);
        settings.call.disclosure_wav = Some(path);
    }
    if options.short_scripts {
        let dir = data.path().join("scripts");
        std::fs::create_dir_all(&dir).expect("scripts dir");
        for (name, freq) in [
            ("911-en", 400.0),
            ("988-en", 500.0),
            ("911-es", 600.0),
            ("988-es", 700.0),
        ] {
            write_tone_wav(&dir.join(format!("script-{name}.wav")), 8000, 800, freq);
        }
        settings.safety.scripts_dir = Some(dir);
        // The keypad's prompts as distinct 100 ms tones too (tests wait on the menu's mark); the
        // "one moment" stays the real recording.
        let dir = data.path().join("prompts");
        std::fs::create_dir_all(&dir).expect("prompts dir");
        let names = [
            "keypad-menu-en",
            "keypad-menu-no-staff-en",
            "keypad-callback-en",
            "keypad-repeat-en",
            "keypad-transfer-en",
            "keypad-goodbye-en",
            "keypad-failed-en",
        ];
        let digits = (0..10).map(|d| format!("digit-{d}-en"));
        for (i, name) in names.iter().map(|n| (*n).to_owned()).chain(digits).enumerate() {
            write_tone_wav(&dir.join(format!("{name}.wav")), 8000, 800, 800.0 + 50.0 * i as f32);
        }
        settings.call.prompts_dir = Some(dir);
    }
    tweak(&mut settings);
    let app = Application::build_with_clock(settings, options.clock)
        .await
        .expect("application builds");
    let port = app.port();
    let state = app.state();
    let (stop_tx, stop_rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stop_rx.await;
    }));
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        port,
        state,
        fake,
        logs,
        stop: Some(stop_tx),
        server,
        _data: data,
        gate,
    }
}

/// A mono 16-bit WAV of a tone (`samples` long).
pub fn write_tone_wav(path: &std::path::Path, rate: u32, samples: u32, freq: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for i in 0..samples {
        let x = (i as f32 * freq * std::f32::consts::TAU / rate as f32).sin() * 8000.0;
        w.write_sample(x as i16).expect("sample");
    }
    w.finalize().expect("finalize");
}

/// A TCP proxy in front of the fake that holds each connection until `gate` is notified: forces
/// "caller audio arrives before the upstream is ready" deterministically.
async fn gate_proxy(target: std::net::SocketAddr, gate: Arc<Notify>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.notified().await;
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                } else {
                    let _ = inbound.shutdown().await;
                }
            });
        }
    });
    format!("ws://{addr}/v1/realtime")
}

impl TestApp {
    /// Trigger shutdown (as SIGTERM would).
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    pub async fn post_voice(&self, params: &BTreeMap<String, String>, signed: bool) -> HttpResponse {
        webhook::post_signed(
            &self.base,
            PUBLIC_BASE,
            "/twilio/voice",
            params,
            signed.then_some(AUTH_TOKEN.as_bytes()),
        )
        .await
        .expect("webhook request")
    }

    /// POST the `<Redirect>` Twilio follows after the stream closes.
    pub async fn post_next(&self, call_sid: &str) -> HttpResponse {
        webhook::post_signed(
            &self.base,
            PUBLIC_BASE,
            "/twilio/voice/next",
            &call_params(call_sid),
            Some(AUTH_TOKEN.as_bytes()),
        )
        .await
        .expect("next request")
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        webhook::request(&self.base, "GET", path, &[], "").await.expect("GET")
    }

    /// What Twilio does: signed webhook → TwiML with a token → signed media upgrade → start.
    pub async fn twilio_call(&self, call_sid: &str) -> TwilioCaller {
        let config = self.call_config(call_sid).await;
        TwilioCaller::connect(config).await.expect("media stream connects")
    }

    /// The caller configuration Twilio would use for `call_sid`, after a signed webhook.
    pub async fn call_config(&self, call_sid: &str) -> TwilioCallerConfig {
        self.call_config_with(&call_params(call_sid)).await
    }

    /// As [`call_config`](Self::call_config), with the webhook parameters given.
    pub async fn call_config_with(&self, params: &BTreeMap<String, String>) -> TwilioCallerConfig {
        let call_sid = params.get("CallSid").expect("CallSid").as_str();
        let answer = self.post_voice(params, true).await;
        assert_eq!(
            answer.status, 200,
            "webhook answered {}: {}",
            answer.status, answer.body
        );
        let stream_url = webhook::twiml_attr(&answer.body, "<Stream", "url").expect("Stream url in TwiML");
        assert_eq!(stream_url, "wss://voice.test.example/twilio/media");
        let token = webhook::twiml_attr(&answer.body, "<Parameter", "value").expect("token parameter");
        let mut config = TwilioCallerConfig::new(format!("ws://127.0.0.1:{}/twilio/media", self.port), call_sid);
        config.signature = Some(signature::compute(AUTH_TOKEN.as_bytes(), &stream_url, &[]));
        config.custom_parameters.insert("token".into(), token);
        config
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn call_params(call_sid: &str) -> BTreeMap<String, String> {
    [
        ("CallSid", call_sid),
        ("AccountSid", "ACtest00000000000000000000000000000"),
        ("From", "+15550100000"),
        ("To", "+15550199999"),
        ("CallStatus", "in-progress"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A CallSid of Twilio's shape, unique per `n`.
pub fn call_sid(n: u32) -> String {
    format!("CA{n:032x}")
}

/// Frames of recognisable μ-law: frame `i` is filled with one byte that depends on `seed` and
/// `i`; the first frame's byte is `seed + 1`, so different seeds never produce the same audio.
/// Never 0xFF, so silence is never mistaken for it.
pub fn pattern(seed: u8, frames: usize) -> Vec<u8> {
    (0..frames)
        .flat_map(|i| std::iter::repeat_n(((seed as usize + i * 7) % 254 + 1) as u8, 160))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Database backends for the store and audit suites.

/// A fresh PostgreSQL database with its own owner and runtime roles, created from the admin URL
/// in `VOICEGATE_TEST_PG` (CI starts a throwaway cluster; see `.ci/run`).
#[derive(Debug, Clone)]
pub struct PgDatabase {
    pub name: String,
    pub owner_url: String,
    pub runtime_url: String,
    pub runtime_role: String,
    pub admin_url: String,
}

/// The admin URL, or None with a printed reason on a developer machine. In CI a missing
/// PostgreSQL is a failure, never a skip.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("VOICEGATE_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("CI must provide PostgreSQL: VOICEGATE_TEST_PG is not set"),
        _ => {
            eprintln!("SKIPPED (PostgreSQL): VOICEGATE_TEST_PG is not set; `.ci/run` shows how to start one");
            None
        }
    }
}

impl PgDatabase {
    /// Create the roles and the database.
    pub async fn create() -> Option<PgDatabase> {
        let admin_url = pg_admin_url()?;
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).unwrap();
        let suffix = voicegate::config::hex(&suffix);
        let (name, owner, runtime) = (
            format!("vg_{suffix}"),
            format!("vg_owner_{suffix}"),
            format!("vg_rt_{suffix}"),
        );
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .expect("admin connection to PostgreSQL");
        for sql in [
            format!("CREATE ROLE {owner} LOGIN PASSWORD 'owner-pw'"),
            format!("CREATE ROLE {runtime} LOGIN PASSWORD 'runtime-pw'"),
            format!("CREATE DATABASE {name} OWNER {owner}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&admin)
                .await
                .expect("create test database");
        }
        admin.close().await;
        let base = url::Url::parse(&admin_url).unwrap();
        let with = |user: &str, pw: &str| {
            let mut u = base.clone();
            u.set_username(user).unwrap();
            u.set_password(Some(pw)).unwrap();
            u.set_path(&name);
            u.to_string()
        };
        Some(PgDatabase {
            owner_url: with(&owner, "owner-pw"),
            runtime_url: with(&runtime, "runtime-pw"),
            runtime_role: runtime,
            name: name.clone(),
            admin_url,
        })
    }

    /// Point `settings` at this database: migrations as the owner, serve as the runtime role.
    pub fn configure(&self, settings: &mut Settings) {
        settings.database.url = Some(self.runtime_url.clone().into());
        settings.database.migration_url = Some(self.owner_url.clone().into());
        settings.database.runtime_role = Some(self.runtime_role.clone());
    }

    /// Refuse new connections and end existing ones: the database is "down" until `restore`.
    pub async fn take_down(&self) {
        let admin = sqlx::PgPool::connect(&self.admin_url).await.unwrap();
        let name = &self.name;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false"
        )))
        .execute(&admin)
        .await
        .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(name)
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }

    pub async fn restore(&self) {
        let admin = sqlx::PgPool::connect(&self.admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            self.name
        )))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
    }
}

/// A server on `kind`'s database with default options (None: PostgreSQL unavailable, skipped).
pub async fn spawn_app_on(kind: BackendKind) -> Option<TestApp> {
    let postgres = match kind {
        BackendKind::Sqlite => None,
        BackendKind::Postgres => Some(PgDatabase::create().await?),
    };
    Some(
        spawn_app_with(
            Options {
                postgres,
                ..Options::default()
            },
            |_| {},
        )
        .await,
    )
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

/// Settings on a fresh data directory and a fresh database of `kind` (None: PostgreSQL skipped).
pub async fn fresh_settings(kind: BackendKind) -> Option<(Settings, tempfile::TempDir, Option<PgDatabase>)> {
    let data = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings::embedded().expect("embedded settings");
    settings.server.port = 0;
    settings.server.data_dir = data.path().to_path_buf();
    let pg = match kind {
        BackendKind::Sqlite => None,
        BackendKind::Postgres => {
            let pg = PgDatabase::create().await?;
            pg.configure(&mut settings);
            Some(pg)
        }
    };
    settings.ensure_keys().expect("keys");
    Some((settings, data, pg))
}

/// Declare `name_sqlite` and `name_postgres` tests running `body(BackendKind)`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::helpers::BackendKind::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body($crate::helpers::BackendKind::Postgres).await;
            }
        }
    };
}
