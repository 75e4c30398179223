//! The console's pages: its templates (minijinja, auto-escaped), a page's values, the headers
//! every answer carries, and failures shown as a page or, inside a live part, as a fragment.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value};
use serde_json::Map;

use sotto_app::AppError;

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../pages/console/base.html")),
    ("notice.html", include_str!("../pages/console/notice.html")),
    ("sign_in.html", include_str!("../pages/console/sign_in.html")),
    ("code.html", include_str!("../pages/console/code.html")),
    ("reauth.html", include_str!("../pages/console/reauth.html")),
    ("invite.html", include_str!("../pages/console/invite.html")),
    ("dashboard.html", include_str!("../pages/console/dashboard.html")),
    ("patients.html", include_str!("../pages/console/patients.html")),
    ("dictionary.html", include_str!("../pages/console/dictionary.html")),
    ("vault.html", include_str!("../pages/console/vault.html")),
    ("segments.html", include_str!("../pages/console/segments.html")),
    ("segment_size.html", include_str!("../pages/console/segment_size.html")),
    ("audit.html", include_str!("../pages/console/audit.html")),
    ("templates.html", include_str!("../pages/console/templates.html")),
    ("template.html", include_str!("../pages/console/template.html")),
    ("lint.html", include_str!("../pages/console/lint.html")),
    ("approvals.html", include_str!("../pages/console/approvals.html")),
    ("campaigns.html", include_str!("../pages/console/campaigns.html")),
    ("campaign.html", include_str!("../pages/console/campaign.html")),
    ("progress.html", include_str!("../pages/console/progress.html")),
    ("journeys.html", include_str!("../pages/console/journeys.html")),
    ("journey.html", include_str!("../pages/console/journey.html")),
    ("reports.html", include_str!("../pages/console/reports.html")),
    ("chart.html", include_str!("../pages/console/chart.html")),
    ("settings.html", include_str!("../pages/console/settings.html")),
    ("keys.html", include_str!("../pages/console/keys.html")),
    ("break_glass.html", include_str!("../pages/console/break_glass.html")),
    ("fragment_error.html", include_str!("../pages/console/fragment_error.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = crate::pages::environment(TEMPLATES);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env
    })
}

/// A failure as a page: forbidden, not found, invalid (with its fields), conflict, or trouble;
/// never an internal error's text.
pub(crate) fn failure(e: &AppError) -> Response {
    match e {
        AppError::Forbidden(scope) => Page::notice(StatusCode::FORBIDDEN, "Not permitted", &format!("Your role does not include {scope}. Ask an admin, or use break-glass if this is an emergency.")).render(),
        AppError::NotFound(what) => Page::notice(StatusCode::NOT_FOUND, "Not found", &format!("No such {what}.")).render(),
        AppError::Invalid(errors) => {
            let lines: Vec<String> = errors.iter().map(|e| format!("{}: {} ({})", e.field, e.message, e.code)).collect();
            Page::notice(StatusCode::UNPROCESSABLE_ENTITY, "Not saved", &lines.join("\n")).render()
        }
        AppError::Conflict { code, message } => Page::notice(StatusCode::CONFLICT, "Not done", &format!("{message} ({code})")).render(),
        other => {
            tracing::warn!(storage = matches!(other, AppError::Store(_)), "console request failed");
            Page::notice(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The request could not be completed. Try again in a moment.").render()
        }
    }
}

/// A failure inside a live part of a page: a short message, not a whole page.
pub(crate) fn partial_failure(e: &AppError) -> Response {
    let message = match e {
        AppError::Forbidden(scope) => format!("Your role does not include {scope}."),
        AppError::NotFound(what) => format!("No such {what}."),
        AppError::Invalid(errors) => errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "),
        _ => "This part could not be updated. Reload the page.".to_owned(),
    };
    let status = match e {
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Page::new("fragment_error.html", "").with("message", message).status(status).render()
}

/// A page to render.
pub(crate) struct Page {
    status: StatusCode,
    template: &'static str,
    values: Map<String, serde_json::Value>,
    cookies: Vec<String>,
}

impl Page {
    pub(crate) fn new(template: &'static str, title: &str) -> Self {
        let mut values = Map::new();
        values.insert("title".into(), title.into());
        Self { status: StatusCode::OK, template, values, cookies: Vec::new() }
    }

    pub(crate) fn notice(status: StatusCode, title: &str, message: &str) -> Self {
        Page::new("notice.html", title).with("message", message).status(status)
    }

    pub(crate) fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.values.insert(key.to_owned(), serde_json::to_value(value).unwrap_or_default());
        self
    }

    pub(crate) fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn cookie(mut self, cookie: String) -> Self {
        self.cookies.push(cookie);
        self
    }

    pub(crate) fn render(self) -> Response {
        let rendered = env().get_template(self.template).and_then(|t| t.render(Value::from(minijinja::value::Serde(&self.values))));
        crate::pages::respond(rendered, self.status, harden, &self.cookies, "console")
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        self.render()
    }
}

/// The console's headers on any answer.
pub(crate) fn harden(response: &mut Response) {
    crate::pages::protect(response, POLICY);
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("Sotto-Partial"));
}

/// Whether a request asks for a live part of a page (console.js sends this header); a plain
/// request to a partial-only route is refused.
pub(crate) fn partial(headers: &HeaderMap) -> bool {
    headers.contains_key("sotto-partial")
}

/// The answer to a plain request for a partial-only route.
pub(crate) fn not_partial() -> Response {
    Page::notice(StatusCode::BAD_REQUEST, "Not a page", "This address serves a live part of another page.").render()
}

/// Answers a use case's result: the page it makes, or the failure's page.
pub(crate) fn shown(result: Result<Page, AppError>) -> Response {
    match result {
        Ok(page) => page.render(),
        Err(e) => failure(&e),
    }
}
