//! Server-rendered pages and replies, auto-escaped by minijinja: the unsubscribe page and the
//! provider-style XML answer to an inbound SMS webhook, and the development mailbox.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_template("unsubscribe.html", include_str!("pages/unsubscribe.html")).expect("the unsubscribe page parses");
        env.add_template("sms_reply.xml", include_str!("pages/sms_reply.xml")).expect("the SMS reply parses");
        env.add_template("mailbox.html", include_str!("pages/mailbox.html")).expect("the mailbox page parses");
        env
    })
}

/// Renders the unsubscribe page.
pub fn unsubscribe_page(status: StatusCode, title: &str, message: &str, show_form: bool) -> Response {
    let rendered = env()
        .get_template("unsubscribe.html")
        .and_then(|t| t.render(context! { title, message, show_form }));
    match rendered {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            response.headers_mut().insert("cache-control", axum::http::HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Renders the XML reply to an inbound SMS webhook (`<Response><Message>…</Message></Response>`).
pub fn sms_reply(text: Option<&str>) -> Response {
    match env().get_template("sms_reply.xml").and_then(|t| t.render(context! { text })) {
        Ok(xml) => ([("content-type", "application/xml")], xml).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "SMS reply failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What the mailbox page may load: its own styles, and email bodies in sandboxed frames.
const MAILBOX_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Renders the development mailbox: each email in a sandboxed frame with its headers, each
/// SMS and push as a lock screen shows it.
pub fn mailbox_page(entries: &[sotto_app::deliver::MailboxEntry]) -> Response {
    match env().get_template("mailbox.html").and_then(|t| t.render(context! { entries => minijinja::Value::from(minijinja::value::Serde(entries)) })) {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response.headers_mut().insert("content-security-policy", axum::http::HeaderValue::from_static(MAILBOX_POLICY));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "mailbox page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
