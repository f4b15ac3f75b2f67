//! The built-in scheduling store's database side: providers and calendars, busy intervals,
//! appointments.
//!
//! Overlap is impossible by constraint, not by a check-then-insert: every appointment (with its
//! buffers) and every unexpired hold is a row in `busy_intervals`. PostgreSQL refuses an overlapping
//! row with `EXCLUDE USING gist`; SQLite, which has no exclusion constraints, gets one `occupancy`
//! row per 5-minute unit under `UNIQUE(provider_id, unit_start_ms)`. Expired holds are purged
//! inside the same transaction that books, so a lapsed hold never blocks anyone. A constraint
//! refusal surfaces as [`StorageError::is_conflict`], which the adapter reports as "slot taken".

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::calendar::{AppointmentType, Calendar, OpenHours, UNIT_MINUTES};
use crate::storage::sql::{Arg, Tx};
use crate::storage::{Db, StorageError};
use crate::tools::ehr::Provider;

const UNIT_MS: i64 = UNIT_MINUTES * 60_000;

/// A provider with the calendar that decides their slots.
#[derive(Debug, Clone)]
pub struct ProviderRecord {
    pub provider: Provider,
    pub calendar: Calendar,
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    provider_id: String,
    display_name: String,
    specialty: String,
    location_name: String,
    time_zone: String,
    slot_interval_min: i64,
    min_notice_min: i64,
    horizon_days: i64,
    buffer_before_min: i64,
    buffer_after_min: i64,
    hold_minutes: i64,
}

#[derive(sqlx::FromRow)]
struct HoursRow {
    weekday: i64,
    opens_min: i64,
    closes_min: i64,
}

#[derive(sqlx::FromRow)]
struct TypeRow {
    type_code: String,
    name: String,
    duration_min: i64,
    is_default: i64,
}

#[derive(sqlx::FromRow)]
struct TextRow {
    value: String,
}

/// Load one provider and their calendar. A location with an unknown time zone is reported as a
/// query error (seeding validates zones, so this means the row was edited by hand).
///
/// # Errors
/// Storage failures.
pub async fn load_provider(db: &Db, provider_id: &str) -> Result<Option<ProviderRecord>, StorageError> {
    let rows: Vec<ProviderRow> = db
        .all(
            "SELECT p.provider_id, p.display_name, p.specialty, l.name AS location_name, l.time_zone, \
             p.slot_interval_min, p.min_notice_min, p.horizon_days, p.buffer_before_min, p.buffer_after_min, \
             p.hold_minutes FROM providers p JOIN locations l ON l.location_id = p.location_id \
             WHERE p.provider_id = ?",
            &[Arg::Text(provider_id)],
        )
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let id = [Arg::Text(provider_id)];
    let hours: Vec<HoursRow> = db
        .all(
            "SELECT weekday, opens_min, closes_min FROM open_hours WHERE provider_id = ?",
            &id,
        )
        .await?;
    let types: Vec<TypeRow> = db
        .all(
            "SELECT type_code, name, duration_min, is_default FROM appointment_types WHERE provider_id = ? \
             ORDER BY type_code",
            &id,
        )
        .await?;
    let days: Vec<TextRow> = db
        .all("SELECT day AS value FROM time_off WHERE provider_id = ?", &id)
        .await?;
    let insurances: Vec<TextRow> = db
        .all(
            "SELECT insurance AS value FROM provider_insurance WHERE provider_id = ? ORDER BY insurance",
            &id,
        )
        .await?;
    // An unknown zone falls back to UTC rather than failing every call; seeding rejects it.
    let time_zone = TimeZone::get(&row.time_zone).unwrap_or(TimeZone::UTC);
    let calendar = Calendar {
        time_zone: time_zone.clone(),
        open_hours: hours
            .iter()
            .filter_map(|h| {
                Some(OpenHours {
                    weekday: i8::try_from(h.weekday).ok()?,
                    opens_min: i32::try_from(h.opens_min).ok()?,
                    closes_min: i32::try_from(h.closes_min).ok()?,
                })
            })
            .collect(),
        time_off: days
            .iter()
            .filter_map(|d| d.value.parse().ok())
            .collect::<BTreeSet<_>>(),
        slot_interval_min: row.slot_interval_min,
        min_notice_min: row.min_notice_min,
        horizon_days: row.horizon_days,
        buffer_before_min: row.buffer_before_min,
        buffer_after_min: row.buffer_after_min,
        hold_minutes: row.hold_minutes,
        types: types
            .into_iter()
            .map(|t| AppointmentType {
                code: t.type_code,
                name: t.name,
                duration_min: t.duration_min,
                is_default: t.is_default != 0,
            })
            .collect(),
    };
    Ok(Some(ProviderRecord {
        provider: Provider {
            id: row.provider_id,
            display_name: row.display_name,
            specialty: row.specialty,
            location_name: row.location_name,
            time_zone,
            insurances: insurances.into_iter().map(|i| i.value).collect(),
        },
        calendar,
    }))
}

