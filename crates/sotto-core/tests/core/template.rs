//! Templates: what static analysis refuses and allows, and the lint at render time.

use proptest::prelude::*;
use serde_json::json;

use sotto_core::default_dictionary::default_dictionary;
use sotto_core::dictionary::{DataClass, Surface};
use sotto_core::template::{RenderError, TemplateContent, analyze, parse_content, render};

fn sms(body: &str) -> TemplateContent {
    parse_content(&json!({"channel": "sms", "surfaces": {"sms_body": body}})).expect("content")
}

fn codes(content: &TemplateContent) -> Vec<&'static str> {
    match analyze(content, &default_dictionary()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.code).collect(),
    }
}

#[test]
fn a_compliant_reminder_passes_and_lists_what_each_surface_shows() {
    let content = sms("Hi {{ patient.first_name }}, reminder: you have an appointment {{ event.appointment_start | when(patient.timezone) }}. Reply C to confirm.");
    let analysis = analyze(&content, &default_dictionary()).expect("passes");
    let shown: Vec<(&str, DataClass, bool)> = analysis.variables.iter().map(|v| (v.variable.as_str(), v.class, v.shown)).collect();
    assert_eq!(
        shown,
        [("event.appointment_start", DataClass::OperationalPhi, true), ("patient.first_name", DataClass::Identifier, true), ("patient.timezone", DataClass::NonPhi, true)]
    );
}

#[test]
fn a_sensitive_variable_is_refused_even_when_it_only_steers_a_branch() {
    assert_eq!(codes(&sms("{{ patient.diagnosis }}")), ["sensitive_variable"]);
    assert_eq!(codes(&sms("{% if patient.lab_results %}You have news{% endif %}")), ["sensitive_variable"]);
    assert_eq!(codes(&sms("{% set x = event.prescription %}Hello")), ["sensitive_variable"]);
}

#[test]
fn operational_phi_is_shown_only_on_the_surfaces_the_dictionary_allows() {
    let push = |title: &str| parse_content(&json!({"channel": "push", "surfaces": {"push_title": title, "push_body": "Tap to view."}})).expect("content");
    assert_eq!(codes(&push("Visit {{ event.appointment_start }}")), ["surface_not_allowed"]);
    assert_eq!(codes(&push("{% if patient.care_status == \"active\" %}Welcome back{% else %}Hello{% endif %}")), Vec::<&str>::new());
    assert_eq!(codes(&sms("Status: {{ patient.care_status }}")), ["surface_not_allowed"]);
}

#[test]
fn a_coded_value_is_never_shown_as_text_however_it_is_reached() {
    assert_eq!(codes(&sms("{{ patient.conditions }}")), ["coded_as_text"]);
    assert_eq!(codes(&sms("{% for c in patient.conditions %}{{ c }}{% endfor %}")), ["coded_as_text"]);
    assert_eq!(codes(&sms("{% set t = event.appointment_type %}Type {{ t | upper }}")), ["coded_as_text"]);
    assert_eq!(codes(&sms("{% if \"condition:214\" in patient.conditions %}See you soon{% endif %}")), Vec::<&str>::new());
}

#[test]
fn literal_text_is_linted_with_offsets_into_the_source() {
    let content = sms("Hi {{ patient.first_name }}, your oncology visit is soon.");
    let errors = analyze(&content, &default_dictionary()).expect_err("blocked");
    assert_eq!(errors[0].code, "health_term");
    assert_eq!(errors[0].field, "surfaces.sms_body");
    let start = content.surfaces[&Surface::SmsBody].find("oncology").expect("present");
    assert!(errors[0].message.contains(&format!("bytes {start}..{}", start + 8)), "{}", errors[0].message);
}

