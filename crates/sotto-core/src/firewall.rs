//! The ingestion firewall: every trait and event property is checked against the dictionary
//! before anything is stored. Refusals name the field path and a stable code, never the value.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::contact::{Channel, EmailAddress, Language, PhoneE164, TimeZoneName};
use crate::dictionary::{DataClass, Dictionary, FieldKind, FieldSpec, ValueType};
use crate::error::{FieldError, path};
use crate::health_terms;
use crate::phi::Phi;

const MAX_TEXT: usize = 1024;
const MAX_LIST: usize = 100;
const MAX_CODE_BODY: usize = 32;

/// What an `identify` does to one profile attribute.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Change<T> {
    /// Leave it as it is.
    #[default]
    Keep,
    /// Remove it (the trait was sent as `null`).
    Clear,
    /// Set it to a new value.
    Set(T),
}

/// The checked, typed changes an `identify` makes to a profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChanges {
    /// The email address (an identifier; encrypted, looked up by blind index).
    pub email: Change<EmailAddress>,
    /// The phone number (an identifier; encrypted, looked up by blind index).
    pub phone: Change<PhoneE164>,
    /// The IANA time zone.
    pub timezone: Change<TimeZoneName>,
    /// The language.
    pub language: Change<Language>,
    /// The preferred channel.
    pub preferred_channel: Change<Channel>,
    /// Other identifiers (names, push tokens), encrypted with the profile; `None` clears.
    pub identifiers: BTreeMap<String, Option<Phi<Value>>>,
    /// Other traits, stored as declared; `None` clears.
    pub traits: BTreeMap<String, Option<Value>>,
}

/// What the firewall needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Firewall<'a> {
    /// The effective dictionary.
    pub dictionary: &'a Dictionary,
    /// The region used to read national phone numbers, such as `US`.
    pub default_region: &'a str,
}

enum Checked {
    Email(EmailAddress),
    Phone(PhoneE164),
    Timezone(TimeZoneName),
    Language(Language),
    Channel(Channel),
    Json(Value),
}

/// The path of the `i`th key of `parent` (from 1, keys in sorted order), for keys whose name
/// must not be echoed.
fn unnamed(parent: &str, i: usize) -> String {
    format!("{parent}.#{}", i + 1)
}

