//! The call index staff browse (no PHI in a row: the patient is a keyed reference) and a call's
//! detail, assembled from its row, its encrypted manifest (transcript, tool calls, truncations)
//! and its audit records, with the whole chain's verification status.

use serde::Serialize;
use serde_json::Value;

use super::{ReviewError, ms};
use crate::audit::verify::{self, Verdict};
use crate::config::KeyedSecret;
use crate::storage::Db;
use crate::storage::blob::Blobs;
use crate::storage::sql::Arg;

/// Most rows one page returns.
pub const MAX_PAGE: u32 = 200;

/// List filters (all optional; combined with AND).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CallFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub transport: Option<String>,
    pub outcome: Option<String>,
    pub verified: Option<bool>,
    pub emergency: Option<bool>,
    pub patient_ref: Option<String>,
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub before: Option<String>,
}

/// One row of the list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CallRow {
    pub call_id: String,
    pub transport: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    #[sqlx(skip)]
    pub duration_ms: Option<i64>,
    pub outcome: Option<String>,
    #[serde(skip)]
    pub verified_patient_ref: Option<String>,
    #[sqlx(skip)]
    pub verified: bool,
    #[serde(skip)]
    pub emergency_flag: i64,
    #[sqlx(skip)]
    pub emergency: bool,
    #[serde(skip)]
    pub disclosure_flag: i64,
    #[sqlx(skip)]
    pub disclosure_played: bool,
    #[serde(skip)]
    pub recording_location: Option<String>,
    #[serde(skip)]
    pub recording_deleted_at_ms: Option<i64>,
    #[sqlx(skip)]
    pub has_recording: bool,
    #[serde(skip)]
    pub hold_flag: i64,
    #[sqlx(skip)]
    pub legal_hold: bool,
}

impl CallRow {
    fn finish(mut self) -> CallRow {
        self.duration_ms = self.ended_at_ms.map(|e| e - self.started_at_ms);
        self.verified = self.verified_patient_ref.is_some();
        self.emergency = self.emergency_flag != 0;
        self.disclosure_played = self.disclosure_flag != 0;
        self.has_recording = self.recording_location.is_some() && self.recording_deleted_at_ms.is_none();
        self.legal_hold = self.hold_flag != 0;
        self
    }
}

/// A page of calls, newest first.
#[derive(Debug, Serialize)]
pub struct CallPage {
    pub calls: Vec<CallRow>,
    pub next_cursor: Option<String>,
}

/// Columns of [`CallRow`]; booleans are read as integers on both backends.
const SELECT: &str = "SELECT c.call_id, c.transport, c.started_at_ms, c.ended_at_ms, c.outcome, c.verified_patient_ref, \
     CAST(c.emergency AS BIGINT) AS emergency_flag, \
     CAST(CASE WHEN c.disclosure_played THEN 1 ELSE 0 END AS BIGINT) AS disclosure_flag, \
     c.recording_location, c.recording_deleted_at_ms, \
     CAST(CASE WHEN h.call_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS hold_flag \
     FROM calls c LEFT JOIN legal_holds h ON h.call_id = c.call_id";

/// The cursor is the last row's start and id (ties broken by id), opaque to the client.
fn cursor(row: &CallRow) -> String {
    format!("{}~{}", row.started_at_ms, row.call_id)
}

fn parse_cursor(c: &str) -> Result<(i64, String), ReviewError> {
    let (at, id) = c.split_once('~').ok_or(ReviewError::BadRequest("bad cursor"))?;
    let at = at.parse().map_err(|_| ReviewError::BadRequest("bad cursor"))?;
    Ok((at, id.to_owned()))
}

