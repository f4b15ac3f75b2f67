//! The audit log on SQLite and on a real PostgreSQL: append, verify, tamper detection, the
//! runtime role's limits, concurrent writers, the spool, and calls leaving their records.

use std::sync::Arc;

use tokio::time::timeout;
use voicegate::audit::chain::{BreakKind, Checkpoint};
use voicegate::audit::spool::Spool;
use voicegate::audit::verify::{self, Verdict};
use voicegate::audit::{Actor, AuditDisposition, AuditEvent, AuditLog, AuditOutcome};
use voicegate::clock::SystemClock;
use voicegate::config::Settings;
use voicegate::storage::{self, Db};

use crate::helpers::*;
use crate::on_both_backends;

/// An audit log on a fresh database of `kind`, checkpointing every 10 records.
struct Store {
    settings: Settings,
    db: Db,
    audit: Arc<AuditLog>,
    blobs: storage::blob::Blobs,
    pg: Option<PgDatabase>,
    _data: tempfile::TempDir,
}

impl Store {
    async fn new(kind: BackendKind) -> Option<Store> {
        let (mut settings, data, pg) = fresh_settings(kind).await?;
        settings.audit.checkpoint_every = 10;
        let db = storage::open_database(&settings).await.expect("database opens");
        let audit = Arc::new(Self::log(&settings, db.clone()).await);
        let blobs = storage::open_blobs(&settings).await.unwrap();
        Some(Store {
            settings,
            db,
            audit,
            blobs,
            pg,
            _data: data,
        })
    }

    async fn log(settings: &Settings, db: Db) -> AuditLog {
        AuditLog::new(
            db,
            Spool::open(settings.server.data_dir.join("audit-spool")).unwrap(),
            storage::open_blobs(settings).await.unwrap(),
            settings.secrets.audit_checkpoint_key.clone().unwrap(),
            settings.audit.checkpoint_every,
            Arc::new(SystemClock),
        )
    }

    async fn verify(&self) -> Verdict {
        let keys = vec![self.settings.secrets.audit_checkpoint_key.clone().unwrap()];
        verify::verify(&self.db, &self.blobs, &keys)
            .await
            .expect("chain readable")
    }

    /// Run SQL with the power of an attacker who owns the database (triggers out of the way).
    async fn tamper(&self, sql: &str) {
        match &self.pg {
            None => {
                let Db::Sqlite(pool) = &self.db else { unreachable!() };
                sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_update")
                    .execute(pool)
                    .await
                    .unwrap();
                sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_delete")
                    .execute(pool)
                    .await
                    .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Some(pg) => {
                let owner = sqlx::PgPool::connect(&pg.owner_url).await.unwrap();
                sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER USER")
                    .execute(&owner)
                    .await
                    .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&owner)
                    .await
                    .unwrap();
                owner.close().await;
            }
        }
    }
}

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        actor: Actor::Agent {
            call_id: format!("call_{n}"),
        },
        action: "call.started".into(),
        call_id: Some(format!("call_{n}")),
        patient: None,
        reason: None,
        outcome: AuditOutcome::Success,
        details: serde_json::json!({"n": n}),
        at_ms: 1_800_000_000_000 + n,
    }
}

async fn append_n(audit: &AuditLog, n: u64) {
    for i in 1..=n {
        let receipt = audit.append(&event(i)).await.expect("append");
        assert!(receipt.index >= 1);
    }
}

async fn clean_chain_verifies(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    for i in 1..=25 {
        let receipt = store.audit.append(&event(i)).await.unwrap();
        assert_eq!(receipt.index, i, "indices are contiguous from 1");
    }
    match store.verify().await {
        Verdict::Ok(summary) => {
            assert_eq!(summary.length, 25);
            assert_eq!(summary.checkpoints_checked, 2, "checkpoints at 10 and 20");
        }
        Verdict::Broken(b) => panic!("clean chain reported broken: {b:?}"),
    }
}
on_both_backends!(clean_chain_verifies_on, clean_chain_verifies);

async fn assert_break(store: &Store, index: u64, kinds: &[BreakKind]) {
    match store.verify().await {
        Verdict::Broken(b) => {
            assert_eq!(b.index, index, "break reported at the exact index ({b:?})");
            assert!(kinds.contains(&b.kind), "break kind {:?} not in {kinds:?}", b.kind);
        }
        Verdict::Ok(s) => panic!("tampering went unnoticed ({s:?})"),
    }
}

async fn edited_row_is_detected(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    append_n(&store.audit, 12).await;
    let sql = match kind {
        BackendKind::Sqlite => {
            "UPDATE audit_log SET canonical = CAST(REPLACE(CAST(canonical AS TEXT), 'call_5', 'call_6') AS BLOB) WHERE idx = 5"
        }
        BackendKind::Postgres => {
            "UPDATE audit_log SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), 'call_5', 'call_6'), 'UTF8') WHERE idx = 5"
        }
    };
    store.tamper(sql).await;
    assert_break(&store, 5, &[BreakKind::Edited]).await;
}
on_both_backends!(edited_row_is_detected_on, edited_row_is_detected);