/// Ids of providers with this (folded) specialty.
///
/// # Errors
/// Storage failures.
pub async fn provider_ids_by_specialty(db: &Db, specialty: &str) -> Result<Vec<String>, StorageError> {
    let rows: Vec<TextRow> = db
        .all(
            "SELECT provider_id AS value FROM providers WHERE specialty = ? ORDER BY provider_id",
            &[Arg::Text(specialty)],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.value).collect())
}

/// Every specialty offered (folded), for the "we do not offer that" answer.
///
/// # Errors
/// Storage failures.
pub async fn specialties(db: &Db) -> Result<Vec<String>, StorageError> {
    let rows: Vec<TextRow> = db
        .all(
            "SELECT DISTINCT specialty AS value FROM providers ORDER BY specialty",
            &[],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.value).collect())
}

/// A busy interval as the slot search needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct BusyRow {
    pub busy_start_ms: i64,
    pub busy_end_ms: i64,
}

/// Unexpired busy intervals of a provider overlapping `[from_ms, to_ms)`.
///
/// # Errors
/// Storage failures.
pub async fn busy_between(
    db: &Db,
    provider_id: &str,
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
) -> Result<Vec<BusyRow>, StorageError> {
    db.all(
        "SELECT busy_start_ms, busy_end_ms FROM busy_intervals WHERE provider_id = ? AND busy_start_ms < ? \
         AND busy_end_ms > ? AND (expires_at_ms IS NULL OR expires_at_ms > ?) ORDER BY busy_start_ms",
        &[
            Arg::Text(provider_id),
            Arg::I64(to_ms),
            Arg::I64(from_ms),
            Arg::I64(now_ms),
        ],
    )
    .await
}

/// What kind of busy interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyKind<'a> {
    Appointment,
    Hold {
        expires_at_ms: i64,
    },
    /// Staff blocked the time (leave, a meeting): a label and who set it, no patient.
    Block {
        label: &'a str,
        created_by: &'a str,
    },
}

/// A busy interval to insert.
#[derive(Debug, Clone)]
pub struct NewBusy<'a> {
    pub provider_id: &'a str,
    pub kind: BusyKind<'a>,
    pub appointment_id: Option<&'a str>,
    /// `None` exactly for a block (a CHECK says so).
    pub patient_id: Option<&'a str>,
    pub call_id: Option<&'a str>,
    pub type_code: Option<&'a str>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub busy_start_ms: i64,
    pub busy_end_ms: i64,
}

/// Delete a provider's expired holds (inside the booking transaction).
///
/// # Errors
/// Storage failures.
pub async fn purge_expired_holds(tx: &mut Tx, provider_id: &str, now_ms: i64) -> Result<u64, StorageError> {
    let args = [Arg::Text(provider_id), Arg::I64(now_ms)];
    if tx.is_sqlite() {
        tx.exec(
            "DELETE FROM occupancy WHERE busy_id IN (SELECT busy_id FROM busy_intervals WHERE provider_id = ? AND \
             kind = 'hold' AND expires_at_ms <= ?)",
            &args,
        )
        .await?;
    }
    tx.exec(
        "DELETE FROM busy_intervals WHERE provider_id = ? AND kind = 'hold' AND expires_at_ms <= ?",
        &args,
    )
    .await
}

/// Release every hold a call has (it booked, or it holds another slot now).
///
/// # Errors
/// Storage failures.
pub async fn release_call_holds(tx: &mut Tx, call_id: &str) -> Result<u64, StorageError> {
    let args = [Arg::Text(call_id)];
    if tx.is_sqlite() {
        tx.exec(
            "DELETE FROM occupancy WHERE busy_id IN (SELECT busy_id FROM busy_intervals WHERE call_id = ? AND \
             kind = 'hold')",
            &args,
        )
        .await?;
    }
    tx.exec("DELETE FROM busy_intervals WHERE call_id = ? AND kind = 'hold'", &args)
        .await
}

/// Release an appointment's busy interval (cancelled or moved).
///
/// # Errors
/// Storage failures.
pub async fn release_appointment(tx: &mut Tx, appointment_id: &str) -> Result<u64, StorageError> {
    let args = [Arg::Text(appointment_id)];
    if tx.is_sqlite() {
        tx.exec(
            "DELETE FROM occupancy WHERE busy_id IN (SELECT busy_id FROM busy_intervals WHERE appointment_id = ?)",
            &args,
        )
        .await?;
    }
    tx.exec("DELETE FROM busy_intervals WHERE appointment_id = ?", &args)
        .await
}

