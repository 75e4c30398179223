//! Message templates: per channel, one Jinja-compatible source per surface. On save every
//! literal is linted and every variable is checked against the dictionary (`analysis`);
//! rendering at send time lints the result again (`render`), so no value can carry PHI in.

mod analysis;
mod render;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contact::Channel;
use crate::dictionary::{DataClass, Surface};
use crate::error::FieldError;
use crate::health_terms;

pub use analysis::{Analysis, VariableUse, analyze};
pub use render::{RenderError, Rendered, render, render_strict};
pub use text::html_to_text;

/// The most bytes one surface's source may have.
pub const MAX_SURFACE: usize = 20_000;

/// What a template says on each surface of its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateContent {
    /// Email, SMS or push.
    pub channel: Channel,
    /// The source of each surface.
    pub surfaces: BTreeMap<Surface, String>,
}

/// Where a version is in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Being written; can be submitted.
    Draft,
    /// Waiting for a compliance reviewer.
    Submitted,
    /// Approved: the only status that can be used to send.
    Approved,
    /// Rejected with a comment; edit to make a new draft.
    Rejected,
}

impl VersionStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// Reads the stored form.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Draft, Self::Submitted, Self::Approved, Self::Rejected].into_iter().find(|s| s.as_str() == raw)
    }
}

/// Reads `{"channel", "surfaces": {surface: source}}`, naming the field of any error.
pub fn parse_content(body: &Value) -> Result<TemplateContent, FieldError> {
    let channel = body.get("channel").and_then(Value::as_str).ok_or_else(|| FieldError::new("missing_field", "channel", "channel is required: email, sms or push"))?;
    let channel = Channel::parse("channel", channel)?;
    let given = body.get("surfaces").and_then(Value::as_object).ok_or_else(|| FieldError::new("missing_field", "surfaces", "surfaces is required: an object of surface name to template source"))?;
    let mut surfaces = BTreeMap::new();
    for (key, source) in given {
        let (required, optional) = Surface::of_channel(channel);
        let names: Vec<&str> = required.iter().chain(optional).map(|s| s.as_str()).collect();
        let surface = match Surface::parse(key) {
            Some(s) if s.fits(channel) => s,
            // A known surface name is Sotto's own word; an unknown key is the client's, not repeated.
            Some(s) => return Err(FieldError::new("invalid_surface", format!("surfaces.{}", s.as_str()), format!("this is not a surface of the {channel} channel; allowed: {}", names.join(", ")))),
            None => return Err(FieldError::new("invalid_surface", "surfaces", format!("surfaces has a key that is not a surface, not repeated here; allowed: {}", names.join(", ")))),
        };
        let field = format!("surfaces.{key}");
        let source = source.as_str().ok_or_else(|| FieldError::new("wrong_type", field.clone(), "a surface's source must be a string"))?;
        if source.len() > MAX_SURFACE {
            return Err(FieldError::new("value_too_long", field, "a surface's source must be at most 20,000 bytes"));
        }
        surfaces.insert(surface, source.to_owned());
    }
    let (required, _) = Surface::of_channel(channel);
    if let Some(missing) = required.iter().find(|s| surfaces.get(*s).is_none_or(|t| t.trim().is_empty())) {
        let name = missing.as_str();
        return Err(FieldError::new("missing_field", format!("surfaces.{name}"), format!("the {channel} channel needs {name}")));
    }
    Ok(TemplateContent { channel, surfaces })
}

/// Checks a template's name like every name staff see.
pub fn check_name(name: &str) -> Result<&str, FieldError> {
    health_terms::check_name("template", name)
}

/// The variables a template may use, beyond the dictionary's traits (`patient.*`) and event
/// properties (`event.*`): the practice's details and the links Sotto makes.
pub const SYSTEM_VARIABLES: &[&str] =
    &["clinic.name", "clinic.phone", "clinic.address", "clinic.website", "links.portal", "links.unsubscribe", "links.confirm", "links.reschedule"];

/// Whether values of `class` may be shown as text on `surface` (`allowed` is the dictionary's
/// list of surfaces for operational PHI).
pub fn shown_allowed(class: DataClass, surface: Surface, allowed: &[Surface]) -> bool {
    match class {
        DataClass::NonPhi | DataClass::Identifier => true,
        DataClass::OperationalPhi => allowed.contains(&surface),
        DataClass::Coded | DataClass::SensitivePhi => false,
    }
}
