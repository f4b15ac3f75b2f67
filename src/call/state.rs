//! The call's pure state: responses in flight, the conversation log and the tool ledger.
//!
//! No I/O and no clock: the session feeds facts in and acts on what comes back. This is what
//! survives an upstream replacement (reconnect or recycle): the log of items and transcripts, the
//! tool ledger keyed by the model's `call_id`, and which responses were cancelled — all outside the
//! upstream handle, with item ids tagged by upstream generation.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::telemetry::PhiRef;

/// A record that matched every identifier the caller gave: what the verification tool finds.
/// Only the call's state turns it into a [`VerifiedPatient`] ([`CallState::verified`]).
#[derive(Clone, PartialEq, Eq)]
pub struct PatientMatch {
    pub(crate) patient_id: String,
    pub(crate) phi_ref: PhiRef,
}

impl std::fmt::Debug for PatientMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientMatch")
            .field("phi_ref", &self.phi_ref)
            .finish_non_exhaustive()
    }
}

/// A caller verified in this call. Only [`CallState::verified`] can construct one (its fields are
/// private to this module and it has no other constructor), so a tool that takes
/// `&VerifiedPatient` cannot run for a caller who was not verified — whatever the model asks.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedPatient {
    patient_id: String,
    phi_ref: PhiRef,
}

/// Failed attempts in one call that end verification for the rest of it.
pub const MAX_ATTEMPTS_PER_CALL: u32 = 3;

/// Where the caller stands with verification. The gate is the type: patient tools need the
/// [`VerifiedPatient`] only `Verified` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Not verified yet, after this many failed attempts in this call.
    Unverified {
        failures: u32,
    },
    Verified(VerifiedPatient),
    /// Too many failures in this call: no more attempts until the next call (a record locked
    /// across calls is the verification tool's answer, per record).
    LockedOut,
}

impl Default for Verification {
    fn default() -> Self {
        Verification::Unverified { failures: 0 }
    }
}

impl VerifiedPatient {
    /// The EHR's id (for EHR queries only; never logged).
    pub fn patient_id(&self) -> &str {
        &self.patient_id
    }

    /// The keyed reference for logs and audit records.
    pub fn phi_ref(&self) -> &PhiRef {
        &self.phi_ref
    }
}

impl std::fmt::Debug for VerifiedPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedPatient")
            .field("phi_ref", &self.phi_ref)
            .finish_non_exhaustive()
    }
}

/// Who said something in the conversation log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Caller,
    Agent,
    /// A fixed prompt the server played (disclosure).
    System,
}

/// One line of the conversation log. The text is PHI: it never goes to logs or metrics.
#[derive(Clone)]
pub struct LogEntry {
    /// Which upstream connection produced it (0 for server prompts).
    pub generation: u32,
    /// Upstream item id (None for server prompts).
    pub item_id: Option<String>,
    pub speaker: Speaker,
    pub text: String,
    /// Where it starts on the media clock, when known (ms).
    pub at_ms: Option<u64>,
}

impl std::fmt::Debug for LogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogEntry")
            .field("generation", &self.generation)
            .field("item_id", &self.item_id)
            .field("speaker", &self.speaker)
            .field("text", &format_args!("[{} chars redacted]", self.text.chars().count()))
            .finish()
    }
}

/// One thing the model has seen, kept so a new upstream can be given the conversation so far
/// (reconnect after a drop, or a planned recycle before the session's time limit). PHI: in memory
/// only, for this call; `Debug` never prints the content.
#[derive(Clone, PartialEq, Eq)]
pub enum ConversationItem {
    /// The caller's words (the upstream's transcript of them).
    CallerSaid(String),
    /// What the agent said (its transcript), or a script the server put in its mouth.
    AgentSaid(String),
    /// A function call the model made.
    ToolCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// What the server answered it.
    ToolOutput { call_id: String, output: String },
}

impl std::fmt::Debug for ConversationItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConversationItem::CallerSaid(_) => f.write_str("CallerSaid([redacted])"),
            ConversationItem::AgentSaid(_) => f.write_str("AgentSaid([redacted])"),
            ConversationItem::ToolCall { name, .. } => write!(f, "ToolCall({name})"),
            ConversationItem::ToolOutput { .. } => f.write_str("ToolOutput([redacted])"),
        }
    }
}

