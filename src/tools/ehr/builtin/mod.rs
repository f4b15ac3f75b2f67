//! The built-in EHR (the embedded default): patients, providers and their calendars, holds and
//! appointments in the project database, and the demo clinic seeded at first start.
//!
//! - [`calendar`]: which instants are bookable (pure; time zones and DST).
//! - [`store`]: busy intervals and appointments, overlap impossible by database constraint.
//! - [`seed`]: providers and the demo clinic.

pub mod calendar;
pub mod config;
pub mod desk;
pub mod seed;
pub mod store;

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::clinic::history;
use crate::clinic::lifecycle::{self, Event, State, TransitionError};
use crate::clock::Clock;
use crate::domain::{DateOfBirth, PersonName, PhoneNumber};
use crate::notify::ChangeKind;
use crate::storage::sql::Arg;
use crate::storage::{Db, StorageError};
use crate::tools::ehr::{
    Appointment, AppointmentStatus, EhrAdapter, EhrError, Hold, PatientCandidate, Provider, ProviderQuery, Slot,
    SlotQuery,
};
use store::{BusyKind, NewAppointment, NewBusy, ProviderRecord};

/// Longest reason kept with an appointment (the model summarises; this caps a runaway argument).
const MAX_REASON_CHARS: usize = 200;

/// The built-in EHR over the project database.
#[derive(Debug, Clone)]
pub struct BuiltinEhr {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Confirmations and reminders, planned inside each change's own transaction.
    notify: Option<crate::notify::Notifications>,
}

/// A slot id the model passes back: `provider/type/2026-12-07T14:30Z`. It carries no patient data
/// and is re-validated against the calendar before anything is held or booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotId {
    pub provider_id: String,
    pub type_code: String,
    pub start: Timestamp,
}

impl SlotId {
    pub fn format(&self) -> String {
        format!(
            "{}/{}/{}",
            self.provider_id,
            self.type_code,
            self.start.strftime("%Y-%m-%dT%H:%MZ")
        )
    }

    /// Parse a slot id; anything malformed is `None` (answered as "not found").
    pub fn parse(raw: &str) -> Option<SlotId> {
        let mut parts = raw.trim().splitn(3, '/');
        let provider_id = parts.next()?.to_owned();
        let type_code = parts.next()?.to_owned();
        let start: Timestamp = parts.next()?.parse().ok()?;
        if provider_id.is_empty() || type_code.is_empty() {
            return None;
        }
        Some(SlotId {
            provider_id,
            type_code,
            start,
        })
    }
}

fn conflict_or(e: StorageError) -> EhrError {
    if e.is_conflict() {
        EhrError::SlotTaken
    } else {
        EhrError::Storage(e)
    }
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn reason_text(reason: &str) -> String {
    reason.trim().chars().take(MAX_REASON_CHARS).collect()
}

/// A slot validated against the provider's calendar at `now`.
struct ValidSlot {
    record: ProviderRecord,
    type_code: String,
    start: Timestamp,
    end: Timestamp,
    busy: (Timestamp, Timestamp),
}

impl ValidSlot {
    /// The busy interval this slot occupies, as a hold or an appointment.
    fn busy_row<'a>(
        &'a self,
        kind: BusyKind<'a>,
        appointment_id: Option<&'a str>,
        patient_id: &'a str,
        call_id: &'a str,
    ) -> NewBusy<'a> {
        NewBusy {
            provider_id: &self.record.provider.id,
            kind,
            appointment_id,
            patient_id: Some(patient_id),
            call_id: Some(call_id),
            type_code: Some(&self.type_code),
            start_ms: self.start.as_millisecond(),
            end_ms: self.end.as_millisecond(),
            busy_start_ms: self.busy.0.as_millisecond(),
            busy_end_ms: self.busy.1.as_millisecond(),
        }
    }
}

impl BuiltinEhr {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> BuiltinEhr {
        BuiltinEhr {
            db,
            clock,
            notify: None,
        }
    }

    /// Plan notifications in the same transaction as every booking, move and cancellation.
    pub fn with_notifications(mut self, notify: crate::notify::Notifications) -> BuiltinEhr {
        self.notify = Some(notify);
        self
    }