#[test]
fn a_quoted_string_is_linted_like_literal_text() {
    let content = sms("Hi, see {{ \"your oncology team\" }} soon. {% set t = 'chemo' %}{{ t }}");
    let errors = analyze(&content, &default_dictionary()).expect_err("blocked");
    let source = &content.surfaces[&Surface::SmsBody];
    let (oncology, chemo) = (source.find("oncology team").expect("present"), source.find("chemo").expect("present"));
    assert_eq!(errors.iter().map(|e| e.code).collect::<Vec<_>>(), ["health_term", "health_term"]);
    assert!(errors[0].message.contains(&format!("bytes {oncology}..{}", oncology + 13)), "{}", errors[0].message);
    assert!(errors[1].message.contains(&format!("bytes {chemo}..{}", chemo + 5)), "{}", errors[1].message);
}

#[test]
fn unknown_undeclared_dynamic_and_unsupported_constructs_are_refused() {
    assert_eq!(codes(&sms("{{ secret }}")), ["unknown_variable"]);
    assert_eq!(codes(&sms("{{ patient.favourite_colour }}")), ["undeclared_variable"]);
    assert_eq!(codes(&sms("{{ patient[\"first_name\"] }}")), ["dynamic_access"]);
    assert_eq!(codes(&sms("{% include \"other\" %}")), ["unsupported_tag"]);
    assert_eq!(codes(&sms("{% macro m() %}x{% endmacro %}")), ["unsupported_tag", "unsupported_tag"]);
    assert_eq!(codes(&sms("{% if x %}unclosed")), ["unknown_variable", "template_syntax"]);
    assert_eq!(codes(&sms("{{ unclosed")), ["template_syntax"]);
    assert_eq!(codes(&sms("{% set patient = clinic.name %}{{ patient.diagnosis }}")), ["unsupported_tag", "sensitive_variable"]);
}

#[test]
fn a_channel_needs_its_surfaces_and_only_its_surfaces() {
    let err = parse_content(&json!({"channel": "email", "surfaces": {"email_subject": "Hello"}})).expect_err("no body");
    assert_eq!((err.code, err.field.as_str()), ("missing_field", "surfaces.email_body"));
    let err = parse_content(&json!({"channel": "sms", "surfaces": {"sms_body": "Hi", "push_title": "Hi"}})).expect_err("wrong surface");
    assert_eq!((err.code, err.field.as_str()), ("invalid_surface", "surfaces.push_title"));
}

#[test]
fn rendering_escapes_html_in_email_and_formats_times_in_the_patients_zone() {
    let content = parse_content(&json!({"channel": "email", "surfaces": {
        "email_subject": "Your upcoming appointment",
        "email_body": "<p>Hi {{ patient.first_name }}, see you {{ event.appointment_start | when(patient.timezone) }}.</p>"
    }}))
    .expect("content");
    let context = json!({"patient": {"first_name": "<b>Ana</b>", "timezone": "America/Chicago"}, "event": {"appointment_start": "2026-12-04T21:00:00Z"}});
    let rendered = render(&content, &context).expect("renders");
    assert_eq!(rendered.surfaces[&Surface::EmailBody], "<p>Hi &lt;b&gt;Ana&lt;&#x2f;b&gt;, see you Friday, December 4 at 3:00 PM.</p>");
}

#[test]
fn a_value_cannot_smuggle_a_health_term_into_a_rendered_message() {
    let content = sms("Reminder: your visit with {{ event.provider_first_name }} is tomorrow.");
    analyze(&content, &default_dictionary()).expect("the template itself passes");
    let context = json!({"event": {"provider_first_name": "the Oncology team"}});
    match render(&content, &context) {
        Err(RenderError::Blocked { surface, findings }) => {
            assert_eq!(surface, Surface::SmsBody);
            assert_eq!(findings[0].category, "specialty");
        }
        other => panic!("expected a block, got {other:?}"),
    }
    let context = json!({"event": {"provider_first_name": "Maria"}});
    assert_eq!(render(&content, &context).expect("renders").surfaces[&Surface::SmsBody], "Reminder: your visit with Maria is tomorrow.");
}

