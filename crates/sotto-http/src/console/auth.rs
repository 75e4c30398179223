//! Signing in to the console: email and password, then a TOTP code (a new session id at each
//! step), sign-out as a POST, and invitations that set a password and enrol TOTP from a QR
//! code shown by the server. Forms before sign-in are bound to a visitor cookie.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use sotto_app::{App, StaffCode, StaffSignIn};
use sotto_store::Store;

use super::{AppState, Page, Staff, VISIT, Visit, clear_cookie, cookie, failure, field, form, same_origin, see_other, session_cookie, set_cookie};
use crate::extract::Path;

#[derive(Debug, serde::Deserialize)]
pub(crate) struct SignInQuery {
    ended: Option<String>,
    invited: Option<String>,
}

/// The visitor cookie a form before sign-in is bound to, made when there is none.
fn visitor<S: Store>(app: &App<S>, visit: &Visit) -> (String, Option<String>) {
    match cookie(&visit.headers, VISIT) {
        Some(v) => (v, None),
        None => {
            let v = sotto_crypto::random_token();
            let set = set_cookie(app, VISIT, &v);
            (v, Some(set))
        }
    }
}

fn sign_in_page<S: Store>(app: &App<S>, visit: &Visit, status: StatusCode, error: Option<&str>, notice: Option<&str>) -> Response {
    let (v, set) = visitor(app, visit);
    let mut page = Page::new("sign_in.html", "Sign in to Sotto").status(status).with("csrf", app.staff_csrf(&v)).with("error", error).with("notice", notice).with("idle", app.staff_idle_minutes());
    if let Some(set) = set {
        page = page.cookie(set);
    }
    page.render()
}

fn visitor_form_ok<S: Store>(app: &App<S>, visit: &Visit, fields: &[(String, String)]) -> bool {
    same_origin(&visit.headers) && app.staff_csrf_ok(cookie(&visit.headers, VISIT).as_deref(), field(fields, "csrf"))
}

fn expired() -> Response {
    Page::notice(StatusCode::FORBIDDEN, "Form expired", "This form is out of date or came from elsewhere. Go back, reload the page and try again.").with("sign_in", true).render()
}

pub(crate) async fn sign_in_form<S: Store>(axum::extract::State(app): AppState<S>, visit: Visit, Query(q): Query<SignInQuery>) -> Response {
    let notice = if q.ended.is_some() {
        Some("Your session ended. Sign in again.")
    } else if q.invited.is_some() {
        Some("Your account is ready. Sign in with your password and a code from your authenticator app.")
    } else {
        None
    };
    sign_in_page(&app, &visit, StatusCode::OK, None, notice)
}

pub(crate) async fn sign_in<S: Store>(axum::extract::State(app): AppState<S>, visit: Visit, body: Bytes) -> Response {
    let fields = form(&body);
    if !visitor_form_ok(&app, &visit, &fields) {
        return expired();
    }
    let (email, password) = (field(&fields, "email").unwrap_or_default(), field(&fields, "password").unwrap_or_default());
    match app.staff_sign_in(email, password, &visit.edge).await {
        Ok(StaffSignIn::NeedsCode(cookie)) => see_other("/console/code", &[set_cookie(&app, session_cookie(&app), &cookie)]),
        Ok(StaffSignIn::Refused) => sign_in_page(&app, &visit, StatusCode::UNAUTHORIZED, Some("The email or password is not right."), None),
        Ok(StaffSignIn::Throttled) => sign_in_page(&app, &visit, StatusCode::TOO_MANY_REQUESTS, Some("Too many attempts. Wait 15 minutes and try again."), None),
        Err(e) => failure(&e),
    }
}

fn code_page<S: Store>(app: &App<S>, cookie: &str, status: StatusCode, error: Option<&str>) -> Response {
    Page::new("code.html", "Enter your code").status(status).with("csrf", app.staff_csrf(cookie)).with("error", error).render()
}