    /// Whether changes plan their own notifications (the tools then need not).
    pub fn plans_notifications(&self) -> bool {
        self.notify.as_ref().is_some_and(|n| !n.channels().is_empty())
    }

    /// Plan a change's messages in `tx` (no-op without notifications).
    async fn plan(
        &self,
        tx: &mut crate::storage::sql::Tx,
        change: &crate::notify::AppointmentChange<'_>,
    ) -> Result<usize, EhrError> {
        match &self.notify {
            Some(n) => Ok(n.plan_in(tx, change).await?),
            None => Ok(0),
        }
    }

    fn woke(&self, planned: usize) {
        if planned > 0
            && let Some(n) = &self.notify
        {
            n.wake();
        }
    }

    fn now(&self) -> Timestamp {
        timestamp(i64::try_from(self.clock.now_unix_ms()).unwrap_or(i64::MAX))
    }

    async fn validate(&self, slot_id: &str, now: Timestamp) -> Result<ValidSlot, EhrError> {
        let id = SlotId::parse(slot_id).ok_or(EhrError::NotFound)?;
        let record = store::load_provider(&self.db, &id.provider_id)
            .await?
            .ok_or(EhrError::NotFound)?;
        let ty = record
            .calendar
            .appointment_type(&id.type_code)
            .ok_or(EhrError::NotFound)?
            .clone();
        let c = record
            .calendar
            .is_candidate(&ty, id.start, now)
            .ok_or(EhrError::NotAllowed("that time cannot be booked"))?;
        let busy = record.calendar.busy_interval(c.start, c.end);
        Ok(ValidSlot {
            record,
            type_code: ty.code,
            start: c.start,
            end: c.end,
            busy,
        })
    }

    fn appointment(row: store::AppointmentRow) -> Appointment {
        Appointment {
            id: row.appointment_id,
            provider_id: row.provider_id,
            provider_name: row.display_name,
            start: timestamp(row.start_ms),
            end: timestamp(row.end_ms),
            status: AppointmentStatus::from_code(&row.status).unwrap_or(AppointmentStatus::EnteredInError),
            time_zone: TimeZone::get(&row.time_zone).unwrap_or(TimeZone::UTC),
        }
    }

