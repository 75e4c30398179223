//! HIPAA marketing authorizations (45 CFR 164.508(c)): parsing that names every missing core
//! element and required statement, and validity at a point in time.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::{Map, Value};

/// When an authorization ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// At an instant.
    At(Timestamp),
    /// At the end of a date in the patient's local time (honored through that whole day).
    On(Date),
    /// When an event tied to the patient or purpose occurs (needs manual review).
    Event(String),
}

/// A complete authorization as posted: every core element and statement present.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthorizationForm {
    /// What information may be used or disclosed.
    pub description_of_information: String,
    /// Who may make the use or disclosure.
    pub disclosed_by: String,
    /// Who may receive it.
    pub recipients: Vec<String>,
    /// Each purpose.
    pub purpose: String,
    /// The expiration date or event.
    pub expiry: Expiry,
    /// When it was signed.
    pub signed_at: Timestamp,
    /// The signature (typed name or signature evidence); PHI, kept sealed.
    pub signature: String,
    /// When a personal representative signed, their authority.
    pub representative_authority: Option<String>,
    /// Whether a third party pays (remunerated marketing), and the statement saying so.
    pub remuneration_involved: bool,
    /// The remuneration statement shown to the patient.
    pub remuneration_disclosure: Option<String>,
    /// The version of the form text the patient saw.
    pub form_version: String,
}

/// Why an authorization cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Usable.
    Valid,
    /// Past its expiration.
    Expired,
    /// Revoked by the patient.
    Revoked,
    /// Signed after the moment asked about.
    NotYetSigned,
}

/// What the gate needs to know of an authorization (no PHI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationSummary {
    /// Its id.
    pub id: String,
    /// When it was signed.
    pub signed_at: Timestamp,
    /// When it ends.
    pub expiry: Expiry,
    /// Whether it states that remuneration is involved.
    pub remuneration_disclosed: bool,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

impl AuthorizationSummary {
    /// Validity at `now`. A date expiry is honored through the end of that date in every
    /// candidate time zone, so the earliest-ending zone decides (REQ-117).
    pub fn validity(&self, now: Timestamp, zones: &[TimeZone]) -> Validity {
        if self.revoked_at.is_some_and(|r| r <= now) {
            return Validity::Revoked;
        }
        if self.signed_at > now {
            return Validity::NotYetSigned;
        }
        let expired = match &self.expiry {
            Expiry::At(t) => now >= *t,
            Expiry::On(date) => zones.iter().any(|tz| {
                date.tomorrow().ok().and_then(|d| d.to_zoned(tz.clone()).ok()).is_none_or(|end| now >= end.timestamp())
            }),
            Expiry::Event(_) => false,
        };
        if expired { Validity::Expired } else { Validity::Valid }
    }
}

fn nonempty(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Parses a posted authorization. On failure returns every missing or malformed element by
/// name (REQ-111, REQ-112, REQ-113), so one answer says everything to fix.
pub fn parse_authorization(body: &Value) -> Result<AuthorizationForm, Vec<String>> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let mut missing = Vec::new();
    let mut need = |key: &str| {
        let v = nonempty(obj, key);
        if v.is_none() {
            missing.push(key.to_owned());
        }
        v
    };
    let description = need("description_of_information");
    let disclosed_by = need("disclosed_by");
    let purpose = need("purpose");
    let signature = need("signature");
    let form_version = need("form_version");
    let recipients: Vec<String> = obj
        .get("recipients")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    if recipients.is_empty() {
        missing.push("recipients".into());
    }
    let expiry = match (nonempty(obj, "expires_at"), nonempty(obj, "expiration_event")) {
        (Some(t), _) => match (t.parse::<Timestamp>(), t.parse::<Date>()) {
            (Ok(ts), _) => Some(Expiry::At(ts)),
            (_, Ok(d)) => Some(Expiry::On(d)),
            _ => {
                missing.push("expires_at".into());
                None
            }
        },
        // The event is shown back with the authorization: it names a moment, never a condition.
        (None, Some(event)) if event.len() > 200 || crate::health_terms::find(&event).is_some() => {
            missing.push("expiration_event (at most 200 characters, without health information: name a moment such as \"the end of the program\")".into());
            None
        }
        (None, Some(event)) => Some(Expiry::Event(event)),
        (None, None) => {
            missing.push("expires_at_or_expiration_event".into());
            None
        }
    };
    let signed_at = nonempty(obj, "signed_at").and_then(|t| t.parse::<Timestamp>().ok());
    if signed_at.is_none() {
        missing.push("signed_at".into());
    }
    let representative = obj.get("signed_by_representative").and_then(Value::as_bool).unwrap_or(false);
    let representative_authority = nonempty(obj, "representative_authority");
    if representative && representative_authority.is_none() {
        missing.push("representative_authority".into());
    }
    let statements = obj.get("statements").and_then(Value::as_object).unwrap_or(&empty);
    for statement in ["right_to_revoke", "conditioning", "redisclosure"] {
        if statements.get(statement) != Some(&Value::Bool(true)) {
            missing.push(format!("statements.{statement}"));
        }
    }
    let remuneration = obj.get("remuneration").and_then(Value::as_object).unwrap_or(&empty);
    let involved = remuneration.get("involved").and_then(Value::as_bool);
    if involved.is_none() {
        missing.push("remuneration.involved".into());
    }
    let disclosure = nonempty(remuneration, "disclosure");
    if involved == Some(true) && disclosure.is_none() {
        missing.push("remuneration.disclosure".into());
    }
    match (description, disclosed_by, purpose, signature, form_version, expiry, signed_at, involved) {
        (Some(d), Some(by), Some(p), Some(sig), Some(form), Some(expiry), Some(signed_at), Some(involved)) if missing.is_empty() => Ok(AuthorizationForm {
            description_of_information: d,
            disclosed_by: by,
            recipients,
            purpose: p,
            expiry,
            signed_at,
            signature: sig,
            representative_authority,
            remuneration_involved: involved,
            remuneration_disclosure: disclosure.filter(|_| involved),
            form_version: form,
        }),
        _ => Err(missing),
    }
}

