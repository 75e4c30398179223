//! Message templates: per channel, one Jinja-compatible source per surface. On save every
//! literal is linted and every variable is checked against the dictionary (`analysis`);
//! rendering at send time lints the result again (`render`), so no value can carry PHI in.

mod analysis;
mod render;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contact::{Channel, Language};
use crate::dictionary::{DataClass, Surface};
use crate::error::FieldError;
use crate::health_terms;

pub use analysis::{Analysis, VariableUse, analyze};
pub use render::{RenderError, Rendered, render, render_strict};
pub use text::html_to_text;

/// The most bytes one surface's source may have.
pub const MAX_SURFACE: usize = 20_000;

/// What a template says on each surface of its channel, in its default language and in
/// any number of other languages (each variant has the same surfaces, and is analysed, linted
/// and approved with its version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateContent {
    /// Email, SMS or push.
    pub channel: Channel,
    /// The source of each surface, in `language`.
    pub surfaces: BTreeMap<Surface, String>,
    /// The language `surfaces` are written in, and the one a patient gets when no variant
    /// is in theirs.
    #[serde(default = "english")]
    pub language: String,
    /// The same message in other languages, by language tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, BTreeMap<Surface, String>>,
}

fn english() -> String {
    "en".to_owned()
}

impl TemplateContent {
    /// The language a reader of `wanted` gets: a variant of that exact tag, else of its
    /// primary language (`es` for `es-MX`), else the default language.
    pub fn language_for(&self, wanted: Option<&str>) -> &str {
        let Some(wanted) = wanted.map(str::trim).filter(|w| !w.is_empty()) else { return &self.language };
        let primary = |tag: &str| tag.split('-').next().unwrap_or_default().to_ascii_lowercase();
        let langs = std::iter::once(&self.language).chain(self.variants.keys());
        if let Some(exact) = langs.clone().find(|l| l.eq_ignore_ascii_case(wanted)) {
            return exact;
        }
        langs.clone().find(|l| primary(l) == primary(wanted)).map_or(&self.language, String::as_str)
    }

    /// This content as a reader of `wanted` gets it: one language's surfaces, no variants.
    pub fn in_language(&self, wanted: Option<&str>) -> TemplateContent {
        let language = self.language_for(wanted).to_owned();
        let surfaces = self.variants.get(&language).cloned().unwrap_or_else(|| self.surfaces.clone());
        TemplateContent { channel: self.channel, surfaces, language, variants: BTreeMap::new() }
    }

    /// Every language's surfaces, the default first, each with the field prefix errors name.
    pub fn languages(&self) -> impl Iterator<Item = (String, &BTreeMap<Surface, String>)> {
        std::iter::once(("surfaces".to_owned(), &self.surfaces)).chain(self.variants.iter().map(|(lang, s)| (format!("variants.{lang}"), s)))
    }
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

/// Reads `{"channel", "surfaces": {surface: source}, "language"?: tag, "variants"?: {tag:
/// {surface: source}}}`, naming the field of any error. Every variant needs the channel's
/// required surfaces, like the default.
pub fn parse_content(body: &Value) -> Result<TemplateContent, FieldError> {
    let channel = body.get("channel").and_then(Value::as_str).ok_or_else(|| FieldError::new("missing_field", "channel", "channel is required: email, sms or push"))?;
    let channel = Channel::parse("channel", channel)?;
    let given = body.get("surfaces").and_then(Value::as_object).ok_or_else(|| FieldError::new("missing_field", "surfaces", "surfaces is required: an object of surface name to template source"))?;
    let surfaces = parse_surfaces(channel, given, "surfaces")?;
    let language = match body.get("language") {
        None | Some(Value::Null) => english(),
        Some(v) => Language::parse("language", v.as_str().ok_or_else(|| FieldError::new("wrong_type", "language", "language must be a tag such as en or es"))?)?.as_str().to_owned(),
    };
    let mut variants = BTreeMap::new();
    if let Some(given) = body.get("variants").filter(|v| !v.is_null()) {
        let given = given.as_object().ok_or_else(|| FieldError::new("wrong_type", "variants", "variants must be an object of language tag to surfaces"))?;
        if given.len() > MAX_VARIANTS {
            return Err(FieldError::new("too_many_variants", "variants", format!("a template may have at most {MAX_VARIANTS} language variants")));
        }
        for (tag, surfaces) in given {
            // The tag is the client's text: named only once it parses.
            let lang = Language::parse("variants", tag).map_err(|_| FieldError::new("invalid_language", "variants", "variants has a key that is not a language tag such as es or es-MX"))?;
            let lang = lang.as_str().to_owned();
            let field = format!("variants.{lang}");
            if lang == language || variants.contains_key(&lang) {
                return Err(FieldError::new("duplicate_language", field, "this language is already the template's default or another variant"));
            }
            let surfaces = surfaces.as_object().ok_or_else(|| FieldError::new("wrong_type", field.clone(), "a variant must be an object of surface name to template source"))?;
            variants.insert(lang, parse_surfaces(channel, surfaces, &field)?);
        }
    }
    Ok(TemplateContent { channel, surfaces, language, variants })
}

/// The most language variants one template may have.
pub const MAX_VARIANTS: usize = 20;

fn parse_surfaces(channel: Channel, given: &serde_json::Map<String, Value>, prefix: &str) -> Result<BTreeMap<Surface, String>, FieldError> {
    let mut surfaces = BTreeMap::new();
    let (required, optional) = Surface::of_channel(channel);
    let names: Vec<&str> = required.iter().chain(optional).map(|s| s.as_str()).collect();
    for (key, source) in given {
        let surface = match Surface::parse(key) {
            Some(s) if s.fits(channel) => s,
            // A known surface name is Sotto's own word; an unknown key is the client's, not repeated.
            Some(s) => return Err(FieldError::new("invalid_surface", format!("{prefix}.{}", s.as_str()), format!("this is not a surface of the {channel} channel; allowed: {}", names.join(", ")))),
            None => return Err(FieldError::new("invalid_surface", prefix, format!("{prefix} has a key that is not a surface, not repeated here; allowed: {}", names.join(", ")))),
        };
        let field = format!("{prefix}.{}", surface.as_str());
        let source = source.as_str().ok_or_else(|| FieldError::new("wrong_type", field.clone(), "a surface's source must be a string"))?;
        if source.len() > MAX_SURFACE {
            return Err(FieldError::new("value_too_long", field, "a surface's source must be at most 20,000 bytes"));
        }
        surfaces.insert(surface, source.to_owned());
    }
    if let Some(missing) = required.iter().find(|s| surfaces.get(*s).is_none_or(|t| t.trim().is_empty())) {
        let name = missing.as_str();
        return Err(FieldError::new("missing_field", format!("{prefix}.{name}"), format!("the {channel} channel needs {name}")));
    }
    Ok(surfaces)
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