    /// Insert a booked appointment and its busy interval in `tx`.
    async fn insert_booking(
        tx: &mut crate::storage::sql::Tx,
        slot: &ValidSlot,
        patient_id: &str,
        call_id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<String, EhrError> {
        let provider_id = slot.record.provider.id.as_str();
        store::purge_expired_holds(tx, provider_id, now.as_millisecond()).await?;
        store::release_call_holds(tx, call_id).await?;
        let source = store::source_of_call(tx, call_id).await?;
        let appointment_id = store::insert_appointment(
            tx,
            &NewAppointment {
                provider_id,
                patient_id,
                type_code: &slot.type_code,
                start_ms: slot.start.as_millisecond(),
                end_ms: slot.end.as_millisecond(),
                reason,
                call_id: Some(call_id),
                source,
                now_ms: now.as_millisecond(),
            },
        )
        .await?;
        let busy = slot.busy_row(BusyKind::Appointment, Some(&appointment_id), patient_id, call_id);
        store::insert_busy(tx, &busy).await.map_err(conflict_or)?;
        Ok(appointment_id)
    }

    fn booked(slot: &ValidSlot, appointment_id: String) -> Appointment {
        Appointment {
            id: appointment_id,
            provider_id: slot.record.provider.id.clone(),
            provider_name: slot.record.provider.display_name.clone(),
            start: slot.start,
            end: slot.end,
            status: AppointmentStatus::Booked,
            time_zone: slot.record.provider.time_zone.clone(),
        }
    }

    fn state_of(row: &store::AppointmentRow) -> State {
        State::from_fhir(
            AppointmentStatus::from_code(&row.status).unwrap_or(AppointmentStatus::EnteredInError),
            false,
        )
    }

    /// The patient's appointment if `event` may happen to it now (the lifecycle decides).
    async fn changeable(
        tx: &mut crate::storage::sql::Tx,
        patient_id: &str,
        appointment_id: &str,
        event: &Event,
        now: Timestamp,
    ) -> Result<store::AppointmentRow, EhrError> {
        let row = store::patient_appointment(tx, patient_id, appointment_id)
            .await?
            .ok_or(EhrError::NotFound)?;
        lifecycle::transition(Self::state_of(&row), event, row.start_ms, now.as_millisecond()).map_err(|e| {
            EhrError::NotAllowed(match e {
                TransitionError::Terminal(_) => "that appointment is already cancelled or completed",
                TransitionError::AlreadyStarted | TransitionError::NotStarted => "that appointment is in the past",
                TransitionError::ReasonRequired => "a reason is needed",
                TransitionError::NotFromHere { .. } => "that appointment cannot be changed that way",
            })
        })?;
        Ok(row)
    }

    /// A staff member moves an appointment through its lifecycle: cancel (with the typed reason),
    /// mark no-show or completed. The lifecycle decides what is allowed; the change, its history
    /// entry and (for a cancellation) the patient's notice commit together. Returns (from, to).
    ///
    /// # Errors
    /// [`StaffActionError`]: no such appointment, a refused transition, storage.
    pub async fn staff_transition(
        &self,
        appointment_id: &str,
        staff_id: &str,
        event: &Event,
    ) -> Result<(State, State), StaffActionError> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let row = store::appointment_by_id(&mut tx, appointment_id)
            .await?
            .ok_or(StaffActionError::NotFound)?;
        let from = Self::state_of(&row);
        let to = lifecycle::transition(from, event, row.start_ms, now.as_millisecond())?;
        let reason = match event {
            Event::Cancel { reason } => Some(reason.as_str()),
            _ => None,
        };
        let mut planned = 0;
        match to {
            State::Cancelled => {
                store::mark_cancelled(
                    &mut tx,
                    appointment_id,
                    reason.unwrap_or(""),
                    None,
                    now.as_millisecond(),
                )
                .await?;
                store::release_appointment(&mut tx, appointment_id).await?;
                let mut appointment = Self::appointment(row.clone());
                appointment.status = AppointmentStatus::Cancelled;
                if let Some(n) = &self.notify {
                    planned = n
                        .plan_in(
                            &mut tx,
                            &change_of(ChangeKind::Cancelled, &appointment, &row.patient_id, None),
                        )
                        .await?;
                }
            }
            State::NoShow | State::Completed => {
                store::mark_outcome(&mut tx, appointment_id, to.fhir().code(), now.as_millisecond()).await?;
            }
            _ => return Err(StaffActionError::Unsupported),
        }
        let entry = history::Entry {
            appointment_id,
            actor: history::Actor::Staff(staff_id.to_owned()),
            event: event.name(),
            from: Some(from),
            to,
            reason,
            details: serde_json::json!({}),
            at_ms: now.as_millisecond(),
        };
        history::record(&mut tx, &entry).await?;
        tx.commit().await?;
        self.woke(planned);
        Ok((from, to))
    }

    /// Append one history entry for a change the agent made in `call_id`.
    #[allow(clippy::too_many_arguments)]
    async fn log(
        tx: &mut crate::storage::sql::Tx,
        appointment_id: &str,
        call_id: &str,
        event: &str,
        from: Option<State>,
        to: State,
        reason: Option<&str>,
        details: serde_json::Value,
        now: Timestamp,
    ) -> Result<(), EhrError> {
        let entry = history::Entry {
            appointment_id,
            actor: history::Actor::Call(call_id.to_owned()),
            event,
            from,
            to,
            reason,
            details,
            at_ms: now.as_millisecond(),
        };
        Ok(history::record(tx, &entry).await?)
    }
}

#[derive(sqlx::FromRow)]
struct CandidateRow {
    patient_id: String,
    first_name_folded: String,
    last_name_folded: String,
    birth_date: String,
    phone_e164: String,
}

