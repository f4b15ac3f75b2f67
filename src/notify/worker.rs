//! The worker inside `serve`: claims due messages, sends them, records the outcome, audits each
//! disclosure. Every replica runs one; the claim (see [`outbox`](super::outbox)) keeps them from
//! sending the same row.
//!
//! Crash consistency: a row is claimed with a lease and attempts counted at the claim. A worker
//! that dies before recording the outcome leaves the row planned with an expiring lease; another
//! worker (or this one after a restart) takes it over when the lease ends. The only window for a
//! duplicate is between the carrier accepting a message and the one UPDATE that marks it sent.
//! The `notification.sent` audit record is written inside that window, so a duplicate is a second
//! audited disclosure, never an unaudited one; and email carries a Message-ID derived from the
//! notification id, so the receiving side sees the same message twice, not two messages.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::channel::{Outgoing, SendError, Senders};
use super::outbox::{self, Claimed, Outcome};
use super::template::{Fill, Templates};
use super::{Channel, Kind, Language, Notifications, contacts};
use crate::audit::{Actor, AuditEvent, AuditLog, AuditOutcome};
use crate::metrics::Metrics;
use crate::storage::StorageError;

/// The audit actor of everything the worker does.
pub const JOB: &str = "notifications";

/// Everything the worker needs.
pub struct Worker {
    pub notifications: Notifications,
    pub senders: Senders,
    pub audit: Arc<AuditLog>,
    pub metrics: Arc<Metrics>,
    /// `server.public_base_url` (the unsubscribe link).
    pub public_base: String,
    /// This worker's claim name (unique per process).
    pub id: String,
}

impl Worker {
    pub fn new(
        notifications: Notifications,
        senders: Senders,
        audit: Arc<AuditLog>,
        metrics: Arc<Metrics>,
        public_base: String,
    ) -> Worker {
        let mut bytes = [0u8; 8];
        let _ = getrandom::fill(&mut bytes);
        Worker {
            notifications,
            senders,
            audit,
            metrics,
            public_base,
            id: format!("w-{}", crate::config::hex(&bytes)),
        }
    }

