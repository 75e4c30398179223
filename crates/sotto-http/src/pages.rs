//! Server-rendered pages and replies, auto-escaped by minijinja: the unsubscribe page and the
//! provider-style XML answer to an inbound SMS webhook, and the development mailbox.

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
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

/// An auto-escaping environment holding the `.html` pages of a part (the portal, the console);
/// every test renders them, so a page that does not parse never ships.
pub(crate) fn environment(pages: &[(&'static str, &'static str)]) -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in pages.iter().filter(|(n, _)| n.ends_with(".html")) {
        env.add_template(name, source).expect("every page parses");
    }
    env
}

/// A signed-in part's protective headers: its Content-Security-Policy, `no-store`, no referrer
/// (a link's token never leaks) and no framing.
pub(crate) fn protect(response: &mut Response, policy: &'static str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A rendered page as an answer with its status, its part's headers (`protect`) and its
/// cookies; a page that failed to render is logged with its part and answered 500.
pub(crate) fn respond(rendered: Result<String, minijinja::Error>, status: StatusCode, harden: fn(&mut Response), cookies: &[String], part: &str) -> Response {
    match rendered {
        Ok(html) => finish((status, Html(html)).into_response(), harden, cookies),
        Err(e) => {
            tracing::error!(error = %e, part, "page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A 303 to the next page of a part, with its headers and cookies.
pub(crate) fn see_other(to: &str, harden: fn(&mut Response), cookies: &[String]) -> Response {
    let mut response = axum::response::Redirect::to(to).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    finish(response, harden, cookies)
}

fn finish(mut response: Response, harden: fn(&mut Response), cookies: &[String]) -> Response {
    harden(&mut response);
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A cookie's value by name (empty and overlong values count as none).
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() <= 100)
        .map(|(_, v)| v.to_owned())
}

/// A form body's fields (a name may repeat); a body that is not a form has none.
pub(crate) fn form(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// A form's first value of a field.
pub(crate) fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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
