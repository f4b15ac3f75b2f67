//! The agent's tools: declared to the model, run by the server, behind the verification gate.
//!
//! The model only chooses a tool and its arguments; [`run`] decides. Tools that read or change
//! patient data need a [`VerifiedPatient`], which only a successful verification in this call can
//! construct (`call::state`); before that they answer a fixed, PHI-free refusal, whatever the model
//! passes. After a red flag every tool refuses for the rest of the call. Results are short,
//! spoken-friendly JSON strings with no more PHI than the verified caller needs.
//!
//! Tools run in a `JoinSet` owned by the session, so a slow EHR never stalls audio forwarding; a
//! tool's effect on the call (verified, emergency, transfer) is applied by the session when the
//! result comes back.

pub mod ehr;
pub mod schedule;
pub mod spoken;
pub mod verification;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{Actor, AuditEvent, AuditOutcome};
use crate::call::CallDeps;
use crate::call::state::VerifiedPatient;
use crate::domain::{DateOfBirth, PersonName, PhoneNumber};
use crate::telemetry::PhiRef;
use verification::{Identifiers, PatientMatch, VerifyOutcome};

/// Verification attempts allowed in one call before the agent must offer staff.
pub use crate::call::state::MAX_ATTEMPTS_PER_CALL;

/// Fixed answers (PHI-free; the model reads them to the caller in its own words).
pub mod answer {
    pub const NOT_VERIFIED: &str = "I need to verify your identity before I can help with that. Please tell me your first and last name, \
         your date of birth, and the phone number on your file.";
    pub const VERIFY_FAILED: &str =
        "I could not verify those details. Please check them and try again, or I can have our staff call you back.";
    pub const TOO_MANY_ATTEMPTS: &str = "I am not able to verify your identity on this call. I can have our staff call you back, or transfer you \
         to them.";
    pub const LOCKED: &str = "For your security, this record needs to be verified by our staff. I can have them call \
                              you back, or transfer you to them.";
    pub const UNAVAILABLE: &str = "Our records system is not available right now. I can take a callback request so \
                                   our staff can help you.";
    pub const EMERGENCY: &str = "This may be an emergency. Tell the caller to hang up and call 911 now.";
    /// `flag_emergency`'s answer: the server has already played the fixed script itself.
    pub const FLAG_RAISED: &str = "The server has just told the caller what to do in this emergency. Do not book or \
                                   look anything up. Keep every reply short and urge them to act on it now.";
    pub const CARE_TEAM: &str = "Your care team can help with that.";
}

/// A tool call from the model.
#[derive(Clone)]
pub struct ToolRequest {
    /// The model's `call_id`: results are keyed by it, so a replay never runs a tool twice.
    pub call_id: String,
    pub name: String,
    /// Raw JSON arguments (PHI: never logged).
    pub arguments: String,
}

impl std::fmt::Debug for ToolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolRequest")
            .field("call_id", &self.call_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What the call should do because of a tool's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Verification succeeded: the session constructs the `VerifiedPatient`.
    Verified(PatientMatch),
    /// A failed attempt (counts toward the per-call limit).
    VerificationFailed,
    /// The model flagged an emergency (or a crisis: the category says which script).
    Emergency(crate::safety::red_flag::Category),
    /// Transfer the caller to staff (the stream ends; Twilio dials through `/twilio/voice/next`).
    TransferToStaff,
}

/// A tool's result for the model and its effect on the call.
#[derive(Debug, Clone)]
pub struct ToolResult {
    pub call_id: String,
    pub name: String,
    /// JSON string sent as the `function_call_output`.
    pub output: String,
    pub effect: Effect,
    /// Short PHI-free outcome label for the manifest and metrics.
    pub outcome: &'static str,
}

/// What a tool run may see of the call.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub deps: CallDeps,
    pub call_id: String,
    pub verified: Option<VerifiedPatient>,
    pub attempts: u32,
    /// Raised once a red flag is raised in this call: every tool but the two an emergency needs
    /// refuses, and a write already under way refuses at its commit point.
    pub red_flag: crate::safety::RedFlagLatch,
    /// The caller ID from the webhook, when the transport knows it (never verifies alone).
    pub caller_id: Option<PhoneNumber>,
    /// A staff line exists and this call can be bridged to it (phone calls only).
    pub can_transfer: bool,
}

fn tool(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "function",
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required, "additionalProperties": false},
    })
}

/// Names of the tools we declare: only these ever reach a log (the model could put anything,
/// even a patient's name, into a tool name).
pub const TOOL_NAMES: &[&str] = &[
    "verify_patient",
    "search_providers",
    "find_slots",
    "hold_slot",
    "book_appointment",
    "list_my_appointments",
    "cancel_appointment",
    "reschedule_appointment",
    "request_callback",
    "transfer_to_staff",
    "flag_emergency",
];