    /// Send due messages until cancelled. A message being sent when the server stops is finished
    /// first (a send is bounded by the channel's timeout).
    pub async fn run(self, cancel: CancellationToken) {
        let poll = Duration::from_millis(self.notifications.settings().poll_interval_ms);
        let templates = Templates::new(self.notifications.settings().templates.clone());
        loop {
            let full = match self.run_once(&templates).await {
                Ok(n) => n >= self.notifications.settings().batch_size as usize,
                Err(e) => {
                    tracing::warn!(error.message = %e, "notification outbox unavailable; will retry");
                    false
                }
            };
            if full {
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.notifications.woken() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Claim one batch of due messages and process it; returns how many were claimed.
    ///
    /// # Errors
    /// The outbox could not be read.
    pub async fn run_once(&self, templates: &Templates) -> Result<usize, StorageError> {
        let s = self.notifications.settings();
        let now = self.notifications.now_ms();
        let until = now.saturating_add(i64::try_from(s.claim_secs).unwrap_or(60).saturating_mul(1000));
        let claimed = outbox::claim(self.notifications.db(), &self.id, now, until, s.batch_size).await?;
        for row in &claimed {
            let outcome = self.attempt(row, templates).await;
            self.finish(row, outcome).await;
        }
        Ok(claimed.len())
    }

    async fn attempt(&self, row: &Claimed, templates: &Templates) -> Outcome {
        let (Some(kind), Some(channel)) = (Kind::parse(&row.kind), Channel::parse(&row.channel)) else {
            return Outcome::Failed {
                reason: "unknown_kind".into(),
            };
        };
        let now = self.notifications.now_ms();
        if kind == Kind::Reminder && now >= row.appointment_start_ms {
            return Outcome::Suppressed { reason: "too_late" };
        }
        let db = self.notifications.db();
        let contact = match contacts::get(db, &row.patient_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Outcome::Suppressed { reason: "no_contact" },
            Err(_) => return self.retry(row, "database".into()),
        };
        let (address, consent) = match channel {
            Channel::Sms => (contact.phone_e164.as_deref(), contact.sms_consent == 1),
            Channel::Email => (contact.email.as_deref(), contact.email_consent == 1),
        };
        let Some(address) = address.filter(|a| !a.trim().is_empty()) else {
            return Outcome::Suppressed { reason: "no_address" };
        };
        if !consent {
            return Outcome::Suppressed { reason: "no_consent" };
        }
        let unsubscribe = match channel {
            Channel::Email => match contacts::unsubscribe_token(db, &row.patient_id).await {
                Ok(token) => Some(format!(
                    "{}{}?t={token}",
                    self.public_base,
                    crate::notify::UNSUBSCRIBE_PATH
                )),
                Err(_) => return self.retry(row, "database".into()),
            },
            Channel::Sms => None,
        };
        let s = self.notifications.settings();
        let tz = TimeZone::get(&row.time_zone).unwrap_or(TimeZone::UTC);
        let start = Timestamp::from_millisecond(row.appointment_start_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let rendered = templates.render(
            kind,
            channel,
            Language::or_english(&contact.language),
            &Fill {
                clinic: &s.clinic_name,
                phone: &s.clinic_phone,
                start,
                time_zone: &tz,
                unsubscribe_url: unsubscribe.as_deref(),
            },
        );
        let message = Outgoing {
            notification_id: &row.notification_id,
            to: address,
            subject: rendered.subject.as_deref(),
            body: &rendered.body,
            unsubscribe_url: unsubscribe.as_deref(),
        };
        match self.senders.send(channel, &message).await {
            Ok(accepted) => Outcome::Sent {
                provider_message_id: accepted.provider_message_id,
                template_id: rendered.template_id,
            },
            Err(SendError::Transient(reason)) => self.retry(row, reason),
            Err(SendError::Permanent(reason)) => Outcome::Failed { reason },
        }
    }

    /// Try again later with exponential backoff, or give up after `max_attempts`.
    fn retry(&self, row: &Claimed, reason: String) -> Outcome {
        let s = self.notifications.settings();
        if row.attempts >= i64::from(s.max_attempts) {
            return Outcome::Failed {
                reason: format!("{reason}_gave_up"),
            };
        }
        let exponent = u32::try_from(row.attempts.saturating_sub(1)).unwrap_or(0).min(20);
        let delay = s.retry_base_secs.saturating_mul(1 << exponent).min(s.retry_max_secs);
        let due = self
            .notifications
            .now_ms()
            .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX / 2).saturating_mul(1000));
        Outcome::Retry { reason, due_at_ms: due }
    }

    async fn finish(&self, row: &Claimed, outcome: Outcome) {
        let now = self.notifications.now_ms();
        let channel: &'static str = Channel::parse(&row.channel).map_or("unknown", Channel::as_str);
        let (result, audit) = match &outcome {
            Outcome::Sent { template_id, .. } => (
                "sent",
                Some((
                    "notification.sent",
                    AuditOutcome::Success,
                    json!({"template_id": template_id}),
                )),
            ),
            Outcome::Retry { reason, .. } => {
                tracing::info!(notification = %row.notification_id, channel, reason = %reason, attempt = row.attempts, "notification will be retried");
                ("retry", None)
            }
            Outcome::Failed { reason } => {
                tracing::warn!(notification = %row.notification_id, channel, reason = %reason, "notification failed");
                (
                    "failed",
                    Some(("notification.failed", AuditOutcome::Failure, json!({"reason": reason}))),
                )
            }
            Outcome::Suppressed { reason } => {
                tracing::info!(notification = %row.notification_id, channel, reason, "notification suppressed");
                ("suppressed", None)
            }
        };
        self.metrics.notification(channel, result);
        if let Some((action, audit_outcome, mut details)) = audit {
            if let Some(map) = details.as_object_mut() {
                map.insert("notification_id".into(), row.notification_id.clone().into());
                map.insert("appointment_id".into(), row.appointment_id.clone().into());
                map.insert("channel".into(), channel.into());
                map.insert("kind".into(), row.kind.clone().into());
                map.insert("attempt".into(), row.attempts.into());
            }
            let event = AuditEvent {
                actor: Actor::System { job: JOB.into() },
                action: action.into(),
                call_id: row.call_id.clone(),
                patient: self.notifications.patient_ref(&row.patient_id),
                reason: Some("appointment notification".into()),
                outcome: audit_outcome,
                details,
                at_ms: u64::try_from(now).unwrap_or(0),
            };
            if let Err(e) = self.audit.append_or_spool(&event).await {
                tracing::error!(notification = %row.notification_id, error.message = %e, "notification audit record could not be written or spooled");
            }
        }
        // The disclosure is on record before the row says so: a crash in between re-sends and
        // audits again (two records for two messages), never a message without a record.
        let kept = match outbox::finish(self.notifications.db(), &row.notification_id, &self.id, &outcome, now).await {
            Ok(kept) => kept,
            Err(e) => {
                // The lease runs out and the row is tried again: at worst a duplicate, never a loss.
                tracing::warn!(notification = %row.notification_id, error.message = %e, "outcome could not be recorded");
                true
            }
        };
        if !kept {
            tracing::warn!(notification = %row.notification_id, "claim was taken over before the outcome was recorded");
        }
    }
}
