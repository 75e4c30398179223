//! The portal's preference center and appointment links: forms in, one use case, a page out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use sotto_app::{App, AppError, AppointmentAction, PortalSession, PreferenceForm};
use sotto_store::Store;

use crate::portal_pages::text;
use crate::portal_routes::{VISIT, Visit, failure, field, form, form_expired, form_session, notice, page, see_other, set_cookie, signed_in, visitor};

type AppState<S> = State<Arc<App<S>>>;

async fn prefs_page<S: Store>(app: &App<S>, s: &PortalSession, status: StatusCode, saved: Option<&str>) -> Response {
    match app.portal_preferences(s).await {
        Ok(prefs) => {
            let mut p = page(app, "preferences.html", "prefs_title", s.language).with("prefs", prefs);
            (p.status, p.csrf, p.signed_in, p.notice) = (status, Some(app.portal_csrf(&s.cookie)), true, saved.map(|k| text(s.language, k)));
            p.render()
        }
        Err(e) => failure(app, &e, s.language),
    }
}

/// The preference center.
pub(crate) async fn preferences<S: Store>(State(app): AppState<S>, v: Visit) -> Response {
    match signed_in(&app, &v).await {
        Ok(Some(s)) => prefs_page(&app, &s, StatusCode::OK, None).await,
        Ok(None) => see_other("/portal", &[]),
        Err(e) => failure(&app, &e, v.lang),
    }
}

/// Saves the preference form: each change a ledger record with source `portal`.
pub(crate) async fn save_preferences<S: Store>(State(app): AppState<S>, v: Visit, body: Bytes) -> Response {
    let (s, f) = match form_session(&app, &v, &body, false).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let pick = |name: &str| f.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let choice = PreferenceForm { channels: pick("channel"), topics: pick("topic"), language: field(&f, "language").unwrap_or(s.language).to_owned() };
    match app.portal_save_preferences(&s, &choice, &v.pctx).await {
        Ok(_) => {
            // The language may have changed: read the session again for the page's language.
            let s = app.portal_session(Some(&s.cookie), v.pctx.now).await.ok().flatten().map(|mut fresh| {
                fresh.language = if choice.language == "es" { "es" } else { "en" };
                fresh
            });
            match s {
                Some(s) => prefs_page(&app, &s, StatusCode::OK, Some("prefs_saved")).await,
                None => see_other("/portal", &[]),
            }
        }
        Err(e) => failure(&app, &e, s.language),
    }
}

/// Revokes an authorization at once.
pub(crate) async fn revoke<S: Store>(State(app): AppState<S>, v: Visit, Path(id): Path<String>, body: Bytes) -> Response {
    let (s, _) = match form_session(&app, &v, &body, false).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match app.portal_revoke(&s, &id, &v.pctx).await {
        Ok(_) => prefs_page(&app, &s, StatusCode::OK, Some("revoked_notice")).await,
        Err(e) => failure(&app, &e, s.language),
    }
}

fn appointment_texts(action: AppointmentAction) -> (&'static str, &'static str, &'static str) {
    match action {
        AppointmentAction::Confirm => ("confirm_prompt", "confirm_button", "confirm_done"),
        AppointmentAction::Reschedule => ("reschedule_prompt", "reschedule_button", "reschedule_done"),
    }
}

fn link_failure<S: Store>(app: &App<S>, e: &AppError, lang: &'static str) -> Response {
    match e {
        AppError::NotFound(_) => notice(app, StatusCode::NOT_FOUND, "link_title", "link_unknown", lang),
        AppError::Conflict { .. } => notice(app, StatusCode::GONE, "link_title", "link_expired", lang),
        other => failure(app, other, lang),
    }
}

/// An appointment link: asks before it records anything.
pub(crate) async fn appointment<S: Store>(State(app): AppState<S>, v: Visit, Path(token): Path<String>) -> Response {
    match app.portal_appointment(&token, v.pctx.now).await {
        Ok((action, lang)) => {
            let (prompt, button, _) = appointment_texts(action);
            let (visit, new) = visitor(&v);
            let mut p = page(&app, "appointment.html", "appointment_title", lang).with("prompt", text(lang, prompt)).with("button", text(lang, button));
            p.csrf = Some(app.portal_csrf(&visit));
            p.cookies = new.iter().map(|c| set_cookie(&app, VISIT, c)).collect();
            p.render()
        }
        Err(e) => link_failure(&app, &e, v.lang),
    }
}

/// Records the confirmation or the reschedule request.
pub(crate) async fn appointment_act<S: Store>(State(app): AppState<S>, v: Visit, Path(token): Path<String>, body: Bytes) -> Response {
    let f = form(&body);
    if !app.portal_csrf_ok(v.visit.as_deref(), field(&f, "csrf")) {
        return form_expired(&app, v.lang);
    }
    let lang = match app.portal_appointment(&token, v.pctx.now).await {
        Ok((_, lang)) => lang,
        Err(e) => return link_failure(&app, &e, v.lang),
    };
    match app.portal_appointment_act(&token, &v.pctx).await {
        Ok(action) => page(&app, "appointment.html", "appointment_title", lang).with("done", true).with("message", text(lang, appointment_texts(action).2)).render(),
        Err(e) => link_failure(&app, &e, lang),
    }
}