impl EhrAdapter for BuiltinEhr {
    async fn find_patients(
        &self,
        last: &PersonName,
        birth_date: &DateOfBirth,
    ) -> Result<Vec<PatientCandidate>, EhrError> {
        let (folded, iso) = (last.folded(), birth_date.iso());
        let rows: Vec<CandidateRow> = self
            .db
            .all(
                "SELECT patient_id, first_name_folded, last_name_folded, birth_date, phone_e164 FROM patients \
                 WHERE last_name_folded = ? AND birth_date = ? ORDER BY patient_id",
                &[Arg::Text(&folded), Arg::Text(&iso)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| PatientCandidate {
                patient_id: r.patient_id,
                first_name_folded: r.first_name_folded,
                last_name_folded: r.last_name_folded,
                birth_date: r.birth_date,
                phones_e164: vec![r.phone_e164],
            })
            .collect())
    }

    async fn search_providers(&self, query: &ProviderQuery) -> Result<Vec<Provider>, EhrError> {
        let specialty = query.specialty.trim().to_lowercase();
        let mut out = Vec::new();
        for id in store::provider_ids_by_specialty(&self.db, &specialty).await? {
            if let Some(r) = store::load_provider(&self.db, &id).await? {
                out.push(r.provider);
            }
        }
        Ok(out)
    }

    async fn provider(&self, provider_id: &str) -> Result<Provider, EhrError> {
        Ok(store::load_provider(&self.db, provider_id)
            .await?
            .ok_or(EhrError::NotFound)?
            .provider)
    }

