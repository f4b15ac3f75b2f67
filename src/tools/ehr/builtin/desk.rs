//! Front-desk work on the built-in store: the week view, staff bookings and moves, blocked time.
//!
//! Staff may do what the agent may not — book under the minimum notice, drop a visit's own
//! buffers — but only when they say so, with a reason; and nothing they do can double-book:
//! every booking, hold and block is a row of `busy_intervals`, where the database refuses an
//! overlap (see [`store`](super::store)). Each change, its history entry and the patient's
//! confirmation commit in one transaction. The HTTP layer audits (`schedule.*`).

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::calendar::SlotProblem;
use super::store::{self, BusyKind, NewAppointment, NewBusy};
use super::{BuiltinEhr, change_of, timestamp};
use crate::clinic::history;
use crate::clinic::lifecycle::{self, Event, State, TransitionError};
use crate::notify::ChangeKind;
use crate::storage::StorageError;
use crate::storage::sql::{Arg, Tx};

/// Longest week view (two weeks: a front desk looks ahead, reports look back).
pub const MAX_VIEW_DAYS: i64 = 14;
/// Longest block staff can set at once (leave is entered per stretch, not per year).
const MAX_BLOCK_DAYS: i64 = 31;
const MAX_LABEL_CHARS: usize = 120;

/// What a staff member chose to override, with a reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    /// Book sooner than the provider's minimum notice.
    #[serde(default)]
    pub short_notice: bool,
    /// Leave out this visit's own buffers (it still cannot overlap another visit or its buffers).
    #[serde(default)]
    pub buffers: bool,
}

impl Overrides {
    /// The overrides in use, by name, for the audit record and the history.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.short_notice {
            v.push("short_notice");
        }
        if self.buffers {
            v.push("buffers");
        }
        v
    }
}

/// Why a desk action was refused. Messages are PHI-free and shown to staff as they are.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
    /// The calendar refuses the start ([`SlotProblem::ShortNotice`] is overridable).
    #[error(transparent)]
    Slot(#[from] SlotProblem),
    /// Another visit, hold or block is there: never overridable.
    #[error("that time overlaps another visit, a hold or blocked time")]
    Taken,
    /// It would fit if this visit's buffers were left out (overridable).
    #[error("that time only fits without this visit's buffers; override the buffers to book it")]
    NeedsBufferOverride,
    /// Blocking over booked visits: they are listed so staff move or cancel them first.
    #[error("booked visits are in that time; move or cancel them first")]
    Overlaps(Vec<String>),
    /// A calendar change would leave booked visits outside it: listed, never dropped.
    #[error("booked visits would fall outside the new calendar; move or cancel them, or confirm to keep them")]
    Orphans(Vec<super::config::Orphan>),
    #[error(transparent)]
    Refused(#[from] TransitionError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl DeskError {
    /// The override that would let the action through, if one would.
    pub fn needs_override(&self) -> Option<&'static str> {
        match self {
            DeskError::Slot(SlotProblem::ShortNotice) => Some("short_notice"),
            DeskError::NeedsBufferOverride => Some("buffers"),
            _ => None,
        }
    }
}

/// A staff booking.
#[derive(Debug, Clone)]
pub struct StaffBooking<'a> {
    pub patient_id: &'a str,
    pub provider_id: &'a str,
    /// The provider's default type when `None`.
    pub type_code: Option<&'a str>,
    pub start: Timestamp,
    /// Why the patient comes (kept with the appointment, like the agent's).
    pub visit_reason: &'a str,
    pub overrides: Overrides,
    pub staff_id: &'a str,
    /// Why staff booked it this way (the history and audit record).
    pub reason: &'a str,
}

/// What a booking or move did (ids and instants; no PHI).
#[derive(Debug, Clone, Serialize)]
pub struct DeskBooking {
    pub appointment_id: String,
    pub provider_id: String,
    pub type_code: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The appointment this one replaced (a move).
    pub replaces: Option<String>,
    /// The previous start and end (a move), for the audit record's before/after.
    pub before: Option<(i64, i64)>,
    pub overrides: Vec<&'static str>,
}

