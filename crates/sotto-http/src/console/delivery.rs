//! Console pages for sending: campaigns (made from a segment and approved templates, with the
//! checklist, a preflight, approval by a second person, launch and live progress), journeys
//! drawn as their steps, and reports with bar charts drawn by the server as SVG.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use sotto_app::AppError;
use sotto_core::scope::Scope;
use sotto_store::{CampaignControl, Store};

use super::{AppState, Page, Staff, failure, field, not_partial, partial, see_other, shown};
use crate::extract::Path;

/// Bars for a chart: each label with its shown value (a number, or a suppression word) and a
/// width in percent of the largest number. The SVG is drawn by `chart.html`.
pub(crate) fn bars<'a>(items: impl IntoIterator<Item = (String, &'a Value)>) -> Vec<Value> {
    let items: Vec<(String, &Value)> = items.into_iter().collect();
    let max = items.iter().filter_map(|(_, v)| v.as_f64()).fold(0.0_f64, f64::max);
    items
        .into_iter()
        .enumerate()
        .map(|(i, (label, v))| {
            let width = v.as_f64().map_or(0.0, |n| if max > 0.0 { (n / max * 100.0).round() } else { 0.0 });
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            json!({"label": label, "shown": shown, "width": width, "y": i * 28, "suppressed": v.as_f64().is_none()})
        })
        .collect()
}

pub(crate) async fn campaigns<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    let list = match app.list_campaigns(&staff.ctx).await {
        Ok(l) => l,
        Err(e) => return failure(&e),
    };
    let mut page = staff.page(&app, "campaigns.html", "Campaigns").with("campaigns", &list["campaigns"]).with("may_write", staff.holds(Scope::CampaignsWrite));
    if staff.holds(Scope::CampaignsWrite) {
        let segments = match app.list_segments(&staff.ctx).await {
            Ok(s) => s["segments"].clone(),
            Err(e) => return failure(&e),
        };
        let templates: Vec<Value> = match app.templates(&staff.ctx).await {
            Ok(t) => t["templates"].as_array().into_iter().flatten().filter(|t| !t["approved_version"].is_null()).cloned().collect(),
            Err(e) => return failure(&e),
        };
        page = page.with("segments", segments).with("templates", templates);
    }
    page.render()
}

