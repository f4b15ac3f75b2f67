//! The fault matrix (issue 17): what a crash or a shutdown in the middle of calls leaves behind,
//! and what the next start makes of it, on the real server process.
//!
//! Each test runs the built binary (`voicegate serve --config FILE`) on its own data directory,
//! with the fake realtime peer and Twilio callers in this process, then kills or stops it and
//! checks what an auditor would: every call has a stored recording and exactly one `call.ended`
//! record, its row is closed, and `voicegate audit verify` passes. Each prints one line,
//! `calls=N recordings_stored=N audit_records=N lost=0`, where `audit_records` counts the
//! `call.ended` records of the test's calls and `lost` the calls without a stored recording plus
//! the calls without a `call.ended` record.
//!
//! Synchronisation is on conditions (a line in the server's log, `/readyz`, rows in the database,
//! the recording spools on disk), polled under a deadline; never on a sleep.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::time::timeout;
use voicegate::call::registry::script;
use voicegate::config::Settings;
use voicegate::storage::Db;
use voicegate::storage::blob::Blobs;
use voicegate::testkit::fake_realtime::{FakeRealtime, FakeRealtimeConfig, FakeSession};
use voicegate::testkit::twilio_caller::{TwilioCaller, TwilioCallerConfig};
use voicegate::testkit::webhook::{self, HttpResponse};
use voicegate::transport::twilio::signature;

use helpers::*;

/// Turns a hang of a whole process step (start, drain, exit) into a failure.
const DEADLINE: Duration = Duration::from_secs(30);

/// Between two looks at a polled condition (the condition decides, never the time).
const POLL: Duration = Duration::from_millis(20);

/// Caller audio each call sends (10 s): the recorder spools everything 2 s behind the newest
/// frame, so about 8 s (several sealed 64 KiB chunks) is on disk while the call is still up.
const SPOKEN_FRAMES: usize = 500;

/// A spool holding at least this much has sealed audio in it (two whole chunks).
const SEALED_SPOOL_BYTES: u64 = 2 * 64 * 1024;

/// Where a node keeps its data.
enum Database {
    /// `data_dir/voicegate.db`, the single-node default.
    Own,
    /// One SQLite file several replicas share.
    SharedSqlite(PathBuf),
    Postgres(PgDatabase),
}

/// One replica: its own data directory (keys, blobs, recording spools, audit spool) and config.
struct Node {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Node {
    fn new(fake: &FakeRealtime, database: &Database, drain_deadline_secs: u64) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path();
        let wav = data.join("disclosure.wav");
        write_tone_wav(&wav, 8000, 800, 300.0);
        let database = match database {
            Database::Own => String::new(),
            Database::SharedSqlite(path) => format!("database:\n  url: \"sqlite://{}?mode=rwc\"\n", path.display()),
            Database::Postgres(pg) => format!(
                "database:\n  url: \"{}\"\n  migration_url: \"{}\"\n  runtime_role: \"{}\"\n",
                pg.runtime_url, pg.owner_url, pg.runtime_role
            ),
        };
        let yaml = format!(
            "server:\n  port: 0\n  data_dir: \"{data}\"\n  public_base_url: \"{PUBLIC_BASE}\"\n  \
             drain_deadline_secs: {drain_deadline_secs}\n  hard_deadline_secs: 10\n\
             twilio:\n  auth_token: \"{AUTH_TOKEN}\"\n\
             realtime:\n  url: \"{url}\"\n  api_key: \"{API_KEY}\"\n\
             call:\n  disclosure_wav: \"{wav}\"\n  idle_prompt_after_secs: 100000\n  idle_hangup_after_secs: 200000\n\
             {database}",
            data = data.display(),
            url = fake.url(),
            wav = wav.display(),
        );
        let config = data.join("voicegate.yaml");
        std::fs::write(&config, yaml).expect("config file");
        Node { dir, config }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    /// The settings the server runs with (its keys exist once it has started).
    fn settings(&self) -> Settings {
        let mut settings = Settings::load(Some(&self.config)).expect("settings");
        settings.ensure_keys().expect("keys");
        settings
    }

    /// The database, as the test reads it (the server process writes it).
    async fn db(&self) -> Db {
        Db::connect(&self.settings().database_url(), 2, Duration::from_secs(5))
            .await
            .expect("database")
    }

    /// The finished-recording store (the local encrypted folder).
    async fn blobs(&self) -> Blobs {
        voicegate::storage::open_blobs(&self.settings())
            .await
            .expect("blob store")
    }