/// A blocked stretch of a provider's time.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Block {
    pub busy_id: String,
    pub provider_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub label: Option<String>,
    pub created_by: Option<String>,
}

/// One appointment in the week view. The patient's name is shown because the front desk runs
/// the day by it; the view is audited with the ids it showed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ViewAppointment {
    pub appointment_id: String,
    pub provider_id: String,
    pub patient_id: String,
    pub patient_name: String,
    pub type_code: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// FHIR status code as stored.
    pub status: String,
    pub source: String,
    pub call_id: Option<String>,
}

/// An unexpired hold: a caller is deciding right now.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ViewHold {
    pub provider_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub expires_at_ms: i64,
    pub call_id: Option<String>,
}

/// One provider's local day.
#[derive(Debug, Clone, Serialize)]
pub struct ViewDay {
    pub date: String,
    pub day_off: bool,
    /// Open intervals as UTC milliseconds.
    pub open: Vec<[i64; 2]>,
}

/// One provider over the view's days.
#[derive(Debug, Clone, Serialize)]
pub struct ViewProvider {
    pub provider_id: String,
    pub display_name: String,
    pub location_id: String,
    pub location_name: String,
    pub time_zone: String,
    pub slot_interval_min: i64,
    pub min_notice_min: i64,
    pub types: Vec<ViewType>,
    pub days: Vec<ViewDay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewType {
    pub code: String,
    pub name: String,
    pub duration_min: i64,
}

/// The schedule over some days: providers with their open hours, and what fills them.
#[derive(Debug, Clone, Serialize)]
pub struct WeekView {
    pub from: String,
    pub days: i64,
    pub providers: Vec<ViewProvider>,
    pub appointments: Vec<ViewAppointment>,
    pub holds: Vec<ViewHold>,
    pub blocks: Vec<Block>,
}

#[derive(sqlx::FromRow)]
struct ProviderKey {
    provider_id: String,
    location_id: String,
}

#[derive(sqlx::FromRow)]
struct Count {
    n: i64,
}

impl BuiltinEhr {
    /// The schedule from local date `from` for `days` days, for one provider, one location or all.
    ///
    /// # Errors
    /// `Invalid` for a bad range, `NotFound` for an unknown provider or location; storage.
    pub async fn week_view(
        &self,
        from: Date,
        days: i64,
        provider: Option<&str>,
        location: Option<&str>,
    ) -> Result<WeekView, DeskError> {
        if !(1..=MAX_VIEW_DAYS).contains(&days) {
            return Err(DeskError::Invalid("days must be 1 to 14"));
        }
        let keys: Vec<ProviderKey> = self
            .db
            .all(
                "SELECT provider_id, location_id FROM providers ORDER BY location_id, provider_id",
                &[],
            )
            .await?;
        let keys: Vec<ProviderKey> = keys
            .into_iter()
            .filter(|k| provider.is_none_or(|p| p == k.provider_id))
            .filter(|k| location.is_none_or(|l| l == k.location_id))
            .collect();
        if keys.is_empty() {
            return Err(DeskError::NotFound(if provider.is_some() {
                "provider"
            } else {
                "location"
            }));
        }
        let now_ms = self.now().as_millisecond();
        let mut view = WeekView {
            from: from.to_string(),
            days,
            providers: Vec::new(),
            appointments: Vec::new(),
            holds: Vec::new(),
            blocks: Vec::new(),
        };
        for key in keys {
            let Some(record) = store::load_provider(&self.db, &key.provider_id).await? else {
                continue;
            };
            let cal = &record.calendar;
            let mut day_views = Vec::new();
            let mut day = from;
            for _ in 0..days {
                day_views.push(ViewDay {
                    date: day.to_string(),
                    day_off: cal.time_off.contains(&day),
                    open: cal
                        .open_intervals_on(day)
                        .into_iter()
                        .map(|(a, b)| [a.as_millisecond(), b.as_millisecond()])
                        .collect(),
                });
                day = day.tomorrow().map_err(|_| DeskError::Invalid("date out of range"))?;
            }
            let start_ms = local_midnight(cal, from)?;
            let end_ms = local_midnight(cal, day)?;
            let range = [Arg::Text(&key.provider_id), Arg::I64(end_ms), Arg::I64(start_ms)];
            let appointments: Vec<ViewAppointment> = self
                .db
                .all(
                    "SELECT a.appointment_id, a.provider_id, a.patient_id, pa.first_name || ' ' || pa.last_name AS \
                     patient_name, a.type_code, a.start_ms, a.end_ms, a.status, a.source, a.call_id FROM appointments a \
                     JOIN patients pa ON pa.patient_id = a.patient_id WHERE a.provider_id = ? AND a.start_ms < ? AND \
                     a.end_ms > ? AND a.replaced_by IS NULL ORDER BY a.start_ms",
                    &range,
                )
                .await?;
            let holds: Vec<ViewHold> = self
                .db
                .all(
                    "SELECT provider_id, start_ms, end_ms, expires_at_ms, call_id FROM busy_intervals WHERE \
                     provider_id = ? AND kind = 'hold' AND start_ms < ? AND end_ms > ? AND expires_at_ms > ? \
                     ORDER BY start_ms",
                    &[
                        Arg::Text(&key.provider_id),
                        Arg::I64(end_ms),
                        Arg::I64(start_ms),
                        Arg::I64(now_ms),
                    ],
                )
                .await?;
            let blocks: Vec<Block> = self
                .db
                .all(
                    "SELECT busy_id, provider_id, start_ms, end_ms, label, created_by FROM busy_intervals WHERE \
                     provider_id = ? AND kind = 'block' AND start_ms < ? AND end_ms > ? ORDER BY start_ms",
                    &range,
                )
                .await?;
            view.appointments.extend(appointments);
            view.holds.extend(holds);
            view.blocks.extend(blocks);
            view.providers.push(ViewProvider {
                provider_id: record.provider.id.clone(),
                display_name: record.provider.display_name.clone(),
                location_id: key.location_id,
                location_name: record.provider.location_name.clone(),
                time_zone: cal.time_zone.iana_name().unwrap_or("UTC").to_owned(),
                slot_interval_min: cal.slot_interval_min,
                min_notice_min: cal.min_notice_min,
                types: cal
                    .types
                    .iter()
                    .map(|t| ViewType {
                        code: t.code.clone(),
                        name: t.name.clone(),
                        duration_min: t.duration_min,
                    })
                    .collect(),
                days: day_views,
            });
        }
        Ok(view)
    }