pub(crate) async fn create_campaign<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let channel = field(&fields, "channel").unwrap_or("email");
    let mut request = json!({
        "name": field(&fields, "name").unwrap_or_default(),
        "segment_id": field(&fields, "segment_id").unwrap_or_default(),
        "template_id": field(&fields, "template_id").unwrap_or_default(),
        "channels": [channel],
        "purpose": field(&fields, "purpose").unwrap_or("operations"),
        "schedule": {"now": true},
    });
    if let Some(topic) = field(&fields, "topic").filter(|t| !t.is_empty()) {
        request["topic"] = topic.into();
    }
    match app.create_campaign(&staff.ctx, &request).await {
        Ok(created) => see_other(&format!("/console/campaigns/{}", created["id"].as_str().unwrap_or_default()), &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn campaign<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>) -> Response {
    let result: Result<Page, AppError> = async {
        let c = app.get_campaign(&staff.ctx, &id).await?;
        let checklist = app.campaign_checklist(&staff.ctx, &id).await?;
        let progress = app.campaign_progress(&staff.ctx, &id).await?;
        Ok(staff
            .page(&app, "campaign.html", "Campaign")
            .with("c", c)
            .with("checklist", checklist)
            .with("p", progress)
            .with("may_write", staff.holds(Scope::CampaignsWrite))
            .with("may_approve", staff.holds(Scope::Compliance))
            .with("second_approval", app.second_approval_configured()))
    }
    .await;
    shown(result)
}

/// The live counters of a campaign (a partial polled by console.js).
pub(crate) async fn progress<S: Store>(State(app): AppState<S>, staff: Staff, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !partial(&headers) {
        return not_partial();
    }
    match app.campaign_progress(&staff.ctx, &id).await {
        Ok(p) => Page::new("progress.html", "").with("p", p).render(),
        Err(e) => super::partial_failure(&e),
    }
}

/// A campaign's next step from the console: preflight, approve, launch, pause, resume, cancel.
pub(crate) async fn campaign_step<S: Store>(State(app): AppState<S>, staff: Staff, Path((id, step)): Path<(String, String)>, body: Bytes) -> Response {
    if let Err(refused) = staff.form(&app, &body) {
        return refused.into_response();
    }
    if matches!(step.as_str(), "approve" | "launch")
        && let Err(needs) = staff.elevated(&format!("/console/campaigns/{}", crate::console::safe_id(&id)))
    {
        return needs.into_response();
    }
    let result = match step.as_str() {
        "preflight" => match app.campaign_preflight(&staff.ctx, &id).await {
            Ok(preflight) => {
                let page = app.get_campaign(&staff.ctx, &id).await.map(|c| staff.page(&app, "campaign.html", "Campaign").with("c", c).with("preflight", preflight).with("may_write", staff.holds(Scope::CampaignsWrite)).with("may_approve", staff.holds(Scope::Compliance)));
                return shown(page);
            }
            Err(e) => Err(e),
        },
        "approve" => app.approve_campaign(&staff.ctx, &id).await,
        "launch" => app.launch_campaign(&staff.ctx, &id).await,
        "pause" => app.control_campaign(&staff.ctx, &id, CampaignControl::Pause).await,
        "resume" => app.control_campaign(&staff.ctx, &id, CampaignControl::Resume).await,
        "cancel" => app.control_campaign(&staff.ctx, &id, CampaignControl::Cancel).await,
        _ => Err(AppError::NotFound("campaign step")),
    };
    match result {
        Ok(_) => see_other(&format!("/console/campaigns/{id}"), &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn journeys<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    shown(app.list_journeys(&staff.ctx).await.map(|j| staff.page(&app, "journeys.html", "Journeys").with("journeys", &j["journeys"])))
}

/// A journey's latest version drawn as its steps: each step with where it goes next.
pub(crate) async fn journey<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>) -> Response {
    let all = match app.get_journey(&staff.ctx, &id).await {
        Ok(j) => j,
        Err(e) => return failure(&e),
    };
    let latest = all["versions"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default();
    let runs = match app.journey_runs(&staff.ctx, &id).await {
        Ok(runs) => runs,
        Err(e) => return failure(&e),
    };
    let steps: Vec<Value> = latest["definition"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let mut exits: Vec<Value> = Vec::new();
            for (key, label) in [("next", "then"), ("then", "if yes"), ("else", "if no"), ("timeout_next", "on timeout")] {
                if let Some(to) = s[key].as_str() {
                    exits.push(json!({"label": label, "to": to}));
                }
            }
            let detail = match s["type"].as_str() {
                Some("send") => format!("send by {}", s["channels"].as_array().map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| "email".into())),
                Some("delay") => format!("wait {}", s["for"].as_str().map(str::to_owned).unwrap_or_else(|| format!("until {} {:+} days at {}", s["until"]["property"].as_str().unwrap_or("a date"), s["until"]["days"].as_i64().unwrap_or(0), s["until"]["local_time"].as_str().unwrap_or("")))),
                Some("wait") => format!("wait for {} (up to {})", s["event"].as_str().unwrap_or("an event"), s["timeout"].as_str().unwrap_or("no limit")),
                Some("branch") => "branch".to_owned(),
                Some("exit") => "exit".to_owned(),
                _ => String::new(),
            };
            json!({"id": s["id"], "type": s["type"], "detail": detail, "exits": exits})
        })
        .collect();
    staff.page(&app, "journey.html", "Journey").with("j", latest).with("steps", steps).with("runs", runs).render()
}

pub(crate) async fn reports<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    let list = match app.list_campaigns(&staff.ctx).await {
        Ok(l) => l,
        Err(e) => return failure(&e),
    };
    let mut charts = Vec::new();
    for c in list["campaigns"].as_array().into_iter().flatten().filter(|c| !c["launched_at"].is_null()).take(10) {
        let report = match app.campaign_report(&staff.ctx, c["id"].as_str().unwrap_or_default()).await {
            Ok(r) => r,
            Err(e) => return failure(&e),
        };
        let total = &report["total"];
        let items = ["sent", "bounced", "failed", "denied", "pending", "clicked", "unsubscribed"].map(|k| (k.to_owned(), &total[k]));
        let drawn = bars(items);
        charts.push(json!({"title": c["name"], "id": c["id"], "bars": drawn, "height": 7 * 28}));
    }
    let mut decisions = Value::Null;
    if staff.holds(Scope::Compliance) {
        let since = staff.edge.now - jiff::SignedDuration::from_hours(24 * 30);
        let summary = match app.decision_summary(&staff.ctx, since).await {
            Ok(s) => s,
            Err(e) => return failure(&e),
        };
        {
            let reasons: Vec<(String, &Value)> = summary["by_reason"].as_object().map(|m| m.iter().map(|(k, v)| (k.replace('_', " "), v)).collect()).unwrap_or_default();
            let height = reasons.len() * 28;
            decisions = json!({"title": "Gate decisions by reason, last 30 days", "bars": bars(reasons), "height": height});
        }
    }
    staff.page(&app, "reports.html", "Reports").with("charts", charts).with("decisions", decisions).render()
}