    /// Unfinished recording spools on disk, with their sizes.
    fn spools(&self) -> Vec<u64> {
        let dir = self.data().join("blobs/recordings/spool");
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok().map(|m| (e.path(), m.len())))
                    .filter(|(p, _)| p.extension().is_some_and(|x| x == "partial"))
                    .map(|(_, len)| len)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `voicegate audit verify` on this node's configuration: its stdout, asserted OK.
    fn audit_verify(&self) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_voicegate"))
            .args(["audit", "verify", "--config"])
            .arg(&self.config)
            .output()
            .expect("audit verify runs");
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            out.status.success() && stdout.starts_with("OK: "),
            "audit verify: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// A running `voicegate serve` process.
struct Server {
    child: tokio::process::Child,
    base: String,
    port: u16,
    /// Every line the process wrote (JSON logs on stdout, errors on stderr).
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start the binary on `node` and wait until it listens (start-up recovery has run by then).
    async fn start(node: &Node) -> Server {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_voicegate"))
            .arg("serve")
            .arg("--config")
            .arg(&node.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("server spawns");
        let log = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().expect("stdout"), log.clone());
        collect_lines(child.stderr.take().expect("stderr"), log.clone());
        let mut server = Server {
            child,
            base: String::new(),
            port: 0,
            log,
        };
        let line = server.wait_for_log("voicegate listening").await;
        let v: Value = serde_json::from_str(&line).expect("JSON log line");
        server.port = v["fields"]["port"].as_u64().expect("port") as u16;
        server.base = format!("http://127.0.0.1:{}", server.port);
        server
    }

    fn pid(&self) -> i32 {
        self.child.id().expect("running") as i32
    }

    /// Send `signal` to the process (SIGKILL: a crash; SIGTERM: an orchestrator's stop).
    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet (we hold
        // its `Child` and only wait on it after signalling), so the pid cannot have been reused.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// Wait for the process to exit.
    async fn exited(&mut self) -> std::process::ExitStatus {
        timeout(DEADLINE, self.child.wait())
            .await
            .expect("server exits")
            .expect("wait")
    }

    /// The first log line containing `needle` (waits for it).
    async fn wait_for_log(&mut self, needle: &str) -> String {
        let what = format!("server log line {needle:?}");
        let log = self.log.clone();
        let found = poll_until(&what, || {
            let line = log.lock().unwrap().iter().find(|l| l.contains(needle)).cloned();
            async move { line }
        });
        tokio::select! {
            line = found => line,
            status = self.child.wait() => panic!(
                "server exited ({status:?}) before logging {needle:?}:\n{}",
                self.log.lock().unwrap().join("\n")
            ),
        }
    }

    async fn get(&self, path: &str) -> HttpResponse {
        webhook::request(&self.base, "GET", path, &[], "").await.expect("GET")
    }

    async fn post_voice(&self, call_sid: &str) -> HttpResponse {
        webhook::post_signed(
            &self.base,
            PUBLIC_BASE,
            "/twilio/voice",
            &call_params(call_sid),
            Some(AUTH_TOKEN.as_bytes()),
        )
        .await
        .expect("webhook request")
    }

    /// What Twilio fetches once the stream has closed.
    async fn post_next(&self, call_sid: &str) -> HttpResponse {
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

    /// A call as Twilio places it: signed webhook, then the signed media stream with its token.
    async fn call(&self, call_sid: &str) -> TwilioCaller {
        let answer = self.post_voice(call_sid).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let stream_url = webhook::twiml_attr(&answer.body, "<Stream", "url").expect("Stream url in TwiML");
        let token = webhook::twiml_attr(&answer.body, "<Parameter", "value").expect("token parameter");
        let mut config = TwilioCallerConfig::new(format!("ws://127.0.0.1:{}/twilio/media", self.port), call_sid);
        config.signature = Some(signature::compute(AUTH_TOKEN.as_bytes(), &stream_url, &[]));
        config.custom_parameters.insert("token".into(), token);
        TwilioCaller::connect(config).await.expect("media stream connects")
    }
}

fn collect_lines(stream: impl AsyncRead + Unpin + Send + 'static, log: Arc<Mutex<Vec<String>>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("{line}");
            }
            log.lock().unwrap().push(line);
        }
    });
}