/// Insert a busy interval. An overlap with any other busy interval of the provider fails with a
/// conflict ([`StorageError::is_conflict`]) — the database decides, not a prior read.
///
/// # Errors
/// Conflicts and storage failures.
pub async fn insert_busy(tx: &mut Tx, busy: &NewBusy<'_>) -> Result<String, StorageError> {
    let busy_id = random_id("b", 16);
    let (kind, expires, label, created_by) = match busy.kind {
        BusyKind::Appointment => ("appointment", None, None, None),
        BusyKind::Hold { expires_at_ms } => ("hold", Some(expires_at_ms), None, None),
        BusyKind::Block { label, created_by } => ("block", None, Some(label), Some(created_by)),
    };
    tx.exec(
        "INSERT INTO busy_intervals (busy_id, provider_id, kind, appointment_id, patient_id, call_id, type_code, \
         start_ms, end_ms, busy_start_ms, busy_end_ms, expires_at_ms, label, created_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            Arg::Text(&busy_id),
            Arg::Text(busy.provider_id),
            Arg::Text(kind),
            Arg::OptText(busy.appointment_id),
            Arg::OptText(busy.patient_id),
            Arg::OptText(busy.call_id),
            Arg::OptText(busy.type_code),
            Arg::I64(busy.start_ms),
            Arg::I64(busy.end_ms),
            Arg::I64(busy.busy_start_ms),
            Arg::I64(busy.busy_end_ms),
            Arg::OptI64(expires),
            Arg::OptText(label),
            Arg::OptText(created_by),
        ],
    )
    .await?;
    if tx.is_sqlite() {
        // One row per unit the interval touches; the UNIQUE index refuses a second claimant.
        let first = busy.busy_start_ms.div_euclid(UNIT_MS) * UNIT_MS;
        let mut unit = first;
        while unit < busy.busy_end_ms {
            tx.exec(
                "INSERT INTO occupancy (provider_id, unit_start_ms, busy_id) VALUES (?, ?, ?)",
                &[Arg::Text(busy.provider_id), Arg::I64(unit), Arg::Text(&busy_id)],
            )
            .await?;
            unit += UNIT_MS;
        }
    }
    Ok(busy_id)
}

/// An appointment row with what is needed to speak it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRow {
    pub appointment_id: String,
    pub provider_id: String,
    pub patient_id: String,
    pub type_code: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub status: String,
    pub display_name: String,
    pub time_zone: String,
}

const APPOINTMENT_SELECT: &str = "SELECT a.appointment_id, a.provider_id, a.patient_id, a.type_code, a.start_ms, \
     a.end_ms, a.status, p.display_name, l.time_zone FROM appointments a JOIN providers p ON p.provider_id = \
     a.provider_id JOIN locations l ON l.location_id = p.location_id";

/// One appointment of one patient (None when it does not exist *or* is someone else's).
///
/// # Errors
/// Storage failures.
pub async fn patient_appointment(
    tx: &mut Tx,
    patient_id: &str,
    appointment_id: &str,
) -> Result<Option<AppointmentRow>, StorageError> {
    let sql = format!("{APPOINTMENT_SELECT} WHERE a.appointment_id = ? AND a.patient_id = ?");
    Ok(tx
        .all(&sql, &[Arg::Text(appointment_id), Arg::Text(patient_id)])
        .await?
        .into_iter()
        .next())
}

/// Any appointment by id (staff actions; never reachable from the agent's tools).
///
/// # Errors
/// Storage failures.
pub async fn appointment_by_id(tx: &mut Tx, appointment_id: &str) -> Result<Option<AppointmentRow>, StorageError> {
    let sql = format!("{APPOINTMENT_SELECT} WHERE a.appointment_id = ?");
    Ok(tx.all(&sql, &[Arg::Text(appointment_id)]).await?.into_iter().next())
}

/// Set a visit's outcome (no-show or fulfilled).
///
/// # Errors
/// Storage failures.
pub async fn mark_outcome(tx: &mut Tx, appointment_id: &str, status: &str, now_ms: i64) -> Result<u64, StorageError> {
    tx.exec(
        "UPDATE appointments SET status = ?, updated_at_ms = ? WHERE appointment_id = ? AND status = 'booked'",
        &[Arg::Text(status), Arg::I64(now_ms), Arg::Text(appointment_id)],
    )
    .await
}

/// A patient's upcoming pending/booked appointments, earliest first.
///
/// # Errors
/// Storage failures.
pub async fn upcoming(db: &Db, patient_id: &str, now_ms: i64) -> Result<Vec<AppointmentRow>, StorageError> {
    let sql = format!(
        "{APPOINTMENT_SELECT} WHERE a.patient_id = ? AND a.status IN ('booked', 'pending') AND a.start_ms > ? \
         ORDER BY a.start_ms"
    );
    db.all(&sql, &[Arg::Text(patient_id), Arg::I64(now_ms)]).await
}

