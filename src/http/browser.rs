//! Browser callers over HTTP: the page at `/`, `POST /browser/token`, `GET /browser/ws`.
//!
//! Access control, in order: the browser endpoints exist only when `browser.enabled`; every
//! request counts against its client address's rate limit (429); the page's Origin must be an
//! allowed one (403) — the WebSocket upgrade is not covered by CORS, so without this any site could
//! open calls from its visitors' browsers; a token is issued only to the page itself when
//! self-minting is on (loopback only, enforced by the settings) or to the clinic's backend with the
//! issuer secret; the token is checked on the page's `hello` ([`crate::call::browser`]).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::call;
use crate::config::Settings;
use crate::startup::AppState;
use crate::transport::CallerCommand;
use crate::transport::browser::{BrowserEncoder, MAX_TEXT_FRAME};
use crate::transport::token;

pub const PAGE_PATH: &str = "/";
pub const TOKEN_PATH: &str = "/browser/token";
pub const WS_PATH: &str = "/browser/ws";

const INDEX_HTML: &str = include_str!("browser_page/index.html");
const APP_JS: &str = include_str!("browser_page/app.js");
const CAPTURE_JS: &str = include_str!("browser_page/capture-worklet.js");
const PLAYBACK_JS: &str = include_str!("browser_page/playback-worklet.js");

/// The placeholder in `index.html` the server fills with the page's settings.
const CONFIG_PLACEHOLDER: &str = r#"<script type="application/json" id="config">{}</script>"#;

/// The page, its settings injected (rendered once at start-up).
#[derive(Debug, Clone)]
pub struct Page {
    html: String,
}

impl Page {
    pub fn render(settings: &Settings) -> Page {
        let browser = &settings.browser;
        let config = serde_json::json!({
            "token_url": browser.token_url,
            "ws_path": WS_PATH,
            "audio_constraints": browser.audio_constraints,
            "prebuffer_ms": browser.prebuffer_ms,
            "disclosure": settings.call.disclosure_text,
        });
        // `<` escaped so the JSON cannot close the script element whatever the settings say.
        let json = config.to_string().replace('<', "\\u003c");
        let html = INDEX_HTML.replacen(
            CONFIG_PLACEHOLDER,
            &format!(r#"<script type="application/json" id="config">{json}</script>"#),
            1,
        );
        Page { html }
    }
}

/// Headers every page asset carries: no framing by other sites, no sniffing, no referrer, and a
/// policy that allows only our own scripts (the config block is data, not script).
fn page_headers(content_type: &'static str, no_store: bool) -> [(header::HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        ),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("microphone=(self)"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(if no_store { "no-store" } else { "no-cache" }),
        ),
    ]
}

pub async fn page(State(state): State<AppState>) -> Response {
    (page_headers("text/html; charset=utf-8", true), state.page.html.clone()).into_response()
}

pub async fn app_js() -> Response {
    (page_headers("text/javascript; charset=utf-8", false), APP_JS).into_response()
}

pub async fn capture_js() -> Response {
    (page_headers("text/javascript; charset=utf-8", false), CAPTURE_JS).into_response()
}

pub async fn playback_js() -> Response {
    (page_headers("text/javascript; charset=utf-8", false), PLAYBACK_JS).into_response()
}

