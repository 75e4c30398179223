//! Console pages for administration: settings (providers and their BAAs, the gate policy,
//! staff and roles), API keys and clients (secrets shown once), and break-glass (asked for
//! with a reason by anyone without PHI access; reviewed by compliance).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use sotto_app::{AppError, KeyRequest};
use sotto_core::role::Role;
use sotto_core::scope::Scope;
use sotto_store::Store;

use super::{AppState, Page, Staff, failure, field, see_other, shown};
use crate::extract::Path;

/// The member acting without break-glass scopes: a credential never carries a grant's PHI access.
fn without_grant(staff: &Staff) -> sotto_app::RequestCtx {
    let principal = sotto_app::Principal { actor: staff.ctx.principal.actor.clone(), scopes: staff.session.role.scopes() };
    sotto_app::RequestCtx { principal, ..staff.ctx.clone() }
}

fn scopes_from(fields: &[(String, String)]) -> Vec<Scope> {
    fields.iter().filter(|(k, _)| k == "scope").filter_map(|(_, v)| Scope::parse(v).ok()).collect()
}

async fn settings_page<S: Store>(app: &sotto_app::App<S>, staff: &Staff, invited: Option<String>) -> Result<Page, AppError> {
    let config = app.configuration_view(&staff.ctx).await?;
    let users = app.list_staff(&staff.ctx).await?;
    let roles: Vec<_> = Role::ALL.iter().map(|r| serde_json::json!({"name": r.as_str(), "scopes": r.scopes().iter().map(|s| s.as_str()).collect::<Vec<_>>(), "reads_phi": r.reads_phi()})).collect();
    Ok(staff.page(app, "settings.html", "Settings").with("config", config).with("users", users).with("roles", roles).with("invited", invited).with("me_id", &staff.session.user_id))
}

pub(crate) async fn settings<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    shown(settings_page(&app, &staff, None).await)
}

/// Invites a staff member; the invitation's link is shown once.
pub(crate) async fn invite<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    if let Err(needs) = staff.elevated("/console/settings") {
        return needs.into_response();
    }
    let (email, name, role) = (field(&fields, "email").unwrap_or_default(), field(&fields, "display_name").unwrap_or_default(), field(&fields, "role").unwrap_or_default());
    match app.invite_staff(&staff.ctx, email, name, role).await {
        Ok(token) => {
            let link = format!("{}/console/invite/{token}", app.public_url().trim_end_matches('/'));
            shown(settings_page(&app, &staff, Some(link)).await)
        }
        Err(e) => failure(&e),
    }
}

/// Changes a member's role, or disables them (`role=disabled`).
pub(crate) async fn change_user<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    if let Err(needs) = staff.elevated("/console/settings") {
        return needs.into_response();
    }
    let role = field(&fields, "role").filter(|r| *r != "disabled");
    match app.change_staff(&staff.ctx, &id, role).await {
        Ok(()) => see_other("/console/settings", &[]),
        Err(e) => failure(&e),
    }
}

async fn keys_page<S: Store>(app: &sotto_app::App<S>, staff: &Staff, secret: Option<serde_json::Value>) -> Result<Page, AppError> {
    let keys = app.list_keys(&staff.ctx).await?;
    let clients = app.list_api_clients(&staff.ctx).await?;
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    Ok(staff.page(app, "keys.html", "API keys and clients").with("keys", keys).with("clients", clients).with("scopes", scopes).with("secret", secret))
}

pub(crate) async fn keys<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    shown(keys_page(&app, &staff, None).await)
}

pub(crate) async fn create_key<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    if let Err(needs) = staff.elevated("/console/keys") {
        return needs.into_response();
    }
    if let Err(e) = app.require(&staff.ctx, Scope::KeysManage, "api_keys").await {
        return failure(&e);
    }
    let days = field(&fields, "days").and_then(|d| d.parse::<i64>().ok()).filter(|d| (1..=3650).contains(d));
    let request = KeyRequest { name: field(&fields, "name").unwrap_or_default().to_owned(), scopes: scopes_from(&fields), expires_at: days.map(|d| staff.edge.now + jiff::SignedDuration::from_hours(24 * d)) };
    match app.create_key(&without_grant(&staff), request).await {
        Ok(key) => shown(keys_page(&app, &staff, Some(serde_json::json!({"kind": "API key", "id": key.id, "secret": key.secret}))).await),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn revoke_key<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(refused) = staff.form(&app, &body) {
        return refused.into_response();
    }
    match app.revoke_key(&staff.ctx, &id).await {
        Ok(()) => see_other("/console/keys", &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn create_client<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    if let Err(needs) = staff.elevated("/console/keys") {
        return needs.into_response();
    }
    match app.create_api_client(&without_grant(&staff), field(&fields, "name").unwrap_or_default(), &scopes_from(&fields)).await {
        Ok((id, secret)) => shown(keys_page(&app, &staff, Some(serde_json::json!({"kind": "API client", "id": id, "secret": secret}))).await),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn revoke_client<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(refused) = staff.form(&app, &body) {
        return refused.into_response();
    }
    match app.revoke_api_client(&staff.ctx, &id).await {
        Ok(()) => see_other("/console/keys", &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn break_glass<S: Store>(State(app): AppState<S>, staff: Staff) -> Response {
    let grants = if staff.holds(Scope::Compliance) {
        match app.break_glass_grants(&staff.ctx).await {
            Ok(g) => Some(g),
            Err(e) => return failure(&e),
        }
    } else {
        None
    };
    let max = app.break_glass_max_minutes();
    let mut minutes: Vec<i64> = [15, 30, 60, 120, 240].into_iter().filter(|m| *m < max).collect();
    minutes.push(max);
    staff.page(&app, "break_glass.html", "Break-glass").with("grants", grants).with("reads_phi", staff.session.role.reads_phi()).with("minutes", minutes).render()
}

pub(crate) async fn start_break_glass<S: Store>(State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    if let Err(needs) = staff.elevated("/console/break-glass") {
        return needs.into_response();
    }
    let minutes = field(&fields, "minutes").and_then(|m| m.parse().ok()).unwrap_or(0);
    match app.start_break_glass(&staff.session, field(&fields, "reason").unwrap_or_default(), minutes, &staff.edge).await {
        Ok(ends) => Page::notice(StatusCode::OK, "Break-glass started", &format!("You can read PHI until {ends}. Compliance has been alerted and every view is audited.")).render(),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn review_break_glass<S: Store>(State(app): AppState<S>, staff: Staff, Path(id): Path<String>, body: Bytes) -> Response {
    if let Err(refused) = staff.form(&app, &body) {
        return refused.into_response();
    }
    match app.review_break_glass(&staff.ctx, &id).await {
        Ok(()) => see_other("/console/break-glass", &[]),
        Err(e) => failure(&e),
    }
}