    async fn find_slots(&self, query: &SlotQuery) -> Result<Vec<Slot>, EhrError> {
        let now = self.now();
        let mut out = Vec::new();
        for provider_id in &query.provider_ids {
            let Some(record) = store::load_provider(&self.db, provider_id).await? else {
                continue;
            };
            let Some(ty) = record.calendar.default_type() else {
                continue;
            };
            let candidates = record.calendar.candidates(ty, query.from, query.to, now);
            let (Some(first), Some(last)) = (candidates.first(), candidates.last()) else {
                continue;
            };
            let (lo, _) = record.calendar.busy_interval(first.start, first.end);
            let (_, hi) = record.calendar.busy_interval(last.start, last.end);
            let busy = store::busy_between(
                &self.db,
                provider_id,
                lo.as_millisecond(),
                hi.as_millisecond(),
                now.as_millisecond(),
            )
            .await?;
            for c in candidates {
                let (s, e) = record.calendar.busy_interval(c.start, c.end);
                let (s, e) = (s.as_millisecond(), e.as_millisecond());
                if busy.iter().any(|b| s < b.busy_end_ms && b.busy_start_ms < e) {
                    continue;
                }
                out.push(Slot {
                    id: SlotId {
                        provider_id: provider_id.clone(),
                        type_code: ty.code.clone(),
                        start: c.start,
                    }
                    .format(),
                    provider_id: provider_id.clone(),
                    start: c.start,
                    end: c.end,
                });
            }
        }
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.provider_id.cmp(&b.provider_id)));
        out.truncate(query.limit);
        Ok(out)
    }

    async fn hold(&self, patient_id: &str, call_id: &str, slot_id: &str) -> Result<Hold, EhrError> {
        let now = self.now();
        let slot = self.validate(slot_id, now).await?;
        let expires = now + SignedDuration::from_mins(slot.record.calendar.hold_minutes);
        let provider_id = slot.record.provider.id.as_str();
        let mut tx = self.db.begin_write().await?;
        store::purge_expired_holds(&mut tx, provider_id, now.as_millisecond()).await?;
        store::release_call_holds(&mut tx, call_id).await?;
        let kind = BusyKind::Hold {
            expires_at_ms: expires.as_millisecond(),
        };
        store::insert_busy(&mut tx, &slot.busy_row(kind, None, patient_id, call_id))
            .await
            .map_err(conflict_or)?;
        tx.commit().await.map_err(conflict_or)?;
        Ok(Hold {
            slot: Slot {
                id: slot_id.trim().to_owned(),
                provider_id: provider_id.to_owned(),
                start: slot.start,
                end: slot.end,
            },
            expires,
        })
    }

    async fn book(
        &self,
        patient_id: &str,
        call_id: &str,
        slot_id: &str,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        let now = self.now();
        let slot = self.validate(slot_id, now).await?;
        let reason = reason_text(reason);
        let mut tx = self.db.begin_write().await?;
        let id = Self::insert_booking(&mut tx, &slot, patient_id, call_id, &reason, now).await?;
        let booked = Self::booked(&slot, id);
        Self::log(
            &mut tx,
            &booked.id,
            call_id,
            "confirm",
            None,
            State::Confirmed,
            None,
            serde_json::json!({}),
            now,
        )
        .await?;
        let planned = self
            .plan(
                &mut tx,
                &change_of(ChangeKind::Booked, &booked, patient_id, Some(call_id)),
            )
            .await?;
        tx.commit().await.map_err(conflict_or)?;
        self.woke(planned);
        Ok(booked)
    }

    async fn list_appointments(&self, patient_id: &str) -> Result<Vec<Appointment>, EhrError> {
        let now = self.now();
        Ok(store::upcoming(&self.db, patient_id, now.as_millisecond())
            .await?
            .into_iter()
            .map(Self::appointment)
            .collect())
    }

    async fn cancel(
        &self,
        patient_id: &str,
        call_id: &str,
        appointment_id: &str,
        reason: &str,
    ) -> Result<Appointment, EhrError> {
        let now = self.now();
        // A caller need not explain; the record still says why it ended.
        let reason = match reason_text(reason) {
            r if r.is_empty() => "caller request".to_owned(),
            r => r,
        };
        let event = Event::Cancel { reason: reason.clone() };
        let mut tx = self.db.begin_write().await?;
        let row = Self::changeable(&mut tx, patient_id, appointment_id, &event, now).await?;
        store::mark_cancelled(&mut tx, appointment_id, &reason, None, now.as_millisecond()).await?;
        let from = Some(Self::state_of(&row));
        Self::log(
            &mut tx,
            appointment_id,
            call_id,
            event.name(),
            from,
            State::Cancelled,
            Some(&reason),
            serde_json::json!({}),
            now,
        )
        .await?;
        store::release_appointment(&mut tx, appointment_id).await?;
        let mut appointment = Self::appointment(row);
        appointment.status = AppointmentStatus::Cancelled;
        let planned = self
            .plan(
                &mut tx,
                &change_of(ChangeKind::Cancelled, &appointment, patient_id, Some(call_id)),
            )
            .await?;
        tx.commit().await?;
        self.woke(planned);
        Ok(appointment)
    }

    async fn reschedule(
        &self,
        patient_id: &str,
        call_id: &str,
        appointment_id: &str,
        new_slot_id: &str,
    ) -> Result<Appointment, EhrError> {
        let now = self.now();
        let slot = self.validate(new_slot_id, now).await?;
        // One transaction: the old appointment is released and the new one claimed together, so
        // a taken slot rolls everything back and the old appointment stands.
        let mut tx = self.db.begin_write().await?;
        let old_row = Self::changeable(&mut tx, patient_id, appointment_id, &Event::Reschedule, now).await?;
        let reason = store::visit_reason(&mut tx, appointment_id).await?;
        store::release_appointment(&mut tx, appointment_id).await?;
        let new_id = Self::insert_booking(&mut tx, &slot, patient_id, call_id, &reason, now).await?;
        store::mark_cancelled(
            &mut tx,
            appointment_id,
            "rescheduled",
            Some(&new_id),
            now.as_millisecond(),
        )
        .await?;
        let moved = Self::booked(&slot, new_id);
        let from = Some(Self::state_of(&old_row));
        let replaced_by = serde_json::json!({"replaced_by": moved.id});
        Self::log(
            &mut tx,
            appointment_id,
            call_id,
            "reschedule",
            from,
            State::Rescheduled,
            None,
            replaced_by,
            now,
        )
        .await?;
        let replaces = serde_json::json!({"replaces": appointment_id});
        Self::log(
            &mut tx,
            &moved.id,
            call_id,
            "confirm",
            None,
            State::Confirmed,
            None,
            replaces,
            now,
        )
        .await?;
        let kind = ChangeKind::Rescheduled {
            previous: appointment_id.to_owned(),
        };
        let planned = self
            .plan(&mut tx, &change_of(kind, &moved, patient_id, Some(call_id)))
            .await?;
        tx.commit().await.map_err(conflict_or)?;
        self.woke(planned);
        Ok(moved)
    }
}

