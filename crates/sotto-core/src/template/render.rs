//! Rendering a template for one recipient, then linting what came out: a value that carries a
//! health term (a provider name, a free-text field) stops the message here, at send time.

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, Error, ErrorKind};
use serde::Serialize;
use serde_json::Value;

use super::TemplateContent;
use crate::dictionary::Surface;
use crate::lint::{Finding, Severity, lint};

/// The text of each surface, ready to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    /// Rendered text by surface.
    pub surfaces: BTreeMap<Surface, String>,
    /// Warnings the linter raised on the rendered text.
    pub warnings: BTreeMap<Surface, Vec<Finding>>,
}

/// Why a template did not render into something sendable. Carries categories and offsets,
/// never the rendered text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The template failed to render (a filter got a value it cannot use).
    #[error("the {surface:?} surface failed to render: {reason}")]
    Failed {
        /// The surface.
        surface: Surface,
        /// What went wrong, without values.
        reason: String,
    },
    /// The rendered text reveals health information.
    #[error("the rendered {surface:?} surface reveals health information")]
    Blocked {
        /// The surface.
        surface: Surface,
        /// The blocking findings.
        findings: Vec<Finding>,
    },
}

/// Renders every surface with `context` (`{"patient": {…}, "event": {…}, "clinic": {…},
/// "links": {…}}`) and lints each result; the email body is HTML and escapes its values.
pub fn render(content: &TemplateContent, context: &Value) -> Result<Rendered, RenderError> {
    render_with(content, context, false)
}

/// Like [`render`], but a variable the context lacks is an error rather than empty text
/// (tests against `if` and `default(…)` still work): for checking shipped templates against
/// a full sample.
pub fn render_strict(content: &TemplateContent, context: &Value) -> Result<Rendered, RenderError> {
    render_with(content, context, true)
}

fn render_with(content: &TemplateContent, context: &Value, strict: bool) -> Result<Rendered, RenderError> {
    let mut env = Environment::new();
    if strict {
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    }
    env.set_auto_escape_callback(|name| if name == "email_body" { AutoEscape::Html } else { AutoEscape::None });
    env.add_filter("when", when);
    // A loop cannot run away with a send worker.
    env.set_fuel(Some(100_000));
    let ctx = minijinja::Value::from(minijinja::value::Serde(context));
    let tokens = link_tokens(context);
    let mut surfaces = BTreeMap::new();
    let mut warnings = BTreeMap::new();
    for (surface, source) in &content.surfaces {
        let name = if *surface == Surface::EmailBody { "email_body" } else { "text" };
        let failed = |e: Error| RenderError::Failed { surface: *surface, reason: e.kind().to_string() };
        let text = env.template_from_named_str(name, source).and_then(|t| t.render(&ctx)).map_err(failed)?;
        let report = lint(&masked(&text, &tokens), *surface);
        let (blocking, warned): (Vec<Finding>, Vec<Finding>) = report.findings.into_iter().partition(|f| f.severity == Severity::Block);
        if !blocking.is_empty() {
            return Err(RenderError::Blocked { surface: *surface, findings: blocking });
        }
        if !warned.is_empty() {
            warnings.insert(*surface, warned);
        }
        surfaces.insert(*surface, text);
    }
    Ok(Rendered { surfaces, warnings })
}

/// The sealed tokens at the end of the links Sotto makes (`links.*`, such as the one-click
/// unsubscribe URL): random text that can spell anything, so it is not linted; the rest of
/// each link is.
fn link_tokens(context: &Value) -> Vec<String> {
    context["links"]
        .as_object()
        .into_iter()
        .flat_map(|links| links.values())
        .filter_map(|v| v.as_str()?.rsplit('/').next().filter(|t| t.len() >= 24 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).map(str::to_owned))
        .collect()
}

/// `text` with every token replaced by as many `x`, so findings keep their offsets.
fn masked(text: &str, tokens: &[String]) -> String {
    tokens.iter().fold(text.to_owned(), |acc, t| acc.replace(t.as_str(), &"x".repeat(t.len())))
}

/// `{{ event.appointment_start | when(patient.timezone) }}`: "Friday, March 6 at 3:00 PM" in
/// the patient's zone (UTC when the zone is missing or unknown); `when(patient.timezone, "es")`
/// writes it in Spanish: "viernes 6 de marzo a las 3:00 p. m.".
fn when(value: String, zone: Option<String>, language: Option<String>) -> Result<String, Error> {
    let at: jiff::Timestamp = value.parse().map_err(|_| Error::new(ErrorKind::InvalidOperation, "when needs an RFC 3339 timestamp"))?;
    let tz = zone.and_then(|z| jiff::tz::TimeZone::get(&z).ok()).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = at.to_zoned(tz);
    match language.as_deref().map(|l| l.split('-').next().unwrap_or_default().to_ascii_lowercase()).as_deref() {
        None | Some("en") => Ok(local.strftime("%A, %B %-d at %-I:%M %p").to_string()),
        Some("es") => {
            const DAYS: [&str; 7] = ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"];
            const MONTHS: [&str; 12] = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"];
            let day = DAYS[usize::from(local.weekday().to_monday_zero_offset().unsigned_abs())];
            let month = MONTHS[usize::from(local.month().unsigned_abs()) - 1];
            let (hour, meridiem) = match local.hour() {
                0 => (12, "a. m."),
                h @ 1..=11 => (h, "a. m."),
                12 => (12, "p. m."),
                h => (h - 12, "p. m."),
            };
            Ok(format!("{day} {} de {month} a las {hour}:{:02} {meridiem}", local.day(), local.minute()))
        }
        Some(_) => Err(Error::new(ErrorKind::InvalidOperation, "when writes dates in en or es")),
    }
}