pub(crate) async fn code_form<S: Store>(axum::extract::State(app): AppState<S>, visit: Visit) -> Response {
    let waiting = cookie(&visit.headers, session_cookie(&app));
    match app.staff_waiting(waiting.as_deref(), visit.edge.now).await {
        Ok(Some(_)) => code_page(&app, waiting.as_deref().unwrap_or_default(), StatusCode::OK, None),
        Ok(None) => see_other("/console/sign-in?ended=1", &[]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn code<S: Store>(axum::extract::State(app): AppState<S>, visit: Visit, body: Bytes) -> Response {
    let fields = form(&body);
    let Some(waiting) = cookie(&visit.headers, session_cookie(&app)) else { return see_other("/console/sign-in?ended=1", &[]) };
    if !same_origin(&visit.headers) || !app.staff_csrf_ok(Some(&waiting), field(&fields, "csrf")) {
        return expired();
    }
    match app.staff_check_code(&waiting, field(&fields, "code").unwrap_or_default(), &visit.edge).await {
        Ok(StaffCode::Signed(cookie)) => see_other("/console", &[set_cookie(&app, session_cookie(&app), &cookie)]),
        Ok(StaffCode::Wrong) => code_page(&app, &waiting, StatusCode::UNAUTHORIZED, Some("That code is not right, or was used already. Enter the code your app shows now.")),
        Ok(StaffCode::Over) => see_other("/console/sign-in?ended=1", &[clear_cookie(&app, session_cookie(&app))]),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn sign_out<S: Store>(axum::extract::State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    if let Err(refused) = staff.form(&app, &body) {
        return refused.into_response();
    }
    if let Err(e) = app.staff_sign_out(&staff.session, &staff.edge).await {
        return failure(&e);
    }
    see_other("/console/sign-in", &[clear_cookie(&app, session_cookie(&app))])
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

fn reauth_page<S: Store>(app: &App<S>, staff: &Staff, next: &str, status: StatusCode, error: Option<&str>) -> Response {
    staff.page(app, "reauth.html", "Confirm it is you").status(status).with("next", next).with("error", error).render()
}

pub(crate) async fn reauth_form<S: Store>(axum::extract::State(app): AppState<S>, staff: Staff, Query(q): Query<NextQuery>) -> Response {
    reauth_page(&app, &staff, super::local_page(q.next.as_deref()), StatusCode::OK, None)
}

pub(crate) async fn reauth<S: Store>(axum::extract::State(app): AppState<S>, staff: Staff, body: Bytes) -> Response {
    let fields = match staff.form(&app, &body) {
        Ok(f) => f,
        Err(refused) => return refused.into_response(),
    };
    let next = super::local_page(field(&fields, "next")).to_owned();
    match app.staff_reauthenticate(&staff.session, field(&fields, "code").unwrap_or_default(), &staff.edge).await {
        Ok(true) => see_other(&next, &[]),
        Ok(false) => reauth_page(&app, &staff, &next, StatusCode::UNAUTHORIZED, Some("That code is not right, or was used already. Enter the code your app shows now.")),
        Err(e) => failure(&e),
    }
}

/// The enrolment QR code: the `otpauth://` address drawn as SVG by the server.
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
    use base64::Engine as _;
    Some(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

fn invite_page<S: Store>(app: &Arc<App<S>>, visit: &Visit, token: &str, email: &str, kept: Option<&str>, status: StatusCode, error: Option<&str>) -> Response {
    // After a refused attempt the same secret is shown again (the app holds it already).
    let (secret, enrolment) = match kept.and_then(|sealed| app.staff_enrolment_secret(token, sealed).map(|s| (s, sealed.to_owned()))) {
        Some(kept) => kept,
        None => app.staff_enrolment(token),
    };
    let uri = sotto_crypto::totp::totp_uri(&secret, email).unwrap_or_default();
    let (v, set) = visitor(app, visit);
    let mut page = Page::new("invite.html", "Set up your account")
        .status(status)
        .with("csrf", app.staff_csrf(&v))
        .with("email", email)
        .with("secret", sotto_crypto::totp::totp_text(&secret))
        .with("enrolment", enrolment)
        .with("qr", qr_svg(&uri))
        .with("error", error)
        .with("min", sotto_core::role::MIN_PASSWORD);
    if let Some(set) = set {
        page = page.cookie(set);
    }
    page.render()
}

pub(crate) async fn invite_form<S: Store>(axum::extract::State(app): AppState<S>, visit: Visit, Path(token): Path<String>) -> Response {
    match app.staff_invitation(&token, visit.edge.now).await {
        Ok(Some(user)) => invite_page(&app, &visit, &token, &user.email, None, StatusCode::OK, None),
        Ok(None) => Page::notice(StatusCode::GONE, "Invitation over", "This invitation was used, withdrawn or has expired. Ask an admin for a new one.").render(),
        Err(e) => failure(&e),
    }
}

pub(crate) async fn accept_invite<S: Store>(axum::extract::State(app): AppState<S>, visit: Visit, Path(token): Path<String>, body: Bytes) -> Response {
    let fields = form(&body);
    if !visitor_form_ok(&app, &visit, &fields) {
        return expired();
    }
    let (password, confirm, code) = (field(&fields, "password").unwrap_or_default(), field(&fields, "confirm").unwrap_or_default(), field(&fields, "code").unwrap_or_default());
    let enrolment = field(&fields, "enrolment").unwrap_or_default();
    match app.staff_accept_invite(&token, enrolment, password, confirm, code, &visit.edge).await {
        Ok(None) => see_other("/console/sign-in?invited=1", &[]),
        Ok(Some("invitation_over")) => Page::notice(StatusCode::GONE, "Invitation over", "This invitation was used, withdrawn or has expired. Ask an admin for a new one.").render(),
        Ok(Some(rule)) => {
            let message = match rule {
                "password_too_short" => "The password is too short: use at least 12 characters (a few words work well).",
                "password_too_long" => "The password is longer than 128 characters.",
                "password_common" => "That password is too common. Choose another.",
                "password_contains_name" => "The password must not contain your email's name.",
                "password_mismatch" => "The two passwords differ.",
                _ => "That code is not right. Enter the code your authenticator app shows now.",
            };
            let email = app.staff_invitation(&token, visit.edge.now).await.ok().flatten().map(|u| u.email).unwrap_or_default();
            invite_page(&app, &visit, &token, &email, Some(enrolment), StatusCode::UNPROCESSABLE_ENTITY, Some(message))
        }
        Err(e) => failure(&e),
    }
}
