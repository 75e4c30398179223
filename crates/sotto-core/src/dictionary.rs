//! The data dictionary: every trait, event and event property is declared with a data class,
//! a value type and, for operational PHI, the message surfaces it may appear on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FieldError, path};
use crate::health_terms;

/// What a dictionary entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// A profile attribute set by `identify`.
    Trait,
    /// An event name used by `track`.
    Event,
    /// A property of a tracked event.
    Property,
}

/// How protected a field is; drives the firewall, templates and segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Not health information: membership tier, language, channel preference.
    NonPhi,
    /// Identifies a person (name, email, phone); encrypted at rest.
    Identifier,
    /// Needed to send useful messages, shown only on declared surfaces (appointment time).
    OperationalPhi,
    /// Health facts carried only as opaque codes such as `condition:457`.
    Coded,
    /// Never enters the messaging tier (diagnoses, results, prescriptions, billing).
    SensitivePhi,
}

/// A place where message text is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// The subject line of an email.
    EmailSubject,
    /// The preview (pre-header) text of an email.
    EmailPreview,
    /// The body of an email.
    EmailBody,
    /// A call-to-action label.
    Cta,
    /// The text of an SMS.
    SmsBody,
    /// The title of a push notification.
    PushTitle,
    /// The body of a push notification.
    PushBody,
}

impl Surface {
    /// Every surface.
    pub const ALL: [Surface; 7] =
        [Surface::EmailSubject, Surface::EmailPreview, Surface::EmailBody, Surface::Cta, Surface::SmsBody, Surface::PushTitle, Surface::PushBody];

    /// Reads a wire name.
    pub fn parse(raw: &str) -> Option<Surface> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The surfaces a message on `channel` has: the required ones, then the optional ones.
    pub fn of_channel(channel: crate::contact::Channel) -> (&'static [Surface], &'static [Surface]) {
        use crate::contact::Channel;
        match channel {
            Channel::Email => (&[Surface::EmailSubject, Surface::EmailBody], &[Surface::EmailPreview, Surface::Cta]),
            Channel::Sms => (&[Surface::SmsBody], &[]),
            Channel::Push => (&[Surface::PushTitle, Surface::PushBody], &[Surface::Cta]),
        }
    }

    /// Whether a message on `channel` has this surface.
    pub fn fits(self, channel: crate::contact::Channel) -> bool {
        let (required, optional) = Self::of_channel(channel);
        required.contains(&self) || optional.contains(&self)
    }

    /// The wire name, such as `push_title`.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::EmailSubject => "email_subject",
            Surface::EmailPreview => "email_preview",
            Surface::EmailBody => "email_body",
            Surface::Cta => "cta",
            Surface::SmsBody => "sms_body",
            Surface::PushTitle => "push_title",
            Surface::PushBody => "push_body",
        }
    }
}

/// The shape a field's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Free text.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An RFC 3339 timestamp.
    Timestamp,
    /// A calendar date such as `1984-03-01` (a birthday, a renewal date).
    Date,
    /// A list of strings (multi-valued).
    StringList,
    /// An email address.
    Email,
    /// A phone number, normalized to E.164.
    Phone,
    /// An IANA time zone name.
    Timezone,
    /// A language tag.
    Language,
    /// One of the messaging channels.
    Channel,
}

/// One declared field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// Trait, event or property.
    pub kind: FieldKind,
    /// The field's name as it appears in payloads.
    pub name: String,
    /// Its data class.
    pub class: DataClass,
    /// The value type (absent for events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<ValueType>,
    /// For coded fields, the code prefix such as `condition:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_prefix: Option<String>,
    /// For operational PHI, the surfaces it may appear on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surfaces: Vec<Surface>,
    /// What the field means, for people.
    #[serde(default)]
    pub description: String,
}

/// The effective dictionary: the shipped defaults plus the deployment's own declarations.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    fields: BTreeMap<(FieldKind, String), FieldSpec>,
}

impl Dictionary {
    /// Builds a dictionary from declarations; later ones never replace earlier ones.
    pub fn from_specs(specs: impl IntoIterator<Item = FieldSpec>) -> Self {
        let mut fields = BTreeMap::new();
        for spec in specs {
            fields.entry((spec.kind, spec.name.clone())).or_insert(spec);
        }
        Self { fields }
    }

    /// Adds one declaration; `false` when the name is already declared for that kind.
    pub fn insert(&mut self, spec: FieldSpec) -> bool {
        let key = (spec.kind, spec.name.clone());
        if self.fields.contains_key(&key) {
            return false;
        }
        self.fields.insert(key, spec);
        true
    }

    /// Looks a field up.
    pub fn get(&self, kind: FieldKind, name: &str) -> Option<&FieldSpec> {
        self.fields.get(&(kind, name.to_owned()))
    }

