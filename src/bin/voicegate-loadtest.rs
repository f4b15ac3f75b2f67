//! `voicegate-loadtest`: the test tools that must not ship in the server binary — the load tester
//! (like pgbench: N concurrent simulated Twilio calls against an in-process or a running server)
//! and the multi-writer audit load the multi-process chain test runs. Built only with the
//! `testkit` feature: `cargo build --release --features testkit --bin voicegate-loadtest`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser as _;
use voicegate::config::Settings;
use voicegate::startup::Application;
use voicegate::telemetry;

#[derive(Debug, clap::Parser)]
#[command(
    name = "voicegate-loadtest",
    version,
    about = "Load and chain tests for voicegate (test tooling)"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Load test (like pgbench): N concurrent simulated Twilio calls, paced in real time, against
    /// a server started in-process on embedded defaults, or a running one (--server).
    Run {
        #[arg(long, default_value_t = 50)]
        calls: usize,
        #[arg(long, default_value_t = 30)]
        duration_secs: u64,
        /// How often the fake agent answers each call (ms; 0 = never).
        #[arg(long, default_value_t = 2000)]
        agent_every_ms: u64,
        /// How often each call barges in while agent audio plays (ms; 0 = never).
        #[arg(long, default_value_t = 5000)]
        barge_in_every_ms: u64,
        /// Spread call starts over this long (ms).
        #[arg(long, default_value_t = 2000)]
        ramp_ms: u64,
        /// A running server (its realtime.url must be ws://127.0.0.1:<fake-port>/v1/realtime).
        #[arg(long)]
        server: Option<String>,
        #[arg(long, default_value_t = 9901)]
        fake_port: u16,
        /// The running server's Twilio auth token and public base URL.
        #[arg(long, env = "VOICEGATE_SIM_AUTH_TOKEN")]
        auth_token: Option<String>,
        #[arg(long)]
        public_base: Option<String>,
        /// The running server's pid, for its CPU time and RSS.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Also write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Append synthetic records to the configured database's audit chain from several concurrent
    /// writers (the multi-process chain test runs two of these against one throwaway database).
    /// Never point this at a real deployment: the records are real chain entries.
    AppendLoad {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 4)]
        writers: u64,
        #[arg(long, default_value_t = 25)]
        records: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Run {
            calls,
            duration_secs,
            agent_every_ms,
            barge_in_every_ms,
            ramp_ms,
            server,
            fake_port,
            auth_token,
            public_base,
            server_pid,
            json,
        } => {
            use std::time::Duration;
            use voicegate::testkit::fake_realtime::{FakeRealtime, FakeRealtimeConfig};
            telemetry::init(telemetry::subscriber("warn", std::io::stderr));
            // Both ends of every call may live in this process (the in-process server and fake).
            voicegate::os::raise_open_files(calls as u64 * 2);
            let mut options = voicegate::testkit::loadtest::LoadtestOptions {
                calls,
                duration: Duration::from_secs(duration_secs),
                server: String::new(),
                public_base: String::new(),
                auth_token: Vec::new(),
                server_pid,
                agent_every: Duration::from_millis(agent_every_ms),
                barge_in_every: (barge_in_every_ms > 0).then(|| Duration::from_millis(barge_in_every_ms)),
                ramp: Duration::from_millis(ramp_ms),
            };
            let report = match server {
                Some(server) => {
                    let fake = FakeRealtime::start_on(FakeRealtimeConfig::default(), fake_port).await?;
                    options.public_base = public_base.unwrap_or_else(|| server.clone());
                    options.server = server;
                    options.auth_token = auth_token
                        .context("--auth-token is required with --server")?
                        .into_bytes();
                    voicegate::testkit::loadtest::run(options, &fake).await?
                }
                None => {
                    let fake = FakeRealtime::start(FakeRealtimeConfig::default()).await?;
                    let data = tempfile_dir()?;
                    let mut settings = Settings::embedded().context("embedded settings")?;
                    settings.server.port = 0;
                    settings.server.data_dir = data.clone();
                    settings.server.max_concurrent_calls = settings.server.max_concurrent_calls.max(calls + 10);
                    settings.realtime.url = fake.url();
                    settings.realtime.api_key = Some(voicegate::config::KeyedSecret::parse("loadtest"));
                    settings.call.idle_prompt_after_secs = 3600;
                    settings.ensure_keys()?;
                    let token = settings.twilio.auth_token.clone().context("auth token")?;
                    let app = Application::build(settings.clone()).await?;
                    options.server = format!("http://127.0.0.1:{}", app.port());
                    options.public_base = settings.public_base().to_owned();
                    options.auth_token = token.bytes().to_vec();
                    options.server_pid = Some(std::process::id());
                    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
                    let server = tokio::spawn(app.run_until_stopped(async move {
                        let _ = stop_rx.await;
                    }));
                    let report = voicegate::testkit::loadtest::run(options, &fake).await;
                    let _ = stop_tx.send(());
                    let _ = server.await;
                    let _ = std::fs::remove_dir_all(&data);
                    report?
                }
            };
            println!("{}", report.table());
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
            }
            Ok(())
        }
        Command::AppendLoad {
            config,
            writers,
            records,
        } => {
            telemetry::init(telemetry::subscriber("warn", std::io::stderr));
            let mut settings = Settings::load(config.as_deref()).context("loading configuration")?;
            settings.ensure_keys().context("preparing keys")?;
            let db = voicegate::storage::open_database(&settings)
                .await
                .context("opening the database")?;
            let clock: voicegate::clock::SharedClock = std::sync::Arc::new(voicegate::clock::SystemClock);
            let log = std::sync::Arc::new(
                voicegate::audit::AuditLog::open(&settings, db.clone(), clock.clone())
                    .await
                    .context("opening the audit log")?,
            );
            let pid = std::process::id();
            let mut tasks = Vec::new();
            for w in 0..writers {
                let (log, clock) = (log.clone(), clock.clone());
                tasks.push(tokio::spawn(async move {
                    for i in 0..records {
                        let event = voicegate::audit::AuditEvent {
                            actor: voicegate::audit::Actor::System {
                                job: format!("append-load-{pid}-{w}"),
                            },
                            action: "test.load".into(),
                            call_id: None,
                            patient: None,
                            reason: None,
                            outcome: voicegate::audit::AuditOutcome::Success,
                            details: serde_json::json!({"writer": w, "i": i}),
                            at_ms: clock.now_unix_ms(),
                        };
                        log.append(&event).await?;
                    }
                    Ok::<_, voicegate::audit::AuditError>(())
                }));
            }
            for t in tasks {
                t.await.context("writer task")?.context("append")?;
            }
            println!("appended {}", writers * records);
            Ok(())
        }
    }
}

/// A fresh private directory for an in-process load test's data.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let dir = std::env::temp_dir().join(format!("voicegate-loadtest-{}", voicegate::config::hex(&id)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