/// How a lost upstream is replaced: a bounded number of attempts, each after a short pause that
/// grows, so a flapping network is not hammered and a caller is never left waiting unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Attempts after a loss before the call falls back (0 = never reconnect).
    pub max_attempts: u32,
}

impl ReconnectPolicy {
    /// The pause before attempt `n` (1-based): none for the first, then 0.5 s, 1 s, 2 s, … capped
    /// at 4 s. `None` once the attempts are used up.
    pub fn delay_before(&self, attempt: u32) -> Option<std::time::Duration> {
        if attempt == 0 || attempt > self.max_attempts {
            return None;
        }
        let ms = match attempt {
            1 => 0,
            n => (250u64 << (n - 1).min(4)).min(4000),
        };
        Some(std::time::Duration::from_millis(ms))
    }
}

/// What to do with a `response.create` the session wants to send.
#[derive(Debug, PartialEq, Eq)]
pub enum ResponseRequest {
    /// Send it now.
    SendNow(String),
    /// A response is active; it was queued until that response is done.
    Queued,
}

/// Bookkeeping of responses, items and tools for one call.
#[derive(Debug, Default)]
pub struct CallState {
    /// The response the server is producing, if any.
    active_response: Option<String>,
    /// We sent a `response.create` that the server has not acknowledged yet.
    response_requested: bool,
    /// That request's frame, to retry it if the server refuses it (one was already active).
    requested_frame: Option<String>,
    /// `response.create` frames waiting for the active response to finish (the server allows one).
    queued_responses: VecDeque<String>,
    /// Responses we cancelled: their late audio deltas are dropped.
    cancelled: HashSet<String>,
    /// Samples of audio received per assistant item (truncation may not exceed this).
    item_samples: HashMap<Arc<str>, u64>,
    /// Tool calls already run, by the model's `call_id`: a replayed call is never run twice.
    tools_run: HashSet<String>,
    /// The conversation, in order.
    pub log: Vec<LogEntry>,
    /// Where the caller stands with verification.
    verification: Verification,
    /// A red flag was raised: every tool refuses for the rest of the call.
    pub emergency: bool,
    /// The conversation as the model saw it, for replay into a replacement upstream.
    conversation: Vec<ConversationItem>,
}

impl CallState {
    /// Ask for a response; returns whether to send `frame` now or it was queued.
    pub fn request_response(&mut self, frame: String) -> ResponseRequest {
        if self.active_response.is_some() || self.response_requested {
            self.queued_responses.push_back(frame);
            ResponseRequest::Queued
        } else {
            self.response_requested = true;
            self.requested_frame = Some(frame.clone());
            ResponseRequest::SendNow(frame)
        }
    }

    pub fn response_created(&mut self, id: &str) {
        self.response_requested = false;
        self.requested_frame = None;
        self.active_response = Some(id.to_owned());
    }

    /// A response finished (any status). Returns a queued `response.create` to send now, if any.
    pub fn response_done(&mut self, id: &str) -> Option<String> {
        if self.active_response.as_deref() == Some(id) {
            self.active_response = None;
        }
        self.next_queued()
    }

    /// The server refused our `response.create` because one was active: retry that same request
    /// after it (the emergency script must not be lost to a race).
    pub fn response_rejected(&mut self) {
        self.response_requested = false;
        if let Some(frame) = self.requested_frame.take() {
            self.queued_responses.push_front(frame);
        }
    }

    fn next_queued(&mut self) -> Option<String> {
        if self.active_response.is_some() || self.response_requested {
            return None;
        }
        let next = self.queued_responses.pop_front()?;
        self.response_requested = true;
        self.requested_frame = Some(next.clone());
        Some(next)
    }

    /// The next requested response jumps the queue (the emergency script must play at once; the
    /// active one was cancelled).
    pub fn force_next_response(&mut self) {
        self.queued_responses.clear();
        self.active_response = None;
        self.response_requested = false;
        self.requested_frame = None;
    }

    /// The response in flight, to cancel on barge-in.
    pub fn active_response(&self) -> Option<&str> {
        self.active_response.as_deref()
    }

    /// Remember that we cancelled `id`; returns true if it was in flight.
    pub fn cancel(&mut self, id: &str) -> bool {
        self.cancelled.insert(id.to_owned());
        self.active_response.as_deref() == Some(id)
    }

    pub fn is_cancelled(&self, response_id: &str) -> bool {
        self.cancelled.contains(response_id)
    }