async fn deleted_row_is_detected(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    append_n(&store.audit, 12).await;
    store.tamper("DELETE FROM audit_log WHERE idx = 7").await;
    assert_break(&store, 7, &[BreakKind::Deleted]).await;
}
on_both_backends!(deleted_row_is_detected_on, deleted_row_is_detected);

async fn reordered_rows_are_detected(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    append_n(&store.audit, 12).await;
    // Swap the positions of records 3 and 4 (each row keeps its own bytes and hashes).
    store.tamper("UPDATE audit_log SET idx = -3 WHERE idx = 3").await;
    store.tamper("UPDATE audit_log SET idx = 3 WHERE idx = 4").await;
    store.tamper("UPDATE audit_log SET idx = 4 WHERE idx = -3").await;
    assert_break(&store, 3, &[BreakKind::Reordered, BreakKind::Edited]).await;
}
on_both_backends!(reordered_rows_are_detected_on, reordered_rows_are_detected);

async fn truncated_tail_after_checkpoint_is_detected(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    append_n(&store.audit, 25).await;
    // Remove everything after record 15: internally consistent, but the checkpoint at 20 remembers.
    store.tamper("DELETE FROM audit_log WHERE idx > 15").await;
    assert_break(&store, 20, &[BreakKind::TruncatedAfterCheckpoint]).await;
}
on_both_backends!(
    truncated_tail_is_detected_on,
    truncated_tail_after_checkpoint_is_detected
);

async fn forged_checkpoint_is_detected(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    append_n(&store.audit, 12).await;
    let real = store
        .blobs
        .get("audit/checkpoints/00000000000000000010.json")
        .await
        .unwrap();
    let mut forged: Checkpoint = serde_json::from_slice(&real).unwrap();
    forged.length = 12;
    store
        .blobs
        .put(
            "audit/checkpoints/00000000000000000012.json",
            &serde_json::to_vec(&forged).unwrap(),
        )
        .await
        .unwrap();
    assert_break(&store, 12, &[BreakKind::ForgedCheckpoint]).await;
}
on_both_backends!(forged_checkpoint_is_detected_on, forged_checkpoint_is_detected);

/// Several writers with separate pools (as separate server processes have) build one chain.
async fn concurrent_writers_build_one_chain(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    let second_db = storage::open_database(&store.settings).await.unwrap();
    let second = Arc::new(Store::log(&store.settings, second_db).await);
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let audit = if w % 2 == 0 {
            store.audit.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                audit.append(&event(w * 1000 + i)).await.expect("concurrent append");
            }
        }));
    }
    for t in tasks {
        timeout(std::time::Duration::from_secs(60), t).await.unwrap().unwrap();
    }
    match store.verify().await {
        Verdict::Ok(summary) => assert_eq!(summary.length, 200),
        Verdict::Broken(b) => panic!("concurrent writers broke the chain: {b:?}"),
    }
}
on_both_backends!(concurrent_writers_on, concurrent_writers_build_one_chain);

/// On PostgreSQL the runtime role can only insert and read audit rows.
#[tokio::test]
async fn runtime_role_cannot_rewrite_audit_history() {
    let Some(store) = Store::new(BackendKind::Postgres).await else {
        return;
    };
    append_n(&store.audit, 3).await;
    let Db::Postgres(runtime) = &store.db else {
        unreachable!()
    };
    for sql in [
        "UPDATE audit_log SET action = 'x' WHERE idx = 1",
        "DELETE FROM audit_log WHERE idx = 1",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sql)
            .execute(runtime)
            .await
            .expect_err("refused")
            .to_string();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
    assert!(matches!(store.verify().await, Verdict::Ok(s) if s.length == 3));
}

/// `serve` refuses a role that could change audit history (here: the schema owner).
#[tokio::test]
async fn serve_refuses_a_role_that_could_rewrite_audit_history() {
    let Some((mut settings, _data, Some(pg))) = fresh_settings(BackendKind::Postgres).await else {
        return;
    };
    storage::open_database(&settings).await.expect("migrates as owner");
    settings.database.url = Some(pg.owner_url.clone().into());
    settings.database.migration_url = None;
    let err = storage::open_database(&settings)
        .await
        .expect_err("owner refused at runtime");
    assert!(err.to_string().contains("refusing to run"), "{err}");
}

