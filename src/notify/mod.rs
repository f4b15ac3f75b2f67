//! Confirmations and reminders: SMS and email on a durable schedule, PHI-minimal.
//!
//! ```text
//! tools (book / reschedule / cancel commit) ──► Notifications::appointment_changed
//!        one transaction: cancel the old slot's pending rows, insert the new ones
//!        (the primary key is the idempotency key, so planning twice is a no-op)
//!                                   │ wake
//!                                   ▼
//!  notifications table (outbox) ◄── worker::run (inside `serve`, on every replica)
//!        claim due rows (FOR UPDATE SKIP LOCKED / SQLite's single writer), lease claim_secs
//!        consent + address from notification_contacts at send time (STOP wins at once)
//!        render (template.rs) → channel::Senders (SMTP via lettre, Twilio Messaging REST)
//!        sent → `notification.sent` audit record (a disclosure to a carrier)
//!        transient error → retry with backoff; permanent or too many → failed
//!  inbound: http::twilio_sms (STOP/START/HELP, C/R replies, status callbacks),
//!           http::unsubscribe (email link)
//! ```
//!
//! Times come from the injected [`Clock`](crate::clock::Clock): tests move it instead of sleeping.

/// Where Twilio reports an SMS's delivery (served by `http::twilio_sms`; messages name it).
pub const SMS_STATUS_PATH: &str = "/twilio/sms/status";
/// The email unsubscribe page (served by `http::unsubscribe`; emails link to it).
pub const UNSUBSCRIBE_PATH: &str = "/notify/unsubscribe";

pub mod channel;
pub mod contacts;
pub mod feed;
pub mod inbound;
pub mod outbox;
pub mod settings;
pub mod template;
pub mod worker;

use std::sync::Arc;

use jiff::Timestamp;

use crate::clock::SharedClock;
use crate::config::{KeyedSecret, Settings};
use crate::storage::sql::Tx;
use crate::storage::{Db, StorageError};
use crate::telemetry::PhiRef;

pub use settings::NotifySettings;

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Booked,
    Rescheduled,
    Cancelled,
    Reminder,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Booked => "booked",
            Kind::Rescheduled => "rescheduled",
            Kind::Cancelled => "cancelled",
            Kind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "booked" => Kind::Booked,
            "rescheduled" => Kind::Rescheduled,
            "cancelled" => Kind::Cancelled,
            "reminder" => Kind::Reminder,
            _ => return None,
        })
    }
}

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        match s {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

/// The languages templates exist in; anything else falls back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    En,
    Es,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
        }
    }

    /// `en`, `es`, `es-MX`, `EN_us` ... (the primary subtag decides).
    pub fn parse(s: &str) -> Option<Language> {
        let primary = s.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::En),
            "es" => Some(Language::Es),
            _ => None,
        }
    }

    /// A stored language code, English when unknown.
    pub fn or_english(s: &str) -> Language {
        Language::parse(s).unwrap_or(Language::En)
    }
}

/// What happened to an appointment (after its commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    Booked,
    /// Moved from `previous` (which may be the same id, on an EHR that moves in place).
    Rescheduled {
        previous: String,
    },
    Cancelled,
}

/// One committed change, as the tools (or staff, or an EHR feed) report it. No PHI beyond ids and
/// the time of the visit.
#[derive(Debug, Clone)]
pub struct AppointmentChange<'a> {
    pub kind: ChangeKind,
    pub appointment_id: &'a str,
    pub patient_id: &'a str,
    pub call_id: Option<&'a str>,
    pub start: Timestamp,
    /// IANA name of the clinic location's zone (messages are written in it).
    pub time_zone: &'a str,
}

/// The notification service a server holds: plans messages and wakes the worker. Cheap to clone.
#[derive(Clone)]
pub struct Notifications {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: SharedClock,
    settings: NotifySettings,
    phi_key: Option<KeyedSecret>,
    channels: Vec<Channel>,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Notifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications")
            .field("channels", &self.inner.channels)
            .finish_non_exhaustive()
    }
}

