//! `/healthz` (the process is up), `/readyz` (it takes new calls) and `/metrics` (Prometheus).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::startup::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

/// 503 while draining, so a load balancer stops sending new calls here.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else {
        "ready".into_response()
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.deps.metrics.render(),
    )
        .into_response()
}
