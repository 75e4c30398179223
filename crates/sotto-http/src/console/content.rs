//! Console pages for content: templates with an editor whose linter answers while typing
//! (highlights, rewrite suggestions, and each surface as a lock screen shows it), and the
//! approval queue for template versions, journeys and campaigns.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use sotto_core::contact::Channel;
use sotto_core::dictionary::Surface;
use sotto_core::scope::Scope;
use sotto_store::Store;

use super::{AppState, Page, Staff, failure, field, not_partial, partial, see_other, shown};
use crate::extract::Path;

/// How many characters of each surface a locked phone or an inbox row shows.
fn shown_chars(surface: Surface) -> usize {
    match surface {
        Surface::EmailSubject => 60,
        Surface::EmailPreview => 90,
        Surface::PushTitle => 40,
        Surface::SmsBody | Surface::PushBody => 110,
        Surface::EmailBody | Surface::Cta => 200,
    }
}

/// The surfaces of a channel with their form field names.
fn surfaces_of(channel: Channel) -> Vec<Surface> {
    let (required, optional) = Surface::of_channel(channel);
    required.iter().chain(optional).copied().collect()
}

fn channel_of(raw: Option<&str>) -> Channel {
    Channel::parse("channel", raw.unwrap_or("email")).unwrap_or(Channel::Email)
}

/// The template body a form makes: name, channel, and one field per surface.
fn content_of(fields: &[(String, String)], channel: Channel) -> Value {
    let mut surfaces = Map::new();
    for surface in surfaces_of(channel) {
        if let Some(text) = field(fields, surface.as_str()).filter(|t| !t.trim().is_empty()) {
            surfaces.insert(surface.as_str().to_owned(), text.into());
        }
    }
    json!({"channel": channel.as_str(), "surfaces": surfaces})
}

pub(crate) async fn templates<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    shown(app.templates(&staff.ctx).await.map(|list| staff.page(&app, "templates.html", "Templates").with("templates", &list["templates"]).with("may_write", staff.holds(Scope::TemplatesWrite))))
}

