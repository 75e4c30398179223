//! The patient portal's handlers: cookies in, one use case, a page or a redirect out. Every
//! form is checked against its CSRF token (bound to the session's cookie, or to a visitor's
//! cookie before sign-in); cookies are `HttpOnly`, `SameSite=Strict`, scoped to `/portal`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;

use sotto_app::{App, AppError, CodeResult, LinkState, PortalCtx, PortalSession, SignIn};
use sotto_store::Store;

use crate::portal_pages::{Page, harden, text};
use crate::request_id::RequestId;

type AppState<S> = State<Arc<App<S>>>;
const SESSION: &str = "sotto_session";
pub(crate) const VISIT: &str = "sotto_visit";

/// What every portal request carries: its audit context and its cookies.
pub(crate) struct Visit {
    pub(crate) pctx: PortalCtx,
    session: Option<String>,
    pub(crate) visit: Option<String>,
    pub(crate) lang: &'static str,
}

impl<S: Store> FromRequestParts<Arc<App<S>>> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S>>) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let source_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let spanish = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("es"));
        Ok(Visit {
            pctx: PortalCtx { now: app.now(), request_id, source_ip },
            session: cookie(&parts.headers, SESSION),
            visit: cookie(&parts.headers, VISIT),
            lang: if spanish { "es" } else { "en" },
        })
    }
}


pub(crate) fn set_cookie<S: Store>(app: &App<S>, name: &str, value: &str) -> String {
    let secure = if app.secure_cookies() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/portal; HttpOnly; SameSite=Strict{secure}")
}

fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/portal; HttpOnly; SameSite=Strict; Max-Age=0")
}

pub(crate) use crate::pages::{cookie, field, form};

pub(crate) fn see_other(to: &str, cookies: &[String]) -> Response {
    crate::pages::see_other(to, harden, cookies)
}

pub(crate) fn page<S: Store>(app: &App<S>, template: &'static str, title: &'static str, lang: &'static str) -> Page {
    framed(app, Page::new(template, title, lang))
}

/// What every page shows of the deployment: the practice's name, the session's idle minutes
/// and the sign-in throttle's window.
fn framed<S: Store>(app: &App<S>, page: Page) -> Page {
    let (idle, window) = app.portal_minutes();
    page.with("clinic", app.clinic_name()).with("idle", idle).with("window", window)
}

pub(crate) fn notice<S: Store>(app: &App<S>, status: StatusCode, title: &'static str, message: &'static str, lang: &'static str) -> Response {
    framed(app, Page::notice(status, title, &text(lang, message), lang)).render()
}