    /// Book a visit for a patient as staff (source `staff`), with the overrides asked for.
    ///
    /// # Errors
    /// [`DeskError`]; `needs_override()` says which override would let it through.
    pub async fn staff_book(&self, b: &StaffBooking<'_>) -> Result<DeskBooking, DeskError> {
        let now = self.now();
        let exists: Vec<Count> = self
            .db
            .all(
                "SELECT COUNT(*) AS n FROM patients WHERE patient_id = ?",
                &[Arg::Text(b.patient_id)],
            )
            .await?;
        if exists.first().is_none_or(|c| c.n == 0) {
            return Err(DeskError::NotFound("patient"));
        }
        let visit_reason = super::reason_text(b.visit_reason);
        if visit_reason.is_empty() {
            return Err(DeskError::Invalid(
                "the visit needs a reason (what the patient comes for)",
            ));
        }
        let placed = self
            .placed(b.provider_id, b.type_code.unwrap_or(""), b.start, b.overrides, now)
            .await?;
        let mut tx = self.db.begin_write().await?;
        let appointment_id = match Self::claim(&mut tx, &placed, b.patient_id, &visit_reason, now).await {
            Ok(id) => id,
            Err(DeskError::Taken) if !b.overrides.buffers => {
                drop(tx);
                return Err(self.taken_or_buffers(&placed, None).await);
            }
            Err(e) => return Err(e),
        };
        let booked = DeskBooking {
            appointment_id,
            provider_id: b.provider_id.to_owned(),
            type_code: placed.type_code.clone(),
            start_ms: placed.start.as_millisecond(),
            end_ms: placed.end.as_millisecond(),
            replaces: None,
            before: None,
            overrides: b.overrides.names(),
        };
        let entry = history::Entry {
            appointment_id: &booked.appointment_id,
            actor: history::Actor::Staff(b.staff_id.to_owned()),
            event: Event::Confirm.name(),
            from: None,
            to: State::Confirmed,
            reason: Some(b.reason),
            details: serde_json::json!({"overrides": booked.overrides}),
            at_ms: now.as_millisecond(),
        };
        history::record(&mut tx, &entry).await?;
        let planned = self
            .plan_desk(&mut tx, &booked, &placed, b.patient_id, ChangeKind::Booked)
            .await?;
        commit(tx).await?;
        self.woke(planned);
        Ok(booked)
    }

