//! `/review`: the compliance review pages and their JSON API (`openapi.yaml` beside this file).
//!
//! Every handler authenticates the session cookie first; every POST also needs the session's
//! CSRF token in `X-CSRF-Token` and, when the browser sends one, a same-origin `Origin`. Views,
//! playback, exports and changes write their audit record *before* answering, with `append`
//! (never the spool): when the audit log cannot take the record, nothing is disclosed (503).
//! Reasons, usernames and passwords travel only in JSON bodies, never in URLs or logs.

// Helpers return the refusal `Response` itself as their error: it is what the handler answers, on
// a path that runs once per staff request, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::audit::{Actor, AuditEvent, AuditOutcome};
use crate::review::sessions::{self, Session, SessionPolicy};
use crate::review::staff::{self, ThrottlePolicy};
use crate::review::{self, Permission, ReviewError, calls, grants, queue};
use crate::startup::AppState;

pub mod reports;
pub mod schedule;

pub const COOKIE: &str = "vg_review";
pub const OPENAPI: &str = include_str!("openapi.yaml");
const INDEX_HTML: &str = include_str!("page/index.html");
const REVIEW_JS: &str = include_str!("page/review.js");
const REVIEW_CSS: &str = include_str!("page/review.css");

/// Largest slice of a recording one response carries; the player asks for the rest.
const MAX_RANGE: u64 = 2 * 1024 * 1024;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   media-src 'self' blob: https:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'none'";

pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", REVIEW_JS)
}
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", REVIEW_CSS)
}
pub async fn openapi() -> Response {
    asset("application/yaml; charset=utf-8", OPENAPI)
}

/// A refusal or failure as JSON (`{"error": …}`), never with PHI.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": message })),
    )
        .into_response()
}

impl IntoResponse for ReviewError {
    fn into_response(self) -> Response {
        let status = match &self {
            ReviewError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ReviewError::NotFound => StatusCode::NOT_FOUND,
            ReviewError::BadCredentials => StatusCode::UNAUTHORIZED,
            ReviewError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ReviewError::Conflict(_) => StatusCode::CONFLICT,
            ReviewError::Storage(_) | ReviewError::Audit(_) | ReviewError::Blob(_) => StatusCode::SERVICE_UNAVAILABLE,
            ReviewError::Hash | ReviewError::Entropy => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error.message = %self, "review request failed");
        }
        error(status, &self.to_string())
    }
}

pub(super) fn now(state: &AppState) -> u64 {
    state.deps.clock.now_unix_ms()
}

fn session_policy(state: &AppState) -> SessionPolicy {
    let r = &state.deps.settings.review;
    SessionPolicy {
        idle_ms: r.idle_timeout_secs * 1000,
        absolute_ms: r.absolute_timeout_secs * 1000,
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The session behind the request's cookie, or the 401 to answer.
pub(super) async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let Some(cookie) = cookie_value(headers) else {
        return Err(error(StatusCode::UNAUTHORIZED, "sign in first"));
    };
    match sessions::check(&state.deps.db, cookie, now(state), session_policy(state)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(why)) => {
            tracing::info!(reason = why.as_str(), "review session refused");
            Err(error(StatusCode::UNAUTHORIZED, "your session has ended; sign in again"))
        }
        Err(e) => Err(e.into_response()),
    }
}

/// A same-origin `Origin` (when sent): the public base URL's, or on a loopback-bound server
/// the Host's — never `browser.allowed_origins`, which lists sites that embed the call page.
fn origin_ok(state: &AppState, headers: &HeaderMap) -> bool {
    if headers.get(header::ORIGIN).is_none() {
        return true;
    }
    crate::http::browser::same_origin(&state.deps.settings, headers)
}

/// Session + CSRF token (+ Origin) for a state-changing request.
pub(super) async fn authenticate_post(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let session = authenticate(state, headers).await?;
    let token_ok = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(session.csrf.as_bytes())));
    if !token_ok || !origin_ok(state, headers) {
        tracing::warn!(staff_id = %session.staff.staff_id, "review POST refused: CSRF token or origin missing or wrong");
        return Err(error(StatusCode::FORBIDDEN, "missing or invalid CSRF token"));
    }
    Ok(session)
}