/// A failure as a page: not found, unavailable, or trouble; never the error's text.
pub(crate) fn failure<S: Store>(app: &App<S>, e: &AppError, lang: &'static str) -> Response {
    match e {
        AppError::NotFound(_) => notice(app, StatusCode::NOT_FOUND, "not_found_title", "not_found", lang),
        other => {
            tracing::warn!(storage = matches!(other, AppError::Store(_)), "portal request failed");
            let status = if matches!(other, AppError::Store(s) if s.is_unavailable()) { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
            notice(app, status, "trouble_title", "trouble", lang)
        }
    }
}

pub(crate) fn form_expired<S: Store>(app: &App<S>, lang: &'static str) -> Response {
    notice(app, StatusCode::FORBIDDEN, "form_title", "form_expired", lang)
}

/// The visitor's cookie, made when there is none, for forms shown before sign-in.
pub(crate) fn visitor(v: &Visit) -> (String, Vec<String>) {
    match &v.visit {
        Some(c) => (c.clone(), Vec::new()),
        None => {
            let c = sotto_crypto::random_token();
            (c.clone(), vec![c])
        }
    }
}

pub(crate) async fn signed_in<S: Store>(app: &App<S>, v: &Visit) -> Result<Option<PortalSession>, AppError> {
    Ok(app.portal_session(v.session.as_deref(), v.pctx.now).await?.filter(|s| s.pending.is_none()))
}

/// `/portal`: the signed-in patient's messages, or the sign-in form.
pub(crate) async fn home<S: Store>(State(app): AppState<S>, v: Visit) -> Response {
    match signed_in(&app, &v).await {
        Ok(Some(s)) => match app.portal_inbox(&s, &v.pctx).await {
            Ok(messages) => {
                let messages: Vec<_> = messages.into_iter().map(|m| serde_json::json!({"id": m.id, "subject": m.subject, "read": m.read, "sent_at_text": day(&m.sent_at)})).collect();
                let mut p = page(&app, "home.html", "home_title", s.language).with("messages", messages);
                (p.csrf, p.signed_in) = (Some(app.portal_csrf(&s.cookie)), true);
                p.render()
            }
            Err(e) => failure(&app, &e, s.language),
        },
        Ok(None) => sign_in_page(&app, &v, StatusCode::OK, None),
        Err(e) => failure(&app, &e, v.lang),
    }
}

/// The date part of an RFC 3339 time, for lists.
fn day(t: &str) -> String {
    t.get(..10).unwrap_or(t).to_owned()
}

fn sign_in_page<S: Store>(app: &App<S>, v: &Visit, status: StatusCode, error: Option<&str>) -> Response {
    let (visit, new) = visitor(v);
    let mut p = page(app, "sign_in.html", "sign_in_title", v.lang);
    p.status = status;
    p.csrf = Some(app.portal_csrf(&visit));
    p.error = error.map(|e| text(v.lang, e));
    p.cookies = new.iter().map(|c| set_cookie(app, VISIT, c)).collect();
    p.render()
}

/// Signs in; a refusal reads the same whether or not the account exists.
pub(crate) async fn sign_in<S: Store>(State(app): AppState<S>, v: Visit, body: Bytes) -> Response {
    let f = form(&body);
    if !app.portal_csrf_ok(v.visit.as_deref(), field(&f, "csrf")) {
        return form_expired(&app, v.lang);
    }
    match app.portal_sign_in(field(&f, "name").unwrap_or_default(), field(&f, "password").unwrap_or_default(), &v.pctx).await {
        Ok(SignIn::Signed(cookie)) => see_other("/portal", &[set_cookie(&app, SESSION, &cookie)]),
        Ok(SignIn::Refused) => sign_in_page(&app, &v, StatusCode::UNAUTHORIZED, Some("sign_in_refused")),
        Ok(SignIn::Throttled) => sign_in_page(&app, &v, StatusCode::TOO_MANY_REQUESTS, Some("sign_in_throttled")),
        Err(e) => failure(&app, &e, v.lang),
    }
}

/// Ends the session.
pub(crate) async fn sign_out<S: Store>(State(app): AppState<S>, v: Visit, body: Bytes) -> Response {
    let f = form(&body);
    if let Ok(Some(s)) = app.portal_session(v.session.as_deref(), v.pctx.now).await {
        if !app.portal_csrf_ok(Some(&s.cookie), field(&f, "csrf")) {
            return form_expired(&app, s.language);
        }
        if let Err(e) = app.portal_sign_out(&s, &v.pctx).await {
            return failure(&app, &e, s.language);
        }
    }
    see_other("/portal", &[clear_cookie(SESSION)])
}

/// A secure message's link: what it will do (nothing changes on a GET).
pub(crate) async fn landing<S: Store>(State(app): AppState<S>, v: Visit, axum::extract::Path(token): axum::extract::Path<String>) -> Response {
    match app.portal_landing(&token, v.pctx.now).await {
        Ok((LinkState::Open, lang)) => {
            let (visit, new) = visitor(&v);
            let mut p = page(&app, "landing.html", "landing_title", lang).with("open", true);
            p.csrf = Some(app.portal_csrf(&visit));
            p.cookies = new.iter().map(|c| set_cookie(&app, VISIT, c)).collect();
            p.render()
        }
        Ok((LinkState::Used, lang)) => notice(&app, StatusCode::GONE, "link_title", "link_used", lang),
        Ok((LinkState::Expired, lang)) => notice(&app, StatusCode::GONE, "link_title", "link_expired", lang),
        Err(AppError::NotFound(_)) => notice(&app, StatusCode::NOT_FOUND, "link_title", "link_unknown", v.lang),
        Err(e) => failure(&app, &e, v.lang),
    }
}

/// Uses the link: a one-time code goes out, and the visitor waits for it.
pub(crate) async fn use_link<S: Store>(State(app): AppState<S>, v: Visit, axum::extract::Path(token): axum::extract::Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    if !app.portal_csrf_ok(v.visit.as_deref(), field(&f, "csrf")) {
        return form_expired(&app, v.lang);
    }
    let lang = app.portal_landing(&token, v.pctx.now).await.map(|(_, l)| l).unwrap_or(v.lang);
    match app.portal_use_link(&token, &v.pctx).await {
        Ok((cookie, _)) => see_other("/portal/verify", &[set_cookie(&app, SESSION, &cookie)]),
        Err(AppError::Conflict { code: "no_code_channel", .. }) => notice(&app, StatusCode::CONFLICT, "link_title", "no_code_channel", lang),
        Err(AppError::Conflict { .. }) => notice(&app, StatusCode::GONE, "link_title", "link_used", lang),
        Err(AppError::NotFound(_)) => notice(&app, StatusCode::NOT_FOUND, "link_title", "link_unknown", lang),
        Err(e) => failure(&app, &e, lang),
    }
}

fn code_page<S: Store>(app: &App<S>, s: &PortalSession, status: StatusCode, error: Option<String>) -> Response {
    code_page_with(app, s, status, error, None)
}

fn code_page_with<S: Store>(app: &App<S>, s: &PortalSession, status: StatusCode, error: Option<String>, notice: Option<String>) -> Response {
    let by = if s.code_channel.as_deref() == Some("email") { "code_by_email" } else { "code_by_sms" };
    let mut p = page(app, "code.html", "code_title", s.language).with("sent_by", text(s.language, by));
    (p.status, p.error, p.csrf, p.notice) = (status, error, Some(app.portal_csrf(&s.cookie)), notice);
    p.render()
}

/// Sends a new code to the waiting session (the old one stops working; three codes at most).
pub(crate) async fn resend<S: Store>(State(app): AppState<S>, v: Visit, body: Bytes) -> Response {
    let (s, _) = match form_session(&app, &v, &body, true).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    match app.portal_resend_code(&s, &v.pctx).await {
        Ok(true) => code_page_with(&app, &s, StatusCode::OK, None, Some(text(s.language, "resent"))),
        Ok(false) => code_page(&app, &s, StatusCode::TOO_MANY_REQUESTS, Some(text(s.language, "resend_over"))),
        Err(e) => failure(&app, &e, s.language),
    }
}

/// The live session a form came with (waiting for a code when `pending`, else signed in) and
/// the form's fields; or the page that refuses it: the session is over, or the form's CSRF
/// token is not its cookie's.
pub(crate) async fn form_session<S: Store>(app: &App<S>, v: &Visit, body: &Bytes, pending: bool) -> Result<(PortalSession, Vec<(String, String)>), Response> {
    let f = form(body);
    let found = if pending { waiting(app, v).await } else { signed_in(app, v).await };
    let s = match found {
        Ok(Some(s)) => s,
        Ok(None) => return Err(notice(app, StatusCode::UNAUTHORIZED, "session_title", "session_over", v.lang)),
        Err(e) => return Err(failure(app, &e, v.lang)),
    };
    if !app.portal_csrf_ok(Some(&s.cookie), field(&f, "csrf")) {
        return Err(form_expired(app, s.language));
    }
    Ok((s, f))
}

async fn waiting<S: Store>(app: &App<S>, v: &Visit) -> Result<Option<PortalSession>, AppError> {
    Ok(app.portal_session(v.session.as_deref(), v.pctx.now).await?.filter(|s| s.pending.is_some()))
}

/// The form for the one-time code.
pub(crate) async fn verify_form<S: Store>(State(app): AppState<S>, v: Visit) -> Response {
    match waiting(&app, &v).await {
        Ok(Some(s)) => code_page(&app, &s, StatusCode::OK, None),
        Ok(None) => notice(&app, StatusCode::UNAUTHORIZED, "session_title", "session_over", v.lang),
        Err(e) => failure(&app, &e, v.lang),
    }
}

/// Checks the code: signed in (and a password to set on a first visit), or refused.
pub(crate) async fn verify<S: Store>(State(app): AppState<S>, v: Visit, body: Bytes) -> Response {
    let (s, f) = match form_session(&app, &v, &body, true).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    match app.portal_check_code(&s, field(&f, "code").unwrap_or_default(), &v.pctx).await {
        Ok(CodeResult::Verified { cookie, set_password, message }) => {
            let to = match (set_password, message) {
                (true, Some(m)) => format!("/portal/password?next={m}"),
                (true, None) => "/portal/password".to_owned(),
                (false, Some(m)) => format!("/portal/messages/{m}"),
                (false, None) => "/portal".to_owned(),
            };
            see_other(&to, &[set_cookie(&app, SESSION, &cookie)])
        }
        Ok(CodeResult::Wrong { left }) => code_page(&app, &s, StatusCode::UNPROCESSABLE_ENTITY, Some(text(s.language, "code_wrong").replace("{n}", &left.to_string()))),
        Ok(CodeResult::Over) => {
            let mut response = notice(&app, StatusCode::FORBIDDEN, "code_title", "code_over", s.language);
            if let Ok(v) = clear_cookie(SESSION).parse() {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => failure(&app, &e, s.language),
    }
}

/// Only an id Sotto made (`sm_` and 16 hex digits) is carried from page to page.
pub(crate) fn message_id(raw: Option<&str>) -> Option<String> {
    raw.filter(|m| m.len() == 19 && m.starts_with("sm_") && m[3..].bytes().all(|b| b.is_ascii_hexdigit())).map(str::to_owned)
}

async fn password_page<S: Store>(app: &App<S>, s: &PortalSession, next: Option<String>, status: StatusCode, error: Option<&str>) -> Response {
    let needs_current = app.portal_has_password(s).await.unwrap_or(true);
    let mut p = page(app, "password.html", "password_title", s.language).with("next_id", next.unwrap_or_default()).with("needs_current", needs_current);
    (p.status, p.error, p.csrf, p.signed_in) = (status, error.map(|e| text(s.language, e)), Some(app.portal_csrf(&s.cookie)), true);
    p.render()
}

#[derive(serde::Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// The form that sets a password.
pub(crate) async fn password_form<S: Store>(State(app): AppState<S>, v: Visit, axum::extract::Query(q): axum::extract::Query<NextQuery>) -> Response {
    match signed_in(&app, &v).await {
        Ok(Some(s)) => password_page(&app, &s, message_id(q.next.as_deref()), StatusCode::OK, None).await,
        Ok(None) => see_other("/portal", &[]),
        Err(e) => failure(&app, &e, v.lang),
    }
}

/// Sets the password, then shows the message the visit was for.
pub(crate) async fn set_password<S: Store>(State(app): AppState<S>, v: Visit, body: Bytes) -> Response {
    let (s, f) = match form_session(&app, &v, &body, false).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let next = message_id(field(&f, "next"));
    match app.portal_set_password(&s, field(&f, "current"), field(&f, "password").unwrap_or_default(), field(&f, "confirm").unwrap_or_default(), &v.pctx).await {
        Ok(None) => see_other(&next.map(|m| format!("/portal/messages/{m}")).unwrap_or_else(|| "/portal".into()), &[]),
        Ok(Some(rule)) => password_page(&app, &s, next, StatusCode::UNPROCESSABLE_ENTITY, Some(rule)).await,
        Err(e) => failure(&app, &e, s.language),
    }
}

/// One secure message, audited as viewed by its patient.
pub(crate) async fn message<S: Store>(State(app): AppState<S>, v: Visit, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let s = match signed_in(&app, &v).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/portal", &[]),
        Err(e) => return failure(&app, &e, v.lang),
    };
    let Some(id) = message_id(Some(&id)) else { return notice(&app, StatusCode::NOT_FOUND, "not_found_title", "not_found", s.language) };
    match app.portal_read(&s, &id, &v.pctx).await {
        Ok(m) => {
            let when = day(&m.sent_at);
            let mut p = page(&app, "message.html", "message_title", s.language).with("message", serde_json::json!({"body": m.body, "sent_at_text": when}));
            (p.csrf, p.signed_in, p.heading) = (Some(app.portal_csrf(&s.cookie)), true, Some(m.subject));
            p.render()
        }
        Err(e) => failure(&app, &e, s.language),
    }
}

pub(crate) use crate::portal_prefs::{appointment, appointment_act, preferences, revoke, save_preferences};
pub(crate) use crate::portal_pages::stylesheet;
