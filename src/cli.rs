//! Command line: `serve [--config FILE] [--port N]` (also the default), `migrate`, `audit`,
//! `recording`, `staff`, `retention`, `contact`, `redflag`, and `simulate` (with the `testkit`
//! feature). The load tester is a separate binary, `voicegate-loadtest`.

use std::path::PathBuf;

use anyhow::Context as _;
use voicegate::config::Settings;
use voicegate::startup::Application;
use voicegate::telemetry;

#[derive(Debug, clap::Parser)]
#[command(name = "voicegate", version, about = "Voice AI gateway for clinic phone lines")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve {
        /// YAML file layered over the embedded defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Port to listen on (overrides configuration).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Apply database migrations (as `database.migration_url` when set) and grant the runtime role.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The HIPAA audit log.
    Audit {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Staff accounts for the compliance review pages (`/review`).
    Staff {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// A patient's contact record for confirmations and reminders: where to reach them and their
    /// consent (what STOP and the unsubscribe link change). Every change and look is audited.
    Contact {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Recording retention.
    Retention {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// The red-flag detector, for clinicians and auditors (no server, no database).
    Redflag {
        /// YAML file layered over the embedded defaults (for the clinic's own phrases).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: RedflagCommand,
    },
    /// Call recordings.
    Recording {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: RecordingCommand,
    },
    /// A scripted call end to end with no API key: the server in-process (or a running one),
    /// a Twilio-protocol caller and the fake realtime peer. Prints a timeline.
    #[cfg(feature = "testkit")]
    Simulate {
        /// YAML file layered over the embedded defaults (in-process server).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Drive an already running server at this base URL instead of starting one; start it
        /// with `VOICEGATE__REALTIME__URL=ws://127.0.0.1:<fake-port>/v1/realtime`.
        #[arg(long)]
        server: Option<String>,
        /// Port of the fake realtime peer when driving a running server.
        #[arg(long, default_value_t = 9901)]
        fake_port: u16,
        /// The running server's Twilio auth token (default: ./data/keys/twilio-auth-token.key).
        #[arg(long, env = "VOICEGATE_SIM_AUTH_TOKEN")]
        auth_token: Option<String>,
        /// The running server's public base URL, if it differs from --server.
        #[arg(long)]
        public_base: Option<String>,
        /// What the call does (every scenario runs the real tools on the demo clinic).
        #[arg(long, value_enum, default_value = "booking")]
        scenario: voicegate::testkit::simulate::Scenario,
    },
}

#[derive(Debug, clap::Subcommand)]
enum RedflagCommand {
    /// Read one utterance per line on standard input; print one label per line, in order:
    /// EMERGENCY_911, CRISIS_988 or NONE.
    Check {
        /// After each label: the category and rule raised, and every concept heard with the
        /// context rule that kept or dropped it (tab-separated).
        #[arg(long)]
        explain: bool,
    },
    /// Score a labelled corpus (`label<TAB>kind<TAB>utterance` per line): recall per label and
    /// kind, false-positive rate per kind, every miss. Exits 1 below the pass mark.
    Eval {
        file: PathBuf,
        /// Recall every emergency label and kind must reach (0-1).
        #[arg(long, default_value_t = 1.0)]
        min_recall: f64,
        /// Overall false-positive rate must stay under this (0-1).
        #[arg(long, default_value_t = 0.03)]
        max_false_positive: f64,
        /// False-positive rate of every non-emergency kind must stay under this (0-1).
        #[arg(long, default_value_t = 0.05)]
        max_false_positive_per_kind: f64,
    },
}

#[derive(Debug, clap::Subcommand)]
enum RecordingCommand {
    /// Decrypt one call's stereo WAV (caller left, agent right) to a file. The export is audited.
    Export {
        #[arg(long = "call")]
        call_id: String,
        #[arg(long)]
        out: PathBuf,
        /// Why (recorded in the audit log).
        #[arg(long, default_value = "exported from the command line")]
        reason: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum StaffCommand {
    /// Create an account. The password is read from `VOICEGATE_STAFF_PASSWORD` or the first line
    /// of standard input — never from an argument, which would sit in shell history and `ps`.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["reviewer", "auditor", "admin", "front_desk", "clinic_admin"])]
        role: String,
    },
    /// Disable an account (never deleted: audit records name it) and end its sessions.
    Disable {
        #[arg(long)]
        username: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// List accounts (username, role, state).
    List,
}

#[derive(Debug, clap::Subcommand)]
enum ContactCommand {
    /// Create or change a record; options not given keep their value.
    Set {
        /// The EHR's patient id (built-in or FHIR).
        #[arg(long)]
        patient: String,
        /// Mobile number for texts (any common US or E.164 form; "none" removes it).
        #[arg(long)]
        phone: Option<String>,
        /// Email address ("none" removes it).
        #[arg(long)]
        email: Option<String>,
        #[arg(long, value_parser = ["yes", "no"])]
        sms_consent: Option<String>,
        #[arg(long, value_parser = ["yes", "no"])]
        email_consent: Option<String>,
        /// Language of the messages (en or es).
        #[arg(long)]
        language: Option<String>,
        /// Why (recorded in the audit log), e.g. "consent form signed at the front desk".
        #[arg(long)]
        reason: String,
    },
    /// Print a record (audited: it is PHI).
    Show {
        #[arg(long)]
        patient: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum RetentionCommand {
    /// Delete recordings past `retention.recordings_days` now (the server also runs this daily).
    Run,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Walk the whole chain and every checkpoint; print OK with the count, or the first break.
    Verify,
    /// Write one call's audit records as JSON lines (stdout), for auditors.
    Export {
        #[arg(long = "call")]
        call_id: String,
    },
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command.unwrap_or(Command::Serve {
        config: None,
        port: None,
    }) {
        Command::Serve { config, port } => {
            let mut settings = Settings::load(config.as_deref()).context("loading configuration")?;
            if let Some(port) = port {
                settings.server.port = port;
            }
            telemetry::init(telemetry::subscriber("info", std::io::stdout));
            voicegate::os::raise_open_files(settings.server.max_concurrent_calls as u64);
            // Signal handlers first: from the moment the server is up, SIGTERM means drain.
            let stop = voicegate::shutdown::signal();
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "voicegate listening");
            app.run_until_stopped(stop).await
        }
        Command::Migrate { config } => {
            telemetry::init(telemetry::subscriber("info", std::io::stderr));
            let mut settings = Settings::load(config.as_deref()).context("loading configuration")?;
            settings.ensure_keys().context("preparing keys")?;
            let url = match &settings.database.migration_url {
                Some(u) => secrecy::ExposeSecret::expose_secret(u).to_owned(),
                None => settings.database_url(),
            };
            let db = voicegate::storage::Db::connect(&url, 2, std::time::Duration::from_secs(10))
                .await
                .context("connecting to the database")?;
            db.migrate().await.context("applying migrations")?;
            if let Some(role) = &settings.database.runtime_role {
                db.grant_runtime(role).await.context("granting the runtime role")?;
            }
            println!("migrations applied ({:?})", db.backend());
            Ok(())
        }
        Command::Audit { config, command } => audit(config, command).await,
        Command::Recording { config, command } => recording(config, command).await,
        Command::Redflag { config, command } => redflag(config, command),
        Command::Staff { config, command } => staff(config, command).await,
        Command::Retention { config, command } => retention(config, command).await,
        Command::Contact { config, command } => contact(config, command).await,
        #[cfg(feature = "testkit")]
        Command::Simulate {
            config,
            server,
            fake_port,
            auth_token,
            public_base,
            scenario,
        } => {
            // The timeline is the output; logs only when something goes wrong.
            telemetry::init(telemetry::subscriber("warn", std::io::stderr));
            let options = voicegate::testkit::simulate::SimulateOptions {
                server,
                fake_port: Some(fake_port),
                auth_token,
                public_base,
                config,
                quiet: false,
                scenario,
            };
            let report = voicegate::testkit::simulate::run(options).await?;
            println!(
                "\nsimulated call OK ({scenario:?}): {} caller bytes sent, {} received upstream; {} agent bytes played; \
                 {} tool calls",
                report.caller_bytes_sent,
                report.upstream_bytes_received,
                report.agent_bytes_played,
                report.tools.len(),
            );
            if let (Some(cut), Some(heard)) = (report.truncated_at_ms, report.heard_at_barge_in_ms) {
                println!("barge-in truncated at {cut} ms (caller heard {heard} ms)");
            }
            Ok(())
        }
    }
}

/// `voicegate audit …`: exit status 0 = OK, 1 = a break was found (or the export failed).
async fn audit(config: Option<PathBuf>, command: AuditCommand) -> anyhow::Result<()> {
    use voicegate::audit::verify::{self, Verdict};
    let (settings, db) = admin_context(config).await?;
    match command {
        AuditCommand::Verify => {
            let blobs = voicegate::storage::open_blobs(&settings)
                .await
                .context("opening the blob store")?;
            let keys: Vec<_> = settings.secrets.audit_checkpoint_key.iter().cloned().collect();
            let started = std::time::Instant::now();
            match verify::verify(&db, &blobs, &keys)
                .await
                .context("reading the audit chain")?
            {
                Verdict::Ok(summary) => {
                    println!(
                        "OK: {} records, {} checkpoints verified, head {} ({:.2} s)",
                        summary.length,
                        summary.checkpoints_checked,
                        summary.head_hash_hex,
                        started.elapsed().as_secs_f64()
                    );
                    Ok(())
                }
                Verdict::Broken(b) => {
                    println!("BROKEN at index {}: {:?}", b.index, b.kind);
                    std::process::exit(1);
                }
            }
        }
        AuditCommand::Export { call_id } => {
            // The export is itself an access to the audit trail: record who did it, first.
            audit_cli_access(
                &settings,
                &db,
                "audit.exported",
                Some(&call_id),
                None,
                serde_json::json!({"format": "jsonl"}),
            )
            .await?;
            let mut out = std::io::stdout().lock();
            let n = verify::export_call(&db, &call_id, &mut out)
                .await
                .context("exporting")?;
            eprintln!("{n} records exported");
            Ok(())
        }
    }
}

/// `voicegate recording export`: audited before anything is decrypted.
async fn recording(config: Option<PathBuf>, command: RecordingCommand) -> anyhow::Result<()> {
    let (settings, db) = admin_context(config).await?;
    match command {
        RecordingCommand::Export { call_id, out, reason } => {
            let row = voicegate::storage::calls::get(&db, &call_id)
                .await
                .context("reading the call")?
                .context("no such call")?;
            let key = row.recording_location.context("this call has no stored recording")?;
            audit_cli_access(
                &settings,
                &db,
                "recording.exported",
                Some(&call_id),
                Some(reason),
                serde_json::json!({"object_key": key}),
            )
            .await?;
            let blobs = voicegate::storage::open_blobs(&settings)
                .await
                .context("opening the blob store")?;
            let wav = blobs.get(&key).await.context("reading the recording")?;
            std::fs::write(&out, wav).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {} (caller left, agent right)", out.display());
            Ok(())
        }
    }
}

/// Settings and the database for an admin command (migrations applied by `serve`/`migrate`).
async fn admin_context(config: Option<PathBuf>) -> anyhow::Result<(Settings, voicegate::storage::Db)> {
    telemetry::init(telemetry::subscriber("warn", std::io::stderr));
    let mut settings = Settings::load(config.as_deref()).context("loading configuration")?;
    settings.ensure_keys().context("preparing keys")?;
    let db = voicegate::storage::open_database(&settings)
        .await
        .context("opening the database")?;
    Ok((settings, db))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn staff(config: Option<PathBuf>, command: StaffCommand) -> anyhow::Result<()> {
    use voicegate::review::{Role, staff};
    let (settings, db) = admin_context(config).await?;
    match command {
        StaffCommand::Add { username, role } => {
            let role = Role::parse(&role).context("role is reviewer, auditor, admin, front_desk or clinic_admin")?;
            let password = match std::env::var("VOICEGATE_STAFF_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    eprintln!("password (one line on stdin):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("reading the password")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let member = staff::add(&db, &username, &password, role, now_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            audit_cli_access(
                &settings,
                &db,
                "staff.added",
                None,
                None,
                serde_json::json!({"staff_id": member.staff_id, "username": member.username, "role": member.role}),
            )
            .await?;
            println!(
                "added {} ({}) as {}",
                member.username,
                member.staff_id,
                member.role.as_str()
            );
            Ok(())
        }
        StaffCommand::Disable { username, reason } => {
            let member = staff::disable(&db, &username, now_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            audit_cli_access(
                &settings,
                &db,
                "staff.disabled",
                None,
                Some(reason),
                serde_json::json!({"staff_id": member.staff_id, "username": member.username}),
            )
            .await?;
            println!(
                "disabled {} ({}); its sessions are ended",
                member.username, member.staff_id
            );
            Ok(())
        }
        StaffCommand::List => {
            for m in staff::list(&db).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                let state = if m.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{state}", m.username, m.role.as_str(), m.staff_id);
            }
            Ok(())
        }
    }
}

async fn contact(config: Option<PathBuf>, command: ContactCommand) -> anyhow::Result<()> {
    use voicegate::notify::contacts;
    let (settings, db) = admin_context(config).await?;
    let patient_ref = |id: &str| {
        settings
            .secrets
            .phi_hash_key
            .as_ref()
            .map(|k| voicegate::telemetry::PhiRef::new(k, "patient", id))
    };
    match command {
        ContactCommand::Set {
            patient,
            phone,
            email,
            sms_consent,
            email_consent,
            language,
            reason,
        } => {
            let old = contacts::get(&db, &patient)
                .await
                .context("reading the contact record")?;
            let phone = match phone.as_deref() {
                None => old.as_ref().and_then(|c| c.phone_e164.clone()),
                Some("none") => None,
                Some(raw) => Some(
                    voicegate::domain::PhoneNumber::parse(raw)
                        .map_err(|_| anyhow::anyhow!("--phone is not a phone number"))?
                        .e164()
                        .to_owned(),
                ),
            };
            let email = match email.as_deref() {
                None => old.as_ref().and_then(|c| c.email.clone()),
                Some("none") => None,
                Some(raw) => {
                    raw.parse::<lettre::Address>()
                        .map_err(|_| anyhow::anyhow!("--email is not an email address"))?;
                    Some(raw.to_owned())
                }
            };
            let language = match language.as_deref() {
                None => old.as_ref().map_or_else(|| "en".to_owned(), |c| c.language.clone()),
                Some(raw) => voicegate::notify::Language::parse(raw)
                    .ok_or_else(|| anyhow::anyhow!("--language must be en or es"))?
                    .as_str()
                    .to_owned(),
            };
            let flag = |given: Option<String>, before: Option<i64>| match given.as_deref() {
                Some("yes") => true,
                Some(_) => false,
                None => before == Some(1),
            };
            let sms = flag(sms_consent, old.as_ref().map(|c| c.sms_consent));
            let mail = flag(email_consent, old.as_ref().map(|c| c.email_consent));
            if sms && phone.is_none() {
                anyhow::bail!("--sms-consent yes needs a phone number on file");
            }
            if mail && email.is_none() {
                anyhow::bail!("--email-consent yes needs an email address on file");
            }
            let os_user = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let by = format!("cli:{os_user}");
            contacts::upsert(
                &db,
                &contacts::NewContact {
                    patient_id: &patient,
                    phone_e164: phone.as_deref(),
                    email: email.as_deref(),
                    sms_consent: sms,
                    email_consent: mail,
                    language: &language,
                    updated_by: &by,
                },
                i64::try_from(now_ms()).unwrap_or(i64::MAX),
            )
            .await
            .context("writing the contact record")?;
            audit_cli(
                &settings,
                &db,
                "notification.consent",
                patient_ref(&patient),
                Some(reason),
                serde_json::json!({"sms_consent": sms, "email_consent": mail, "language": language,
                    "phone_on_file": phone.is_some(), "email_on_file": email.is_some(), "via": "cli"}),
            )
            .await?;
            println!(
                "contact record saved: sms consent {}, email consent {}, language {language}",
                if sms { "yes" } else { "no" },
                if mail { "yes" } else { "no" }
            );
            Ok(())
        }
        ContactCommand::Show { patient, reason } => {
            let record = contacts::get(&db, &patient)
                .await
                .context("reading the contact record")?;
            audit_cli(
                &settings,
                &db,
                "contact.viewed",
                patient_ref(&patient),
                Some(reason),
                serde_json::json!({"found": record.is_some()}),
            )
            .await?;
            let Some(c) = record else {
                anyhow::bail!("no contact record for that patient");
            };
            let yes = |v: i64| if v == 1 { "yes" } else { "no" };
            println!("phone\t{}", c.phone_e164.as_deref().unwrap_or("-"));
            println!("email\t{}", c.email.as_deref().unwrap_or("-"));
            println!("sms_consent\t{}", yes(c.sms_consent));
            println!("email_consent\t{}", yes(c.email_consent));
            println!("language\t{}", c.language);
            Ok(())
        }
    }
}

async fn retention(config: Option<PathBuf>, command: RetentionCommand) -> anyhow::Result<()> {
    let (settings, db) = admin_context(config).await?;
    match command {
        RetentionCommand::Run => {
            let Some(days) = settings.retention.recordings_days else {
                println!("retention.recordings_days is null: recordings are kept");
                return Ok(());
            };
            let clock: voicegate::clock::SharedClock = std::sync::Arc::new(voicegate::clock::SystemClock);
            let log = voicegate::audit::AuditLog::open(&settings, db.clone(), clock.clone())
                .await
                .context("opening the audit log")?;
            let blobs = voicegate::storage::open_blobs(&settings)
                .await
                .context("opening the recording store")?;
            let report = voicegate::review::retention::run(&db, &blobs, &log, days, clock.now_unix_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "retention ({days} days): {} deleted, {} kept under legal hold, {} failed",
                report.deleted.len(),
                report.held.len(),
                report.failed.len()
            );
            Ok(())
        }
    }
}

/// Record an access made from the command line (attributed to the OS user) before it happens.
async fn audit_cli_access(
    settings: &Settings,
    db: &voicegate::storage::Db,
    action: &str,
    call_id: Option<&str>,
    reason: Option<String>,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    audit_cli_event(settings, db, action, call_id, None, reason, details).await
}

/// A CLI action about one patient (by keyed reference).
async fn audit_cli(
    settings: &Settings,
    db: &voicegate::storage::Db,
    action: &str,
    patient: Option<voicegate::telemetry::PhiRef>,
    reason: Option<String>,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    audit_cli_event(settings, db, action, None, patient, reason, details).await
}

async fn audit_cli_event(
    settings: &Settings,
    db: &voicegate::storage::Db,
    action: &str,
    call_id: Option<&str>,
    patient: Option<voicegate::telemetry::PhiRef>,
    reason: Option<String>,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let clock: voicegate::clock::SharedClock = std::sync::Arc::new(voicegate::clock::SystemClock);
    let log = voicegate::audit::AuditLog::open(settings, db.clone(), clock.clone())
        .await
        .context("opening the audit log")?;
    let os_user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let event = voicegate::audit::AuditEvent {
        actor: voicegate::audit::Actor::Cli {
            os_user,
            staff_id: None,
        },
        action: action.into(),
        call_id: call_id.map(str::to_owned),
        patient,
        reason,
        outcome: voicegate::audit::AuditOutcome::Success,
        details,
        at_ms: clock.now_unix_ms(),
    };
    log.append(&event)
        .await
        .context("recording the access in the audit log")?;
    Ok(())
}

/// `voicegate redflag …`: the detector the server runs (built-in knowledge plus the configured
/// clinic phrases), on standard input or a corpus file. Writes nothing anywhere but stdout: what a
/// clinician types here is not a call and is not recorded.
fn redflag(config: Option<PathBuf>, command: RedflagCommand) -> anyhow::Result<()> {
    use std::io::{BufRead as _, Write as _};
    use voicegate::safety::red_flag::{Detector, corpus};
    let settings = Settings::load(config.as_deref()).context("loading configuration")?;
    let detector = Detector::new(&settings.safety.red_flag.phrases, &settings.safety.red_flag.benign)
        .context("building the red-flag detector")?;
    match command {
        RedflagCommand::Check { explain } => {
            let stdin = std::io::stdin();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for line in stdin.lock().lines() {
                let line = line.context("reading standard input")?;
                if explain {
                    writeln!(out, "{}", detector.explain(&line))?;
                } else {
                    writeln!(out, "{}", detector.assess(&line).label())?;
                }
            }
            out.flush()?;
            Ok(())
        }
        RedflagCommand::Eval {
            file,
            min_recall,
            max_false_positive,
            max_false_positive_per_kind,
        } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let rows = corpus::parse(&text).with_context(|| format!("{}", file.display()))?;
            let thresholds = corpus::Thresholds {
                min_recall,
                max_false_positive,
                max_false_positive_per_kind,
            };
            let score = corpus::score(&detector, &rows);
            let mut out = std::io::stdout().lock();
            write!(out, "{}", score.render(&thresholds))?;
            out.flush()?;
            if !score.passes(&thresholds) {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