/// List calls matching `filter`.
///
/// # Errors
/// A bad filter value (`BadRequest`); storage.
pub async fn list(db: &Db, filter: &CallFilter) -> Result<CallPage, ReviewError> {
    let limit = filter.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let mut sql = format!("{SELECT} WHERE 1 = 1");
    let mut args: Vec<Arg<'_>> = Vec::new();
    if let Some(from) = filter.from_ms {
        sql.push_str(" AND c.started_at_ms >= ?");
        args.push(Arg::I64(from));
    }
    if let Some(to) = filter.to_ms {
        sql.push_str(" AND c.started_at_ms < ?");
        args.push(Arg::I64(to));
    }
    if let Some(t) = filter.transport.as_deref().filter(|t| !t.is_empty()) {
        if !matches!(t, "twilio" | "browser") {
            return Err(ReviewError::BadRequest("transport is twilio or browser"));
        }
        sql.push_str(" AND c.transport = ?");
        args.push(Arg::Text(t));
    }
    if let Some(o) = filter.outcome.as_deref().filter(|o| !o.is_empty()) {
        sql.push_str(" AND c.outcome = ?");
        args.push(Arg::Text(o));
    }
    match filter.verified {
        Some(true) => sql.push_str(" AND c.verified_patient_ref IS NOT NULL"),
        Some(false) => sql.push_str(" AND c.verified_patient_ref IS NULL"),
        None => {}
    }
    match filter.emergency {
        Some(true) => sql.push_str(" AND c.emergency <> 0"),
        Some(false) => sql.push_str(" AND c.emergency = 0"),
        None => {}
    }
    if let Some(p) = filter.patient_ref.as_deref().filter(|p| !p.is_empty()) {
        sql.push_str(" AND c.verified_patient_ref = ?");
        args.push(Arg::Text(p));
    }
    let before = filter.before.as_deref().map(parse_cursor).transpose()?;
    if let Some((at, id)) = &before {
        sql.push_str(" AND (c.started_at_ms < ? OR (c.started_at_ms = ? AND c.call_id < ?))");
        args.push(Arg::I64(*at));
        args.push(Arg::I64(*at));
        args.push(Arg::Text(id));
    }
    sql.push_str(" ORDER BY c.started_at_ms DESC, c.call_id DESC LIMIT ?");
    args.push(Arg::I64(i64::from(limit) + 1));
    let mut rows: Vec<CallRow> = db.all(&sql, &args).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let rows: Vec<CallRow> = rows.into_iter().map(CallRow::finish).collect();
    let next_cursor = more.then(|| rows.last().map(cursor)).flatten();
    Ok(CallPage {
        calls: rows,
        next_cursor,
    })
}

/// One call's row.
///
/// # Errors
/// Storage.
pub async fn row(db: &Db, call_id: &str) -> Result<Option<CallRow>, ReviewError> {
    let sql = format!("{SELECT} WHERE c.call_id = ?");
    let mut rows: Vec<CallRow> = db.all(&sql, &[Arg::Text(call_id)]).await?;
    Ok(rows.pop().map(CallRow::finish))
}

/// The manifest stored beside a recording (`….wav` → `….manifest.json`).
pub fn manifest_key(wav_key: &str) -> Option<String> {
    wav_key.strip_suffix(".wav").map(|base| format!("{base}.manifest.json"))
}

/// The whole chain's state, as the detail page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ChainStatus {
    pub ok: bool,
    pub length: u64,
    pub problem: Option<String>,
}

/// Verify the whole audit chain.
///
/// # Errors
/// The chain could not be read at all.
pub async fn chain_status(db: &Db, blobs: &Blobs, keys: &[KeyedSecret]) -> Result<ChainStatus, ReviewError> {
    match verify::verify(db, blobs, keys).await {
        Ok(Verdict::Ok(summary)) => Ok(ChainStatus {
            ok: true,
            length: summary.length,
            problem: None,
        }),
        Ok(Verdict::Broken(b)) => Ok(ChainStatus {
            ok: false,
            length: b.index,
            problem: Some(format!("{:?} at record {}", b.kind, b.index)),
        }),
        Err(_) => Err(ReviewError::BadRequest("the audit chain could not be read")),
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    idx: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    canonical: Vec<u8>,
}

/// The audit records of one call, as `{index, hash, prev_hash, record}` (`record` is the stored
/// canonical JSON, so an auditor can recompute each hash).
///
/// # Errors
/// Storage.
pub async fn audit_records(db: &Db, call_id: &str) -> Result<Vec<Value>, ReviewError> {
    let rows: Vec<AuditRow> = db
        .all(
            "SELECT idx, prev_hash, hash, canonical FROM audit_log WHERE call_id = ? ORDER BY idx",
            &[Arg::Text(call_id)],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "index": r.idx,
                "hash": crate::config::hex(&r.hash),
                "prev_hash": crate::config::hex(&r.prev_hash),
                "record": serde_json::from_slice::<Value>(&r.canonical).unwrap_or(Value::Null),
            })
        })
        .collect())
}