/// A POST that states a reason (session, CSRF token, a reason worth recording) for an action that
/// needs `permission` (checked before the reason, so a
/// role that may never do it learns nothing from the reason check).
pub(super) async fn reasoned_as<'r>(
    state: &AppState,
    headers: &HeaderMap,
    reason: &'r str,
    permission: Permission,
) -> Result<(Session, &'r str), Response> {
    let session = authenticate_post(state, headers).await?;
    require(&session, permission)?;
    let reason = review::check_reason(reason).map_err(IntoResponse::into_response)?;
    Ok((session, reason))
}

/// A signed-in session whose role holds `permission` (a GET).
pub(super) async fn authenticate_for(
    state: &AppState,
    headers: &HeaderMap,
    permission: Permission,
) -> Result<Session, Response> {
    let session = authenticate(state, headers).await?;
    require(&session, permission)?;
    Ok(session)
}

/// 403 unless the session's role holds `permission`. A refusal is logged with the staff id and
/// the permission (no PHI), so repeated probing shows in the logs.
pub(super) fn require(session: &Session, permission: Permission) -> Result<(), Response> {
    if session.staff.role.can(permission) {
        Ok(())
    } else {
        tracing::info!(staff_id = %session.staff.staff_id, ?permission, "review request refused: role lacks permission");
        Err(error(StatusCode::FORBIDDEN, "your role does not allow this"))
    }
}

pub(super) fn actor(session: &Session) -> Actor {
    Actor::Staff {
        user_id: session.staff.staff_id.clone(),
        session_id: session.session_id.clone(),
    }
}

/// Write the audit record of a staff action; the action goes ahead only if this succeeds.
pub(super) async fn audit(
    state: &AppState,
    actor: Actor,
    action: &str,
    call_id: Option<&str>,
    reason: Option<&str>,
    outcome: AuditOutcome,
    details: serde_json::Value,
) -> Result<(), Response> {
    let event = AuditEvent {
        actor,
        action: action.into(),
        call_id: call_id.map(str::to_owned),
        patient: None,
        reason: reason.map(str::to_owned),
        outcome,
        details,
        at_ms: now(state),
    };
    state
        .deps
        .audit
        .append(&event)
        .await
        .map(|_| ())
        .map_err(|e| ReviewError::from(e).into_response())
}

fn session_body(state: &AppState, session: &Session) -> serde_json::Value {
    json!({
        "user": session.staff,
        "permissions": session.staff.role.permissions(),
        "csrf": session.csrf,
        "idle_timeout_secs": state.deps.settings.review.idle_timeout_secs,
    })
}