/// On SQLite, triggers refuse changes to audit rows.
#[tokio::test]
async fn sqlite_triggers_refuse_audit_changes() {
    let Some(store) = Store::new(BackendKind::Sqlite).await else {
        return;
    };
    append_n(&store.audit, 2).await;
    let Db::Sqlite(pool) = &store.db else { unreachable!() };
    for sql in [
        "UPDATE audit_log SET action = 'x' WHERE idx = 1",
        "DELETE FROM audit_log WHERE idx = 1",
    ] {
        let err = sqlx::query(sql).execute(pool).await.expect_err("refused").to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
}

/// Records that cannot be written while the database is down are spooled, then appended late.
async fn spooled_records_are_appended_late(kind: BackendKind) {
    let Some(store) = Store::new(kind).await else { return };
    append_n(&store.audit, 2).await;
    let recovered = match &store.pg {
        Some(pg) => {
            pg.take_down().await;
            let d = store.audit.append_or_spool(&event(100)).await.unwrap();
            assert_eq!(d, AuditDisposition::Spooled);
            pg.restore().await;
            store.audit.clone()
        }
        None => {
            store.db.close().await;
            let d = store.audit.append_or_spool(&event(100)).await.unwrap();
            assert_eq!(d, AuditDisposition::Spooled);
            // The "restart": a new pool over the same files, the same spool directory.
            let db = storage::open_database(&store.settings).await.unwrap();
            Arc::new(Store::log(&store.settings, db).await)
        }
    };
    assert_eq!(recovered.drain_spool().await.expect("drained"), 1);
    assert_eq!(
        recovered.drain_spool().await.unwrap(),
        0,
        "each spooled record is appended once"
    );
    let db = storage::open_database(&store.settings).await.unwrap();
    let keys = vec![store.settings.secrets.audit_checkpoint_key.clone().unwrap()];
    let blobs = storage::open_blobs(&store.settings).await.unwrap();
    assert!(matches!(verify::verify(&db, &blobs, &keys).await.unwrap(), Verdict::Ok(s) if s.length == 3));
    let mut out = Vec::new();
    verify::export_call(&db, "call_100", &mut out).await.unwrap();
    let line: serde_json::Value = serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(line["record"]["late"], true, "flagged late");
    assert_eq!(
        line["record"]["at_ms"], 1_800_000_000_100u64,
        "keeps the time it happened"
    );
}
on_both_backends!(spooled_records_on, spooled_records_are_appended_late);

/// A call leaves its row and its started/ended records in the chain, on either backend.
async fn a_call_is_recorded_and_audited(kind: BackendKind) {
    let Some(app) = spawn_app_on(kind).await else {
        return;
    };
    let mut caller = app.twilio_call(&call_sid(77)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    caller.send_stop().await.unwrap();
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
    let db = app.state.deps.db.clone();
    let row = timeout(GUARD, async {
        loop {
            let rows: Vec<(String, Option<String>)> = match &db {
                Db::Sqlite(p) => sqlx::query_as("SELECT call_id, outcome FROM calls WHERE call_sid = ?")
                    .bind(call_sid(77))
                    .fetch_all(p)
                    .await
                    .unwrap(),
                Db::Postgres(p) => sqlx::query_as("SELECT call_id, outcome FROM calls WHERE call_sid = $1")
                    .bind(call_sid(77))
                    .fetch_all(p)
                    .await
                    .unwrap(),
            };
            if let Some(r) = rows.into_iter().find(|r| r.1.is_some()) {
                return r;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("call row completed");
    assert_eq!(row.1.as_deref(), Some("hung_up"));
    let mut out = Vec::new();
    verify::export_call(&db, &row.0, &mut out).await.unwrap();
    let actions: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["record"]["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(actions, vec!["call.started", "call.ended", "recording.stored"]);
}
on_both_backends!(a_call_is_recorded_on, a_call_is_recorded_and_audited);

/// Two server processes (four writers each) appending to one PostgreSQL database build one
/// valid chain: appends are serialised in the database, not in process memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_four_writers_each_build_one_chain() {
    let Some(store) = Store::new(BackendKind::Postgres).await else {
        return;
    };
    let pg = store.pg.clone().unwrap();
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_voicegate-loadtest"))
            .args(["append-load", "--writers", "4", "--records", "25"])
            .env("VOICEGATE__SERVER__DATA_DIR", &store.settings.server.data_dir)
            .env("VOICEGATE__DATABASE__URL", &pg.runtime_url)
            .output()
    };
    let (a, b) = tokio::join!(spawn(), spawn());
    for out in [a.unwrap(), b.unwrap()] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    match store.verify().await {
        Verdict::Ok(summary) => assert_eq!(summary.length, 200),
        Verdict::Broken(b) => panic!("two processes broke the chain: {b:?}"),
    }
}

/// A runtime role on an unmigrated PostgreSQL database gets a clear instruction, not a crash later.
#[tokio::test]
async fn an_unmigrated_postgres_database_is_refused_with_the_fix() {
    let Some((mut settings, _data, Some(_pg))) = fresh_settings(BackendKind::Postgres).await else {
        return;
    };
    settings.database.migration_url = None;
    let err = storage::open_database(&settings).await.expect_err("schema missing");
    assert!(err.to_string().contains("voicegate migrate"), "{err}");
}