    /// Move a booked visit to another start with the same provider and visit type. The old
    /// appointment ends as rescheduled and a new one replaces it, as when the agent moves one.
    ///
    /// # Errors
    /// [`DeskError`]; the old appointment stands whenever this fails.
    pub async fn staff_move(
        &self,
        appointment_id: &str,
        start: Timestamp,
        overrides: Overrides,
        staff_id: &str,
        reason: &str,
    ) -> Result<DeskBooking, DeskError> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let old = store::appointment_by_id(&mut tx, appointment_id)
            .await?
            .ok_or(DeskError::NotFound("appointment"))?;
        let from = Self::state_of(&old);
        lifecycle::transition(from, &Event::Reschedule, old.start_ms, now.as_millisecond())?;
        let visit_reason = store::visit_reason(&mut tx, appointment_id).await?;
        // Released first, so a move by a few minutes may overlap the visit's own old time.
        store::release_appointment(&mut tx, appointment_id).await?;
        let placed = self
            .placed(&old.provider_id, &old.type_code, start, overrides, now)
            .await?;
        let new_id = match Self::claim(&mut tx, &placed, &old.patient_id, &visit_reason, now).await {
            Ok(id) => id,
            Err(DeskError::Taken) if !overrides.buffers => {
                drop(tx);
                return Err(self.taken_or_buffers(&placed, Some(appointment_id)).await);
            }
            Err(e) => return Err(e),
        };
        store::mark_cancelled(
            &mut tx,
            appointment_id,
            "rescheduled",
            Some(&new_id),
            now.as_millisecond(),
        )
        .await?;
        let moved = DeskBooking {
            appointment_id: new_id,
            provider_id: old.provider_id.clone(),
            type_code: placed.type_code.clone(),
            start_ms: placed.start.as_millisecond(),
            end_ms: placed.end.as_millisecond(),
            replaces: Some(appointment_id.to_owned()),
            before: Some((old.start_ms, old.end_ms)),
            overrides: overrides.names(),
        };
        let staff = history::Actor::Staff(staff_id.to_owned());
        let old_entry = history::Entry {
            appointment_id,
            actor: staff.clone(),
            event: Event::Reschedule.name(),
            from: Some(from),
            to: State::Rescheduled,
            reason: Some(reason),
            details: serde_json::json!({
                "replaced_by": moved.appointment_id,
                "before": {"start_ms": old.start_ms, "end_ms": old.end_ms},
                "after": {"start_ms": moved.start_ms, "end_ms": moved.end_ms},
                "overrides": moved.overrides,
            }),
            at_ms: now.as_millisecond(),
        };
        history::record(&mut tx, &old_entry).await?;
        let new_entry = history::Entry {
            appointment_id: &moved.appointment_id,
            actor: staff,
            event: Event::Confirm.name(),
            from: None,
            to: State::Confirmed,
            reason: Some(reason),
            details: serde_json::json!({"replaces": appointment_id, "overrides": moved.overrides}),
            at_ms: now.as_millisecond(),
        };
        history::record(&mut tx, &new_entry).await?;
        let kind = ChangeKind::Rescheduled {
            previous: appointment_id.to_owned(),
        };
        let planned = self.plan_desk(&mut tx, &moved, &placed, &old.patient_id, kind).await?;
        commit(tx).await?;
        self.woke(planned);
        Ok(moved)
    }