impl Firewall<'_> {
    /// Checks the `traits` of an `identify` call; `parent` is the path prefix (`traits`).
    pub fn check_traits(&self, traits: &Map<String, Value>, parent: &str) -> Result<ProfileChanges, Vec<FieldError>> {
        let mut changes = ProfileChanges::default();
        let mut errors = Vec::new();
        for (i, (name, value)) in traits.iter().enumerate() {
            let field = path(parent, name);
            let spec = match self.declared(FieldKind::Trait, name, &field, &unnamed(parent, i)) {
                Ok(spec) => spec,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if value.is_null() {
                clear(&mut changes, spec);
                continue;
            }
            match self.check_value(spec, value, &field) {
                Ok(checked) => set(&mut changes, spec, checked),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(changes) } else { Err(errors) }
    }

    /// Checks an event name and its properties; returns the properties to store.
    pub fn check_event(&self, event: &str, properties: &Map<String, Value>, parent: &str) -> Result<Map<String, Value>, Vec<FieldError>> {
        let name = self.declared(FieldKind::Event, event, "event", "event").err();
        match (name, self.check_properties(properties, parent)) {
            (None, Ok(stored)) => Ok(stored),
            (name, checked) => Err(name.into_iter().chain(checked.err().unwrap_or_default()).collect()),
        }
    }

    /// Checks event properties (also a message's context); returns the ones to keep.
    pub fn check_properties(&self, properties: &Map<String, Value>, parent: &str) -> Result<Map<String, Value>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut stored = Map::new();
        for (i, (name, value)) in properties.iter().enumerate() {
            let field = path(parent, name);
            let checked = self
                .declared(FieldKind::Property, name, &field, &unnamed(parent, i))
                .and_then(|spec| if value.is_null() { Ok(None) } else { self.check_value(spec, value, &field).map(Some) });
            match checked {
                Ok(Some(Checked::Json(v))) => {
                    stored.insert(name.clone(), v);
                }
                Ok(Some(_)) => errors.push(FieldError::new("invalid_declaration", field, "contact and locale types are traits, not event properties")),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(stored) } else { Err(errors) }
    }

    /// The declaration of `name`. An undeclared name is the client's own text (it may be
    /// anything, health information included), so its error names the field by `unnamed`.
    fn declared(&self, kind: FieldKind, name: &str, field: &str, unnamed: &str) -> Result<&FieldSpec, FieldError> {
        let what = match kind {
            FieldKind::Trait => "trait",
            FieldKind::Event => "event",
            FieldKind::Property => "event property",
        };
        let Some(spec) = self.dictionary.get(kind, name) else {
            return Err(FieldError::new(
                if kind == FieldKind::Event { "undeclared_event" } else { "undeclared_field" },
                unnamed,
                format!("this {what} is not declared in the data dictionary, so its name is not repeated here (keys are counted from 1 in sorted order); declare it with POST /v1/dictionary/fields"),
            ));
        };
        if spec.class == DataClass::SensitivePhi {
            return Err(FieldError::new(
                "sensitive_field",
                field,
                format!("this {what} is sensitive PHI and never enters the messaging tier; keep it in the clinical system"),
            ));
        }
        Ok(spec)
    }

    fn check_value(&self, spec: &FieldSpec, value: &Value, field: &str) -> Result<Checked, FieldError> {
        let value_type = spec.value_type.unwrap_or(ValueType::String);
        let wrong_type = || FieldError::new("wrong_type", field, format!("{field} must be {}", type_name(value_type)));
        let text = || value.as_str().ok_or_else(wrong_type);
        match value_type {
            ValueType::Email => text().and_then(|t| EmailAddress::parse(field, t)).map(Checked::Email),
            ValueType::Phone => text().and_then(|t| PhoneE164::parse(field, t, self.default_region)).map(Checked::Phone),
            ValueType::Timezone => text().and_then(|t| TimeZoneName::parse(field, t)).map(Checked::Timezone),
            ValueType::Language => text().and_then(|t| Language::parse(field, t)).map(Checked::Language),
            ValueType::Channel => text().and_then(|t| Channel::parse(field, t)).map(Checked::Channel),
            ValueType::Number => value.is_number().then(|| Checked::Json(value.clone())).ok_or_else(wrong_type),
            ValueType::Boolean => value.is_boolean().then(|| Checked::Json(value.clone())).ok_or_else(wrong_type),
            ValueType::Timestamp => {
                let ts = text()?.parse::<jiff::Timestamp>().map_err(|_| {
                    FieldError::new("invalid_timestamp", field, format!("{field} must be an RFC 3339 timestamp such as 2026-03-01T15:00:00Z"))
                })?;
                Ok(Checked::Json(Value::String(ts.to_string())))
            }
            ValueType::Date => {
                let date = text()?.parse::<jiff::civil::Date>().map_err(|_| FieldError::new("invalid_date", field, format!("{field} must be a calendar date such as 1984-03-01")))?;
                Ok(Checked::Json(Value::String(date.to_string())))
            }
            ValueType::String => {
                self.check_text(spec, text()?, field)?;
                Ok(Checked::Json(value.clone()))
            }
            ValueType::StringList => {
                let items = value.as_array().filter(|a| a.len() <= MAX_LIST).ok_or_else(wrong_type)?;
                for (i, item) in items.iter().enumerate() {
                    let item_field = format!("{field}[{i}]");
                    let t = item.as_str().ok_or_else(|| FieldError::new("wrong_type", &item_field, format!("{item_field} must be a string")))?;
                    self.check_text(spec, t, &item_field)?;
                }
                Ok(Checked::Json(value.clone()))
            }
        }
    }

    fn check_text(&self, spec: &FieldSpec, text: &str, field: &str) -> Result<(), FieldError> {
        if text.chars().count() > MAX_TEXT {
            return Err(FieldError::new("value_too_long", field, format!("{field} must be at most {MAX_TEXT} characters")));
        }
        match spec.class {
            DataClass::Coded => check_code(spec.code_prefix.as_deref().unwrap_or_default(), text, field),
            DataClass::NonPhi | DataClass::OperationalPhi => match health_terms::find(text) {
                Some(category) => Err(FieldError::new(
                    "health_term_in_free_text",
                    field,
                    format!("{field} contains a plaintext health term ({category}); send a code from the code vault instead"),
                )),
                None => Ok(()),
            },
            DataClass::Identifier | DataClass::SensitivePhi => Ok(()),
        }
    }
}

/// Whether a code body is opaque: digits, optionally after one capital letter (the shape
/// of ICD-10 categories), optionally followed by `.` or `-` and up to four letters or digits
/// (`457`, `E11.9`, `F32.A`, `1234-5`). A word with digits added (`HIV1`, `cancer123`,
/// `onOzempic`) never is.
pub fn opaque_code_body(body: &str) -> bool {
    let b = body.as_bytes();
    let mut i = usize::from(b.first().is_some_and(u8::is_ascii_uppercase));
    let digits_from = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits_from || body.len() > MAX_CODE_BODY {
        return false;
    }
    match b.get(i) {
        None => true,
        Some(b'.' | b'-') => {
            let rest = &b[i + 1..];
            (1..=4).contains(&rest.len()) && rest.iter().all(u8::is_ascii_alphanumeric)
        }
        Some(_) => false,
    }
}

/// Checks that `text` is `prefix` followed by an opaque code body such as `457` or `E11.9`.
pub fn check_code(prefix: &str, text: &str, field: &str) -> Result<(), FieldError> {
    let body = text.strip_prefix(prefix).unwrap_or_default();
    if opaque_code_body(body) && health_terms::find(body).is_none() {
        return Ok(());
    }
    Err(FieldError::new(
        "plaintext_in_coded_field",
        field,
        format!("{field} takes codes such as {prefix}457, never plaintext; map meanings in the code vault"),
    ))
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::String => "a string",
        ValueType::Number => "a number",
        ValueType::Boolean => "true or false",
        ValueType::Timestamp => "an RFC 3339 timestamp string",
        ValueType::Date => "a calendar date string such as 1984-03-01",
        ValueType::StringList => "a list of at most 100 strings",
        ValueType::Email => "an email address string",
        ValueType::Phone => "a phone number string",
        ValueType::Timezone => "an IANA time zone name string",
        ValueType::Language => "a language tag string",
        ValueType::Channel => "one of email, sms, push",
    }
}

