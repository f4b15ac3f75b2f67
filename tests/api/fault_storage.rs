//! The fault matrix (issue 17), storage rows: the database gone in the middle of a call, and S3
//! gone for the whole call and long after it. The real server runs in-process against the real
//! peers (PostgreSQL, moto), each reached through a TCP proxy the test cuts and restores.
//!
//! Each test prints `calls=N recordings_stored=N audit_records=N lost=0`, where `audit_records`
//! counts the call's records found in `audit_log` and `lost` the expected records (and
//! recordings) that never arrived. Synchronisation is on conditions (rows, spool files, blobs,
//! PostgreSQL's own view of its backends, a log line) polled under a deadline, never on a sleep.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use voicegate::audit::spool::Spool;
use voicegate::audit::verify::{self, Verdict};
use voicegate::clock::ManualClock;
use voicegate::config::RecordingsSettings;
use voicegate::recording::recorder::{OUTBOX_PREFIX, SPOOL_PREFIX, Stores, retry_outbox};
use voicegate::storage::Db;
use voicegate::storage::s3::{S3Settings, S3Store};
use voicegate::storage::sql::Arg;
use voicegate::testkit::fake_realtime::FakeSession;

use crate::helpers::*;
use crate::tools::{call_tool, connected, jane};

/// Longest wait for a condition that depends on a background task of the server (the audit spool
/// retry runs every second here; the recording outbox retry every 30 s): a hang becomes a failure.
const DEADLINE: Duration = Duration::from_secs(45);

/// Between two looks at a polled condition (the condition decides, never the time).
const POLL: Duration = Duration::from_millis(20);

/// The KMS key moto seals the recordings under (any ARN of the right shape).
const KMS_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Monday 2026-12-07 14:00 UTC: the S3 test's wall clock (a `ManualClock`).
const T0: u64 = 1_796_652_000;

/// How long S3 stays away after the call (represented, not waited for: see the S3 test).
const OUTAGE_AFTER_CALL: Duration = Duration::from_secs(600);

/// The server's recording outbox retry period (`OUTBOX_RETRY` in `src/startup.rs`).
const OUTBOX_RETRY: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The cuttable proxy.

/// A TCP proxy in front of a real peer that the test can cut and restore. Cut: every connection
/// being forwarded is closed (so pooled connections fail on their next use instead of lingering)
/// and every new one is accepted and closed at once; restore: new connections are forwarded again.
struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    accept: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    up: bool,
    /// Cancelled at a cut: ends every connection forwarded since the last one.
    open: CancellationToken,
    /// Connections turned away while cut (the server kept trying).
    refused: u64,
}

