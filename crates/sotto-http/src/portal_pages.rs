//! The patient portal's pages: server-rendered with auto-escaping, in English or Spanish, one
//! stylesheet from this host and no script; every answer is `no-store`, sends no referrer (a
//! link's token never leaks) and may not be framed.

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value};
use serde_json::Map;

const POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const PAGES: [(&str, &str); 11] = [
    ("base.html", include_str!("pages/portal/base.html")),
    ("notice.html", include_str!("pages/portal/notice.html")),
    ("sign_in.html", include_str!("pages/portal/sign_in.html")),
    ("landing.html", include_str!("pages/portal/landing.html")),
    ("code.html", include_str!("pages/portal/code.html")),
    ("password.html", include_str!("pages/portal/password.html")),
    ("home.html", include_str!("pages/portal/home.html")),
    ("message.html", include_str!("pages/portal/message.html")),
    ("preferences.html", include_str!("pages/portal/preferences.html")),
    ("appointment.html", include_str!("pages/portal/appointment.html")),
    ("strings", include_str!("pages/portal/strings.json")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| crate::pages::environment(&PAGES))
}

fn strings() -> &'static serde_json::Value {
    static STRINGS: OnceLock<serde_json::Value> = OnceLock::new();
    STRINGS.get_or_init(|| serde_json::from_str(PAGES[10].1).expect("the portal's strings are JSON"))
}

/// One text of the portal in a language (`en` or `es`).
pub(crate) fn text(lang: &str, key: &str) -> String {
    let table = &strings()[if lang == "es" { "es" } else { "en" }];
    table[key].as_str().unwrap_or(key).to_owned()
}

/// A page to render.
pub(crate) struct Page {
    pub status: StatusCode,
    pub template: &'static str,
    pub title: String,
    /// The page's heading when it differs from its title (a message's subject: the title,
    /// kept in the browser's history, stays generic).
    pub heading: Option<String>,
    pub lang: &'static str,
    pub csrf: Option<String>,
    pub signed_in: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub extra: Map<String, serde_json::Value>,
    pub cookies: Vec<String>,
}

impl Page {
    /// A page with its template and title key, in a language.
    pub(crate) fn new(template: &'static str, title: &'static str, lang: &'static str) -> Self {
        Self { status: StatusCode::OK, template, title: text(lang, title), heading: None, lang, csrf: None, signed_in: false, notice: None, error: None, extra: Map::new(), cookies: Vec::new() }
    }

    /// A plain notice page with a link to sign in.
    pub(crate) fn notice(status: StatusCode, title: &'static str, message: &str, lang: &'static str) -> Self {
        let mut page = Self::new("notice.html", title, lang).with("message", message).with("show_sign_in", true);
        page.status = status;
        page
    }

    /// Adds a value the template reads.
    pub(crate) fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.extra.insert(key.to_owned(), serde_json::to_value(value).unwrap_or_default());
        self
    }

    /// Renders the page with the portal's headers.
    pub(crate) fn render(self) -> Response {
        let lang = self.lang;
        let mut ctx = self.extra;
        ctx.insert("lang".into(), lang.into());
        ctx.insert("t".into(), strings()[if lang == "es" { "es" } else { "en" }].clone());
        ctx.insert("heading".into(), self.heading.unwrap_or_else(|| self.title.clone()).into());
        ctx.insert("title".into(), self.title.into());
        ctx.insert("csrf".into(), self.csrf.unwrap_or_default().into());
        ctx.insert("signed_in".into(), self.signed_in.into());
        ctx.insert("notice".into(), self.notice.into());
        ctx.insert("error".into(), self.error.into());
        let clinic = ctx.get("clinic").cloned().unwrap_or_else(|| "Sotto".into());
        ctx.insert("clinic".into(), clinic);
        let rendered = env().get_template(self.template).and_then(|t| t.render(Value::from(minijinja::value::Serde(&ctx))));
        crate::pages::respond(rendered, self.status, harden, &self.cookies, "portal")
    }
}

/// The portal's headers on any answer.
pub(crate) fn harden(response: &mut Response) {
    crate::pages::protect(response, POLICY);
}

/// The portal's stylesheet.
pub(crate) async fn stylesheet() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("pages/portal/portal.css")).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}
