//! The shipped default dictionary, following the field guide's three buckets: non-PHI,
//! operational PHI and sensitive PHI, plus identifiers and coded health facts.

use crate::dictionary::{DataClass, Dictionary, FieldKind, FieldSpec, Surface, ValueType};

use DataClass::{Coded, Identifier, NonPhi, OperationalPhi, SensitivePhi};
use FieldKind::{Event, Property, Trait};
use Surface::{EmailBody, EmailSubject, PushBody, SmsBody};

/// Names that are refused by name, as traits and as event properties: the categories a
/// messaging vendor's BAA excludes (diagnoses, records, images, billing, insurance, results,
/// prescriptions, genetic, STI, substance use and mental health information).
pub const SENSITIVE_NAMES: &[&str] = &[
    "diagnosis", "diagnoses", "diagnosis_code", "condition_name", "medical_record", "medical_history",
    "medical_image", "imaging", "lab_result", "lab_results", "test_result", "test_results",
    "prescription", "prescriptions", "medication", "medications", "dosage", "allergies",
    "procedure", "procedures", "treatment_plan", "clinical_notes", "notes", "reason_for_visit",
    "insurance_id", "insurance_provider", "insurance_member_id", "billing_amount", "billing_code",
    "balance_due", "genetic_test", "genetic_information", "sti_status", "hiv_status",
    "substance_use", "mental_health", "psychiatric_history", "pregnancy_status", "ssn",
];

fn field(kind: FieldKind, name: &str, class: DataClass, value_type: Option<ValueType>, description: &str) -> FieldSpec {
    FieldSpec {
        kind,
        name: name.to_owned(),
        class,
        value_type,
        code_prefix: None,
        surfaces: Vec::new(),
        description: description.to_owned(),
    }
}

fn shown_on(mut spec: FieldSpec, surfaces: &[Surface]) -> FieldSpec {
    spec.surfaces = surfaces.to_vec();
    spec
}

fn coded(mut spec: FieldSpec, prefix: &str) -> FieldSpec {
    spec.code_prefix = Some(prefix.to_owned());
    spec
}