/// `Secure` unless the page is plain HTTP on loopback (local use), where browsers would drop it.
fn set_cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: Option<u64>) -> HeaderValue {
    let loopback_http = state.deps.settings.server.host.is_loopback()
        && headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_none_or(|o| o.starts_with("http://"));
    let secure = if loopback_http { "" } else { "; Secure" };
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    let cookie = format!("{COOKIE}={value}; Path=/review; HttpOnly; SameSite=Strict{secure}{age}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("vg_review=; Path=/review"))
}

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Response {
    if !origin_ok(&state, &headers) {
        return error(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let r = &state.deps.settings.review;
    let policy = ThrottlePolicy {
        max_failures: r.login_max_failures,
        window_ms: r.login_window_secs * 1000,
        lockout_ms: r.login_lockout_secs * 1000,
    };
    let addr = crate::http::browser::client_ip(&state.deps.settings, &headers, peer).to_string();
    let at = now(&state);
    match staff::authenticate(&state.deps.db, &body.username, &body.password, &addr, at, policy).await {
        Ok(member) => {
            let (cookie, session) = match sessions::create(&state.deps.db, member, at).await {
                Ok(created) => created,
                Err(e) => return e.into_response(),
            };
            if let Err(refused) = audit(
                &state,
                actor(&session),
                "review.login",
                None,
                None,
                AuditOutcome::Success,
                json!({"username": session.staff.username, "role": session.staff.role}),
            )
            .await
            {
                let _ = sessions::end(&state.deps.db, &session.session_id, at).await;
                return refused;
            }
            let mut response = Json(session_body(&state, &session)).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, set_cookie(&state, &headers, &cookie, None));
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e @ (ReviewError::BadCredentials | ReviewError::Throttled)) => {
            // The username is recorded (who was tried), never the password.
            let outcome = if matches!(e, ReviewError::Throttled) {
                AuditOutcome::Denied
            } else {
                AuditOutcome::Failure
            };
            let system = Actor::System {
                job: "review-login".into(),
            };
            let details = json!({"username": body.username.trim().to_ascii_lowercase(), "client": addr});
            if let Err(refused) = audit(&state, system, "review.login", None, None, outcome, details).await {
                return refused;
            }
            e.into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match authenticate_post(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = sessions::end(&state.deps.db, &session.session_id, now(&state)).await {
        return e.into_response();
    }
    if let Err(r) = audit(
        &state,
        actor(&session),
        "review.logout",
        None,
        None,
        AuditOutcome::Success,
        json!({}),
    )
    .await
    {
        return r;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, &headers, "", Some(0)));
    response
}

pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match authenticate(&state, &headers).await {
        Ok(session) => Json(session_body(&state, &session)).into_response(),
        Err(r) => r,
    }
}

pub async fn list_calls(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<calls::CallFilter>,
) -> Response {
    let session = match authenticate_for(&state, &headers, Permission::ReadCalls).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Searching by patient is itself an access to that patient's history: audited.
    if let Some(patient) = filter.patient_ref.as_deref().filter(|p| !p.is_empty())
        && let Err(r) = audit(
            &state,
            actor(&session),
            "review.calls.searched",
            None,
            None,
            AuditOutcome::Success,
            json!({"patient_ref": patient}),
        )
        .await
    {
        return r;
    }
    match calls::list(&state.deps.db, &filter).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct ReasonBody {
    #[serde(default)]
    pub(super) reason: String,
}

/// The call row, or 404.
async fn call_row(state: &AppState, call_id: &str) -> Result<calls::CallRow, Response> {
    match calls::row(&state.deps.db, call_id).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err(ReviewError::NotFound.into_response()),
        Err(e) => Err(e.into_response()),
    }
}

fn checkpoint_keys(state: &AppState) -> Vec<crate::config::KeyedSecret> {
    state
        .deps
        .settings
        .secrets
        .audit_checkpoint_key
        .iter()
        .cloned()
        .collect()
}

pub async fn view_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
    Json(body): Json<ReasonBody>,
) -> Response {
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::ReadCalls).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let row = match call_row(&state, &call_id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let details = json!({"viewed": ["transcript", "tool_calls", "audit_trail", "notifications"]});
    if let Err(r) = audit(
        &state,
        actor(&session),
        "review.call.viewed",
        Some(&call_id),
        Some(reason),
        AuditOutcome::Success,
        details,
    )
    .await
    {
        return r;
    }
    match calls::detail(&state.deps.db, &state.deps.blobs, &checkpoint_keys(&state), row).await {
        Ok(detail) => ([(header::CACHE_CONTROL, "no-store")], Json(detail)).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn playback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
    Json(body): Json<ReasonBody>,
) -> Response {
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::ReadCalls).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let row = match call_row(&state, &call_id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(key) = row.recording_location.clone().filter(|_| row.has_recording) else {
        return error(StatusCode::NOT_FOUND, "this call has no recording");
    };
    let ttl = Duration::from_secs(state.deps.settings.review.playback_grant_secs);
    let expires_at_ms = now(&state) + ttl.as_millis() as u64;
    if let Err(r) = audit(
        &state,
        actor(&session),
        "review.recording.played",
        Some(&call_id),
        Some(reason),
        AuditOutcome::Success,
        json!({"object_key": key, "store": state.deps.blobs.store_kind(), "expires_at_ms": expires_at_ms}),
    )
    .await
    {
        return r;
    }
    let url = match state.deps.blobs.presigned_get(&key, ttl).await {
        Ok(Some(url)) => url,
        Ok(None) => {
            let Some(secret) = state.deps.settings.secrets.call_token_key.as_ref() else {
                return error(StatusCode::SERVICE_UNAVAILABLE, "no signing key configured");
            };
            let grant = grants::mint(secret, &session.session_id, &call_id, expires_at_ms);
            format!("/review/api/recordings/{grant}")
        }
        Err(e) => return ReviewError::from(e).into_response(),
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"url": url, "expires_at_ms": expires_at_ms})),
    )
        .into_response()
}