/// A call's detail (disclosed only after the view was audited).
#[derive(Debug, Serialize)]
pub struct CallDetail {
    pub call: CallRow,
    pub patient_ref: Option<String>,
    pub transcript: Value,
    pub tool_calls: Value,
    pub truncations: Value,
    pub recording: Value,
    pub audit: Vec<Value>,
    pub chain: ChainStatus,
    /// Confirmations and reminders planned from this call or about its appointments (no
    /// addresses, no texts).
    pub notifications: Vec<crate::notify::outbox::NotificationRow>,
}

/// Assemble the detail of `call`.
///
/// # Errors
/// Storage and blob failures (a missing manifest is not an error: the recording may have been
/// deleted by retention, or never stored).
pub async fn detail(db: &Db, blobs: &Blobs, keys: &[KeyedSecret], call: CallRow) -> Result<CallDetail, ReviewError> {
    let manifest: Option<Value> = match (&call.recording_location, call.recording_deleted_at_ms) {
        (Some(wav), None) => match manifest_key(wav) {
            Some(key) => match blobs.get(&key).await {
                Ok(bytes) => serde_json::from_slice(&bytes).ok(),
                Err(e) => {
                    tracing::warn!(call_id = %call.call_id, error.message = %e, "manifest unavailable for review");
                    None
                }
            },
            None => None,
        },
        _ => None,
    };
    let field = |name: &str| {
        manifest
            .as_ref()
            .and_then(|m| m.get(name))
            .cloned()
            .unwrap_or(Value::Array(Vec::new()))
    };
    let audio = manifest.as_ref().and_then(|m| m.get("audio"));
    let recording = serde_json::json!({
        "available": call.has_recording,
        "deleted": call.recording_deleted_at_ms.is_some(),
        "duration_ms": audio.and_then(|a| a.get("duration_ms")),
        "sample_rate": audio.and_then(|a| a.get("sample_rate")),
        "channels": ["caller", "agent"],
    });
    let audit = audit_records(db, &call.call_id).await?;
    let chain = chain_status(db, blobs, keys).await?;
    let notifications = crate::notify::outbox::for_call(db, &call.call_id).await?;
    Ok(CallDetail {
        notifications,
        patient_ref: call.verified_patient_ref.clone(),
        transcript: field("transcript"),
        tool_calls: field("tool_calls"),
        truncations: field("truncations"),
        recording,
        audit,
        chain,
        call,
    })
}

/// Set or release a legal hold.
///
/// # Errors
/// Storage.
pub async fn set_legal_hold(db: &Db, call_id: &str, hold: bool, by: &str, now_ms: u64) -> Result<(), ReviewError> {
    if hold {
        let r = db
            .exec(
                "INSERT INTO legal_holds (call_id, set_by, set_at_ms) VALUES (?, ?, ?)",
                &[Arg::Text(call_id), Arg::Text(by), Arg::I64(ms(now_ms))],
            )
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.is_conflict() => Ok(()),
            Err(e) => Err(e.into()),
        }
    } else {
        db.exec("DELETE FROM legal_holds WHERE call_id = ?", &[Arg::Text(call_id)])
            .await?;
        Ok(())
    }
}