/// Poll `check` until it yields a value; fails after [`DEADLINE`] naming `what`.
async fn poll_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut tick = tokio::time::interval(POLL);
    timeout(DEADLINE, async {
        loop {
            tick.tick().await;
            if let Some(v) = check().await {
                return v;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Place `sids` on `server`, each up with its upstream session and 10 s of caller audio sent.
async fn place_calls(server: &Server, fake: &FakeRealtime, sids: &[String]) -> Vec<(TwilioCaller, FakeSession)> {
    let mut calls = Vec::new();
    for (n, sid) in sids.iter().enumerate() {
        let mut caller = server.call(sid).await;
        let mut session = timeout(DEADLINE, fake.next_session())
            .await
            .expect("upstream session")
            .expect("session");
        session.wait_for("session.update").await.expect("session.update");
        caller
            .send_audio_fast(&pattern(n as u8, SPOKEN_FRAMES), 0)
            .await
            .expect("caller audio");
        calls.push((caller, session));
    }
    calls
}

/// The call id the server gave each CallSid (waits for the rows).
async fn call_ids(db: &Db, sids: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for sid in sids {
        let id = poll_until(&format!("the call row of {sid}"), || async {
            voicegate::storage::calls::find_by_call_sid(db, sid)
                .await
                .ok()
                .and_then(|rows| rows.into_iter().next())
                .map(|r| r.call_id)
        })
        .await;
        ids.push(id);
    }
    ids
}

/// One record of the chain.
#[derive(Debug, Clone)]
struct Record {
    /// The hashed record (RFC 8785 JSON).
    json: Value,
    /// The `audit_log.late` column.
    late: bool,
}

async fn audit_records(db: &Db) -> Vec<Record> {
    let rows: Vec<(i64, Vec<u8>, bool)> = db
        .all("SELECT idx, canonical, late FROM audit_log ORDER BY idx", &[])
        .await
        .expect("audit rows");
    rows.into_iter()
        .map(|(_, canonical, late)| Record {
            json: serde_json::from_slice(&canonical).expect("canonical JSON"),
            late,
        })
        .collect()
}

fn of<'a>(records: &'a [Record], call_id: &str, action: &str) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.json["call_id"] == call_id && r.json["action"] == action)
        .collect()
}

/// What an auditor finds for `ids` after the fault: rows, records, recordings.
#[derive(Debug)]
struct Tally {
    calls: usize,
    recordings_stored: usize,
    call_ended: usize,
    lost: usize,
}

impl Tally {
    /// Count, asserting the shape of each call's trail: at most one `call.ended`, with
    /// `outcomes[i]` (reason `interrupted` for that outcome) and written late when the call was
    /// `interrupted` by a crash; a closed row with that outcome; at most one `recording.stored`,
    /// named by the row, whose WAV decrypts to two channels with audio and whose manifest says
    /// `incomplete` exactly when the call was interrupted.
    async fn gather(node: &Node, db: &Db, ids: &[String], outcomes: &[&str], interrupted: bool) -> Tally {
        let records = audit_records(db).await;
        let blobs = node.blobs().await;
        let mut tally = Tally {
            calls: ids.len(),
            recordings_stored: 0,
            call_ended: 0,
            lost: 0,
        };
        for (id, outcome) in ids.iter().zip(outcomes) {
            let ended = of(&records, id, "call.ended");
            assert!(ended.len() <= 1, "{id}: {} call.ended records", ended.len());
            if let Some(end) = ended.first() {
                tally.call_ended += 1;
                assert_eq!(end.json["details"]["outcome"], *outcome, "{id}: {}", end.json);
                assert_eq!(end.json["actor"]["kind"], "agent", "{id}: the call's own actor");
                assert!(end.json["details"]["duration_ms"].is_u64(), "{id}: {}", end.json);
                if *outcome == "interrupted" {
                    assert_eq!(end.json["reason"], "interrupted", "{id}: {}", end.json);
                }
                if interrupted {
                    assert!(end.late && end.json["late"] == true, "{id}: written late");
                } else {
                    assert!(!end.late, "{id}: written at the call's end");
                }
            } else {
                tally.lost += 1;
            }
            let row = voicegate::storage::calls::get(db, id)
                .await
                .expect("row")
                .expect("row exists");
            assert!(row.ended_at_ms.is_some(), "{id}: row closed");
            assert_eq!(row.outcome.as_deref(), Some(*outcome), "{id}: row outcome");
            let stored = of(&records, id, "recording.stored");
            assert!(stored.len() <= 1, "{id}: {} recording.stored records", stored.len());
            let Some(stored) = stored.first() else {
                tally.lost += 1;
                continue;
            };
            let key = stored.json["details"]["object_key"].as_str().expect("object key");
            assert_eq!(row.recording_location.as_deref(), Some(key), "{id}: the row names it");
            let wav = blobs.get(key).await.expect("recording decrypts");
            let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV");
            assert_eq!(reader.spec().channels, 2, "{id}: stereo");
            assert!(reader.duration() > 0, "{id}: audio survived");
            let manifest: Value = serde_json::from_slice(
                &blobs
                    .get(&key.replace(".wav", ".manifest.json"))
                    .await
                    .expect("manifest"),
            )
            .expect("manifest JSON");
            assert_eq!(manifest["incomplete"], interrupted, "{id}: {manifest}");
            assert_eq!(manifest["outcome"], *outcome, "{id}");
            tally.recordings_stored += 1;
        }
        tally
    }

    fn print(&self) {
        println!(
            "calls={} recordings_stored={} audit_records={} lost={}",
            self.calls, self.recordings_stored, self.call_ended, self.lost
        );
    }
}

async fn fake_realtime() -> FakeRealtime {
    FakeRealtime::start(FakeRealtimeConfig {
        expected_auth: Some(format!("Bearer {API_KEY}")),
        ..Default::default()
    })
    .await
    .expect("fake realtime starts")
}

/// The database of `kind` (None: PostgreSQL not available here, skipped).
async fn database(kind: BackendKind) -> Option<Database> {
    Some(match kind {
        BackendKind::Sqlite => Database::Own,
        BackendKind::Postgres => Database::Postgres(PgDatabase::create().await?),
    })
}

/// Row a: `kill -9` with three calls up. The next start finalises all three recordings
/// (incomplete), writes each call's `call.ended` late with reason `interrupted`, closes the rows;
/// a further restart writes nothing twice; the chain verifies.
async fn kill_nine_mid_call(kind: BackendKind) {
    let Some(database) = database(kind).await else { return };
    let fake = fake_realtime().await;
    let node = Node::new(&fake, &database, 30);
    let mut server = Server::start(&node).await;
    let sids: Vec<String> = (1..=3).map(call_sid).collect();
    let _calls = place_calls(&server, &fake, &sids).await;
    let db = node.db().await;
    let ids = call_ids(&db, &sids).await;
    // Mid-call: each recording has sealed audio in its spool on disk.
    poll_until("three spools with sealed audio", || async {
        let spools = node.spools();
        (spools.len() == 3 && spools.iter().all(|&len| len >= SEALED_SPOOL_BYTES)).then_some(())
    })
    .await;

    server.signal(libc::SIGKILL);
    let status = server.exited().await;
    assert!(!status.success(), "killed: {status:?}");
    let records = audit_records(&db).await;
    for id in &ids {
        assert!(of(&records, id, "call.ended").is_empty(), "nothing ended the calls");
        let row = voicegate::storage::calls::get(&db, id).await.unwrap().unwrap();
        assert_eq!(row.ended_at_ms, None, "the crash left {id} open");
    }

    let mut server = Server::start(&node).await;
    assert!(node.spools().is_empty(), "every spool was finalised");
    let tally = Tally::gather(&node, &db, &ids, &["interrupted"; 3], true).await;
    tally.print();
    assert_eq!(
        (tally.calls, tally.recordings_stored, tally.call_ended, tally.lost),
        (3, 3, 3, 0)
    );

    // Idempotent: a second restart adds nothing for these calls.
    let before = audit_records(&db).await.len();
    server.signal(libc::SIGTERM);
    assert!(server.exited().await.success());
    let mut server = Server::start(&node).await;
    let after = audit_records(&db).await;
    for id in &ids {
        assert_eq!(of(&after, id, "call.ended").len(), 1, "{id}: still one call.ended");
        assert_eq!(of(&after, id, "recording.stored").len(), 1, "{id}: still one recording");
    }
    assert_eq!(after.len(), before, "the second restart wrote no audit record");
    server.signal(libc::SIGTERM);
    assert!(server.exited().await.success());
    println!("{}", node.audit_verify());
}

/// Row b: SIGTERM with two calls up. The server drains: readiness 503, new calls refused, a call
/// that ends by itself during the drain ends normally, the one still up at the deadline is ended
/// with the shutdown goodbye Twilio fetches; both recordings stored, both `call.ended` written
/// at the time, the process exits 0, and the chain verifies.
async fn sigterm_mid_call(kind: BackendKind) {
    let Some(database) = database(kind).await else { return };
    let fake = fake_realtime().await;
    let node = Node::new(&fake, &database, 3);
    let mut server = Server::start(&node).await;
    let sids: Vec<String> = (11..=12).map(call_sid).collect();
    let mut calls = place_calls(&server, &fake, &sids).await;
    let db = node.db().await;
    let ids = call_ids(&db, &sids).await;

    server.signal(libc::SIGTERM);
    poll_until("readiness 503 while draining", || async {
        (server.get("/readyz").await.status == 503).then_some(())
    })
    .await;
    let refused = server.post_voice(&call_sid(13)).await;
    assert!(
        refused.body.contains(script::BUSY),
        "new calls refused: {}",
        refused.body
    );

    // The first caller hangs up during the drain: an ordinary end.
    let (hung_up, _) = &mut calls[0];
    hung_up.send_stop().await.expect("stop");
    let (code, _) = hung_up.wait_closed().await.expect("first call closed");
    assert_eq!(code, Some(1000));
    // The second is still up at the drain deadline: ended politely, with a goodbye step.
    let (held, _) = &mut calls[1];
    let (code, _) = held.wait_closed().await.expect("second call closed at the deadline");
    assert_eq!(code, Some(1000));
    let next = server.post_next(&sids[1]).await;
    assert!(
        next.body.contains(script::SHUTDOWN) && next.body.contains("<Hangup/>"),
        "the caller hears the shutdown goodbye: {}",
        next.body
    );
    let status = server.exited().await;
    assert!(status.success(), "a drained server exits 0: {status:?}");
    assert!(node.spools().is_empty(), "no spool left behind");

    let tally = Tally::gather(&node, &db, &ids, &["hung_up", "shutdown"], false).await;
    tally.print();
    assert_eq!(
        (tally.calls, tally.recordings_stored, tally.call_ended, tally.lost),
        (2, 2, 2, 0)
    );
    println!("{}", node.audit_verify());
}

/// Replicas share one database; each has its own data directory. Replica A is killed with a
/// call up while replica B has one of its own: A's restart closes A's call only (B's row stays
/// open, no `call.ended` for it, its audio still flows), and B's call then ends normally.
async fn a_restarted_replica_closes_only_its_own_calls(kind: BackendKind) {
    let shared = tempfile::tempdir().expect("tempdir");
    let database = match kind {
        BackendKind::Sqlite => Database::SharedSqlite(shared.path().join("voicegate.db")),
        BackendKind::Postgres => match PgDatabase::create().await {
            Some(pg) => Database::Postgres(pg),
            None => return,
        },
    };
    let fake = fake_realtime().await;
    let a = Node::new(&fake, &database, 30);
    let b = Node::new(&fake, &database, 30);
    let mut server_a = Server::start(&a).await;
    // Replicas share their keys (a deployment provides them; here B takes the ones A generated).
    std::fs::create_dir_all(b.data().join("keys")).unwrap();
    for key in std::fs::read_dir(a.data().join("keys")).unwrap() {
        let key = key.unwrap();
        std::fs::copy(key.path(), b.data().join("keys").join(key.file_name())).unwrap();
    }
    let server_b = Server::start(&b).await;
    let sid_a = vec![call_sid(21)];
    let sid_b = vec![call_sid(22)];
    let _call_a = place_calls(&server_a, &fake, &sid_a).await;
    let mut call_b = place_calls(&server_b, &fake, &sid_b).await;
    let db = a.db().await;
    let id_a = call_ids(&db, &sid_a).await;
    let id_b = call_ids(&db, &sid_b).await;
    poll_until("both spools with sealed audio", || async {
        let (sa, sb) = (a.spools(), b.spools());
        (sa.len() == 1 && sb.len() == 1 && sa[0] >= SEALED_SPOOL_BYTES && sb[0] >= SEALED_SPOOL_BYTES).then_some(())
    })
    .await;

    server_a.signal(libc::SIGKILL);
    server_a.exited().await;
    let mut server_a = Server::start(&a).await;
    let records = audit_records(&db).await;
    assert!(
        of(&records, &id_b[0], "call.ended").is_empty(),
        "A's restart did not end B's call"
    );
    let row_b = voicegate::storage::calls::get(&db, &id_b[0]).await.unwrap().unwrap();
    assert_eq!(row_b.ended_at_ms, None, "B's live call is still open");
    let tally_a = Tally::gather(&a, &db, &id_a, &["interrupted"], true).await;

    // B's call goes on, then ends by itself.
    let (caller_b, session_b) = &mut call_b[0];
    let before = session_b.appended_audio().len();
    caller_b
        .send_audio_fast(&pattern(9, 10), SPOKEN_FRAMES as u64 * 20)
        .await
        .unwrap();
    timeout(DEADLINE, async {
        while session_b.appended_audio().len() < before + 1600 {
            session_b.wait_for("input_audio_buffer.append").await.unwrap();
        }
    })
    .await
    .expect("B's call still carries audio");
    caller_b.send_stop().await.unwrap();
    caller_b.wait_closed().await.unwrap();
    poll_until("B's call row closed", || async {
        voicegate::storage::calls::get(&db, &id_b[0])
            .await
            .ok()
            .flatten()
            .and_then(|r| r.ended_at_ms)
    })
    .await;
    let tally_b = Tally::gather(&b, &db, &id_b, &["hung_up"], false).await;
    let tally = Tally {
        calls: tally_a.calls + tally_b.calls,
        recordings_stored: tally_a.recordings_stored + tally_b.recordings_stored,
        call_ended: tally_a.call_ended + tally_b.call_ended,
        lost: tally_a.lost + tally_b.lost,
    };
    tally.print();
    assert_eq!(
        (tally.calls, tally.recordings_stored, tally.call_ended, tally.lost),
        (2, 2, 2, 0)
    );
    server_a.signal(libc::SIGTERM);
    assert!(server_a.exited().await.success());
    let mut server_b = server_b;
    server_b.signal(libc::SIGTERM);
    assert!(server_b.exited().await.success());
    println!("{}", a.audit_verify());
}

/// A crash after the call's end was recorded but before its recording was stored (here the
/// record is still in the audit spool: the database was down at hang-up): the next start keeps
/// that record (appended late from the spool) and its outcome, and writes no second one.
async fn an_end_already_recorded_is_not_written_twice(kind: BackendKind) {
    let Some(database) = database(kind).await else { return };
    let fake = fake_realtime().await;
    let node = Node::new(&fake, &database, 30);
    let mut server = Server::start(&node).await;
    let sids = vec![call_sid(31)];
    let _call = place_calls(&server, &fake, &sids).await;
    let db = node.db().await;
    let ids = call_ids(&db, &sids).await;
    poll_until("a spool with sealed audio", || async {
        let spools = node.spools();
        (spools.len() == 1 && spools[0] >= SEALED_SPOOL_BYTES).then_some(())
    })
    .await;
    server.signal(libc::SIGKILL);
    server.exited().await;
    // What the session had done before the process died: its `call.ended`, spooled.
    let spool = voicegate::audit::spool::Spool::open(node.data().join("audit-spool")).unwrap();
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    spool
        .push(&voicegate::audit::AuditEvent {
            actor: voicegate::audit::Actor::Agent {
                call_id: ids[0].clone(),
            },
            action: "call.ended".into(),
            call_id: Some(ids[0].clone()),
            patient: None,
            reason: None,
            outcome: voicegate::audit::AuditOutcome::Success,
            details: serde_json::json!({"outcome": "hung_up", "transport": "twilio", "duration_ms": 10_000}),
            at_ms,
        })
        .await
        .unwrap();

    let mut server = Server::start(&node).await;
    let tally = Tally::gather(&node, &db, &ids, &["hung_up"], true).await;
    tally.print();
    assert_eq!(
        (tally.calls, tally.recordings_stored, tally.call_ended, tally.lost),
        (1, 1, 1, 0)
    );
    let row = voicegate::storage::calls::get(&db, &ids[0]).await.unwrap().unwrap();
    assert_eq!(row.ended_at_ms, Some(at_ms as i64), "the row ends when the record says");
    server.signal(libc::SIGTERM);
    assert!(server.exited().await.success());
    println!("{}", node.audit_verify());
}

on_both_backends!(kill_nine_with_three_calls_up, kill_nine_mid_call);
on_both_backends!(sigterm_with_two_calls_up, sigterm_mid_call);
on_both_backends!(replicas_on_one_database, a_restarted_replica_closes_only_its_own_calls);
on_both_backends!(
    end_recorded_before_the_crash,
    an_end_already_recorded_is_not_written_twice
);
