//! The scheduling tools: providers, slots, holds, bookings — against whichever EHR is configured.
//!
//! Availability (providers, free slots) is not patient data and needs no verification. Everything
//! about one patient takes a [`VerifiedPatient`]; the patient id comes from it, never from the
//! model's arguments, and the EHR re-checks ownership of every appointment id. Every EHR call runs
//! under `ehr.timeout_ms`: a slow or down EHR gets an honest "the schedule is unavailable" and the
//! offer of a callback — never a made-up booking. Each patient-data tool writes its audit record
//! before its answer leaves: reads before anything is disclosed (no record, no disclosure), changes
//! with their outcome (through the durable spool if the database is down, so none is lost).

use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answered, Effect, ToolContext, answer, audit_event, output, say};
use crate::audit::AuditOutcome;
use crate::call::state::VerifiedPatient;
use crate::notify::{AppointmentChange, ChangeKind};
use crate::tools::ehr::{Appointment, EhrAdapter, EhrError, Provider, ProviderQuery, Slot, SlotQuery};
use crate::tools::spoken;

/// Slots offered per search: enough to choose from, few enough to read aloud.
pub const SLOTS_OFFERED: usize = 5;
/// Providers offered per search.
pub const PROVIDERS_OFFERED: usize = 3;
/// The widest date range one search covers (a caller's "any time next month" gets the first two weeks).
pub const MAX_SEARCH_DAYS: i64 = 14;

/// What the agent hears when the EHR cannot answer.
fn unavailable() -> Answered {
    Answered(say(answer::UNAVAILABLE), Effect::None, "ehr_unavailable")
}

/// Run an EHR call under the configured timeout (a caller is waiting in silence).
async fn within<T>(ctx: &ToolContext, f: impl Future<Output = Result<T, EhrError>>) -> Result<T, EhrError> {
    let limit = Duration::from_millis(ctx.deps.settings.ehr.timeout_ms);
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(EhrError::Timeout),
    }
}

/// The answer for an EHR error that is not specific to the tool.
fn ehr_failure(ctx: &ToolContext, tool: &'static str, e: &EhrError) -> Answered {
    match e {
        EhrError::SlotTaken => Answered(
            say("That time was just taken by someone else. Offer the caller other times."),
            Effect::None,
            "slot_taken",
        ),
        EhrError::NotFound => Answered(
            say("I could not find that. Search again or list the caller's appointments, and use the ids they return."),
            Effect::None,
            "not_found",
        ),
        EhrError::NotAllowed(why) => Answered(
            output(json!({"ok": false, "say": format!("That cannot be done: {why}. Offer other options.")})),
            Effect::None,
            "not_allowed",
        ),
        EhrError::Unsupported => Answered(
            say("This scheduling system cannot hold a time. Offer to book it directly instead."),
            Effect::None,
            "unsupported",
        ),
        EhrError::Unavailable | EhrError::Timeout | EhrError::Storage(_) => {
            tracing::warn!(call_id = %ctx.call_id, tool, error.message = %e, "EHR unavailable");
            unavailable()
        }
    }
}