/// A version of the authorization form text: the plain-language text and the three required
/// statement blocks (REQ-112), in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormText {
    /// The version name authorizations refer to, such as `mkt-auth-v2`.
    pub version: String,
    /// The language of this text.
    pub language: String,
    /// The form's body text.
    pub text: String,
    /// The right to revoke in writing, and how.
    pub right_to_revoke: String,
    /// That treatment, payment, enrollment or eligibility is not conditioned on signing.
    pub conditioning: String,
    /// That disclosed information may be redisclosed and lose protection.
    pub redisclosure: String,
}

/// Parses a form version; every missing part is named.
pub fn parse_form_text(body: &Value) -> Result<FormText, Vec<String>> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let statements = obj.get("statements").and_then(Value::as_object).unwrap_or(&empty);
    let mut missing = Vec::new();
    let mut need = |map: &Map<String, Value>, key: &str, name: &str| {
        let v = nonempty(map, key);
        if v.is_none() {
            missing.push(name.to_owned());
        }
        v.unwrap_or_default()
    };
    let version = need(obj, "version", "version");
    let language = need(obj, "language", "language");
    let text = need(obj, "text", "text");
    let right_to_revoke = need(statements, "right_to_revoke", "statements.right_to_revoke");
    let conditioning = need(statements, "conditioning", "statements.conditioning");
    let redisclosure = need(statements, "redisclosure", "statements.redisclosure");
    let version_ok = version.len() <= 64 && version.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !version.is_empty() && !version_ok {
        missing.push("version".into());
    }
    if missing.is_empty() { Ok(FormText { version, language, text, right_to_revoke, conditioning, redisclosure }) } else { Err(missing) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn complete() -> Value {
        json!({
            "description_of_information": "appointment history and condition codes",
            "disclosed_by": "Riverside Clinic", "recipients": ["Riverside Clinic marketing office"],
            "purpose": "information about our wellness programs", "expires_at": "2026-06-30",
            "signed_at": "2026-01-10T15:00:00Z", "signature": "typed: A. Diaz",
            "statements": {"right_to_revoke": true, "conditioning": true, "redisclosure": true},
            "remuneration": {"involved": false}, "form_version": "mkt-auth-v2"
        })
    }

    #[test]
    fn a_complete_authorization_parses() {
        let form = parse_authorization(&complete()).expect("complete");
        assert_eq!(form.expiry, Expiry::On("2026-06-30".parse().expect("date")));
    }

    #[test]
    fn every_missing_element_is_named() {
        let missing = parse_authorization(&json!({"remuneration": {"involved": true}})).expect_err("empty");
        for element in [
            "description_of_information", "disclosed_by", "purpose", "signature", "form_version", "recipients",
            "expires_at_or_expiration_event", "signed_at", "statements.right_to_revoke", "statements.conditioning",
            "statements.redisclosure", "remuneration.disclosure",
        ] {
            assert!(missing.contains(&element.to_owned()), "{element} not named in {missing:?}");
        }
        let mut partial = complete();
        partial["statements"]["redisclosure"] = json!(false);
        partial["recipients"] = json!([" "]);
        assert_eq!(parse_authorization(&partial).expect_err("partial"), ["recipients", "statements.redisclosure"]);
    }

    #[test]
    fn a_form_version_without_all_three_statements_is_refused() {
        let form = json!({"version": "mkt-auth-v2", "language": "en", "text": "I agree that…",
            "statements": {"right_to_revoke": "You may revoke…", "conditioning": "Your care does not depend…"}});
        assert_eq!(parse_form_text(&form).expect_err("missing"), ["statements.redisclosure"]);
    }

    #[test]
    fn a_date_expiry_is_honored_through_that_local_day_and_not_after() {
        let form = parse_authorization(&complete()).expect("complete");
        let summary = AuthorizationSummary { id: "a".into(), signed_at: form.signed_at, expiry: form.expiry, remuneration_disclosed: false, revoked_at: None };
        let chicago = [TimeZone::get("America/Chicago").expect("tz")];
        assert_eq!(summary.validity("2026-07-01T04:59:59Z".parse().expect("t"), &chicago), Validity::Valid);
        assert_eq!(summary.validity("2026-07-01T05:00:00Z".parse().expect("t"), &chicago), Validity::Expired);
        let revoked = AuthorizationSummary { revoked_at: Some("2026-03-01T00:00:00Z".parse().expect("t")), ..summary };
        assert_eq!(revoked.validity("2026-03-01T00:00:00Z".parse().expect("t"), &chicago), Validity::Revoked);
    }
}
