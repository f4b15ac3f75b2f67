//! Prometheus metrics. Labels are fixed, PHI-free vocabularies (`&'static str`), never ids,
//! numbers or anything a caller said.
//!
//! Per-frame instruments are resolved once (cheap `Arc` clones) so the hot path does no label
//! lookup.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];

/// All instruments, shared by the server through `AppState`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Calls with a live session.
    pub active_calls: Gauge,
    calls_refused: Family<Labels, Counter>,
    upstream_errors: Family<Labels, Counter>,
    calls_ended: Family<Labels, Counter>,
    /// Upstream replacements mid-call: `reconnected`, `recycled`, `reconnect_failed`.
    upstream_replacements: Family<Labels, Counter>,
    /// Caller frames held back until the upstream was configured (none dropped).
    pub caller_frames_buffered: Counter,
    /// Caller → upstream forwarding latency (frame read → upstream write done), seconds.
    pub latency_caller_to_upstream: Histogram,
    /// Upstream → caller forwarding latency (delta read → caller write done), seconds.
    pub latency_upstream_to_caller: Histogram,
    /// Unknown upstream event types skipped.
    pub upstream_unknown_events: Counter,
    /// |played at a clear as the browser reported it − our estimate|, seconds (browser calls).
    pub truncation_error: Histogram,
    /// Browser microphone frames the page skipped (its socket was backed up), counted by the
    /// gaps in sequence numbers.
    pub browser_frames_missing: Counter,
    red_flags: Family<Labels2, Counter>,
    classifier_checks: Family<Labels, Counter>,
    notifications: Family<Labels2, Counter>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("voicegate");
        let active_calls = Gauge::default();
        registry.register("active_calls", "Calls with a live session", active_calls.clone());
        let calls_refused = Family::<Labels, Counter>::default();
        registry.register("calls_refused", "Calls refused, by reason", calls_refused.clone());
        let upstream_errors = Family::<Labels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Realtime upstream failures and error events, by kind",
            upstream_errors.clone(),
        );
        let calls_ended = Family::<Labels, Counter>::default();
        registry.register("calls_ended", "Calls ended, by outcome", calls_ended.clone());
        let upstream_replacements = Family::<Labels, Counter>::default();
        registry.register(
            "upstream_replacements",
            "Realtime sessions replaced mid-call (after a drop, or recycled before the time limit), by result",
            upstream_replacements.clone(),
        );
        let caller_frames_buffered = Counter::default();
        registry.register(
            "caller_frames_buffered",
            "Caller frames held until the upstream session was configured",
            caller_frames_buffered.clone(),
        );
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "frame_latency_seconds",
            "Per-frame forwarding latency inside the gateway",
            latency.clone(),
        );
        let latency_caller_to_upstream = latency.get_or_create_owned(&[("direction", "caller_to_upstream")]);
        let latency_upstream_to_caller = latency.get_or_create_owned(&[("direction", "upstream_to_caller")]);
        let upstream_unknown_events = Counter::default();
        registry.register(
            "upstream_unknown_events",
            "Upstream events of unknown type, skipped",
            upstream_unknown_events.clone(),
        );
        let truncation_error = Histogram::new(exponential_buckets(0.001, 2.0, 12));
        registry.register(
            "truncation_error_seconds",
            "Difference between the browser's played count at a clear and the gateway's estimate",
            truncation_error.clone(),
        );
        let browser_frames_missing = Counter::default();
        registry.register(
            "browser_frames_missing",
            "Browser microphone frames skipped by the page (sequence gaps)",
            browser_frames_missing.clone(),
        );
        let red_flags = Family::<Labels2, Counter>::default();
        registry.register(
            "red_flags",
            "Red flags raised in calls, by script (emergency_911, crisis_988) and source (transcript, model, classifier)",
            red_flags.clone(),
        );
        let classifier_checks = Family::<Labels, Counter>::default();
        registry.register(
            "red_flag_classifier_checks",
            "Second-opinion classifier requests, by result (clear, flagged, skipped_busy or an error kind)",
            classifier_checks.clone(),
        );
        let notifications = Family::<Labels2, Counter>::default();
        registry.register(
            "notifications",
            "Confirmation and reminder attempts, by channel (sms, email) and result (sent, retry, failed, suppressed)",
            notifications.clone(),
        );
        Metrics {
            registry,
            notifications,
            red_flags,
            classifier_checks,
            truncation_error,
            browser_frames_missing,
            active_calls,
            calls_refused,
            upstream_errors,
            calls_ended,
            upstream_replacements,
            caller_frames_buffered,
            latency_caller_to_upstream,
            latency_upstream_to_caller,
            upstream_unknown_events,
        }
    }

    pub fn call_refused(&self, reason: &'static str) {
        self.calls_refused.get_or_create(&[("reason", reason)]).inc();
    }

    pub fn upstream_error(&self, kind: &'static str) {
        self.upstream_errors.get_or_create(&[("kind", kind)]).inc();
    }

    pub fn upstream_replaced(&self, result: &'static str) {
        self.upstream_replacements.get_or_create(&[("result", result)]).inc();
    }

    pub fn call_ended(&self, outcome: &'static str) {
        self.calls_ended.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn red_flag(&self, script: &'static str, source: &'static str) {
        self.red_flags
            .get_or_create(&[("script", script), ("source", source)])
            .inc();
    }

    pub fn notification(&self, channel: &'static str, result: &'static str) {
        self.notifications
            .get_or_create(&[("channel", channel), ("result", result)])
            .inc();
    }

    pub fn classifier_check(&self, result: &'static str) {
        self.classifier_checks.get_or_create(&[("result", result)]).inc();
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