pub(crate) async fn create_template<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let channel = channel_of(field(&fields, "channel"));
    let text = field(&fields, "text").unwrap_or_default();
    let surfaces = match channel {
        Channel::Sms => json!({"sms_body": text}),
        Channel::Email => json!({"email_subject": "A message from your care team", "email_body": text}),
        Channel::Push => json!({"push_title": "A message from your care team", "push_body": text}),
    };
    let request = json!({"name": field(&fields, "name").unwrap_or_default(), "channel": channel.as_str(), "surfaces": surfaces});
    match app.create_template(&staff.ctx, &request).await {
        Ok(created) => see_other(&format!("/console/templates/{}", created["id"].as_str().unwrap_or_default()), &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn template<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>) -> Response {
    let t = match app.template(&staff.ctx, &id).await {
        Ok(t) => t,
        Err(e) => return failure(&e),
    };
    let channel = channel_of(t["channel"].as_str());
    let latest = t["versions"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default();
    let surfaces: Vec<Value> = surfaces_of(channel).into_iter().map(|s| json!({"name": s.as_str(), "label": s.as_str().replace('_', " "), "text": latest["content"]["surfaces"][s.as_str()]})).collect();
    staff
        .page(&app, "template.html", "Template")
        .with("t", &t)
        .with("latest", latest)
        .with("surfaces", surfaces)
        .with("may_write", staff.holds(Scope::TemplatesWrite))
        .with("may_lint", staff.holds(Scope::ContentLint))
        .render()
}

/// Saves the editor's text as a new draft version.
pub(crate) async fn save_template<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let request = content_of(&fields, channel_of(field(&fields, "channel")));
    match app.edit_template(&staff.ctx, &id, &request).await {
        Ok(_) => see_other(&format!("/console/templates/{id}"), &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn submit_template<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let version = field(&fields, "version").and_then(|v| v.parse().ok()).unwrap_or(0);
    match app.review_template(&staff.ctx, &id, version, "submit", &json!({})).await {
        Ok(_) => see_other(&format!("/console/templates/{id}"), &[]),
        Err(e) => failure(&e),
    }
}

/// The linter's answer for every surface of the editor's form, as it is typed (a partial).
pub(crate) async fn lint<S: Store>(State(app): AppState<S>, staff: Staff, headers: HeaderMap, body: Bytes) -> Response {
    if !partial(&headers) {
        return not_partial();
    }
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let mut results = Vec::new();
    for surface in surfaces_of(channel_of(field(&fields, "channel"))) {
        let text = field(&fields, surface.as_str()).unwrap_or_default();
        if text.trim().is_empty() {
            continue;
        }
        let (report, pieces) = match app.lint_draft(&staff.ctx, surface, text).await {
            Ok(r) => r,
            Err(e) => return super::partial_failure(&e),
        };
        let limit = shown_chars(surface);
        let locked: String = text.chars().take(limit).collect();
        results.push(json!({
            "surface": surface.as_str().replace('_', " "),
            "verdict": report.verdict,
            "findings": report.findings,
            "pieces": pieces.iter().map(|(t, f)| json!({"text": t, "finding": f})).collect::<Vec<_>>(),
            "locked": locked,
            "cut": text.chars().count() > limit,
        }));
    }
    let verdict = results.iter().map(|r| r["verdict"].as_str().unwrap_or("pass").to_owned()).max_by_key(|v| match v.as_str() { "block" => 2, "warn" => 1, _ => 0 }).unwrap_or_else(|| "pass".to_owned());
    Page::new("lint.html", "").with("results", results).with("verdict", verdict).render()
}

pub(crate) async fn approvals<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    let templates = match app.templates(&staff.ctx).await {
        Ok(t) => t,
        Err(e) => return failure(&e),
    };
    if let Err(e) = app.require(&staff.ctx, Scope::Compliance, "approvals").await {
        return failure(&e);
    }
    let waiting: Vec<Value> = templates["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["versions"].as_array().into_iter().flatten().filter(|v| v["status"] == "submitted").map(move |v| json!({"id": t["id"], "name": t["name"], "channel": t["channel"], "v": v})))
        .collect();
    let journeys: Vec<Value> = match app.list_journeys(&staff.ctx).await {
        Ok(j) => j["journeys"].as_array().cloned().unwrap_or_default(),
        Err(e) => return failure(&e),
    };
    let mut submitted_journeys = Vec::new();
    for j in journeys {
        match app.get_journey(&staff.ctx, j["id"].as_str().unwrap_or_default()).await {
            Ok(all) => submitted_journeys.extend(all["versions"].as_array().into_iter().flatten().filter(|v| v["state"] == "submitted").cloned()),
            Err(e) => return failure(&e),
        }
    }
    let campaigns: Vec<Value> = match app.list_campaigns(&staff.ctx).await {
        Ok(c) => c["campaigns"].as_array().into_iter().flatten().filter(|c| c["state"] == "draft").cloned().collect(),
        Err(e) => return failure(&e),
    };
    staff.page(&app, "approvals.html", "Approvals").with("versions", waiting).with("journeys", submitted_journeys).with("campaigns", campaigns).render()
}

/// Approves or rejects a template version (with a comment).
pub(crate) async fn review_template<S: Store>(State(app): AppState<S>, staff: Staff, Path((id, version)): Path<(String, i64)>, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    if let Err(needs) = staff.elevated("/console/approvals") {
        return needs.into_response();
    }
    let step = if field(&fields, "decision") == Some("reject") { "reject" } else { "approve" };
    let comment = field(&fields, "comment").unwrap_or_default();
    match app.review_template(&staff.ctx, &id, version, step, &json!({"comment": comment})).await {
        Ok(_) => see_other("/console/approvals", &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn approve_journey<S: Store>(State(app): AppState<S>, staff: Staff, Path((id, version)): Path<(String, i64)>, body: Bytes) -> Response {
    if let Err(refused) = staff.form(&app, &body) {
        return refused.into_response();
    }
    if let Err(needs) = staff.elevated("/console/approvals") {
        return needs.into_response();
    }
    match app.approve_journey(&staff.ctx, &id, version, &json!({"move_runs": true})).await {
        Ok(_) => see_other("/console/approvals", &[]),
        Err(e) => failure(&e),
    }
}
