//! `/review/api/reports`: the clinic owner's report as JSON (the page's charts) and as CSV.
//!
//! Counts only (see [`crate::clinic::report`]), so no reason is asked for; each view and each
//! download is still audited with its range, because what staff looked at is part of the record.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{actor, audit, authenticate_for, error, now};
use crate::audit::AuditOutcome;
use crate::clinic::report::{self, Range, Report};
use crate::review::Permission;
use crate::startup::AppState;
use crate::tools::ehr::Ehr;

const REPORTS_JS: &str = include_str!("page/reports.js");

/// The report page's script (beside review.js, under the same CSP).
pub async fn script() -> Response {
    super::asset("text/javascript; charset=utf-8", REPORTS_JS)
}

/// This module's routes (merged into the review router).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/review/reports.js", get(script))
        .route("/review/api/reports", get(json_report))
        .route("/review/api/reports/export.csv", get(csv_report))
}

/// The date-range filter: local days, inclusive, in `tz` (default: the clinic's zone).
#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    tz: String,
}

/// The report as JSON (roles with `view_reports`).
pub async fn json_report(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ReportQuery>) -> Response {
    let report = match authorised_report(&state, &headers, &q, Permission::ViewReports, "report.viewed").await {
        Ok(r) => r,
        Err(r) => return r,
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(report)).into_response()
}

/// The report as a CSV download (roles with `export_reports`).
pub async fn csv_report(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ReportQuery>) -> Response {
    let report = match authorised_report(&state, &headers, &q, Permission::ExportReports, "report.exported").await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let name = format!("voicegate-report-{}-to-{}.csv", report.from, report.to);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        report::csv::render(&report),
    )
        .into_response()
}

/// Session and permission, the range, the report, and its audit record (written before the
/// report is returned: a report that cannot be audited is not shown).
async fn authorised_report(
    state: &AppState,
    headers: &HeaderMap,
    q: &ReportQuery,
    permission: Permission,
    action: &str,
) -> Result<Report, Response> {
    let session = authenticate_for(state, headers, permission).await?;
    let db = &state.deps.db;
    let zone = if q.tz.is_empty() {
        report::default_zone(db).await.map_err(storage_failed)?
    } else {
        q.tz.clone()
    };
    let now = jiff::Timestamp::from_millisecond(i64::try_from(now(state)).unwrap_or(i64::MAX))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let range = Range::parse(&q.from, &q.to, &zone, now).map_err(|e| error(StatusCode::BAD_REQUEST, &e.to_string()))?;
    let schedule_here = matches!(state.deps.ehr, Ehr::Builtin(_));
    let built = report::build(db, &range, now, schedule_here).await.map_err(|e| {
        tracing::error!(error.message = %e, "report could not be built");
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the report could not be built; try again",
        )
    })?;
    audit(
        state,
        actor(&session),
        action,
        None,
        None,
        AuditOutcome::Success,
        json!({"from": built.from, "to": built.to, "time_zone": built.time_zone, "calls": built.calls.total}),
    )
    .await?;
    Ok(built)
}

fn storage_failed(e: crate::storage::StorageError) -> Response {
    tracing::error!(error.message = %e, "report zone could not be read");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the report could not be built; try again",
    )
}
