//! `FakeTwilioSms`: Twilio's Programmable Messaging REST API on loopback, standing in for the cloud
//! service the tests cannot reach, with its status callbacks.
//!
//! It follows Twilio's documented shapes: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with HTTP basic auth (account SID : auth token) and a form-encoded body (`To`, `From` or
//! `MessagingServiceSid`, `Body`, `StatusCallback`); a `201` JSON Message resource with an `SM…`
//! `sid` and `status` `queued` (or `accepted` with a Messaging Service); errors as JSON
//! `{code, message, more_info, status}` — 401 `20003` for bad credentials, 400 `21211` for an
//! invalid `To`, 400 `21602` for a missing body. Status callbacks are form posts signed with
//! `X-Twilio-Signature` over the callback URL, carrying `MessageSid`, `MessageStatus` (and
//! `ErrorCode` on failure). A test can script failures for the next requests.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One message the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    pub sid: String,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub status_callback: Option<String>,
}

/// A scripted answer for the next create request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripted {
    /// This HTTP status with this Twilio error code.
    Error { http: u16, code: u32 },
}

struct Shared {
    account_sid: String,
    auth_token: String,
    sent: Mutex<Vec<SentSms>>,
    script: Mutex<VecDeque<Scripted>>,
    /// Every create request, accepted or not.
    requests: Mutex<u64>,
    changed: Notify,
    next_sid: Mutex<u64>,
}

/// The listening fake; dropping it stops the server.
pub struct FakeTwilioSms {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeTwilioSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTwilioSms")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeTwilioSms {
    /// Bind `127.0.0.1:0` for the account `account_sid` with `auth_token`.
    ///
    /// # Errors
    /// The listener cannot be bound.
    pub async fn start(account_sid: &str, auth_token: &str) -> anyhow::Result<FakeTwilioSms> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            sent: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            requests: Mutex::new(0),
            changed: Notify::new(),
            next_sid: Mutex::new(0),
        });
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(create))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeTwilioSms { addr, shared, task })
    }

    /// The base to put in `notifications.sms.api_base`.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer the next create requests with these errors, in order.
    pub fn script(&self, answers: &[Scripted]) {
        lock(&self.shared.script).extend(answers.iter().copied());
    }

    /// Messages accepted so far.
    pub fn sent(&self) -> Vec<SentSms> {
        lock(&self.shared.sent).clone()
    }

    /// Create requests received so far (accepted or refused).
    pub fn requests(&self) -> u64 {
        *lock(&self.shared.requests)
    }

    /// Wait until at least `n` messages were accepted (or `deadline` passes); returns them.
    pub async fn wait_for(&self, n: usize, deadline: std::time::Duration) -> Vec<SentSms> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let changed = self.shared.changed.notified();
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return self.sent();
            }
        }
    }

    /// Wait until at least `n` create requests arrived (or `deadline` passes).
    pub async fn wait_for_requests(&self, n: u64, deadline: std::time::Duration) -> u64 {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let changed = self.shared.changed.notified();
            let seen = self.requests();
            if seen >= n {
                return seen;
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return self.requests();
            }
        }
    }

    /// Send the status callback Twilio would send for message `sid` (`delivered`, `undelivered`,
    /// `failed`, ...) to `server` (where the gateway listens), signed for the callback URL the
    /// message named (the gateway's public URL).
    ///
    /// # Errors
    /// No such message, no callback URL, or the request failed.
    pub async fn report(
        &self,
        server: &str,
        sid: &str,
        status: &str,
        error_code: Option<u32>,
    ) -> anyhow::Result<super::webhook::HttpResponse> {
        let message = self
            .sent()
            .into_iter()
            .find(|m| m.sid == sid)
            .ok_or_else(|| anyhow::anyhow!("no message {sid}"))?;
        let callback = message
            .status_callback
            .clone()
            .ok_or_else(|| anyhow::anyhow!("message {sid} named no StatusCallback"))?;
        let url = url::Url::parse(&callback)?;
        let public_base = format!("{}://{}", url.scheme(), url.authority());
        let mut params = BTreeMap::new();
        params.insert("MessageSid".to_owned(), sid.to_owned());
        params.insert("SmsSid".to_owned(), sid.to_owned());
        params.insert("MessageStatus".to_owned(), status.to_owned());
        params.insert("SmsStatus".to_owned(), status.to_owned());
        params.insert("AccountSid".to_owned(), self.shared.account_sid.clone());
        params.insert("To".to_owned(), message.to.clone());
        params.insert("ApiVersion".to_owned(), "2010-04-01".to_owned());
        if let Some(from) = &message.from {
            params.insert("From".to_owned(), from.clone());
        }
        if let Some(code) = error_code {
            params.insert("ErrorCode".to_owned(), code.to_string());
        }
        super::webhook::post_signed(
            server,
            &public_base,
            url.path(),
            &params,
            Some(self.shared.auth_token.as_bytes()),
        )
        .await
    }
}

impl Drop for FakeTwilioSms {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(http: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [("content-type", "application/json")],
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": http,
        })
        .to_string(),
    )
        .into_response()
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    use base64::Engine as _;
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    decoded == format!("{}:{}", shared.account_sid, shared.auth_token).as_bytes()
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    *lock(&shared.requests) += 1;
    let answer = create_inner(&shared, &account, &headers, &body);
    shared.changed.notify_waiters();
    answer
}

fn create_inner(shared: &Shared, account: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    if !authorized(shared, headers) {
        return error(401, 20003, "Authenticate");
    }
    if account != shared.account_sid {
        return error(404, 20404, "The requested resource was not found");
    }
    let form_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return error(400, 20001, "Content-Type must be application/x-www-form-urlencoded");
    }
    if let Some(Scripted::Error { http, code }) = lock(&shared.script).pop_front() {
        return error(http, code, "scripted failure");
    }
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let to = params.get("To").cloned().unwrap_or_default();
    let valid_to = to.len() > 8 && to.starts_with('+') && to[1..].chars().all(|c| c.is_ascii_digit());
    if !valid_to {
        return error(400, 21211, "Invalid 'To' Phone Number");
    }
    let from = params.get("From").cloned();
    let service = params.get("MessagingServiceSid").cloned();
    if from.is_none() && service.is_none() {
        return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required");
    }
    let Some(text) = params.get("Body").filter(|b| !b.is_empty()).cloned() else {
        return error(400, 21602, "Message body is required");
    };
    if text.chars().count() > 1600 {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit",
        );
    }
    let n = {
        let mut next = lock(&shared.next_sid);
        *next += 1;
        *next
    };
    let sid = format!("SM{n:032x}");
    let status = if service.is_some() { "accepted" } else { "queued" };
    lock(&shared.sent).push(SentSms {
        sid: sid.clone(),
        to: to.clone(),
        from: from.clone(),
        messaging_service_sid: service.clone(),
        body: text.clone(),
        status_callback: params.get("StatusCallback").cloned(),
    });
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        json!({
            "account_sid": shared.account_sid,
            "api_version": "2010-04-01",
            "body": text,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": from,
            "messaging_service_sid": service,
            "num_segments": "1",
            "sid": sid,
            "status": status,
            "to": to,
            "uri": format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", shared.account_sid),
        })
        .to_string(),
    )
        .into_response()
}