/// The only tools that still run once a red flag is raised: another flag (a 988 crisis after a
/// 911 emergency still gets its own script) and the transfer to a human.
pub const ALLOWED_AFTER_RED_FLAG: &[&str] = &["flag_emergency", "transfer_to_staff"];

/// `name` if it is one of ours, else a fixed placeholder (for logs and manifests).
pub fn loggable_name(name: &str) -> &'static str {
    TOOL_NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("<unknown tool>")
}

/// The tools declared in `session.update`.
pub fn definitions() -> Vec<Value> {
    let s = |d: &str| json!({"type": "string", "description": d});
    vec![
        tool(
            "verify_patient",
            "Verify the caller's identity. Required before anything about their appointments.",
            json!({"first_name": s("Caller's first name"), "last_name": s("Caller's last name"),
                   "date_of_birth": s("Date of birth as the caller said it"),
                   "phone": s("Phone number on file, if the caller said one")}),
            &["first_name", "last_name", "date_of_birth"],
        ),
        tool(
            "search_providers",
            "Find providers by specialty (family medicine, dermatology, pediatrics, ...), best match first.",
            json!({"specialty": s("e.g. dermatology"), "location": s("optional: the office the caller prefers"),
                   "insurance": s("optional: the caller's insurance plan"), "urgency": s("routine or urgent")}),
            &["specialty"],
        ),
        tool(
            "find_slots",
            "Find open appointment slots. Read the 'when' texts to the caller; never invent times.",
            json!({"provider_id": s("from search_providers"), "specialty": s("if no provider was chosen"),
                   "from": s("earliest date, YYYY-MM-DD (clinic's local date)"),
                   "to": s("latest date, YYYY-MM-DD"), "urgency": s("routine or urgent")}),
            &[],
        ),
        tool(
            "hold_slot",
            "Hold a slot for a few minutes while the caller decides.",
            json!({"slot": s("slot id")}),
            &["slot"],
        ),
        tool(
            "book_appointment",
            "Book a slot (an id from find_slots) for the verified caller; read the confirmation back.",
            json!({"slot": s("slot id"), "reason": s("reason for the visit, in a few words")}),
            &["slot", "reason"],
        ),
        tool(
            "list_my_appointments",
            "List the verified caller's upcoming appointments.",
            json!({}),
            &[],
        ),
        tool(
            "cancel_appointment",
            "Cancel one of the verified caller's appointments.",
            json!({"appointment": s("appointment id from list_my_appointments"), "reason": s("reason")}),
            &["appointment", "reason"],
        ),
        tool(
            "reschedule_appointment",
            "Move one of the verified caller's appointments to a new slot.",
            json!({"appointment": s("appointment id from list_my_appointments"), "new_slot": s("slot id from find_slots")}),
            &["appointment", "new_slot"],
        ),
        tool(
            "request_callback",
            "Queue a callback from staff; returns a reference number to read to the caller.",
            json!({"topic": s("what the callback is about, in a few words, no medical details")}),
            &["topic"],
        ),
        tool(
            "transfer_to_staff",
            "Transfer the caller to clinic staff.",
            json!({}),
            &[],
        ),
        tool(
            "flag_emergency",
            "Call at once when the caller describes a medical emergency happening now (for themselves or someone \
             with them), or thoughts of suicide, self-harm or harming someone. The server then tells the caller \
             what to do.",
            json!({"kind": {"type": "string", "enum": ["emergency_911", "crisis_988"],
                            "description": "emergency_911 for a medical emergency, crisis_988 for suicide, self-harm or harm to others"}}),
            &["kind"],
        ),
    ]
}

fn output(v: Value) -> String {
    v.to_string()
}

fn say(text: &str) -> String {
    output(json!({"ok": false, "say": text}))
}

#[derive(Deserialize)]
struct VerifyArgs {
    first_name: PersonName,
    last_name: PersonName,
    date_of_birth: String,
    #[serde(default)]
    phone: Option<PhoneNumber>,
}

#[derive(Deserialize, Default)]
struct FlagArgs {
    #[serde(default)]
    kind: String,
}

/// Which script the model's flag asks for. Anything but an explicit crisis — missing, misspelt or
/// malformed arguments included — is a medical emergency: a flag is never lost to bad JSON.
fn flag_category(arguments: &str) -> crate::safety::red_flag::Category {
    use crate::safety::red_flag::Category;
    match serde_json::from_str::<FlagArgs>(arguments)
        .unwrap_or_default()
        .kind
        .as_str()
    {
        "crisis_988" => Category::ReportedCrisis,
        _ => Category::ReportedEmergency,
    }
}