    /// Block a provider's time (leave, a meeting): nothing can be booked or held there.
    ///
    /// # Errors
    /// `Invalid` for a bad interval or label, `Overlaps` listing booked visits in the way,
    /// `Taken` for a hold or another block; storage.
    pub async fn block_time(
        &self,
        provider_id: &str,
        start: Timestamp,
        end: Timestamp,
        label: &str,
        staff_id: &str,
    ) -> Result<Block, DeskError> {
        let label: String = label.trim().chars().take(MAX_LABEL_CHARS).collect();
        if label.chars().count() < 3 {
            return Err(DeskError::Invalid("a block needs a label of at least 3 characters"));
        }
        let unit_ms = super::calendar::UNIT_MINUTES * 60_000;
        let (s, e) = (start.as_millisecond(), end.as_millisecond());
        if e <= s || s % unit_ms != 0 || e % unit_ms != 0 {
            return Err(DeskError::Invalid(
                "a block starts before it ends, on 5-minute boundaries",
            ));
        }
        if end.duration_since(start) > SignedDuration::from_hours(24 * MAX_BLOCK_DAYS) {
            return Err(DeskError::Invalid(
                "a block is at most 31 days; enter longer leave in parts",
            ));
        }
        if store::load_provider(&self.db, provider_id).await?.is_none() {
            return Err(DeskError::NotFound("provider"));
        }
        let now_ms = self.now().as_millisecond();
        let mut tx = self.db.begin_write().await?;
        store::purge_expired_holds(&mut tx, provider_id, now_ms).await?;
        let busy = NewBusy {
            provider_id,
            kind: BusyKind::Block {
                label: &label,
                created_by: staff_id,
            },
            appointment_id: None,
            patient_id: None,
            call_id: None,
            type_code: None,
            start_ms: s,
            end_ms: e,
            busy_start_ms: s,
            busy_end_ms: e,
        };
        match store::insert_busy(&mut tx, &busy).await {
            Ok(busy_id) => {
                commit(tx).await?;
                Ok(Block {
                    busy_id,
                    provider_id: provider_id.to_owned(),
                    start_ms: s,
                    end_ms: e,
                    label: Some(label),
                    created_by: Some(staff_id.to_owned()),
                })
            }
            Err(err) if err.is_conflict() => {
                drop(tx);
                #[derive(sqlx::FromRow)]
                struct Id {
                    appointment_id: String,
                }
                let booked: Vec<Id> = self
                    .db
                    .all(
                        "SELECT appointment_id FROM busy_intervals WHERE provider_id = ? AND kind = 'appointment' \
                         AND busy_start_ms < ? AND busy_end_ms > ? ORDER BY busy_start_ms",
                        &[Arg::Text(provider_id), Arg::I64(e), Arg::I64(s)],
                    )
                    .await?;
                if booked.is_empty() {
                    Err(DeskError::Taken)
                } else {
                    Err(DeskError::Overlaps(
                        booked.into_iter().map(|r| r.appointment_id).collect(),
                    ))
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Remove a block. Returns it as it was (for the audit record).
    ///
    /// # Errors
    /// `NotFound`; storage.
    pub async fn unblock(&self, busy_id: &str) -> Result<Block, DeskError> {
        let mut tx = self.db.begin_write().await?;
        let rows: Vec<Block> = tx
            .all(
                "SELECT busy_id, provider_id, start_ms, end_ms, label, created_by FROM busy_intervals WHERE \
                 busy_id = ? AND kind = 'block'",
                &[Arg::Text(busy_id)],
            )
            .await?;
        let block = rows.into_iter().next().ok_or(DeskError::NotFound("block"))?;
        if tx.is_sqlite() {
            tx.exec("DELETE FROM occupancy WHERE busy_id = ?", &[Arg::Text(busy_id)])
                .await?;
        }
        tx.exec(
            "DELETE FROM busy_intervals WHERE busy_id = ? AND kind = 'block'",
            &[Arg::Text(busy_id)],
        )
        .await?;
        commit(tx).await?;
        Ok(block)
    }

    /// The calendar's verdict on a staff start. What is booked is left to the constraint when
    /// the visit is claimed.
    async fn placed(
        &self,
        provider_id: &str,
        type_code: &str,
        start: Timestamp,
        overrides: Overrides,
        now: Timestamp,
    ) -> Result<Placed, DeskError> {
        let record = store::load_provider(&self.db, provider_id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        let cal = &record.calendar;
        let ty = if type_code.is_empty() {
            cal.default_type()
        } else {
            cal.appointment_type(type_code)
        }
        .ok_or(DeskError::NotFound("visit type"))?
        .clone();
        let c = cal.check_staff_start(&ty, start, now, overrides.short_notice)?;
        let busy = if overrides.buffers {
            (c.start, c.end)
        } else {
            cal.busy_interval(c.start, c.end)
        };
        Ok(Placed {
            provider_id: provider_id.to_owned(),
            provider: record.provider.clone(),
            type_code: ty.code,
            start: c.start,
            end: c.end,
            busy,
        })
    }

    /// After a refusal: would the visit fit without its own buffers? (`ignore` is the visit being
    /// moved, still on the books outside the failed transaction.)
    async fn taken_or_buffers(&self, placed: &Placed, ignore: Option<&str>) -> DeskError {
        #[derive(sqlx::FromRow)]
        struct Busy {
            appointment_id: Option<String>,
        }
        let now_ms = self.now().as_millisecond();
        let rows: Result<Vec<Busy>, _> = self
            .db
            .all(
                "SELECT appointment_id FROM busy_intervals WHERE provider_id = ? AND busy_start_ms < ? AND \
                 busy_end_ms > ? AND (expires_at_ms IS NULL OR expires_at_ms > ?)",
                &[
                    Arg::Text(&placed.provider_id),
                    Arg::I64(placed.end.as_millisecond()),
                    Arg::I64(placed.start.as_millisecond()),
                    Arg::I64(now_ms),
                ],
            )
            .await;
        match rows {
            Ok(rows)
                if rows
                    .iter()
                    .all(|r| ignore.is_some() && r.appointment_id.as_deref() == ignore) =>
            {
                DeskError::NeedsBufferOverride
            }
            Ok(_) => DeskError::Taken,
            Err(e) => DeskError::Storage(e),
        }
    }

    /// Insert the appointment and claim its busy interval in `tx` (the constraint decides).
    async fn claim(
        tx: &mut Tx,
        placed: &Placed,
        patient_id: &str,
        visit_reason: &str,
        now: Timestamp,
    ) -> Result<String, DeskError> {
        store::purge_expired_holds(tx, &placed.provider_id, now.as_millisecond()).await?;
        let appointment_id = store::insert_appointment(
            tx,
            &NewAppointment {
                provider_id: &placed.provider_id,
                patient_id,
                type_code: &placed.type_code,
                start_ms: placed.start.as_millisecond(),
                end_ms: placed.end.as_millisecond(),
                reason: visit_reason,
                call_id: None,
                source: "staff",
                now_ms: now.as_millisecond(),
            },
        )
        .await?;
        let busy = NewBusy {
            provider_id: &placed.provider_id,
            kind: BusyKind::Appointment,
            appointment_id: Some(&appointment_id),
            patient_id: Some(patient_id),
            call_id: None,
            type_code: Some(&placed.type_code),
            start_ms: placed.start.as_millisecond(),
            end_ms: placed.end.as_millisecond(),
            busy_start_ms: placed.busy.0.as_millisecond(),
            busy_end_ms: placed.busy.1.as_millisecond(),
        };
        match store::insert_busy(tx, &busy).await {
            Ok(_) => Ok(appointment_id),
            Err(e) if e.is_conflict() => Err(DeskError::Taken),
            Err(e) => Err(e.into()),
        }
    }

    async fn plan_desk(
        &self,
        tx: &mut Tx,
        booked: &DeskBooking,
        placed: &Placed,
        patient_id: &str,
        kind: ChangeKind,
    ) -> Result<usize, DeskError> {
        let Some(n) = &self.notify else { return Ok(0) };
        let appointment = crate::tools::ehr::Appointment {
            id: booked.appointment_id.clone(),
            provider_id: booked.provider_id.clone(),
            provider_name: placed.provider.display_name.clone(),
            start: timestamp(booked.start_ms),
            end: timestamp(booked.end_ms),
            status: crate::tools::ehr::AppointmentStatus::Booked,
            time_zone: placed.provider.time_zone.clone(),
        };
        Ok(n.plan_in(tx, &change_of(kind, &appointment, patient_id, None)).await?)
    }
}

/// Where a staff booking goes: calendar-checked start and end, and the busy interval it claims.
struct Placed {
    provider_id: String,
    /// Name and zone for the patient's confirmation (read once, with the calendar).
    provider: crate::tools::ehr::Provider,
    type_code: String,
    start: Timestamp,
    end: Timestamp,
    busy: (Timestamp, Timestamp),
}

/// Commit, reporting a constraint refusal at commit (deferred checks) as a taken slot.
async fn commit(tx: Tx) -> Result<(), DeskError> {
    tx.commit().await.map_err(|e| {
        if e.is_conflict() {
            DeskError::Taken
        } else {
            DeskError::Storage(e)
        }
    })
}

/// The instant a local day starts in the provider's zone.
fn local_midnight(cal: &super::calendar::Calendar, day: Date) -> Result<i64, DeskError> {
    cal.time_zone
        .to_timestamp(day.at(0, 0, 0, 0))
        .map(|t| t.as_millisecond())
        .map_err(|_| DeskError::Invalid("date out of range"))
}

/// Parse the view's `from` date (defaults to today in UTC when empty).
///
/// # Errors
/// `Invalid` for anything but `YYYY-MM-DD`.
pub fn parse_day(raw: &str, now: Timestamp) -> Result<Date, DeskError> {
    if raw.is_empty() {
        return Ok(now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date());
    }
    raw.parse::<Date>()
        .map_err(|_| DeskError::Invalid("dates are YYYY-MM-DD"))
        .and_then(|d| {
            // Keep arithmetic far from jiff's limits.
            if d.year() < 2000 || d.year() > 2200 {
                Err(DeskError::Invalid("dates are between 2000 and 2200"))
            } else {
                Ok(d)
            }
        })
}

/// Parse an instant staff send (RFC 3339 with an offset or `Z`).
///
/// # Errors
/// `Invalid` otherwise.
pub fn parse_instant(raw: &str) -> Result<Timestamp, DeskError> {
    let t: Timestamp = raw
        .parse()
        .map_err(|_| DeskError::Invalid("times are RFC 3339 instants, e.g. 2026-12-08T14:30:00Z"))?;
    // Keep arithmetic far from jiff's limits: 2000-01-01 to 2200-01-01.
    if !(946_684_800_000..7_258_118_400_000).contains(&t.as_millisecond()) {
        return Err(DeskError::Invalid("times are between 2000 and 2200"));
    }
    Ok(t)
}