/// The client address for rate limiting: the trusted proxy's header when configured (its
/// leftmost entry, the original client), else the socket peer.
pub(crate) fn client_ip(settings: &Settings, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    settings
        .browser
        .client_ip_header
        .as_deref()
        .and_then(|name| headers.get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// Whether the request's Origin may start calls: one of `allowed_origins` (default: the public
/// base URL's origin), or — on a loopback-bound server — the server's own origin as the Host
/// header names it (`http://localhost:8080` and `http://127.0.0.1:8080` both work locally).
pub fn origin_allowed(settings: &Settings, headers: &HeaderMap) -> bool {
    let Some(origin) = request_origin(headers) else {
        return false;
    };
    if settings.browser.allowed_origins.is_empty() {
        return same_origin(settings, headers);
    }
    settings
        .browser
        .allowed_origins
        .iter()
        .any(|o| o.trim_end_matches('/') == origin)
        || loopback_self(settings, headers, origin)
}

/// Whether the request comes from a page of this server: the public base URL's origin, or on a
/// loopback-bound server the Host's (the review pages' rule; the browser call page may be embedded
/// elsewhere, see [`origin_allowed`]).
pub fn same_origin(settings: &Settings, headers: &HeaderMap) -> bool {
    let Some(origin) = request_origin(headers) else {
        return false;
    };
    let public = url::Url::parse(&settings.server.public_base_url)
        .map(|u| u.origin().ascii_serialization() == origin)
        .unwrap_or(false);
    public || loopback_self(settings, headers, origin)
}

fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(|o| o.trim_end_matches('/'))
}

fn loopback_self(settings: &Settings, headers: &HeaderMap, origin: &str) -> bool {
    if !settings.server.host.is_loopback() {
        return false;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

fn rate_limited(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> Option<Response> {
    let ip = client_ip(&state.deps.settings, headers, peer);
    if state.browser_limiter.allow(ip, tokio::time::Instant::now()) {
        return None;
    }
    state.deps.metrics.call_refused("rate_limited");
    tracing::warn!("browser request refused: client address over its rate limit");
    let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, "too many requests; try again shortly");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    Some(response)
}

/// `POST /browser/token`: a short-lived browser call token.
pub async fn issue_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = rate_limited(&state, &headers, peer) {
        return refused;
    }
    let settings = &state.deps.settings;
    let authorised = if settings.browser.self_mint_tokens {
        origin_allowed(settings, &headers)
    } else {
        bearer_matches(settings, &headers)
    };
    if !authorised {
        state.deps.metrics.call_refused("token_not_authorised");
        tracing::warn!(
            self_mint = settings.browser.self_mint_tokens,
            "browser token refused: origin or issuer credential not accepted"
        );
        return refuse(StatusCode::FORBIDDEN, "not allowed to start a call");
    }
    if state.shutdown.is_draining() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "server restarting");
    }
    let Some(key) = settings.secrets.call_token_key.as_ref() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "no token key configured");
    };
    let ttl = settings.browser.token_ttl_secs;
    let token = token::mint_browser(key, state.deps.clock.as_ref(), ttl);
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "token": token, "expires_in": ttl })),
    )
        .into_response()
}

/// `Authorization: Bearer <issuer_secret>`, compared in constant time.
fn bearer_matches(settings: &Settings, headers: &HeaderMap) -> bool {
    let Some(secret) = &settings.browser.issuer_secret else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(secret.bytes())))
}

/// `GET /browser/ws`: the call socket.
pub async fn ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(refused) = rate_limited(&state, &headers, peer) {
        return refused;
    }
    if !origin_allowed(&state.deps.settings, &headers) {
        state.deps.metrics.call_refused("bad_origin");
        tracing::warn!("browser call refused: origin not allowed");
        return refuse(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let ws = ws
        .max_message_size(MAX_TEXT_FRAME)
        .max_frame_size(MAX_TEXT_FRAME)
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024);
    let permit = if state.shutdown.is_draining() {
        Err("draining")
    } else {
        state.calls.clone().try_acquire_owned().map_err(|_| "capacity")
    };
    let permit = match permit {
        Ok(permit) => permit,
        Err(label) => {
            state.deps.metrics.call_refused(label);
            tracing::warn!(reason = label, "browser call refused: no capacity");
            // A browser cannot read the HTTP status of a failed upgrade, so accept and say why.
            return ws.on_upgrade(|mut socket| async move {
                let close = CallerCommand::Close {
                    code: 1013,
                    reason: "server busy; try again shortly".into(),
                };
                if let Ok(frames) = BrowserEncoder::new().encode(close) {
                    for frame in frames {
                        let _ = socket.send(call::browser::to_message(frame)).await;
                    }
                }
            });
        }
    };
    let deps = state.deps.clone();
    let cancel = state.shutdown.root.child_token();
    // Counted by the tracker from now on, so shutdown waits for this call even before the
    // upgrade completes (axum detaches upgraded connections).
    let tracked = state.shutdown.tracker.token();
    ws.on_upgrade(move |socket| async move {
        call::browser::run(socket, deps, permit, cancel).await;
        drop(tracked);
    })
}