/// Why the patient comes, as kept with the appointment (a move carries it to the new one).
///
/// # Errors
/// Storage failures.
pub async fn visit_reason(tx: &mut Tx, appointment_id: &str) -> Result<String, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Reason {
        reason: String,
    }
    let rows: Vec<Reason> = tx
        .all(
            "SELECT reason FROM appointments WHERE appointment_id = ?",
            &[Arg::Text(appointment_id)],
        )
        .await?;
    Ok(rows.into_iter().next().map(|r| r.reason).unwrap_or_default())
}

/// A provider's booked or held visits that end after `now_ms` (a calendar change checks them).
///
/// # Errors
/// Storage failures.
pub async fn provider_visits_from(
    tx: &mut Tx,
    provider_id: &str,
    now_ms: i64,
) -> Result<Vec<AppointmentRow>, StorageError> {
    let sql = format!(
        "{APPOINTMENT_SELECT} WHERE a.provider_id = ? AND a.status IN ('booked', 'pending') AND a.end_ms > ? \
         ORDER BY a.start_ms"
    );
    tx.all(&sql, &[Arg::Text(provider_id), Arg::I64(now_ms)]).await
}

/// A new appointment row.
#[derive(Debug, Clone)]
pub struct NewAppointment<'a> {
    pub provider_id: &'a str,
    pub patient_id: &'a str,
    pub type_code: &'a str,
    pub start_ms: i64,
    pub end_ms: i64,
    pub reason: &'a str,
    pub call_id: Option<&'a str>,
    /// `phone_agent`, `browser_agent`, `staff` or `ehr` (see migration 0007).
    pub source: &'a str,
    pub now_ms: i64,
}

/// Insert a booked appointment; returns its id.
///
/// # Errors
/// Storage failures.
pub async fn insert_appointment(tx: &mut Tx, a: &NewAppointment<'_>) -> Result<String, StorageError> {
    let id = random_id("apt-", 8);
    tx.exec(
        "INSERT INTO appointments (appointment_id, provider_id, patient_id, type_code, start_ms, end_ms, status, \
         reason, call_id, source, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'booked', ?, ?, ?, ?, ?)",
        &[
            Arg::Text(&id),
            Arg::Text(a.provider_id),
            Arg::Text(a.patient_id),
            Arg::Text(a.type_code),
            Arg::I64(a.start_ms),
            Arg::I64(a.end_ms),
            Arg::Text(a.reason),
            Arg::OptText(a.call_id),
            Arg::Text(a.source),
            Arg::I64(a.now_ms),
            Arg::I64(a.now_ms),
        ],
    )
    .await?;
    Ok(id)
}

/// Where a booking made in `call_id` came from: the call's transport.
///
/// # Errors
/// Storage failures.
pub async fn source_of_call(tx: &mut Tx, call_id: &str) -> Result<&'static str, StorageError> {
    #[derive(sqlx::FromRow)]
    struct Transport {
        transport: String,
    }
    let rows: Vec<Transport> = tx
        .all("SELECT transport FROM calls WHERE call_id = ?", &[Arg::Text(call_id)])
        .await?;
    Ok(match rows.first().map(|r| r.transport.as_str()) {
        Some("browser") => "browser_agent",
        Some(_) => "phone_agent",
        None => "unknown",
    })
}

/// Mark an appointment cancelled (optionally replaced by another).
///
/// # Errors
/// Storage failures.
pub async fn mark_cancelled(
    tx: &mut Tx,
    appointment_id: &str,
    reason: &str,
    replaced_by: Option<&str>,
    now_ms: i64,
) -> Result<u64, StorageError> {
    tx.exec(
        "UPDATE appointments SET status = 'cancelled', cancel_reason = ?, replaced_by = ?, updated_at_ms = ? \
         WHERE appointment_id = ? AND status IN ('booked', 'pending')",
        &[
            Arg::Text(reason),
            Arg::OptText(replaced_by),
            Arg::I64(now_ms),
            Arg::Text(appointment_id),
        ],
    )
    .await
}

/// A random id with a readable prefix (lowercase base32, no look-alike characters).
pub fn random_id(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = vec![0u8; len];
    // getrandom failing means the OS has no entropy source; a fixed id would then collide on
    // the primary key and fail the write loudly rather than silently.
    let _ = getrandom::fill(&mut bytes);
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    out.extend(
        bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])),
    );
    out
}

/// Milliseconds of a timestamp (the store's unit).
pub fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}