impl Notifications {
    pub fn new(settings: &Settings, db: Db, clock: SharedClock) -> Notifications {
        let n = &settings.notifications;
        let mut channels = Vec::new();
        if n.sms.is_some() {
            channels.push(Channel::Sms);
        }
        if n.email.is_some() {
            channels.push(Channel::Email);
        }
        Notifications {
            inner: Arc::new(Inner {
                db,
                clock,
                settings: n.clone(),
                phi_key: settings.secrets.phi_hash_key.clone(),
                channels,
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The channels that are on (empty = nothing is ever planned).
    pub fn channels(&self) -> &[Channel] {
        &self.inner.channels
    }

    pub fn settings(&self) -> &NotifySettings {
        &self.inner.settings
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn now_ms(&self) -> i64 {
        i64::try_from(self.inner.clock.now_unix_ms()).unwrap_or(i64::MAX)
    }

    /// The keyed reference of a patient id (logs, audit records, the outbox row).
    pub fn patient_ref(&self, patient_id: &str) -> Option<PhiRef> {
        self.inner
            .phi_key
            .as_ref()
            .map(|k| PhiRef::new(k, "patient", patient_id))
    }

    /// Ask the worker to look for due messages now (after planning, in tests after moving the clock).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.inner.wake.notified().await;
    }

    /// Plan the messages for a committed change, in one transaction: the pending messages of the
    /// old slot are cancelled and the confirmation and reminders of the new one inserted. Planning
    /// the same change again changes nothing (the ids are the idempotency keys). Returns the number
    /// of messages newly planned.
    ///
    /// # Errors
    /// The database is unavailable (the change itself stands; the caller logs it).
    pub async fn appointment_changed(&self, change: &AppointmentChange<'_>) -> Result<usize, StorageError> {
        if self.inner.channels.is_empty() {
            return Ok(0);
        }
        let mut tx = self.inner.db.begin_write().await?;
        let planned = self.plan_in(&mut tx, change).await?;
        tx.commit().await?;
        if planned > 0 {
            self.wake();
        }
        Ok(planned)
    }

    /// As [`appointment_changed`](Self::appointment_changed), inside the caller's transaction —
    /// the built-in store's, so the change and its messages commit together or not at all (a
    /// crash between them cannot lose a confirmation). The caller wakes the worker after commit.
    ///
    /// # Errors
    /// Storage failures (the caller's transaction is then rolled back with the change).
    pub async fn plan_in(&self, tx: &mut Tx, change: &AppointmentChange<'_>) -> Result<usize, StorageError> {
        if self.inner.channels.is_empty() {
            return Ok(0);
        }
        let now = self.now_ms();
        let patient_ref = self
            .patient_ref(change.patient_id)
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default();
        match &change.kind {
            ChangeKind::Booked => {}
            ChangeKind::Rescheduled { previous } if previous == change.appointment_id => {
                // Moved in place (same id, new time): only the old time's messages go.
                outbox::cancel_pending_except(tx, previous, change.start.as_millisecond(), now).await?;
            }
            ChangeKind::Rescheduled { previous } => {
                outbox::cancel_pending(tx, previous, "rescheduled", now).await?;
            }
            ChangeKind::Cancelled => {
                outbox::cancel_pending(tx, change.appointment_id, "appointment_cancelled", now).await?;
            }
        }
        let mut planned = 0;
        for row in plan(&self.inner.settings, &self.inner.channels, change, now) {
            planned += outbox::insert_planned(tx, &row, change, &patient_ref, now).await?;
        }
        Ok(planned)
    }
}

/// A message to plan: (id, kind, channel, offset, due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRow {
    pub notification_id: String,
    pub kind: Kind,
    pub channel: Channel,
    pub offset_min: Option<u32>,
    pub due_at_ms: i64,
}

/// The rows a change plans (pure). Ids carry the appointment's start, so a move of the same id to
/// another time plans new rows instead of colliding with the cancelled ones. A reminder whose time
/// has already passed is not planned: the confirmation going out now says the same.
pub fn plan(
    settings: &NotifySettings,
    channels: &[Channel],
    change: &AppointmentChange<'_>,
    now_ms: i64,
) -> Vec<PlannedRow> {
    let start_ms = change.start.as_millisecond();
    let kind = match change.kind {
        ChangeKind::Booked => Kind::Booked,
        ChangeKind::Rescheduled { .. } => Kind::Rescheduled,
        ChangeKind::Cancelled => Kind::Cancelled,
    };
    let mut rows = Vec::new();
    // A booking and a move share the confirmation's key: however a change is first seen (the
    // tools, or the EHR feed seeing the same appointment later), the patient hears of it once.
    let key = if kind == Kind::Cancelled {
        "cancelled"
    } else {
        "confirm"
    };
    for &channel in channels {
        rows.push(PlannedRow {
            notification_id: format!("{}:{key}:{}:{start_ms}", change.appointment_id, channel.as_str()),
            kind,
            channel,
            offset_min: None,
            due_at_ms: now_ms,
        });
        if kind == Kind::Cancelled {
            continue;
        }
        for &offset in &settings.reminder_offsets_min {
            let due = start_ms - i64::from(offset) * 60_000;
            if due <= now_ms {
                continue;
            }
            rows.push(PlannedRow {
                notification_id: format!(
                    "{}:reminder:{}:{start_ms}:{offset}",
                    change.appointment_id,
                    channel.as_str()
                ),
                kind: Kind::Reminder,
                channel,
                offset_min: Some(offset),
                due_at_ms: due,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NotifySettings {
        crate::config::Settings::embedded().unwrap().notifications
    }

    fn change(kind: ChangeKind, start: &str) -> AppointmentChange<'static> {
        AppointmentChange {
            kind,
            appointment_id: "a1",
            patient_id: "p1",
            call_id: Some("c1"),
            start: start.parse().unwrap(),
            time_zone: "America/New_York",
        }
    }

    #[test]
    fn a_booking_plans_a_confirmation_now_and_each_reminder_before_the_visit() {
        let now: Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let c = change(ChangeKind::Booked, "2026-12-10T15:00:00Z");
        let rows = plan(&settings(), &[Channel::Email, Channel::Sms], &c, now.as_millisecond());
        let start = c.start.as_millisecond();
        let email: Vec<_> = rows.iter().filter(|r| r.channel == Channel::Email).collect();
        assert_eq!(email.len(), 3, "{rows:?}");
        assert_eq!(email[0].kind, Kind::Booked);
        assert_eq!(email[0].due_at_ms, now.as_millisecond());
        assert_eq!(email[1].due_at_ms, start - 24 * 3_600_000);
        assert_eq!(email[2].due_at_ms, start - 2 * 3_600_000);
        assert_eq!(rows.len(), 6);
        let mut ids: Vec<_> = rows.iter().map(|r| r.notification_id.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 6, "ids are unique: {ids:?}");
    }

    #[test]
    fn reminders_already_due_are_skipped_and_a_cancellation_plans_only_its_notice() {
        let now: Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let soon = change(ChangeKind::Booked, "2026-12-07T20:00:00Z");
        let rows = plan(&settings(), &[Channel::Sms], &soon, now.as_millisecond());
        let kinds: Vec<_> = rows.iter().map(|r| (r.kind, r.offset_min)).collect();
        assert_eq!(kinds, vec![(Kind::Booked, None), (Kind::Reminder, Some(120))]);
        let cancelled = change(ChangeKind::Cancelled, "2026-12-10T15:00:00Z");
        let rows = plan(&settings(), &[Channel::Sms], &cancelled, now.as_millisecond());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind, Kind::Cancelled);
    }

    #[test]
    fn a_move_in_place_gets_new_ids_and_no_channel_plans_nothing() {
        let now = 0;
        let before = plan(
            &settings(),
            &[Channel::Sms],
            &change(ChangeKind::Booked, "2026-12-10T15:00:00Z"),
            now,
        );
        let after = plan(
            &settings(),
            &[Channel::Sms],
            &change(
                ChangeKind::Rescheduled { previous: "a1".into() },
                "2026-12-11T15:00:00Z",
            ),
            now,
        );
        assert!(
            before
                .iter()
                .all(|b| after.iter().all(|a| a.notification_id != b.notification_id))
        );
        assert!(
            plan(
                &settings(),
                &[],
                &change(ChangeKind::Booked, "2026-12-10T15:00:00Z"),
                now
            )
            .is_empty()
        );
    }

    #[test]
    fn languages_fall_back_to_english() {
        assert_eq!(Language::parse("es-MX"), Some(Language::Es));
        assert_eq!(Language::parse("EN_us"), Some(Language::En));
        assert_eq!(Language::parse("fr"), None);
        assert_eq!(Language::or_english("fr"), Language::En);
    }
}
