//! The staff console: server-rendered pages (auto-escaped), one small script of Sotto's own for
//! the live parts, nothing from other hosts. Every page names the scope it needs in one table
//! (the role table decides who holds it); every form carries a CSRF token bound to the cookie
//! and must come from this origin; every answer is `no-store` and may not be framed.

mod auth;
mod content;
mod delivery;
mod page;
mod settings;
mod work;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use sotto_app::{App, EdgeCtx, RequestCtx, StaffSession};
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::request_id::RequestId;

pub(crate) use page::{Page, failure, harden, not_partial, partial, partial_failure, shown};

type AppState<S> = axum::extract::State<Arc<App<S>>>;

/// Every page of the console with the scope it needs (`None`: any signed-in member), in the
/// order the navigation lists them.
pub const PAGES: &[(&str, &str, Option<Scope>)] = &[
    ("/console", "Dashboard", None),
    ("/console/patients", "Patients", Some(Scope::PatientsRead)),
    ("/console/dictionary", "Data dictionary", Some(Scope::DictionaryRead)),
    ("/console/vault", "Code vault", Some(Scope::VaultRead)),
    ("/console/segments", "Segments", Some(Scope::SegmentsRead)),
    ("/console/templates", "Templates", Some(Scope::TemplatesRead)),
    ("/console/approvals", "Approvals", Some(Scope::Compliance)),
    ("/console/campaigns", "Campaigns", Some(Scope::CampaignsRead)),
    ("/console/journeys", "Journeys", Some(Scope::JourneysRead)),
    ("/console/reports", "Reports", Some(Scope::CampaignsRead)),
    ("/console/audit", "Audit log", Some(Scope::AuditRead)),
    ("/console/settings", "Settings", Some(Scope::UsersManage)),
    ("/console/keys", "API keys and clients", Some(Scope::KeysManage)),
    ("/console/break-glass", "Break-glass", None),
];

/// The console's routes.
pub fn routes<S: Store>() -> Router<Arc<App<S>>> {
    Router::new()
        .route("/console/console.css", get(|| asset("text/css; charset=utf-8", include_str!("../pages/console/console.css"))))
        .route("/console/console.js", get(|| asset("text/javascript; charset=utf-8", include_str!("../pages/console/console.js"))))
        .route("/console/sign-in", get(auth::sign_in_form::<S>).post(auth::sign_in::<S>))
        .route("/console/code", get(auth::code_form::<S>).post(auth::code::<S>))
        .route("/console/sign-out", post(auth::sign_out::<S>))
        .route("/console/reauth", get(auth::reauth_form::<S>).post(auth::reauth::<S>))
        .route("/console/invite/{token}", get(auth::invite_form::<S>).post(auth::accept_invite::<S>))
        .route("/console", get(work::dashboard::<S>))
        .route("/console/patients", get(work::patients::<S>))
        .route("/console/patients/reveal", post(work::reveal::<S>))
        .route("/console/dictionary", get(work::dictionary::<S>))
        .route("/console/vault", get(work::vault::<S>).post(work::vault_put::<S>))
        .route("/console/segments", get(work::segments::<S>).post(work::create_segment::<S>))
        .route("/console/segments/size", post(work::segment_size::<S>))
        .route("/console/audit", get(work::audit::<S>))
        .route("/console/audit.csv", get(work::audit_csv::<S>))
        .route("/console/templates", get(content::templates::<S>).post(content::create_template::<S>))
        .route("/console/templates/lint", post(content::lint::<S>))
        .route("/console/templates/{id}", get(content::template::<S>).post(content::save_template::<S>))
        .route("/console/templates/{id}/submit", post(content::submit_template::<S>))
        .route("/console/approvals", get(content::approvals::<S>))
        .route("/console/approvals/templates/{id}/{version}", post(content::review_template::<S>))
        .route("/console/approvals/journeys/{id}/{version}", post(content::approve_journey::<S>))
        .route("/console/campaigns", get(delivery::campaigns::<S>).post(delivery::create_campaign::<S>))
        .route("/console/campaigns/{id}", get(delivery::campaign::<S>))
        .route("/console/campaigns/{id}/progress", get(delivery::progress::<S>))
        .route("/console/campaigns/{id}/{step}", post(delivery::campaign_step::<S>))
        .route("/console/journeys", get(delivery::journeys::<S>))
        .route("/console/journeys/{id}", get(delivery::journey::<S>))
        .route("/console/reports", get(delivery::reports::<S>))
        .route("/console/settings", get(settings::settings::<S>))
        .route("/console/settings/users", post(settings::invite::<S>))
        .route("/console/settings/users/{id}", post(settings::change_user::<S>))
        .route("/console/keys", get(settings::keys::<S>))
        .route("/console/keys/new", post(settings::create_key::<S>))
        .route("/console/keys/{id}/revoke", post(settings::revoke_key::<S>))
        .route("/console/clients/new", post(settings::create_client::<S>))
        .route("/console/clients/{id}/revoke", post(settings::revoke_client::<S>))
        .route("/console/break-glass", get(settings::break_glass::<S>).post(settings::start_break_glass::<S>))
        .route("/console/break-glass/{id}/review", post(settings::review_break_glass::<S>))
}

async fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, kind)], body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

/// The session cookie's name: `__Host-` (Secure, whole host) over HTTPS.
fn session_cookie<S: Store>(app: &App<S>) -> &'static str {
    if app.secure_cookies() { "__Host-sotto_staff" } else { "sotto_staff" }
}

const VISIT: &str = "sotto_staff_visit";


