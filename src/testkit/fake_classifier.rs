//! `FakeClassifier`: an OpenAI-compatible chat-completions endpoint on loopback, standing in for the
//! red-flag second opinion (`safety.classifier`), which is a cloud service the tests cannot reach.
//!
//! It answers `POST /v1/chat/completions` the way the real endpoint does for a strict
//! `json_schema` response format: a `chat.completion` object whose `choices[0].message.content`
//! is the JSON text the schema describes. The test chooses the answer per request — a verdict,
//! a malformed body, an HTTP error, or no answer at all until the fake is dropped (to prove the
//! gateway's deterministic path never waits for it). Requests are checked for what the gateway
//! must always send (a model, the fixed system prompt first, the transcript as the user message,
//! a strict schema) and a request that breaks it is answered 400 and recorded as a violation.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the fake answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A verdict: `label` is `EMERGENCY_911`, `CRISIS_988` or `NONE`; `category` one of ours.
    Verdict { label: String, category: String },
    /// 200 with content that is not the schema's JSON.
    Malformed,
    /// This HTTP status with an OpenAI-style error body.
    Status(u16),
    /// Never answer (the connection stays open until the fake is dropped).
    Hang,
}

impl Reply {
    /// Shorthand for a verdict.
    pub fn verdict(label: &str, category: &str) -> Reply {
        Reply::Verdict {
            label: label.to_owned(),
            category: category.to_owned(),
        }
    }
}

/// One request the fake received: the user message (the transcript) and the whole body.
#[derive(Debug, Clone)]
pub struct Received {
    pub transcript: String,
    pub body: Value,
    pub authorization: Option<String>,
}

struct Shared {
    reply: Mutex<Reply>,
    received: mpsc::UnboundedSender<Received>,
    violations: Mutex<Vec<String>>,
}

/// The listening fake; dropping it stops the server (and ends every hanging request).
pub struct FakeClassifier {
    addr: SocketAddr,
    shared: Arc<Shared>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeClassifier")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeClassifier {
    /// Bind `127.0.0.1:0` and answer every request with `reply` until told otherwise.
    ///
    /// # Errors
    /// The listener cannot be bound.
    pub async fn start(reply: Reply) -> anyhow::Result<FakeClassifier> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            reply: Mutex::new(reply),
            received: tx,
            violations: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeClassifier {
            addr,
            shared,
            received: tokio::sync::Mutex::new(rx),
            task,
        })
    }

    /// The URL to put in `safety.classifier.url`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }

    /// Answer later requests with `reply`.
    pub fn set_reply(&self, reply: Reply) {
        *self
            .shared
            .reply
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = reply;
    }

    /// The next request received (waits up to 10 s).
    ///
    /// # Errors
    /// None arrived in time.
    pub async fn next_request(&self) -> anyhow::Result<Received> {
        let mut rx = self.received.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no classifier request within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("classifier fake stopped"))
    }

    /// Requests that broke the contract (empty when the gateway behaved).
    pub fn violations(&self) -> Vec<String> {
        self.shared
            .violations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeClassifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a request must carry; the first problem found.
fn check_request(body: &Value) -> Result<String, String> {
    if !body.get("model").is_some_and(Value::is_string) {
        return Err("request without a model".into());
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("request without a messages array")?;
    let [system, user] = messages.as_slice() else {
        return Err(format!("{} messages (expected system + user)", messages.len()));
    };
    if system["role"] != "system" || !system["content"].is_string() {
        return Err("first message is not the system prompt".into());
    }
    if user["role"] != "user" {
        return Err("second message is not the user's transcript".into());
    }
    let format = &body["response_format"];
    if format["type"] != "json_schema" || format["json_schema"]["strict"] != true {
        return Err("response_format is not a strict json_schema".into());
    }
    user["content"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "user content is not a string".into())
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let transcript = match check_request(&body) {
        Ok(t) => t,
        Err(violation) => {
            shared
                .violations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(violation.clone());
            return error(400, &violation);
        }
    };
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let _ = shared.received.send(Received {
        transcript,
        body,
        authorization,
    });
    let reply = shared
        .reply
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let content = match reply {
        Reply::Verdict { label, category } => json!({"label": label, "category": category}).to_string(),
        Reply::Malformed => "I think this might be an emergency.".to_owned(),
        Reply::Status(status) => return error(status, "the fake was told to fail"),
        Reply::Hang => std::future::pending().await,
    };
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }))
    .into_response()
}

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})),
    )
        .into_response()
}