fn now(ctx: &ToolContext) -> Timestamp {
    Timestamp::from_millisecond(i64::try_from(ctx.deps.clock.now_unix_ms()).unwrap_or(i64::MAX))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// End a sentence with exactly one full stop (spoken times already end in "a.m.").
fn sentence(mut text: String) -> String {
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

fn is_urgent(urgency: Option<&str>) -> bool {
    urgency.is_some_and(|u| matches!(fold(u).as_str(), "urgent" | "soon" | "asap" | "high"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProviderArgs {
    specialty: String,
    location: Option<String>,
    insurance: Option<String>,
    urgency: Option<String>,
}

/// A provider with what ranks them.
struct Ranked {
    provider: Provider,
    insurance_miss: bool,
    location_miss: bool,
    earliest: Option<Slot>,
}

/// `search_providers`: by specialty, ranked by insurance accepted, location, then earliest slot —
/// for an urgent request the earliest slot outranks location (insurance still comes first: a
/// visit the caller cannot pay for helps nobody).
pub(super) async fn search_providers(ctx: &ToolContext, arguments: &str) -> Answered {
    let args: ProviderArgs = serde_json::from_str(arguments).unwrap_or_default();
    if args.specialty.trim().is_empty() {
        return Answered(
            say("Ask the caller which kind of provider they need."),
            Effect::None,
            "bad_arguments",
        );
    }
    let query = ProviderQuery {
        specialty: args.specialty.clone(),
        location: args.location.clone(),
        insurance: args.insurance.clone(),
    };
    let providers = match within(ctx, ctx.deps.ehr.search_providers(&query)).await {
        Ok(p) => p,
        Err(e) => return ehr_failure(ctx, "search_providers", &e),
    };
    if providers.is_empty() {
        return Answered(
            say(
                "We have no provider for that specialty. Ask whether another kind of visit would help, or offer a callback.",
            ),
            Effect::None,
            "no_providers",
        );
    }
    let now = now(ctx);
    let mut ranked = Vec::with_capacity(providers.len());
    for provider in providers {
        let earliest = match within(
            ctx,
            ctx.deps.ehr.find_slots(&SlotQuery {
                provider_ids: vec![provider.id.clone()],
                from: now,
                to: now + SignedDuration::from_hours(24 * MAX_SEARCH_DAYS * 2),
                limit: 1,
            }),
        )
        .await
        {
            Ok(mut s) => s.pop(),
            Err(e) => return ehr_failure(ctx, "search_providers", &e),
        };
        let insurance_miss = args
            .insurance
            .as_deref()
            .is_some_and(|i| !provider.insurances.iter().any(|p| *p == fold(i)));
        let location_miss = args
            .location
            .as_deref()
            .is_some_and(|l| !fold(&provider.location_name).contains(&fold(l)));
        ranked.push(Ranked {
            provider,
            insurance_miss,
            location_miss,
            earliest,
        });
    }
    // No opening at all sorts last.
    let slot_key = |r: &Ranked| r.earliest.as_ref().map_or(Timestamp::MAX, |s| s.start);
    if is_urgent(args.urgency.as_deref()) {
        ranked.sort_by_key(|r| (r.insurance_miss, slot_key(r), r.location_miss));
    } else {
        ranked.sort_by_key(|r| (r.insurance_miss, r.location_miss, slot_key(r)));
    }
    ranked.truncate(PROVIDERS_OFFERED);
    let list: Vec<Value> = ranked
        .iter()
        .map(|r| {
            json!({
                "provider_id": r.provider.id,
                "name": r.provider.display_name,
                "location": r.provider.location_name,
                "accepts_insurance": args.insurance.as_ref().map(|_| !r.insurance_miss),
                "first_opening": r.earliest.as_ref().map(|s| spoken::when(s.start, &r.provider.time_zone)),
            })
        })
        .collect();
    let best = &ranked[0];
    let mut line = format!("{} at {}", best.provider.display_name, best.provider.location_name);
    if let Some(s) = &best.earliest {
        line.push_str(&format!(
            ", first opening {}",
            spoken::when(s.start, &best.provider.time_zone)
        ));
    }
    if best.insurance_miss {
        line.push_str(". Note: this provider may not take the caller's insurance");
    }
    Answered(
        output(json!({"ok": true, "providers": list, "say": sentence(line)})),
        Effect::None,
        "providers_found",
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SlotArgs {
    provider_id: Option<String>,
    specialty: Option<String>,
    from: Option<String>,
    to: Option<String>,
    urgency: Option<String>,
}

/// A date the model passed: `YYYY-MM-DD` (the clinic's local date) or an RFC 3339 instant.
fn parse_day(raw: &str) -> Option<Date> {
    let raw = raw.trim();
    raw.parse::<Date>()
        .ok()
        .or_else(|| raw.get(..10).and_then(|d| d.parse::<Date>().ok()))
}

/// `find_slots`: the earliest free slots for a provider (or every provider of a specialty) between
/// two local dates, spoken in the provider's time zone.
pub(super) async fn find_slots(ctx: &ToolContext, arguments: &str) -> Answered {
    let args: SlotArgs = serde_json::from_str(arguments).unwrap_or_default();
    let now = now(ctx);
    let providers: Vec<Provider> = if let Some(id) = args.provider_id.as_deref().filter(|s| !s.trim().is_empty()) {
        match within(ctx, ctx.deps.ehr.provider(id.trim())).await {
            Ok(p) => vec![p],
            Err(e) => return ehr_failure(ctx, "find_slots", &e),
        }
    } else if let Some(specialty) = args.specialty.as_deref().filter(|s| !s.trim().is_empty()) {
        let query = ProviderQuery {
            specialty: specialty.to_owned(),
            ..ProviderQuery::default()
        };
        match within(ctx, ctx.deps.ehr.search_providers(&query)).await {
            Ok(p) => p,
            Err(e) => return ehr_failure(ctx, "find_slots", &e),
        }
    } else {
        return Answered(
            say("Ask which provider or kind of visit the caller wants first."),
            Effect::None,
            "bad_arguments",
        );
    };
    if providers.is_empty() {
        return Answered(
            say("We have no provider for that. Offer a callback."),
            Effect::None,
            "no_providers",
        );
    }
    let from_day = args.from.as_deref().and_then(parse_day);
    let to_day = args.to.as_deref().and_then(parse_day);
    if args.from.is_some() && from_day.is_none() || args.to.is_some() && to_day.is_none() {
        return Answered(
            say("Pass dates as year-month-day, for example 2026-12-07."),
            Effect::None,
            "bad_arguments",
        );
    }
    let urgent = is_urgent(args.urgency.as_deref());
    let mut slots: Vec<(Slot, TimeZone, String)> = Vec::new();
    for provider in &providers {
        let tz = &provider.time_zone;
        let start_of = |d: Date| d.to_zoned_datetime(tz.clone()).ok().map(|z| z.timestamp());
        let from = from_day.and_then(start_of).unwrap_or(now).max(now);
        let mut to = to_day
            .and_then(|d| d.tomorrow().ok())
            .and_then(start_of)
            .unwrap_or(from + SignedDuration::from_hours(24 * MAX_SEARCH_DAYS));
        // An urgent request looks at the next days whatever range was asked; any search is capped.
        if urgent {
            to = to.min(from + SignedDuration::from_hours(72));
        }
        to = to.min(from + SignedDuration::from_hours(24 * MAX_SEARCH_DAYS));
        if to <= from {
            continue;
        }
        let query = SlotQuery {
            provider_ids: vec![provider.id.clone()],
            from,
            to,
            limit: SLOTS_OFFERED,
        };
        match within(ctx, ctx.deps.ehr.find_slots(&query)).await {
            Ok(found) => slots.extend(
                found
                    .into_iter()
                    .map(|s| (s, tz.clone(), provider.display_name.clone())),
            ),
            Err(e) => return ehr_failure(ctx, "find_slots", &e),
        }
    }
    slots.sort_by_key(|(s, _, _)| s.start);
    slots.truncate(SLOTS_OFFERED);
    if slots.is_empty() {
        return Answered(
            say("There are no openings in that range. Offer other dates, another provider, or a callback."),
            Effect::None,
            "no_slots",
        );
    }
    let list: Vec<Value> = slots
        .iter()
        .map(|(s, tz, name)| json!({"slot": s.id, "provider": name, "when": spoken::when(s.start, tz)}))
        .collect();
    // One provider: name them once, not once per slot.
    let one_provider = slots.iter().all(|(_, _, name)| *name == slots[0].2);
    let spoken_list: Vec<String> = slots
        .iter()
        .map(|(s, tz, name)| {
            if one_provider {
                spoken::when(s.start, tz)
            } else {
                format!("{} with {name}", spoken::when(s.start, tz))
            }
        })
        .collect();
    let say = if one_provider {
        format!("Openings with {}: {}", slots[0].2, spoken_list.join("; "))
    } else {
        format!("Openings: {}", spoken_list.join("; "))
    };
    Answered(
        output(json!({"ok": true, "slots": list, "say": sentence(say)})),
        Effect::None,
        "slots_found",
    )
}

/// The audit record of a patient-data tool, PHI-free: the patient as a keyed reference, opaque
/// ids, the outcome. Changes go through the durable spool if the database is down (never lost).
async fn audit_change(
    ctx: &ToolContext,
    patient: &VerifiedPatient,
    action: &str,
    outcome: AuditOutcome,
    details: Value,
) {
    let event = audit_event(ctx, action, Some(patient.phi_ref().clone()), outcome, details);
    if let Err(e) = ctx.deps.audit.append_or_spool(&event).await {
        tracing::error!(call_id = %ctx.call_id, action, error.message = %e, "audit record could not be written or spooled");
    }
}

fn outcome_of<T>(r: &Result<T, EhrError>) -> (AuditOutcome, &'static str) {
    match r {
        Ok(_) => (AuditOutcome::Success, "ok"),
        Err(EhrError::SlotTaken) => (AuditOutcome::Failure, "slot_taken"),
        Err(EhrError::NotFound) => (AuditOutcome::Denied, "not_found"),
        Err(EhrError::NotAllowed(_)) => (AuditOutcome::Failure, "not_allowed"),
        Err(EhrError::Unsupported) => (AuditOutcome::Failure, "unsupported"),
        Err(_) => (AuditOutcome::Failure, "ehr_unavailable"),
    }
}

/// Plan the confirmation and reminders of a committed change on an EHR that does not plan them
/// itself (FHIR): after the EHR's commit, so the change stands whether or not this succeeds; a
/// failure is logged for the operator. The built-in store plans inside its own transaction.
async fn notify_change(ctx: &ToolContext, patient: &VerifiedPatient, kind: ChangeKind, a: &Appointment) {
    if let crate::tools::ehr::Ehr::Builtin(builtin) = &ctx.deps.ehr
        && builtin.plans_notifications()
    {
        return;
    }
    let change = AppointmentChange {
        kind,
        appointment_id: &a.id,
        patient_id: patient.patient_id(),
        call_id: Some(&ctx.call_id),
        start: a.start,
        time_zone: a.time_zone.iana_name().unwrap_or("UTC"),
    };
    if let Err(e) = ctx.deps.notify.appointment_changed(&change).await {
        tracing::warn!(call_id = %ctx.call_id, appointment = %a.id, error.message = %e, "notifications could not be planned");
    }
}

fn confirmation(a: &Appointment) -> String {
    format!("{} with {}", spoken::when(a.start, &a.time_zone), a.provider_name)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SlotRef {
    slot: String,
    reason: String,
}

/// `hold_slot`: keep a time for the verified caller while they decide.
pub(super) async fn hold_slot(ctx: &ToolContext, patient: &VerifiedPatient, arguments: &str) -> Answered {
    let args: SlotRef = serde_json::from_str(arguments).unwrap_or_default();
    if let Some(refused) = super::refused_by_red_flag(ctx) {
        return refused;
    }
    let result = within(
        ctx,
        ctx.deps.ehr.hold(patient.patient_id(), &ctx.call_id, args.slot.trim()),
    )
    .await;
    let (outcome, label) = outcome_of(&result);
    audit_change(ctx, patient, "appointment.hold", outcome, json!({"result": label})).await;
    match result {
        Ok(hold) => {
            let minutes = (hold.expires - now(ctx)).as_mins().max(1);
            Answered(
                output(json!({"ok": true, "slot": hold.slot.id,
                    "say": format!("The time is held for {minutes} minutes. Ask the caller to confirm so you can book it.")})),
                Effect::None,
                "held",
            )
        }
        Err(e) => ehr_failure(ctx, "hold_slot", &e),
    }
}

/// `book_appointment`: book a slot for the verified caller and read it back.
pub(super) async fn book(ctx: &ToolContext, patient: &VerifiedPatient, arguments: &str) -> Answered {
    let args: SlotRef = serde_json::from_str(arguments).unwrap_or_default();
    if args.slot.trim().is_empty() {
        return Answered(
            say("Choose a slot from find_slots first."),
            Effect::None,
            "bad_arguments",
        );
    }
    if let Some(refused) = super::refused_by_red_flag(ctx) {
        return refused;
    }
    let result = within(
        ctx,
        ctx.deps
            .ehr
            .book(patient.patient_id(), &ctx.call_id, args.slot.trim(), &args.reason),
    )
    .await;
    let (outcome, label) = outcome_of(&result);
    let details = match &result {
        Ok(a) => json!({"result": label, "appointment_id": a.id, "provider_id": a.provider_id}),
        Err(_) => json!({"result": label}),
    };
    audit_change(ctx, patient, "appointment.book", outcome, details).await;
    if let Ok(a) = &result {
        notify_change(ctx, patient, ChangeKind::Booked, a).await;
    }
    match result {
        Ok(a) => Answered(
            output(json!({"ok": true, "appointment": a.id,
                "say": format!("Booked: {}. Read this back to the caller to confirm.", confirmation(&a))})),
            Effect::None,
            "booked",
        ),
        Err(e) => ehr_failure(ctx, "book_appointment", &e),
    }
}

/// `list_my_appointments`: the verified caller's upcoming appointments. The read is audited before
/// anything is disclosed: no record, no disclosure.
pub(super) async fn list(ctx: &ToolContext, patient: &VerifiedPatient) -> Answered {
    let result = within(ctx, ctx.deps.ehr.list_appointments(patient.patient_id())).await;
    let (outcome, label) = outcome_of(&result);
    let details = match &result {
        Ok(list) => json!({"result": label, "count": list.len()}),
        Err(_) => json!({"result": label}),
    };
    let event = audit_event(
        ctx,
        "appointment.list",
        Some(patient.phi_ref().clone()),
        outcome,
        details,
    );
    if ctx.deps.audit.append(&event).await.is_err() {
        return Answered(say(answer::UNAVAILABLE), Effect::None, "audit_unavailable");
    }
    match result {
        Ok(list) if list.is_empty() => Answered(
            output(json!({"ok": true, "appointments": [], "say": "The caller has no upcoming appointments."})),
            Effect::None,
            "listed",
        ),
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .map(|a| json!({"appointment": a.id, "when": spoken::when(a.start, &a.time_zone), "provider": a.provider_name}))
                .collect();
            let spoken_list: Vec<String> = list.iter().map(confirmation).collect();
            Answered(
                output(json!({"ok": true, "appointments": items,
                    "say": sentence(format!("Upcoming: {}", spoken_list.join("; ")))})),
                Effect::None,
                "listed",
            )
        }
        Err(e) => ehr_failure(ctx, "list_my_appointments", &e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AppointmentRef {
    appointment: String,
    reason: String,
    new_slot: String,
}

/// `cancel_appointment`: one of the verified caller's own appointments.
pub(super) async fn cancel(ctx: &ToolContext, patient: &VerifiedPatient, arguments: &str) -> Answered {
    let args: AppointmentRef = serde_json::from_str(arguments).unwrap_or_default();
    let result = within(
        ctx,
        ctx.deps.ehr.cancel(
            patient.patient_id(),
            &ctx.call_id,
            args.appointment.trim(),
            &args.reason,
        ),
    )
    .await;
    let (outcome, label) = outcome_of(&result);
    audit_change(
        ctx,
        patient,
        "appointment.cancel",
        outcome,
        json!({"result": label, "appointment_id": result.as_ref().ok().map(|a| a.id.clone())}),
    )
    .await;
    if let Ok(a) = &result {
        notify_change(ctx, patient, ChangeKind::Cancelled, a).await;
    }
    match result {
        Ok(a) => Answered(
            output(json!({"ok": true, "say": sentence(format!("Cancelled: {}", confirmation(&a)))})),
            Effect::None,
            "cancelled",
        ),
        Err(e) => ehr_failure(ctx, "cancel_appointment", &e),
    }
}

/// `reschedule_appointment`: one atomic move; if the new time cannot be booked the old one stands.
pub(super) async fn reschedule(ctx: &ToolContext, patient: &VerifiedPatient, arguments: &str) -> Answered {
    let args: AppointmentRef = serde_json::from_str(arguments).unwrap_or_default();
    if let Some(refused) = super::refused_by_red_flag(ctx) {
        return refused;
    }
    let result = within(
        ctx,
        ctx.deps.ehr.reschedule(
            patient.patient_id(),
            &ctx.call_id,
            args.appointment.trim(),
            args.new_slot.trim(),
        ),
    )
    .await;
    let (outcome, label) = outcome_of(&result);
    let details = match &result {
        Ok(a) => json!({"result": label, "appointment_id": a.id, "provider_id": a.provider_id}),
        Err(_) => json!({"result": label}),
    };
    audit_change(ctx, patient, "appointment.reschedule", outcome, details).await;
    if let Ok(a) = &result {
        let previous = args.appointment.trim().to_owned();
        notify_change(ctx, patient, ChangeKind::Rescheduled { previous }, a).await;
    }
    match result {
        Ok(a) => Answered(
            output(json!({"ok": true, "appointment": a.id,
                "say": format!("Moved to {}. The old time is released. Read this back to confirm.", confirmation(&a))})),
            Effect::None,
            "rescheduled",
        ),
        Err(EhrError::SlotTaken) => Answered(
            say("That new time was just taken; the original appointment is unchanged. Offer other times."),
            Effect::None,
            "slot_taken",
        ),
        Err(e) => ehr_failure(ctx, "reschedule_appointment", &e),
    }
}