    /// Every declaration, ordered by kind and name.
    pub fn iter(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.values()
    }
}

const MAX_NAME: usize = 64;

/// Parses a declaration posted by a client, refusing incoherent ones.
///
/// A field whose name is itself a health term cannot be declared `non_phi` or
/// `operational_phi`: unclassified health data defaults to the most restrictive handling.
pub fn parse_field_spec(body: &Value) -> Result<FieldSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("invalid_type", "", "the body must be a JSON object")]);
    };
    errors.extend(crate::error::refuse_unknown(obj, &["kind", "name", "class", "value_type", "code_prefix", "surfaces", "description"], "", "a declaration"));
    let kind = enum_field::<FieldKind>(obj, "kind", "trait, event or property", &mut errors);
    let class = enum_field::<DataClass>(obj, "class", "non_phi, identifier, operational_phi, coded or sensitive_phi", &mut errors);
    let name = match obj.get("name").and_then(Value::as_str) {
        Some(n) if valid_name(n) => Some(n.to_owned()),
        _ => {
            errors.push(FieldError::new("invalid_name", "name", "name must be 1 to 64 lowercase letters, digits or underscores, starting with a letter"));
            None
        }
    };
    let value_type = match obj.get("value_type") {
        None | Some(Value::Null) => None,
        Some(_) => enum_field::<ValueType>(obj, "value_type", "a value type such as string or timestamp", &mut errors),
    };
    let code_prefix = obj.get("code_prefix").and_then(Value::as_str).map(str::to_owned);
    let surfaces = match obj.get("surfaces") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value::<Vec<Surface>>(v.clone()).unwrap_or_else(|_| {
            errors.push(FieldError::new("invalid_surface", "surfaces", "surfaces must be a list of email_subject, email_preview, email_body, cta, sms_body, push_title, push_body"));
            Vec::new()
        }),
    };
    let description = obj.get("description").and_then(Value::as_str).unwrap_or_default().to_owned();
    let (Some(kind), Some(class), Some(name)) = (kind, class, name) else {
        return Err(errors);
    };
    if kind != FieldKind::Event && value_type.is_none() && class != DataClass::SensitivePhi {
        errors.push(FieldError::new("missing_field", "value_type", "traits and properties need a value_type"));
    }
    if kind == FieldKind::Event && value_type.is_some() {
        errors.push(FieldError::new("invalid_declaration", "value_type", "events have no value_type"));
    }
    match (class, &code_prefix) {
        (DataClass::Coded, Some(p)) if valid_prefix(p) => {}
        (DataClass::Coded, _) => errors.push(FieldError::new("invalid_code_prefix", "code_prefix", "coded fields need a code_prefix of lowercase letters or underscores ending in ':', such as condition:")),
        (_, Some(_)) => errors.push(FieldError::new("invalid_declaration", "code_prefix", "only coded fields take a code_prefix")),
        _ => {}
    }
    if class != DataClass::OperationalPhi && !surfaces.is_empty() {
        errors.push(FieldError::new("invalid_declaration", "surfaces", "only operational_phi fields declare surfaces"));
    }
    if matches!(class, DataClass::NonPhi | DataClass::OperationalPhi) && health_terms::find(&name.replace('_', " ")).is_some() {
        errors.push(FieldError::new("health_term_in_name", "name", "this name reads as health information: declare it coded (with a code_prefix) or sensitive_phi"));
    }
    if errors.is_empty() {
        Ok(FieldSpec { kind, name, class, value_type, code_prefix, surfaces, description })
    } else {
        Err(errors)
    }
}

fn enum_field<T: for<'de> Deserialize<'de>>(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    expected: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let parsed = obj.get(key).and_then(|v| serde_json::from_value::<T>(v.clone()).ok());
    if parsed.is_none() {
        errors.push(FieldError::new("invalid_value", path("", key), format!("{key} must be {expected}")));
    }
    parsed
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_prefix(prefix: &str) -> bool {
    prefix.len() >= 2
        && prefix.ends_with(':')
        && prefix[..prefix.len() - 1].chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::Channel;

    #[test]
    fn every_surface_round_trips_through_its_wire_name_and_belongs_to_a_channel() {
        for surface in Surface::ALL {
            assert_eq!(Surface::parse(surface.as_str()), Some(surface));
            assert_eq!(serde_json::to_value(surface).expect("json"), surface.as_str());
            assert!([Channel::Email, Channel::Sms, Channel::Push].into_iter().any(|c| surface.fits(c)), "{surface:?}");
        }
        assert_eq!(Surface::parse("banner"), None);
        assert!(!Surface::SmsBody.fits(Channel::Push) && Surface::Cta.fits(Channel::Push) && !Surface::Cta.fits(Channel::Sms));
    }
}