/// A write the model asked for before the caller described an emergency refuses at its commit
/// point once the flag is up (checked just before the EHR call).
fn refused_by_red_flag(ctx: &ToolContext) -> Option<Answered> {
    ctx.red_flag
        .is_raised()
        .then(|| Answered(say(answer::EMERGENCY), Effect::None, "refused_emergency"))
}

/// Run one tool call. Never fails: every problem becomes a scripted, PHI-free answer.
pub async fn run(ctx: ToolContext, req: ToolRequest) -> ToolResult {
    let done = |output: String, effect: Effect, outcome: &'static str| ToolResult {
        call_id: req.call_id.clone(),
        name: req.name.clone(),
        output,
        effect,
        outcome,
    };
    if ctx.red_flag.is_raised() && !ALLOWED_AFTER_RED_FLAG.contains(&req.name.as_str()) {
        return done(say(answer::EMERGENCY), Effect::None, "refused_emergency");
    }
    match req.name.as_str() {
        "verify_patient" => verify_patient(&ctx, &req).await.into_result(&req),
        "flag_emergency" => {
            let category = flag_category(&req.arguments);
            done(
                output(json!({"ok": true, "say": answer::FLAG_RAISED})),
                Effect::Emergency(category),
                "emergency",
            )
        }
        "request_callback" => request_callback(&ctx, &req).await.into_result(&req),
        "transfer_to_staff" => {
            if ctx.can_transfer {
                done(
                    output(json!({"ok": true, "say": "Tell the caller you are transferring them to our staff now."})),
                    Effect::TransferToStaff,
                    "transferring",
                )
            } else {
                // Never claim a transfer that will not happen.
                done(
                    output(
                        json!({"ok": false, "say": "Staff cannot take transfers right now. Offer a callback instead."}),
                    ),
                    Effect::None,
                    "no_staff_line",
                )
            }
        }
        "list_my_appointments" | "book_appointment" | "cancel_appointment" | "reschedule_appointment" | "hold_slot" => {
            let Some(patient) = &ctx.verified else {
                return done(say(answer::NOT_VERIFIED), Effect::None, "refused_unverified");
            };
            let args = req.arguments.as_str();
            match req.name.as_str() {
                "list_my_appointments" => schedule::list(&ctx, patient).await,
                "book_appointment" => schedule::book(&ctx, patient, args).await,
                "cancel_appointment" => schedule::cancel(&ctx, patient, args).await,
                "reschedule_appointment" => schedule::reschedule(&ctx, patient, args).await,
                _ => schedule::hold_slot(&ctx, patient, args).await,
            }
            .into_result(&req)
        }
        "search_providers" => schedule::search_providers(&ctx, &req.arguments).await.into_result(&req),
        "find_slots" => schedule::find_slots(&ctx, &req.arguments).await.into_result(&req),
        _ => done(say("That tool does not exist."), Effect::None, "unknown_tool"),
    }
}

