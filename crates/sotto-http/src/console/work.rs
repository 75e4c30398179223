//! Console pages for everyday work: the dashboard, patients (masked, the full view audited),
//! the data dictionary, the code vault, segments with a live size while typing, and the audit
//! log with filters and a CSV export. Identifiers travel in form bodies, never in URLs.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use sotto_app::{AuditFilter, ViewKind};
use sotto_core::scope::Scope;
use sotto_store::Store;

use super::{AppState, Page, Staff, failure, field, not_partial, partial, see_other, shown};

pub(crate) async fn dashboard<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    let zone = jiff::tz::TimeZone::UTC;
    let day_start = staff.edge.now.to_zoned(zone).start_of_day().map(|z| z.timestamp()).unwrap_or(staff.edge.now);
    let live_grants = if staff.holds(Scope::Compliance) {
        match app.live_break_glass_count(staff.edge.now).await {
            Ok(n) => n,
            Err(e) => return failure(&e),
        }
    } else {
        0
    };
    shown(app.dashboard(&staff.ctx, day_start).await.map(|d| {
        staff
            .page(&app, "dashboard.html", "Dashboard")
            .with("d", d)
            .with("live_grants", live_grants)
            .with("last_sign_in", staff.session.last_sign_in.map(|t| t.to_string()))
            .with("last_failure", staff.session.last_failure.map(|t| t.to_string()))
    }))
}

pub(crate) async fn patients<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    if let Err(e) = app.require(&staff.ctx, Scope::PatientsRead, "patients").await {
        return failure(&e);
    }
    staff.page(&app, "patients.html", "Patients").with("may_reveal", staff.holds(Scope::PatientsReadPhi)).render()
}

/// Looks a patient up by the source system's id (in the body): the masked view, or with
/// `view=full` the full one (needs `patients:read_phi`; audited).
pub(crate) async fn reveal<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let id = field(&fields, "external_id").unwrap_or_default().trim().to_owned();
    let kind = if field(&fields, "view") == Some("full") { ViewKind::Full } else { ViewKind::Masked };
    match app.patient(&staff.ctx, &id, kind).await {
        Ok(view) => staff.page(&app, "patients.html", "Patients").with("patient", view).with("may_reveal", staff.holds(Scope::PatientsReadPhi)).render(),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn dictionary<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    shown(app.dictionary(&staff.ctx).await.map(|fields| staff.page(&app, "dictionary.html", "Data dictionary").with("fields", fields)))
}

pub(crate) async fn vault<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    if let Err(e) = app.require(&staff.ctx, Scope::VaultRead, "vault").await {
        return failure(&e);
    }
    staff.page(&app, "vault.html", "Code vault").with("may_write", staff.holds(Scope::VaultWrite)).render()
}

/// Reads a code's meaning (audited) or writes one, by the form's `action`.
pub(crate) async fn vault_put<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let code = field(&fields, "code").unwrap_or_default().trim();
    let result = if field(&fields, "action") == Some("write") {
        app.put_code(&staff.ctx, &json!({"code": code, "meaning": field(&fields, "meaning").unwrap_or_default()})).await.map(|_| json!({"code": code, "saved": true}))
    } else {
        app.code_meaning(&staff.ctx, code).await
    };
    shown(result.map(|answer| staff.page(&app, "vault.html", "Code vault").with("answer", answer).with("may_write", staff.holds(Scope::VaultWrite))))
}

pub(crate) async fn segments<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    shown(app.list_segments(&staff.ctx).await.map(|list| staff.page(&app, "segments.html", "Segments").with("segments", &list["segments"]).with("may_write", staff.holds(Scope::SegmentsWrite))))
}

pub(crate) async fn create_segment<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let request = json!({"name": field(&fields, "name").unwrap_or_default(), "definition": field(&fields, "definition").unwrap_or_default()});
    match app.create_segment(&staff.ctx, &request).await {
        Ok(_) => see_other("/console/segments", &[]),
        Err(e) => failure(&e),
    }
}

/// The live size of the definition being typed (a partial for console.js).
pub(crate) async fn segment_size<S: Store>(State(app): AppState<S>, staff: Staff, headers: HeaderMap, body: Bytes) -> Response {
    if !partial(&headers) {
        return not_partial();
    }
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    match app.draft_segment_size(&staff.ctx, field(&fields, "definition").unwrap_or_default()).await {
        Ok(size) => Page::new("segment_size.html", "").with("s", size).render(),
        Err(e) => super::partial_failure(&e),
    }
}

pub(crate) async fn audit<S: Store>(State(app): AppState<S>, staff: Staff, Query(filter): Query<AuditFilter>) -> Response {
    shown(app.audit_tail(&staff.ctx, &filter, 200, 5000).await.map(|entries| staff.page(&app, "audit.html", "Audit log").with("entries", entries).with("filter", json!({"actor": filter.actor, "action": filter.action, "outcome": filter.outcome})).with("export", serde_urlencoded::to_string([("actor", &filter.actor), ("action", &filter.action), ("outcome", &filter.outcome)]).unwrap_or_default())))
}

/// The filtered entries as CSV (a download; reading them is audited).
pub(crate) async fn audit_csv<S: Store>(State(app): AppState<S>, staff: Staff, Query(filter): Query<AuditFilter>) -> Response {
    let entries = match app.audit_tail(&staff.ctx, &filter, 5000, 5000).await {
        Ok(e) => e,
        Err(e) => return failure(&e),
    };
    let mut out = String::from("seq,at,actor,action,object,outcome,request_id,source_ip\r\n");
    for e in &entries {
        let cells: Vec<String> = ["seq", "at", "actor", "action", "object", "outcome", "request_id", "source_ip"].iter().map(|k| csv_cell(&e[*k])).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    let mut response = (StatusCode::OK, out).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"sotto-audit.csv\""));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One CSV cell: quoted, quotes doubled, and a leading formula character neutralised.
fn csv_cell(v: &serde_json::Value) -> String {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text };
    format!("\"{}\"", text.replace('"', "\"\""))
}