/// The declarations every deployment starts with.
pub fn default_specs() -> Vec<FieldSpec> {
    let mut specs = vec![
        field(Trait, "email", Identifier, Some(ValueType::Email), "email address"),
        field(Trait, "phone", Identifier, Some(ValueType::Phone), "mobile phone number, stored in E.164 form"),
        field(Trait, "first_name", Identifier, Some(ValueType::String), "given name"),
        field(Trait, "last_name", Identifier, Some(ValueType::String), "family name"),
        field(Trait, "birth_date", Identifier, Some(ValueType::Date), "date of birth"),
        field(Trait, "address", Identifier, Some(ValueType::String), "postal address, one line"),
        field(Trait, "push_tokens", Identifier, Some(ValueType::StringList), "device tokens for push notifications"),
        field(Trait, "email_verified", NonPhi, Some(ValueType::Boolean), "whether the email address was verified"),
        field(Trait, "phone_verified", NonPhi, Some(ValueType::Boolean), "whether the phone number was verified"),
        field(Trait, "timezone", NonPhi, Some(ValueType::Timezone), "IANA time zone, for quiet hours and local-time sends"),
        field(Trait, "language", NonPhi, Some(ValueType::Language), "preferred language"),
        field(Trait, "preferred_channel", NonPhi, Some(ValueType::Channel), "preferred channel: email, sms or push"),
        field(Trait, "status", NonPhi, Some(ValueType::String), "account status such as active or inactive"),
        field(Trait, "membership_tier", NonPhi, Some(ValueType::String), "membership or loyalty tier"),
        field(Trait, "state_of_residence", NonPhi, Some(ValueType::String), "US state or territory code, for state messaging rules"),
        field(Trait, "app_last_opened_at", NonPhi, Some(ValueType::Timestamp), "last time the patient opened the app"),
        field(Trait, "care_status", OperationalPhi, Some(ValueType::String), "general care status; drives branching, never shown"),
        coded(field(Trait, "conditions", Coded, Some(ValueType::StringList), "condition codes; meanings live in the code vault"), "condition:"),
        field(Event, "appointment_booked", OperationalPhi, None, "an appointment was booked"),
        field(Event, "appointment_rescheduled", OperationalPhi, None, "an appointment moved to a new time"),
        field(Event, "appointment_cancelled", OperationalPhi, None, "an appointment was cancelled"),
        field(Event, "appointment_confirmed", OperationalPhi, None, "the patient confirmed an appointment"),
        field(Event, "appointment_completed", OperationalPhi, None, "an appointment took place"),
        field(Event, "appointment_no_show", OperationalPhi, None, "the patient did not attend an appointment"),
        field(Event, "appointment_arrived", OperationalPhi, None, "the patient arrived or checked in for an appointment"),
        field(Event, "appointment_reschedule_requested", OperationalPhi, None, "the patient asked to reschedule an appointment (a reply or a portal link)"),
        field(Event, "sms_reply_received", NonPhi, None, "the patient replied to a text; the reply's words are never kept"),
        field(Event, "annual_checkup", OperationalPhi, None, "an annual check-up took place"),
        field(Event, "app_opened", NonPhi, None, "the patient opened the app"),
        field(Event, "page_viewed", NonPhi, None, "a page view sent as a Segment page call (its name is not kept)"),
        field(Event, "screen_viewed", NonPhi, None, "a screen view sent as a Segment screen call (its name is not kept)"),
        field(Event, "newsletter_signup", NonPhi, None, "the patient signed up for the newsletter"),
        field(Property, "appointment_id", OperationalPhi, Some(ValueType::String), "the scheduling system's appointment id"),
        shown_on(
            field(Property, "appointment_start", OperationalPhi, Some(ValueType::Timestamp), "when the appointment starts"),
            &[EmailSubject, EmailBody, SmsBody, PushBody],
        ),
        shown_on(
            field(Property, "previous_start", OperationalPhi, Some(ValueType::Timestamp), "the start time before a reschedule"),
            &[EmailBody, SmsBody],
        ),
        coded(field(Property, "appointment_type", Coded, Some(ValueType::String), "coded appointment type; drives branching only"), "appt_type:"),
        shown_on(
            field(Property, "provider_first_name", OperationalPhi, Some(ValueType::String), "the provider's first name"),
            &[EmailBody, SmsBody],
        ),
        field(Property, "location_id", NonPhi, Some(ValueType::String), "opaque id of the practice location"),
        field(Property, "first_visit", NonPhi, Some(ValueType::Boolean), "whether this is the patient's first visit"),
    ];
    for name in SENSITIVE_NAMES {
        for kind in [Trait, Property] {
            specs.push(field(kind, name, SensitivePhi, None, "sensitive PHI: refused by the messaging tier"));
        }
    }
    specs
}

/// The default dictionary.
pub fn default_dictionary() -> Dictionary {
    Dictionary::from_specs(default_specs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_dictionary_declares_what_the_field_guide_names() {
        let d = default_dictionary();
        assert_eq!(d.get(Trait, "status").map(|f| f.class), Some(NonPhi));
        assert_eq!(d.get(Trait, "conditions").and_then(|f| f.code_prefix.as_deref()), Some("condition:"));
        assert_eq!(d.get(Property, "appointment_type").and_then(|f| f.code_prefix.as_deref()), Some("appt_type:"));
        assert_eq!(d.get(Property, "appointment_start").map(|f| f.class), Some(OperationalPhi));
        assert_eq!(d.get(Property, "first_visit").map(|f| f.class), Some(NonPhi));
        for event in ["appointment_booked", "appointment_rescheduled", "appointment_cancelled", "appointment_confirmed", "appointment_completed", "annual_checkup"] {
            assert!(d.get(Event, event).is_some(), "{event}");
        }
        for name in ["diagnosis", "lab_result", "prescription", "medication", "insurance_id", "billing_amount"] {
            assert_eq!(d.get(Property, name).map(|f| f.class), Some(SensitivePhi), "{name}");
            assert_eq!(d.get(Trait, name).map(|f| f.class), Some(SensitivePhi), "{name}");
        }
    }
}