fn clear(changes: &mut ProfileChanges, spec: &FieldSpec) {
    match (spec.name.as_str(), spec.class) {
        ("email", _) => changes.email = Change::Clear,
        ("phone", _) => changes.phone = Change::Clear,
        ("timezone", _) => changes.timezone = Change::Clear,
        ("language", _) => changes.language = Change::Clear,
        ("preferred_channel", _) => changes.preferred_channel = Change::Clear,
        (name, DataClass::Identifier) => {
            changes.identifiers.insert(name.to_owned(), None);
        }
        (name, _) => {
            changes.traits.insert(name.to_owned(), None);
        }
    }
}

fn set(changes: &mut ProfileChanges, spec: &FieldSpec, checked: Checked) {
    match (spec.name.as_str(), checked) {
        ("email", Checked::Email(e)) => changes.email = Change::Set(e),
        ("phone", Checked::Phone(p)) => changes.phone = Change::Set(p),
        ("timezone", Checked::Timezone(t)) => changes.timezone = Change::Set(t),
        ("language", Checked::Language(l)) => changes.language = Change::Set(l),
        ("preferred_channel", Checked::Channel(c)) => changes.preferred_channel = Change::Set(c),
        (name, checked) => {
            let value = match checked {
                Checked::Email(e) => Value::String(e.expose().to_owned()),
                Checked::Phone(p) => Value::String(p.expose().to_owned()),
                Checked::Timezone(t) => Value::String(t.as_str().to_owned()),
                Checked::Language(l) => Value::String(l.as_str().to_owned()),
                Checked::Channel(c) => Value::String(c.as_str().to_owned()),
                Checked::Json(v) => v,
            };
            if spec.class == DataClass::Identifier {
                changes.identifiers.insert(name.to_owned(), Some(Phi::new(value)));
            } else {
                changes.traits.insert(name.to_owned(), Some(value));
            }
        }
    }
}