fn set_cookie<S: Store>(app: &App<S>, name: &str, value: &str) -> String {
    if app.secure_cookies() {
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Secure")
    } else {
        format!("{name}={value}; Path=/console; HttpOnly; SameSite=Lax")
    }
}

fn clear_cookie<S: Store>(app: &App<S>, name: &str) -> String {
    let path = if app.secure_cookies() { "/; Secure" } else { "/console" };
    format!("{name}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Every console request: its edge context and cookies.
pub(crate) struct Visit {
    edge: EdgeCtx,
    headers: HeaderMap,
}

impl<S: Store> FromRequestParts<Arc<App<S>>> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S>>) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let source_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(Visit { edge: EdgeCtx { now: app.now(), request_id, source_ip }, headers: parts.headers.clone() })
    }
}

/// A signed-in member: their session and the request context they act in. A request without
/// a live session is sent to sign in.
pub(crate) struct Staff {
    pub session: StaffSession,
    pub ctx: RequestCtx,
    pub edge: EdgeCtx,
    headers: HeaderMap,
}

impl<S: Store> FromRequestParts<Arc<App<S>>> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S>>) -> Result<Self, Self::Rejection> {
        let Ok(visit) = Visit::from_request_parts(parts, app).await;
        let cookie = cookie(&visit.headers, session_cookie(app));
        // A page's polling (a partial fetched with GET) does not count as activity.
        let active = !(parts.method == axum::http::Method::GET && parts.headers.contains_key("sotto-partial"));
        match app.staff_session(cookie.as_deref(), visit.edge.now, active).await {
            Ok(Some(session)) => Ok(Staff { ctx: visit.edge.for_session(&session), session, edge: visit.edge, headers: visit.headers }),
            Ok(None) => {
                let ended = if cookie.is_some() { vec![clear_cookie(app, session_cookie(app))] } else { Vec::new() };
                if parts.headers.contains_key("sotto-partial") {
                    return Err(Page::notice(StatusCode::UNAUTHORIZED, "Signed out", "Your session ended. Sign in again.").render());
                }
                Err(see_other("/console/sign-in?ended=1", &ended))
            }
            Err(e) => Err(failure(&e)),
        }
    }
}

impl Staff {
    /// A page for this member, with the navigation their role allows.
    pub(crate) fn page<S: Store>(&self, app: &App<S>, template: &'static str, title: &str) -> Page {
        let nav: Vec<_> = PAGES
            .iter()
            .filter(|(_, _, scope)| scope.is_none_or(|s| self.ctx.principal.scopes.contains(&s)))
            .map(|(href, label, _)| serde_json::json!({"href": href, "label": label}))
            .collect();
        Page::new(template, title)
            .with("nav", nav)
            .with("me", serde_json::json!({"name": self.session.display_name, "role": self.session.role.as_str(), "break_glass_until": self.session.break_glass_until.map(|t| t.to_string())}))
            .with("csrf", app.staff_csrf(&self.session.cookie))
            .with("idle", app.staff_idle_minutes())
    }

    /// The fields of a form after its CSRF token and origin were checked; a refusal page
    /// otherwise (nothing is written).
    pub(crate) fn form<S: Store>(&self, app: &App<S>, body: &Bytes) -> Result<Vec<(String, String)>, FormRefused> {
        let fields = form(body);
        if !same_origin(&self.headers) || !app.staff_csrf_ok(Some(&self.session.cookie), field(&fields, "csrf")) {
            return Err(FormRefused);
        }
        Ok(fields)
    }

    /// Refuses a sensitive action (approvals, launches, break-glass, credentials, staff changes)
    /// unless a TOTP code was entered lately in this session; the answer sends the member to
    /// enter one and come back to `back`.
    pub(crate) fn elevated(&self, back: &str) -> Result<(), NeedsCode> {
        if self.session.elevated { Ok(()) } else { Err(NeedsCode(back.to_owned())) }
    }

    /// Whether this member holds a scope.
    pub(crate) fn holds(&self, scope: Scope) -> bool {
        self.ctx.principal.scopes.contains(&scope)
    }
}

/// A form refused for its CSRF token or its origin: nothing was written.
pub(crate) struct FormRefused;

impl IntoResponse for FormRefused {
    fn into_response(self) -> Response {
        Page::notice(StatusCode::FORBIDDEN, "Form expired", "This form is out of date or came from elsewhere. Go back, reload the page and try again.").render()
    }
}

/// A sensitive action asked for without a recent TOTP code: on to enter one, then back.
pub(crate) struct NeedsCode(String);

impl IntoResponse for NeedsCode {
    fn into_response(self) -> Response {
        let query = serde_urlencoded::to_string([("next", self.0.as_str())]).unwrap_or_default();
        see_other(&format!("/console/reauth?{query}"), &[])
    }
}

/// An id from a path, kept only when it has the shape of the ids Sotto makes (for links).
pub(crate) fn safe_id(raw: &str) -> &str {
    if raw.len() <= 40 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') { raw } else { "" }
}

/// Where a form may send a member back to: a console page, never another site.
pub(crate) fn local_page(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with("/console") && !path.contains("//") && !path.contains('\\') => path,
        _ => "/console",
    }
}

/// Fetch Metadata: a browser says where a request came from; only this origin (or a browser
/// too old to say) may post.
fn same_origin(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_none_or(|site| site == "same-origin" || site == "none")
}

pub(crate) use crate::pages::{cookie, field, form};

pub(crate) fn see_other(to: &str, cookies: &[String]) -> Response {
    crate::pages::see_other(to, harden, cookies)
}