#[test]
fn a_sealed_link_token_that_happens_to_spell_a_health_term_does_not_block_but_the_rest_of_a_link_is_linted() {
    let content = parse_content(&json!({"channel": "email", "surfaces": {
        "email_subject": "Your appointment",
        "email_body": "<p>See you soon.</p><p><a href=\"{{ links.unsubscribe }}\">Unsubscribe</a></p>"
    }}))
    .expect("content");
    let token = "q7HIV-xKx2AIDS_Zcancer9pp3Lw";
    let context = json!({"links": {"unsubscribe": format!("https://engage.clinic.example/u/{token}")}});
    let rendered = render(&content, &context).expect("a random token is not health information");
    assert!(rendered.surfaces[&Surface::EmailBody].contains(token), "the link itself is unchanged");
    let context = json!({"links": {"unsubscribe": format!("https://hiv-care.example/u/{token}")}});
    assert!(matches!(render(&content, &context), Err(RenderError::Blocked { .. })), "the host name is still linted");
}

#[test]
fn a_runaway_loop_stops_instead_of_hanging_a_worker() {
    let content = sms("{% for i in range(1000000) %}x{% endfor %}");
    assert!(matches!(render(&content, &json!({})), Err(RenderError::Failed { .. })));
}

proptest! {
    #[test]
    fn analysis_never_panics_on_any_source(source in "\\PC{0,200}") {
        let _ = analyze(&sms_or_default(&source), &default_dictionary());
    }
}

fn sms_or_default(body: &str) -> TemplateContent {
    parse_content(&json!({"channel": "sms", "surfaces": {"sms_body": body}})).unwrap_or_else(|_| sms("x"))
}

fn bilingual(spanish: serde_json::Value) -> Result<TemplateContent, sotto_core::FieldError> {
    parse_content(&json!({"channel": "sms", "language": "en", "surfaces": {"sms_body": "Reminder: appointment {{ event.appointment_start | when(patient.timezone) }}."}, "variants": {"es": spanish}}))
}

#[test]
fn a_reader_gets_the_variant_of_their_language_or_its_primary_language_or_the_default() {
    let content = bilingual(json!({"sms_body": "Recordatorio: cita el {{ event.appointment_start | when(patient.timezone, \"es\") }}"})).expect("content");
    assert_eq!(content.language_for(Some("es")), "es");
    assert_eq!(content.language_for(Some("es-MX")), "es", "Mexican Spanish reads the Spanish variant");
    assert_eq!(content.language_for(Some("fr")), "en", "no French variant: the default");
    assert_eq!(content.language_for(None), "en");
    let event = json!({"patient": {"timezone": "America/Chicago"}, "event": {"appointment_start": "2026-03-06T21:00:00Z"}});
    let spanish = render(&content.in_language(Some("es-mx")), &event).expect("renders");
    assert_eq!(spanish.surfaces[&Surface::SmsBody], "Recordatorio: cita el viernes 6 de marzo a las 3:00 p. m.");
    let english = render(&content.in_language(Some("fr")), &event).expect("renders");
    assert_eq!(english.surfaces[&Surface::SmsBody], "Reminder: appointment Friday, March 6 at 3:00 PM.");
}

#[test]
fn every_variant_is_checked_like_the_default_and_errors_name_the_variants_field() {
    let missing = bilingual(json!({})).expect_err("refused");
    assert_eq!((missing.code, missing.field.as_str()), ("missing_field", "variants.es.sms_body"));
    let tag = parse_content(&json!({"channel": "sms", "surfaces": {"sms_body": "Hi"}, "variants": {"not a tag": {"sms_body": "Hola"}}})).expect_err("refused");
    assert_eq!((tag.code, tag.field.as_str()), ("invalid_language", "variants"));
    let twice = parse_content(&json!({"channel": "sms", "surfaces": {"sms_body": "Hi"}, "variants": {"EN": {"sms_body": "Hi"}}})).expect_err("refused");
    assert_eq!(twice.code, "duplicate_language");
    let leaky = bilingual(json!({"sms_body": "Su cita de seguimiento del cancer es el {{ event.appointment_start | when(patient.timezone, \"es\") }}."})).expect("parses");
    let errors = analyze(&leaky, &default_dictionary()).expect_err("the Spanish variant reveals a condition");
    assert!(errors.iter().any(|e| e.code == "health_term" && e.field == "variants.es.sms_body"), "{errors:?}");
}