    /// Count audio received for an item; returns the item's offset before this chunk.
    pub fn audio_received(&mut self, item: &Arc<str>, samples: u64) -> u64 {
        let total = self.item_samples.entry(item.clone()).or_insert(0);
        let offset = *total;
        *total += samples;
        offset
    }

    pub fn samples_received(&self, item: &str) -> u64 {
        self.item_samples.get(item).copied().unwrap_or(0)
    }

    /// A verification tool matched exactly one record: the caller is now verified.
    pub fn verified(&mut self, m: PatientMatch) -> VerifiedPatient {
        let patient = VerifiedPatient {
            patient_id: m.patient_id,
            phi_ref: m.phi_ref,
        };
        self.verification = Verification::Verified(patient.clone());
        patient
    }

    /// An attempt failed. The third failure in a call ends verification for the call. A verified
    /// caller stays verified.
    pub fn verification_failed(&mut self) {
        if let Verification::Unverified { failures } = self.verification {
            let failures = failures + 1;
            self.verification = if failures >= MAX_ATTEMPTS_PER_CALL {
                Verification::LockedOut
            } else {
                Verification::Unverified { failures }
            };
        }
    }

    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    pub fn verified_patient(&self) -> Option<&VerifiedPatient> {
        match &self.verification {
            Verification::Verified(p) => Some(p),
            _ => None,
        }
    }

    /// Failed attempts so far in this call (the limit once locked out).
    pub fn verification_failures(&self) -> u32 {
        match self.verification {
            Verification::Unverified { failures } => failures,
            Verification::LockedOut => MAX_ATTEMPTS_PER_CALL,
            Verification::Verified(_) => 0,
        }
    }

    /// Remember what the model saw (for a replacement upstream). Empty transcripts add nothing.
    pub fn remember(&mut self, item: ConversationItem) {
        if matches!(&item, ConversationItem::CallerSaid(t) | ConversationItem::AgentSaid(t) if t.trim().is_empty()) {
            return;
        }
        self.conversation.push(item);
    }

    /// The conversation so far, oldest first.
    pub fn conversation(&self) -> &[ConversationItem] {
        &self.conversation
    }

    /// The upstream was replaced: whatever it had in flight is gone with it. Returns whether the
    /// model owes the caller an answer on the new one — a response was in flight or waiting, or the
    /// conversation ends with the caller's words or a tool's output that nobody answered yet.
    pub fn upstream_replaced(&mut self) -> bool {
        let in_flight = self.active_response.is_some() || self.response_requested || !self.queued_responses.is_empty();
        self.active_response = None;
        self.response_requested = false;
        self.requested_frame = None;
        self.queued_responses.clear();
        self.item_samples.clear();
        let unanswered = matches!(
            self.conversation.last(),
            Some(ConversationItem::CallerSaid(_) | ConversationItem::ToolOutput { .. })
        );
        in_flight || unanswered
    }

    /// Record a tool call; false if this `call_id` already ran (a replay).
    pub fn start_tool(&mut self, call_id: &str) -> bool {
        self.tools_run.insert(call_id.to_owned())
    }
}