pub use crate::clinic::StaffActionError;

/// The change record of an appointment for the notification planner.
fn change_of<'a>(
    kind: ChangeKind,
    a: &'a Appointment,
    patient_id: &'a str,
    call_id: Option<&'a str>,
) -> crate::notify::AppointmentChange<'a> {
    crate::notify::AppointmentChange {
        kind,
        appointment_id: &a.id,
        patient_id,
        call_id,
        start: a.start,
        time_zone: a.time_zone.iana_name().unwrap_or("UTC"),
    }
}

/// Fictional patients of the demo clinic (no real person's data).
const DEMO_PATIENTS: &[(&str, &str, &str, &str, &str)] = &[
    ("demo-p1", "Jane", "Doe", "1980-02-14", "+15550100001"),
    ("demo-p2", "José", "Álvarez", "1975-07-30", "+15550100002"),
    ("demo-p3", "Mary-Jane", "O'Brien", "1990-12-01", "+15550100003"),
    ("demo-p4", "Lee", "Chen", "1968-05-09", "+15550100004"),
];

/// Insert a patient (demo seeding and tests).
///
/// # Errors
/// Invalid identifiers (a bug in the caller) are reported as a query error; storage failures.
pub async fn insert_patient(
    db: &Db,
    patient_id: &str,
    first: &PersonName,
    last: &PersonName,
    dob: &DateOfBirth,
    phone: &PhoneNumber,
) -> Result<(), StorageError> {
    macro_rules! insert {
        ($pool:expr, $sql:literal) => {{
            sqlx::query($sql)
                .bind(patient_id)
                .bind(first.expose())
                .bind(last.expose())
                .bind(first.folded())
                .bind(last.folded())
                .bind(dob.iso())
                .bind(phone.e164())
                .execute($pool)
                .await?;
        }};
    }
    match db {
        Db::Sqlite(pool) => insert!(
            pool,
            "INSERT INTO patients (patient_id, first_name, last_name, first_name_folded, last_name_folded, birth_date, \
             phone_e164) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ),
        Db::Postgres(pool) => insert!(
            pool,
            "INSERT INTO patients (patient_id, first_name, last_name, first_name_folded, last_name_folded, birth_date, \
             phone_e164) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ),
    };
    Ok(())
}

/// Seed the demo clinic (patients, then providers), each only when its table is empty. Returns
/// whether anything was seeded.
///
/// # Errors
/// Storage failures.
pub async fn seed_demo(db: &Db) -> Result<bool, seed::SeedError> {
    #[derive(sqlx::FromRow)]
    struct Count {
        n: i64,
    }
    let count: Vec<Count> = db.all("SELECT COUNT(*) AS n FROM patients", &[]).await?;
    let mut seeded = false;
    if count.first().is_none_or(|c| c.n == 0) {
        for (id, first, last, dob, phone) in DEMO_PATIENTS {
            // The demo data is ours and valid; a parse failure here is a bug caught by the unit test.
            let (Ok(first), Ok(last), Ok(dob), Ok(phone)) = (
                PersonName::parse(first),
                PersonName::parse(last),
                DateOfBirth::parse(dob),
                PhoneNumber::parse(phone),
            ) else {
                continue;
            };
            insert_patient(db, id, &first, &last, &dob, &phone).await?;
        }
        seeded = true;
    }
    Ok(seed::seed_demo_providers(db).await? || seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_patients_are_valid() {
        for (_, first, last, dob, phone) in DEMO_PATIENTS {
            assert!(PersonName::parse(first).is_ok() && PersonName::parse(last).is_ok());
            assert!(DateOfBirth::parse(dob).is_ok() && PhoneNumber::parse(phone).is_ok());
        }
    }
}