impl Proxy {
    /// A proxy to the host and port of `peer_url` (`postgres://…` or `http://…`).
    async fn start(peer_url: &str) -> Proxy {
        let peer = url::Url::parse(peer_url).expect("peer URL");
        let target = format!(
            "{}:{}",
            peer.host_str().expect("peer host"),
            peer.port_or_known_default().unwrap_or(5432)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(ProxyState {
            up: true,
            open: CancellationToken::new(),
            refused: 0,
        }));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                // Decided under the lock, so a cut either sees this connection or refuses it.
                let open = {
                    let mut s = shared.lock().unwrap();
                    if s.up {
                        Some(s.open.clone())
                    } else {
                        s.refused += 1;
                        None
                    }
                };
                let Some(open) = open else {
                    drop(inbound);
                    continue;
                };
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = open.cancelled() => {}
                    }
                });
            }
        });
        Proxy { addr, state, accept }
    }

    /// `url` with its host and port replaced by the proxy's.
    fn route(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("URL");
        u.set_host(Some("127.0.0.1")).expect("host");
        u.set_port(Some(self.addr.port())).expect("port");
        u.to_string()
    }

    fn cut(&self) {
        let mut s = self.state.lock().unwrap();
        s.up = false;
        s.open.cancel();
        s.open = CancellationToken::new();
    }

    fn restore(&self) {
        self.state.lock().unwrap().up = true;
    }

    fn refused(&self) -> u64 {
        self.state.lock().unwrap().refused
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.lock().unwrap().open.cancel();
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// Poll `look` until it returns `Some`, failing with `what` after `deadline`.
async fn until<T>(what: &str, deadline: Duration, mut look: impl AsyncFnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = look().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// The call's records in chain order: (index, record).
async fn chain_of(db: &Db, call_id: &str) -> Vec<(i64, Value)> {
    let rows: Vec<(i64, Vec<u8>)> = db
        .all(
            "SELECT idx, canonical FROM audit_log WHERE call_id = ? ORDER BY idx",
            &[Arg::Text(call_id)],
        )
        .await
        .expect("audit_log readable");
    rows.into_iter()
        .map(|(i, c)| (i, serde_json::from_slice(&c).expect("canonical JSON")))
        .collect()
}

fn actions(records: &[(i64, Value)]) -> Vec<String> {
    records
        .iter()
        .map(|(_, r)| r["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Expected actions that are not in `found` (counted with multiplicity, order aside).
fn missing(expected: &[&str], found: &[String]) -> usize {
    let mut left: Vec<&str> = found.iter().map(String::as_str).collect();
    expected
        .iter()
        .filter(|e| match left.iter().position(|f| f == *e) {
            Some(i) => {
                left.remove(i);
                false
            }
            None => true,
        })
        .count()
}

/// The call id of `sid`, once its row exists.
async fn call_id_of(db: &Db, sid: &str) -> String {
    until("the call's row", DEADLINE, async || {
        voicegate::storage::calls::find_by_call_sid(db, sid)
            .await
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .map(|r| r.call_id)
    })
    .await
}

/// The call's records waiting in the audit spool, oldest first.
fn spooled(data_dir: &Path, call_id: &str) -> Vec<voicegate::audit::AuditEvent> {
    let spool = Spool::open(data_dir.join("audit-spool")).expect("audit spool");
    spool
        .entries()
        .expect("spool readable")
        .iter()
        .filter_map(|p| Spool::read(p).ok())
        .filter(|e| e.call_id.as_deref() == Some(call_id))
        .collect()
}

fn spool_is_empty(data_dir: &Path) -> bool {
    Spool::open(data_dir.join("audit-spool"))
        .and_then(|s| s.entries())
        .expect("spool readable")
        .is_empty()
}

/// Fails if `text` holds any of Jane Doe's identifiers.
fn assert_no_phi(text: &str, what: &str) {
    let text = text.to_lowercase();
    for phi in ["doe", "1980-02-14", "february 14, 1980", "010-0001", "5550100001"] {
        assert!(!text.contains(phi), "{what} holds {phi}");
    }
}

/// The output the server sent back for the model's function call `tool`.
async fn tool_output(fake: &mut FakeSession, tool: &str) -> Value {
    timeout(GUARD, async {
        loop {
            let e = fake.wait_for("conversation.item.create").await.unwrap();
            if e["item"]["call_id"] == tool {
                return serde_json::from_str::<Value>(e["item"]["output"].as_str().unwrap()).unwrap();
            }
        }
    })
    .await
    .expect("tool output")
}

/// The WAV a `recording.stored` record points at, from `blobs`, checked against the record's
/// SHA-256: two channels, at least `frames` long.
async fn assert_recording(blobs: &voicegate::storage::blob::Blobs, stored: &Value, frames: u32) {
    let key = stored["details"]["object_key"].as_str().expect("object key");
    let wav = blobs.get(key).await.expect("recording readable");
    assert_eq!(
        voicegate::config::hex(&sha2::Sha256::digest(&wav)),
        stored["details"]["sha256"],
        "the stored WAV is the one audited"
    );
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).expect("a WAV");
    assert_eq!(reader.spec().channels, 2);
    assert!(
        reader.duration() >= frames,
        "the whole call: {} < {frames}",
        reader.duration()
    );
}

// ---------------------------------------------------------------------------------------------
// Row 1: the database unavailable mid-call (PostgreSQL).

/// The server on `pg`, reaching it through `proxy`.
async fn behind(proxy: &Proxy, pg: &PgDatabase, clock: voicegate::clock::SharedClock) -> TestApp {
    let routed = proxy.route(&pg.runtime_url);
    spawn_app_with(
        Options {
            postgres: Some(pg.clone()),
            clock,
            ..Options::default()
        },
        |s| {
            // Migrations go straight to PostgreSQL as the owner; `serve` goes through the proxy.
            s.database.url = Some(routed.into());
            s.audit.spool_retry_secs = 1;
            // Checkpoints too, so verification covers records appended late.
            s.audit.checkpoint_every = 2;
        },
    )
    .await
}

/// What the database-outage call left, once the database is back and the spool drained.
struct DbOutage {
    app: TestApp,
    /// Straight to PostgreSQL as the schema owner (not through the proxy): the test's view.
    observer: Db,
    call_id: String,
    /// The callback reference the caller was told.
    reference: String,
    /// The runtime role's URL straight to PostgreSQL (the server's goes through the proxy).
    runtime_url: String,
    _proxy: Proxy,
}

/// Records the outage call leaves, in the order they happen.
const DB_OUTAGE_RECORDS: [&str; 5] = [
    "call.started",
    "patient.verify",
    "callback.requested",
    "call.ended",
    "recording.stored",
];

/// Caller audio the outage call sends (2 s).
const DB_OUTAGE_FRAMES: usize = 100;

/// A call on PostgreSQL reached through a proxy. The caller verifies (database up), asks for a
/// callback and the database goes down while that callback's audit record is being written,
/// asks for another callback while it is down, and hangs up; then the database comes back.
///
/// The moment of the cut is made exact with a lock: the test holds `LOCK TABLE audit_log IN
/// EXCLUSIVE MODE` from its own connection, so the callback row is committed and the append of
/// `callback.requested` waits on its INSERT (PostgreSQL shows the backend waiting on a lock);
/// then the proxy is cut and the waiting backends are terminated, as a crash of the link would.
///
/// The spool is drained by the server's periodic task (`AuditLog::spawn_spool_retry`, every
/// `audit.spool_retry_secs`, 1 s here; nothing drains on the next append, only that task and
/// the next start).
async fn call_through_a_database_outage(n: u32) -> Option<DbOutage> {
    let pg = PgDatabase::create().await?;
    let proxy = Proxy::start(&pg.admin_url).await;
    let app = behind(&proxy, &pg, Arc::new(voicegate::clock::SystemClock)).await;
    let data_dir = app.state.deps.settings.server.data_dir.clone();
    let observer = Db::connect(&pg.owner_url, 2, Duration::from_secs(5))
        .await
        .expect("observer connection");
    let admin = sqlx::PgPool::connect(&pg.admin_url).await.expect("admin connection");

    let (mut caller, mut fake) = connected(&app, n).await;
    let call_id = call_id_of(&observer, &call_sid(n)).await;
    caller.send_audio_fast(&pattern(3, DB_OUTAGE_FRAMES), 0).await.unwrap();
    let verified = call_tool(&mut fake, "verify_patient", jane()).await;
    assert_eq!(verified["ok"], true, "{verified}");

    // The database goes down while `callback.requested` is being appended.
    let owner = sqlx::PgPool::connect(&pg.owner_url).await.expect("owner connection");
    let mut lock = owner.begin().await.unwrap();
    sqlx::query("LOCK TABLE audit_log IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let tool = fake
        .function_call("request_callback", &json!({"topic": "billing question"}))
        .await
        .unwrap();
    until(
        "the callback's audit append waiting on the lock",
        DEADLINE,
        async || {
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = $1 AND usename = $2 AND wait_event_type = 'Lock'",
            )
            .bind(&pg.name)
            .bind(&pg.runtime_role)
            .fetch_one(&admin)
            .await
            .unwrap();
            (waiting > 0).then_some(())
        },
    )
    .await;
    proxy.cut();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2")
        .bind(&pg.name)
        .bind(&pg.runtime_role)
        .execute(&admin)
        .await
        .unwrap();
    lock.rollback().await.unwrap();
    owner.close().await;
    let callback = tool_output(&mut fake, &tool).await;
    assert_eq!(
        callback["ok"], true,
        "the callback was queued; only its record waits: {callback}"
    );
    let reference = callback["reference"].as_str().expect("reference").to_owned();

    // While the database is down: a callback cannot be taken, and the caller is told so.
    let refused = call_tool(&mut fake, "request_callback", json!({"topic": "prescription refill"})).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["say"].as_str().unwrap().contains("could not be recorded"),
        "{refused}"
    );
    caller.send_stop().await.unwrap();
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();

    // Hung up with the database down: the rest of the call's records wait on local disk.
    let waiting = until("the call's records in the spool", DEADLINE, async || {
        let events = spooled(&data_dir, &call_id);
        events.iter().any(|e| e.action == "recording.stored").then_some(events)
    })
    .await;
    // The spool is plain JSON on disk by design (records are PHI-free by construction).
    assert_no_phi(&serde_json::to_string(&waiting).unwrap(), "the audit spool");
    let waiting: Vec<&str> = waiting.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        waiting,
        ["callback.requested", "call.ended", "recording.stored"],
        "spooled, oldest first"
    );
    assert_eq!(
        actions(&chain_of(&observer, &call_id).await),
        ["call.started", "patient.verify"],
        "nothing of the outage reached the chain"
    );
    assert!(proxy.refused() > 0, "the server kept trying the database");

    proxy.restore();
    until("the spool drained into the chain", DEADLINE, async || {
        (spool_is_empty(&data_dir) && chain_of(&observer, &call_id).await.len() >= DB_OUTAGE_RECORDS.len())
            .then_some(())
    })
    .await;
    admin.close().await;
    Some(DbOutage {
        app,
        observer,
        call_id,
        reference,
        runtime_url: pg.runtime_url.clone(),
        _proxy: proxy,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_call_loses_no_audit_record() {
    let Some(outage) = call_through_a_database_outage(171).await else {
        return;
    };
    let DbOutage {
        app,
        observer,
        call_id,
        reference,
        runtime_url,
        ..
    } = &outage;
    let records = chain_of(observer, call_id).await;
    let found = actions(&records);
    assert_eq!(found, DB_OUTAGE_RECORDS, "every record once, in the order it happened");
    let late: Vec<bool> = records.iter().map(|(_, r)| r["late"].as_bool().unwrap()).collect();
    assert_eq!(late, [false, false, true, true, true], "spooled records flagged late");
    let times: Vec<u64> = records.iter().map(|(_, r)| r["at_ms"].as_u64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "each keeps the time it happened: {times:?}"
    );
    let callback = &records[2].1;
    assert_eq!(
        callback["details"]["reference"], *reference,
        "the reference the caller heard"
    );
    assert!(
        callback["patient"].as_str().unwrap().starts_with("phi:"),
        "the verified patient, by keyed reference"
    );
    // The callback the caller was promised is in the queue; the refused one is not.
    let queued: Vec<(String,)> = observer
        .all(
            "SELECT reference FROM callback_requests WHERE call_id = ?",
            &[Arg::Text(call_id)],
        )
        .await
        .unwrap();
    assert_eq!(queued, [(reference.clone(),)]);
    // The recording went to the local folder during the outage; its record names it exactly.
    assert_recording(&app.state.deps.blobs, &records[4].1, (DB_OUTAGE_FRAMES * 160) as u32).await;

    // `voicegate audit verify` in its own process, straight to PostgreSQL as the runtime role,
    // with the server's keys and checkpoints (its data directory).
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_voicegate"))
        .args(["audit", "verify"])
        .env("VOICEGATE__SERVER__DATA_DIR", &app.state.deps.settings.server.data_dir)
        .env("VOICEGATE__DATABASE__URL", runtime_url)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (total,): (i64,) = observer
        .all("SELECT count(*) FROM audit_log", &[])
        .await
        .unwrap()
        .remove(0);
    assert!(
        out.status.success() && stdout.starts_with(&format!("OK: {total} records")),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(", 0 checkpoints"), "checkpoints checked: {stdout}");

    assert_no_phi(&serde_json::to_string(&records).unwrap(), "the call's audit records");
    let logs: Vec<String> = app
        .logs
        .contents()
        .lines()
        .filter(|l| l.contains(call_id.as_str()))
        .map(str::to_owned)
        .collect();
    assert!(!logs.is_empty());
    assert_no_phi(&logs.join("\n"), "the call's log lines");

    let lost = missing(&DB_OUTAGE_RECORDS, &found);
    println!("calls=1 recordings_stored=1 audit_records={} lost={lost}", found.len());
    assert_eq!(lost, 0);
}

/// A call that ended while the database was down should have its row closed once the database is
/// back (or at the next start). It never is: the row stays open, so reports count the call as
/// in progress and review shows no recording for it, though the audit chain has it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_ended_during_a_database_outage_has_its_row_closed_once_the_database_is_back() {
    let Some(outage) = call_through_a_database_outage(172).await else {
        return;
    };
    let closed = timeout(Duration::from_secs(10), async {
        loop {
            let row = voicegate::storage::calls::get(&outage.observer, &outage.call_id)
                .await
                .unwrap()
                .expect("row");
            if row.outcome.is_some() {
                return row;
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    let row = voicegate::storage::calls::get(&outage.observer, &outage.call_id)
        .await
        .unwrap()
        .expect("row");
    assert!(
        closed.is_ok(),
        "the row is still open after the database came back and the spool drained: {row:?}"
    );
    assert_eq!(row.outcome.as_deref(), Some("hung_up"));
    assert!(row.ended_at_ms.is_some());
    assert!(row.recording_location.is_some(), "{row:?}");
}

/// Calls hanging up together while the database is down, on a clock that does not move between
/// a call's `call.ended` and its `recording.stored` (a `ManualClock`; in production, the same
/// millisecond). The spool names each file `<at_ms>-<random id>.json` and drains in name order
/// (`src/audit/spool.rs:46`, `:61`), so records of the same millisecond are appended in random
/// order: a call's `recording.stored` lands before its `call.ended` about half the time.
/// With eight calls, this passes by chance once in 256 runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_spooled_in_one_millisecond_are_appended_in_the_order_they_happened() {
    const CALLS: u32 = 8;
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    let proxy = Proxy::start(&pg.admin_url).await;
    let app = behind(&proxy, &pg, ManualClock::at_unix(T0)).await;
    let data_dir = app.state.deps.settings.server.data_dir.clone();
    let observer = Db::connect(&pg.owner_url, 2, Duration::from_secs(5))
        .await
        .expect("observer connection");
    let mut calls = Vec::new();
    for n in 0..CALLS {
        let (caller, fake) = connected(&app, 180 + n).await;
        let call_id = call_id_of(&observer, &call_sid(180 + n)).await;
        calls.push((caller, fake, call_id));
    }
    proxy.cut();
    for (caller, fake, call_id) in &mut calls {
        caller.send_stop().await.unwrap();
        timeout(GUARD, fake.closed()).await.unwrap().unwrap();
        until("the call's records in the spool", DEADLINE, async || {
            (spooled(&data_dir, call_id).len() == 2).then_some(())
        })
        .await;
    }
    proxy.restore();
    until("the spool drained", DEADLINE, async || {
        spool_is_empty(&data_dir).then_some(())
    })
    .await;
    let mut out_of_order = Vec::new();
    for (_, _, call_id) in &calls {
        let found = actions(&chain_of(&observer, call_id).await);
        assert_eq!(found.len(), 3, "{found:?}");
        if found != ["call.started", "call.ended", "recording.stored"] {
            out_of_order.push(found);
        }
    }
    assert!(
        out_of_order.is_empty(),
        "{} of {CALLS} calls have their records out of order: {out_of_order:?}",
        out_of_order.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Row 2: S3 unavailable for the whole call and 10 minutes after (moto).

/// moto's URL, or None with a printed reason off CI (CI always provides it).
fn moto() -> Option<String> {
    match std::env::var("VOICEGATE_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("CI must provide moto: VOICEGATE_TEST_S3 is not set"),
        _ => {
            eprintln!("SKIPPED (S3): VOICEGATE_TEST_S3 is not set; `.ci/run` shows how to start moto");
            None
        }
    }
}

/// Settings for a new bucket (created on moto at `moto_url`) that the server reaches at `endpoint`.
async fn bucket(moto_url: &str, endpoint: &str) -> S3Settings {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).unwrap();
    let mut s = S3Settings::new(
        format!("vg-fault-{}", voicegate::config::hex(&id)),
        "us-east-1",
        KMS_ARN,
    );
    s.force_path_style = true;
    s.access_key_id = Some("testing".to_owned().into());
    s.secret_access_key = Some("testing".to_owned().into());
    s.endpoint = Some(moto_url.to_owned());
    S3Store::connect(&s)
        .unwrap()
        .create_bucket_for_tests(false)
        .await
        .unwrap();
    s.endpoint = Some(endpoint.to_owned());
    s
}

/// Records a call leaves with S3 down and the database up.
const S3_OUTAGE_RECORDS: [&str; 3] = ["call.started", "call.ended", "recording.stored"];

/// Caller audio the S3-outage call sends (5 s).
const S3_OUTAGE_FRAMES: usize = 250;

/// S3 is cut after the server has started (its start-up check needs the bucket) and before the
/// call, and stays cut through the call and "10 minutes" after it.
///
/// How the 10 minutes are represented: the recording outbox is retried by a `tokio::time::interval`
/// of 30 s in the running server (`OUTBOX_RETRY`, `src/startup.rs`) and at the next start, not by
/// the injectable wall clock, and real sockets rule out paused tokio time. So a 10-minute outage
/// is its 20 retry rounds (20 × 30 s), all failing while S3 is cut: 19 run through the function
/// the server's task calls (`retry_outbox`) and at least one by the server's own task (awaited in
/// the log); and the `ManualClock` is moved 10 minutes on, so what is stamped once S3 is back
/// (`recording.stored`) carries the time it happens. Then S3 returns and the server's next
/// periodic round (within 30 s) stores the recording and audits it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_for_the_call_and_ten_minutes_after_parks_the_recording_then_stores_it_once() {
    let Some(moto_url) = moto() else { return };
    let proxy = Proxy::start(&moto_url).await;
    let s3 = bucket(&moto_url, &proxy.route(&moto_url)).await;
    let clock = ManualClock::at_unix(T0);
    let app = spawn_app_with(
        Options {
            clock: clock.clone(),
            ..Options::default()
        },
        |s| s.recordings = RecordingsSettings::S3(s3.clone()),
    )
    .await;
    let deps = &app.state.deps;
    let stores = Stores {
        local: deps.local_blobs.clone(),
        store: deps.blobs.clone(),
    };
    let direct = S3Store::connect(&S3Settings {
        endpoint: Some(moto_url.clone()),
        ..s3.clone()
    })
    .unwrap();
    proxy.cut();

    let n = 173;
    let (mut caller, mut fake) = connected(&app, n).await;
    let call_id = call_id_of(&deps.db, &call_sid(n)).await;
    caller.send_audio_fast(&pattern(5, S3_OUTAGE_FRAMES), 0).await.unwrap();
    caller.send_stop().await.unwrap();
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();

    // The upload fails through its retries and the recording is parked in the local outbox.
    let outbox = format!("{OUTBOX_PREFIX}{call_id}.json");
    let spool = format!("{SPOOL_PREFIX}{call_id}-8000.pcm");
    until("the recording parked in the outbox", DEADLINE, async || {
        (stores.local.len(&outbox).await.is_ok()
            && chain_of(&deps.db, &call_id)
                .await
                .iter()
                .any(|(_, r)| r["action"] == "call.ended"))
        .then_some(())
    })
    .await;
    let parked_pcm = stores.local.get(&spool).await.expect("the spool is kept");
    assert!(
        parked_pcm.len() >= S3_OUTAGE_FRAMES * 160 * 4,
        "the whole call is parked: {} bytes",
        parked_pcm.len()
    );
    let parked_entry = stores.local.get(&outbox).await.unwrap();
    let parked_len = parked_pcm.len();
    assert_encrypted_at_rest(&deps.settings.server.data_dir, &spool, &parked_pcm);
    assert_encrypted_at_rest(&deps.settings.server.data_dir, &outbox, &parked_entry);
    let parked = |what: &'static str| {
        let (stores, outbox, spool, call_id, direct) = (&stores, &outbox, &spool, &call_id, &direct);
        async move {
            assert!(stores.local.len(outbox).await.is_ok(), "{what}: outbox entry kept");
            assert_eq!(
                stores.local.get(spool).await.unwrap().len(),
                parked_len,
                "{what}: spool kept whole"
            );
            assert!(
                !actions(&chain_of(&deps.db, call_id).await).contains(&"recording.stored".to_owned()),
                "{what}: not audited as stored"
            );
            let row = voicegate::storage::calls::get(&deps.db, call_id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.recording_location, None, "{what}: not claimed as stored");
            assert!(
                direct.list("recordings/").await.unwrap().is_empty(),
                "{what}: nothing half-written in S3"
            );
        }
    };
    parked("at hang-up").await;

    // The 20 outbox rounds of 10 minutes, all while S3 is cut: 19 run here through the function
    // the server's task calls, and at least one by the server's own task. Each failing round logs
    // one line for the entry, so 20 lines mean at least one of them was the server's.
    let rounds = (OUTAGE_AFTER_CALL.as_secs() / OUTBOX_RETRY.as_secs()) as usize;
    for _ in 1..rounds {
        assert!(
            retry_outbox(&stores).await.unwrap().is_empty(),
            "nothing stored while S3 is down"
        );
    }
    let failed_rounds = || {
        app.logs
            .contents()
            .lines()
            .filter(|l| l.contains("outbox upload still failing") && l.contains(&call_id))
            .count()
    };
    until("the server's own periodic outbox retry failing", DEADLINE, async || {
        (failed_rounds() >= rounds).then_some(())
    })
    .await;
    parked("after 10 minutes of retries").await;
    // (3) 10 minutes on the wall clock, then S3 is back.
    clock.advance(OUTAGE_AFTER_CALL);
    proxy.restore();

    let stored_key = until("the recording stored by the server", DEADLINE, async || {
        let row = voicegate::storage::calls::get(&deps.db, &call_id).await.ok()??;
        let audited = actions(&chain_of(&deps.db, &call_id).await).contains(&"recording.stored".to_owned());
        row.recording_location.filter(|_| audited)
    })
    .await;
    assert!(
        stores.local.list(OUTBOX_PREFIX).await.unwrap().is_empty(),
        "outbox emptied"
    );
    assert!(
        stores.local.list(SPOOL_PREFIX).await.unwrap().is_empty(),
        "spool removed once stored"
    );
    assert!(
        retry_outbox(&stores).await.unwrap().is_empty(),
        "nothing left to store twice"
    );

    let records = chain_of(&deps.db, &call_id).await;
    let found = actions(&records);
    assert_eq!(found, S3_OUTAGE_RECORDS, "recording.stored once, after the call");
    assert!(
        records.iter().all(|(_, r)| r["late"] == false),
        "the database was up: nothing late"
    );
    let ended_at = records[1].1["at_ms"].as_u64().unwrap();
    let stored = &records[2].1;
    assert_eq!(stored["details"]["object_key"], stored_key.as_str());
    assert_eq!(stored["details"]["incomplete"], false, "the complete call");
    assert_eq!(stored["details"]["key_id"], KMS_ARN);
    assert!(
        stored["at_ms"].as_u64().unwrap() >= ended_at + OUTAGE_AFTER_CALL.as_millis() as u64,
        "stored when S3 came back, 10 minutes after the call ended"
    );
    // In S3 under SSE-KMS, byte for byte the call that was parked.
    assert_recording(&deps.blobs, stored, (S3_OUTAGE_FRAMES * 160) as u32).await;
    let wav = direct.get(&stored_key).await.unwrap();
    assert_eq!(&wav[44..], parked_pcm.as_slice(), "the parked audio, byte for byte");
    let (sse, kms) = direct.head_encryption(&stored_key).await.unwrap();
    assert_eq!((sse.as_deref(), kms.as_deref()), (Some("aws:kms"), Some(KMS_ARN)));
    let manifest_key = stored["details"]["manifest_key"].as_str().unwrap();
    let manifest: Value = serde_json::from_slice(&direct.get(manifest_key).await.unwrap()).unwrap();
    assert_eq!(manifest["incomplete"], false);
    assert_eq!(manifest["call_id"], call_id.as_str());
    assert_eq!(manifest["storage"]["store"], "s3_kms");
    assert_eq!(
        direct.list("recordings/").await.unwrap().len(),
        2,
        "one WAV and one manifest"
    );

    let keys = vec![deps.settings.secrets.audit_checkpoint_key.clone().unwrap()];
    let verdict = verify::verify(&deps.db, &deps.blobs, &keys).await.unwrap();
    assert!(matches!(verdict, Verdict::Ok(_)), "{verdict:?}");

    let lost = missing(&S3_OUTAGE_RECORDS, &found) + usize::from(wav.is_empty());
    println!("calls=1 recordings_stored=1 audit_records={} lost={lost}", found.len());
    assert_eq!(lost, 0);
}

/// The blob `key` as it lies on disk under `data_dir` holds none of `plain` in the clear.
fn assert_encrypted_at_rest(data_dir: &Path, key: &str, plain: &[u8]) {
    let raw = std::fs::read(data_dir.join("blobs").join(key)).expect("blob file");
    assert!(!raw.is_empty());
    let probe = &plain[plain.len() / 2..][..64.min(plain.len() / 2)];
    assert!(
        !raw.windows(probe.len()).any(|w| w == probe),
        "{key} is stored in the clear"
    );
}