/// The `audio_end_ms` for truncating an item the caller heard `played` samples of: more than 0
/// and no more than what was received (the server rejects more), per the protocol notes §8.
pub fn truncation_ms(played_samples: u64, received_samples: u64, samples_per_ms: u64) -> u32 {
    let played_ms = played_samples / samples_per_ms;
    let received_ms = received_samples / samples_per_ms;
    played_ms.min(received_ms).max(1).min(u64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_response_at_a_time() {
        let mut s = CallState::default();
        assert_eq!(s.request_response("r1".into()), ResponseRequest::SendNow("r1".into()));
        assert_eq!(s.request_response("r2".into()), ResponseRequest::Queued);
        s.response_created("resp_1");
        assert_eq!(s.response_done("resp_other"), None);
        assert_eq!(s.response_done("resp_1"), Some("r2".into()));
        assert_eq!(s.response_done("resp_1"), None, "r2 is requested, nothing else queued");
    }

    #[test]
    fn cancel_reports_whether_in_flight() {
        let mut s = CallState::default();
        s.response_created("resp_1");
        assert!(s.cancel("resp_1"));
        assert!(s.is_cancelled("resp_1"));
        s.response_done("resp_1");
        assert!(!s.cancel("resp_1"));
    }

    #[test]
    fn truncation_is_positive_and_within_received() {
        assert_eq!(truncation_ms(0, 8000, 8), 1);
        assert_eq!(truncation_ms(4000, 8000, 8), 500);
        assert_eq!(truncation_ms(9000, 8000, 8), 1000);
    }

    #[test]
    fn a_replayed_tool_call_is_not_run_twice() {
        let mut s = CallState::default();
        assert!(s.start_tool("call_1"));
        assert!(!s.start_tool("call_1"));
    }

    #[test]
    fn a_replaced_upstream_owes_an_answer_to_the_last_unanswered_turn() {
        let mut s = CallState::default();
        assert!(!s.upstream_replaced(), "nothing said yet");
        s.remember(ConversationItem::CallerSaid("I'd like to book".into()));
        assert!(s.upstream_replaced(), "the caller is waiting for an answer");
        s.remember(ConversationItem::AgentSaid("Sure, what day?".into()));
        assert!(!s.upstream_replaced(), "the agent answered; the caller speaks next");
        s.remember(ConversationItem::ToolCall {
            call_id: "c1".into(),
            name: "find_slots".into(),
            arguments: "{}".into(),
        });
        s.remember(ConversationItem::ToolOutput {
            call_id: "c1".into(),
            output: "{}".into(),
        });
        assert!(s.upstream_replaced(), "a tool result nobody spoke about");
        s.remember(ConversationItem::AgentSaid("Tuesday at ten".into()));
        s.response_created("resp_1");
        assert!(s.upstream_replaced(), "it was mid-answer");
        assert_eq!(s.active_response(), None, "the old upstream's response is gone with it");
        assert_eq!(s.request_response("r".into()), ResponseRequest::SendNow("r".into()));
        s.remember(ConversationItem::CallerSaid("  ".into()));
        assert_eq!(s.conversation().len(), 5, "an empty transcript adds nothing");
    }

    #[test]
    fn reconnect_attempts_are_bounded_and_back_off() {
        let p = ReconnectPolicy { max_attempts: 4 };
        let ms: Vec<Option<u64>> = (0..=5)
            .map(|n| p.delay_before(n).map(|d| d.as_millis() as u64))
            .collect();
        assert_eq!(ms, [None, Some(0), Some(500), Some(1000), Some(2000), None]);
        assert_eq!(ReconnectPolicy { max_attempts: 0 }.delay_before(1), None);
        assert_eq!(
            ReconnectPolicy { max_attempts: 9 }.delay_before(9),
            Some(std::time::Duration::from_secs(4))
        );
    }

    #[test]
    fn conversation_items_never_print_their_content() {
        let items = [
            ConversationItem::CallerSaid("Jane Doe".into()),
            ConversationItem::AgentSaid("Jane".into()),
            ConversationItem::ToolCall {
                call_id: "c".into(),
                name: "verify_patient".into(),
                arguments: "{\"first_name\":\"Jane\"}".into(),
            },
            ConversationItem::ToolOutput {
                call_id: "c".into(),
                output: "Jane".into(),
            },
        ];
        assert!(!format!("{items:?}").contains("Jane"));
    }

    fn a_match(id: &str) -> PatientMatch {
        PatientMatch {
            patient_id: id.into(),
            phi_ref: PhiRef::new(&crate::config::KeyedSecret::parse("k1:test-key"), "patient", id),
        }
    }

    #[test]
    fn verification_ends_after_three_failures_and_a_verified_caller_stays() {
        let mut s = CallState::default();
        assert_eq!(s.verification(), &Verification::Unverified { failures: 0 });
        s.verification_failed();
        s.verification_failed();
        assert_eq!(s.verification_failures(), 2);
        s.verification_failed();
        assert_eq!(s.verification(), &Verification::LockedOut);
        assert_eq!(s.verification_failures(), MAX_ATTEMPTS_PER_CALL);
        assert!(s.verified_patient().is_none());

        let mut s = CallState::default();
        let p = s.verified(a_match("demo-p1"));
        s.verification_failed();
        assert_eq!(
            s.verified_patient(),
            Some(&p),
            "a later failed attempt does not unverify"
        );
    }

    #[test]
    fn log_entries_never_print_their_text() {
        let e = LogEntry {
            generation: 1,
            item_id: None,
            speaker: Speaker::Caller,
            text: "Jane Doe 1980".into(),
            at_ms: None,
        };
        assert!(!format!("{e:?}").contains("Jane"));
    }
}