/// `bytes=a-b` / `bytes=a-` / `bytes=-n` → `[start, end)` within `len`, capped at [`MAX_RANGE`].
fn parse_range(value: Option<&str>, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value?.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return Some(Err(()));
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len)
        }
        (a, "") => (a.parse().ok()?, len),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.saturating_add(1).min(len)),
    };
    if start >= len || start >= end {
        return Some(Err(()));
    }
    Some(Ok((start, end.min(start + MAX_RANGE))))
}

pub async fn recording(State(state): State<AppState>, headers: HeaderMap, Path(grant): Path<String>) -> Response {
    let session = match authenticate_for(&state, &headers, Permission::ReadCalls).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(secret) = state.deps.settings.secrets.call_token_key.as_ref() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no signing key configured");
    };
    let Some(call_id) = grants::check(secret, &session.session_id, &grant, now(&state)) else {
        return error(
            StatusCode::FORBIDDEN,
            "playback permission expired or not yours; press play again",
        );
    };
    let row = match call_row(&state, &call_id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(key) = row.recording_location.filter(|_| row.has_recording) else {
        return error(StatusCode::NOT_FOUND, "this call has no recording");
    };
    let blobs = &state.deps.blobs;
    let len = match blobs.len(&key).await {
        Ok(len) => len,
        Err(e) => return ReviewError::from(e).into_response(),
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match parse_range(range, len) {
        None => (StatusCode::OK, 0, len.min(MAX_RANGE)),
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(Err(())) => {
            let mut r = error(StatusCode::RANGE_NOT_SATISFIABLE, "bad range");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    // A whole-file request larger than one slice is answered as a range so the player continues.
    let status = if status == StatusCode::OK && end < len {
        StatusCode::PARTIAL_CONTENT
    } else {
        status
    };
    let bytes = match blobs.get_range(&key, start, end).await {
        Ok(b) => b,
        Err(e) => return ReviewError::from(e).into_response(),
    };
    let mut response = (status, bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

pub async fn work_queue(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authenticate_for(&state, &headers, Permission::WorkQueue).await {
        return r;
    }
    match queue::open_items(&state.deps.db).await {
        Ok((callbacks, lockouts)) => Json(json!({"callbacks": callbacks, "lockouts": lockouts})).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn complete_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Json(body): Json<ReasonBody>,
) -> Response {
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::WorkQueue).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let done = match queue::complete_callback(&state.deps.db, &reference, &session.staff.staff_id, now(&state)).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    match audit(
        &state,
        actor(&session),
        "callback.completed",
        Some(&done.call_id),
        Some(reason),
        AuditOutcome::Success,
        json!({"reference": done.reference}),
    )
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct LiftBody {
    #[serde(default)]
    patient_ref: String,
    #[serde(default)]
    pub(super) reason: String,
}

pub async fn lift_lockout(State(state): State<AppState>, headers: HeaderMap, Json(body): Json<LiftBody>) -> Response {
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::WorkQueue).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = queue::lift_lockout(&state.deps.db, &body.patient_ref, &session.staff.staff_id, now(&state)).await {
        return e.into_response();
    }
    match audit(
        &state,
        actor(&session),
        "lockout.lifted",
        None,
        Some(reason),
        AuditOutcome::Success,
        json!({"patient_ref": body.patient_ref}),
    )
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

pub async fn verify_chain(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match authenticate_post(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = require(&session, Permission::ExportAudit) {
        return r;
    }
    let status = match calls::chain_status(&state.deps.db, &state.deps.blobs, &checkpoint_keys(&state)).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let outcome = if status.ok {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    };
    match audit(
        &state,
        actor(&session),
        "audit.verified",
        None,
        None,
        outcome,
        json!({"length": status.length, "ok": status.ok}),
    )
    .await
    {
        Ok(()) => Json(status).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct ExportBody {
    call_id: Option<String>,
    #[serde(default)]
    pub(super) reason: String,
}

pub async fn export_audit(State(state): State<AppState>, headers: HeaderMap, Json(body): Json<ExportBody>) -> Response {
    let session = match authenticate_post(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = require(&session, Permission::ExportAudit) {
        return r;
    }
    let reason = match review::check_reason(&body.reason) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(call_id) = body.call_id.as_deref().filter(|c| !c.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "call_id is required (whole-log exports: voicegate audit export)",
        );
    };
    if let Err(r) = audit(
        &state,
        actor(&session),
        "audit.exported",
        Some(call_id),
        Some(reason),
        AuditOutcome::Success,
        json!({"scope": "call"}),
    )
    .await
    {
        return r;
    }
    match calls::audit_records(&state.deps.db, call_id).await {
        Ok(records) => ([(header::CACHE_CONTROL, "no-store")], Json(json!({"records": records}))).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn list_staff(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match authenticate_for(&state, &headers, Permission::ManageStaff).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = require(&session, Permission::ManageStaff) {
        return r;
    }
    match staff::list(&state.deps.db).await {
        Ok(all) => {
            let rows: Vec<_> = all
                .iter()
                .map(
                    |s| json!({"staff_id": s.staff_id, "username": s.username, "role": s.role, "disabled": s.disabled}),
                )
                .collect();
            Json(json!({ "staff": rows })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct HoldBody {
    hold: bool,
    #[serde(default)]
    pub(super) reason: String,
}

pub async fn legal_hold(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(call_id): Path<String>,
    Json(body): Json<HoldBody>,
) -> Response {
    let (session, reason) = match reasoned_as(&state, &headers, &body.reason, Permission::ManageStaff).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let row = match call_row(&state, &call_id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let at = now(&state);
    if let Err(e) = calls::set_legal_hold(&state.deps.db, &call_id, body.hold, &session.staff.staff_id, at).await {
        return e.into_response();
    }
    // The database row blocks retention at once; the store's own hold (S3 Object Lock) also
    // blocks anyone with bucket credentials.
    let mut store_error = None;
    if let Some(wav) = row.recording_location.as_deref().filter(|_| row.has_recording) {
        for key in std::iter::once(wav.to_owned()).chain(calls::manifest_key(wav)) {
            if let Err(e) = state.deps.blobs.set_legal_hold(&key, body.hold).await {
                store_error = Some(e.to_string());
                break;
            }
        }
    }
    let action = if body.hold {
        "legal_hold.placed"
    } else {
        "legal_hold.released"
    };
    let outcome = if store_error.is_none() {
        AuditOutcome::Success
    } else {
        AuditOutcome::Failure
    };
    let details = json!({"store": state.deps.blobs.store_kind(), "store_error": store_error});
    if let Err(r) = audit(
        &state,
        actor(&session),
        action,
        Some(&call_id),
        Some(reason),
        outcome,
        details,
    )
    .await
    {
        return r;
    }
    match store_error {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(_) => error(
            StatusCode::BAD_GATEWAY,
            "the hold is recorded here, but the recording store refused its own legal hold",
        ),
    }
}