/// A tool result plus its outcome label (helper for the tool functions).
struct Answered(String, Effect, &'static str);

impl Answered {
    fn into_result(self, req: &ToolRequest) -> ToolResult {
        ToolResult {
            call_id: req.call_id.clone(),
            name: req.name.clone(),
            output: self.0,
            effect: self.1,
            outcome: self.2,
        }
    }
}

fn audit_event(
    ctx: &ToolContext,
    action: &str,
    patient: Option<PhiRef>,
    outcome: AuditOutcome,
    details: Value,
) -> AuditEvent {
    AuditEvent {
        actor: Actor::Agent {
            call_id: ctx.call_id.clone(),
        },
        action: action.to_owned(),
        call_id: Some(ctx.call_id.clone()),
        patient,
        reason: Some("caller request".into()),
        outcome,
        details,
        at_ms: ctx.deps.clock.now_unix_ms(),
    }
}

async fn verify_patient(ctx: &ToolContext, req: &ToolRequest) -> Answered {
    if ctx.verified.is_some() {
        return Answered(
            output(json!({"ok": true, "say": "The caller is already verified."})),
            Effect::None,
            "already_verified",
        );
    }
    if ctx.attempts >= MAX_ATTEMPTS_PER_CALL {
        return Answered(say(answer::TOO_MANY_ATTEMPTS), Effect::None, "too_many_attempts");
    }
    let Some(phi_key) = ctx.deps.settings.secrets.phi_hash_key.clone() else {
        return Answered(say(answer::UNAVAILABLE), Effect::None, "not_configured");
    };
    // Malformed arguments count as a failed attempt, with the same answer (never which field).
    let today = crate::domain::utc_date_from_unix(ctx.deps.clock.now_unix());
    let ids = serde_json::from_str::<VerifyArgs>(&req.arguments).ok().and_then(|a| {
        let birth_date = DateOfBirth::parse_with_today(&a.date_of_birth, today).ok()?;
        // Caller ID may stand in for an unspoken phone, but only alongside name and birth date.
        let phone = a.phone.or_else(|| ctx.caller_id.clone())?;
        Some(Identifiers {
            first: a.first_name,
            last: a.last_name,
            birth_date,
            phone,
        })
    });
    let Some(ids) = ids else {
        let event = audit_event(
            ctx,
            "patient.verify",
            None,
            AuditOutcome::Failure,
            json!({"attempt": ctx.attempts + 1, "reason": "unusable_identifiers"}),
        );
        if ctx.deps.audit.append(&event).await.is_err() {
            return Answered(say(answer::UNAVAILABLE), Effect::None, "audit_unavailable");
        }
        return Answered(say(answer::VERIFY_FAILED), Effect::VerificationFailed, "verify_failed");
    };
    let input_ref = ids.input_ref(&phi_key);
    let outcome = match verification::verify(
        &ctx.deps.db,
        &ctx.deps.ehr,
        &phi_key,
        ctx.deps.clock.as_ref(),
        &ctx.call_id,
        &ids,
    )
    .await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(call_id = %ctx.call_id, error.message = %e, "verification unavailable: EHR or database error");
            return Answered(say(answer::UNAVAILABLE), Effect::None, "ehr_unavailable");
        }
    };
    let attempt = ctx.attempts + 1;
    let (patient, audit_outcome, details, answer, effect, label) = match outcome {
        VerifyOutcome::Verified(m) => (
            Some(m.phi_ref.clone()),
            AuditOutcome::Success,
            json!({"attempt": attempt, "inputs": input_ref}),
            output(json!({"ok": true, "say": "The caller is verified. Ask how you can help with their appointments."})),
            Effect::Verified(m),
            "verified",
        ),
        VerifyOutcome::Failed { record, locked_now } => (
            record,
            AuditOutcome::Failure,
            json!({"attempt": attempt, "inputs": input_ref, "locked_now": locked_now}),
            say(if locked_now {
                answer::LOCKED
            } else {
                answer::VERIFY_FAILED
            }),
            Effect::VerificationFailed,
            "verify_failed",
        ),
        VerifyOutcome::Locked { record } => (
            Some(record),
            AuditOutcome::Denied,
            json!({"attempt": attempt, "inputs": input_ref, "reason": "locked"}),
            say(answer::LOCKED),
            Effect::VerificationFailed,
            "locked",
        ),
    };
    // The attempt's audit record is written before anything is said: no record, no disclosure.
    let event = audit_event(ctx, "patient.verify", patient, audit_outcome, details);
    if ctx.deps.audit.append(&event).await.is_err() {
        return Answered(say(answer::UNAVAILABLE), Effect::None, "audit_unavailable");
    }
    Answered(answer, effect, label)
}

#[derive(Deserialize)]
struct CallbackArgs {
    #[serde(default)]
    topic: String,
}

async fn request_callback(ctx: &ToolContext, req: &ToolRequest) -> Answered {
    let topic: String = serde_json::from_str::<CallbackArgs>(&req.arguments)
        .map(|a| a.topic)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .take(80)
        .collect();
    let patient = ctx.verified.as_ref().map(|p| p.phi_ref().clone());
    let now = ctx.deps.clock.now_unix_ms() as i64;
    let stored = crate::storage::callbacks::queue(
        &ctx.deps.db,
        &ctx.call_id,
        patient.as_ref().map(PhiRef::as_str),
        &topic,
        now,
    )
    .await;
    let Ok(reference) = stored else {
        return Answered(
            say("The callback could not be recorded right now. Apologise and ask the caller to call back later."),
            Effect::None,
            "callback_failed",
        );
    };
    let event = audit_event(
        ctx,
        "callback.requested",
        patient,
        AuditOutcome::Success,
        json!({"reference": reference}),
    );
    // No audit record, no callback: a request staff would work without its record in the log is
    // withdrawn, and the caller is told honestly (one audit policy for every tool).
    if let Err(e) = ctx.deps.audit.append_or_spool(&event).await {
        tracing::error!(call_id = %ctx.call_id, error.message = %e, "callback audit record could not be stored or spooled; request withdrawn");
        if let Err(e) = crate::storage::callbacks::withdraw(&ctx.deps.db, &reference).await {
            tracing::error!(call_id = %ctx.call_id, error.message = %e, "unaudited callback request could not be withdrawn");
        }
        return Answered(say(answer::UNAVAILABLE), Effect::None, "audit_unavailable");
    }
    let spoken: Vec<String> = reference.chars().map(|c| c.to_string()).collect();
    Answered(
        output(
            json!({"ok": true, "reference": reference, "say": format!("Your callback reference number is {}.", spoken.join(" "))}),
        ),
        Effect::None,
        "callback_queued",
    )
}
