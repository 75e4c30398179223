//! Contact and locale newtypes: E.164 phone numbers, email addresses, IANA time zones,
//! languages and channels, each built only by parsing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::phi::Phi;

/// A phone number normalized to E.164 (`+15551234567`). The digits are PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneE164(Phi<String>);

impl PhoneE164 {
    /// Parses a number, reading national formats in `default_region` (an ISO 3166 code such as `US`).
    pub fn parse(field: &str, raw: &str, default_region: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                "invalid_phone",
                field,
                format!("{field} must be a valid phone number, preferably in E.164 form such as +15551234567"),
            )
        };
        let region = default_region.parse::<phonenumber::country::Id>().ok();
        let number = phonenumber::parse(region, raw.trim()).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        Ok(Self(Phi::new(e164)))
    }

    /// Re-creates a number that was stored after parsing.
    pub fn from_stored(e164: String) -> Self {
        Self(Phi::new(e164))
    }

    /// The E.164 text.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The number with all but the last two digits hidden: `+1*******67`.
    pub fn masked(&self) -> String {
        let digits = self.expose();
        let keep = 2.min(digits.len());
        let (head, tail) = digits.split_at(digits.len() - keep);
        let mut out = String::with_capacity(digits.len());
        for (i, c) in head.chars().enumerate() {
            out.push(if i < 2 { c } else { '*' });
        }
        out.push_str(tail);
        out
    }
}

/// An email address in `local@domain.tld` form (no display names, no dotless domains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(Phi<String>);

impl EmailAddress {
    /// Parses an address; the domain is lower-cased.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                "invalid_email",
                field,
                format!("{field} must be a plain address such as name@example.org"),
            )
        };
        let raw = raw.trim();
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal();
        let parsed = email_address::EmailAddress::parse_with_options(raw, options).map_err(|_| invalid())?;
        let domain = parsed.domain();
        let labels_ok = domain.split('.').all(|l| !l.is_empty());
        if !domain.contains('.') || !labels_ok || raw.len() > 254 {
            return Err(invalid());
        }
        Ok(Self(Phi::new(format!("{}@{}", parsed.local_part(), domain.to_ascii_lowercase()))))
    }

    /// Re-creates an address that was stored after parsing.
    pub fn from_stored(address: String) -> Self {
        Self(Phi::new(address))
    }

    /// The address text.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The form used for exact-match lookups (blind index input): fully lower-cased.
    pub fn lookup_key(&self) -> String {
        self.expose().to_lowercase()
    }

    /// The address with the local part and domain name hidden: `j***@e***.org`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.expose().split_once('@').unwrap_or(("", ""));
        let (name, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
        format!("{}***@{}***.{}", first(local), first(name), tld)
    }
}

/// An IANA time zone name that the bundled time zone database knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    /// Parses a time zone name such as `America/Chicago`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        match jiff::tz::TimeZone::get(raw) {
            Ok(_) if !raw.is_empty() => Ok(Self(raw.to_owned())),
            _ => Err(FieldError::new(
                "invalid_timezone",
                field,
                format!("{field} must be an IANA time zone name such as America/New_York"),
            )),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A language tag such as `en` or `es-MX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Language(String);

impl Language {
    /// Parses a simple BCP 47 tag: a 2–3 letter language and optional subtags.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let mut parts = raw.split('-');
        let lang = parts.next().unwrap_or_default();
        let lang_ok = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_alphabetic());
        let rest: Vec<&str> = parts.collect();
        let rest_ok = rest
            .iter()
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !lang_ok || !rest_ok {
            return Err(FieldError::new(
                "invalid_language",
                field,
                format!("{field} must be a language tag such as en or es-MX"),
            ));
        }
        let mut tag = lang.to_ascii_lowercase();
        for part in rest {
            tag.push('-');
            if part.len() == 2 { tag.push_str(&part.to_ascii_uppercase()) } else { tag.push_str(part) }
        }
        Ok(Self(tag))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A messaging channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email over SMTP.
    Email,
    /// SMS text messages.
    Sms,
    /// Mobile push notifications.
    Push,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    /// Parses `email`, `sms` or `push`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw).ok_or_else(|| {
            FieldError::new("invalid_channel", field, format!("{field} must be one of email, sms, push"))
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalized_to_e164_and_invalid_numbers_are_refused() {
        let p = PhoneE164::parse("traits.phone", "(312) 555-0142", "US");
        // 555-01xx numbers are fictional but structurally valid in the North American plan.
        let p = p.or_else(|_| PhoneE164::parse("traits.phone", "+1 312 253 0142", "US")).expect("valid");
        assert!(p.expose().starts_with("+1312"));
        assert_eq!(PhoneE164::parse("traits.phone", "+44 20 7946 0958", "US").expect("uk").expose(), "+442079460958");
        for bad in ["12", "not a phone", "+1 000 000 0000", ""] {
            assert_eq!(PhoneE164::parse("traits.phone", bad, "US").expect_err(bad).code, "invalid_phone");
        }
    }

    #[test]
    fn masked_phone_keeps_country_prefix_and_last_two_digits() {
        let p = PhoneE164::from_stored("+13122530142".into());
        assert_eq!(p.masked(), "+1********42");
    }

    #[test]
    fn emails_refuse_display_names_and_dotless_domains() {
        assert_eq!(EmailAddress::parse("e", "Jane.Doe@Example.ORG").expect("ok").expose(), "Jane.Doe@example.org");
        for bad in ["Jane <jane@example.org>", "jane@localhost", "jane", "jane@example..org", "@example.org"] {
            assert_eq!(EmailAddress::parse("e", bad).expect_err(bad).code, "invalid_email");
        }
        assert_eq!(EmailAddress::from_stored("jane@example.org".into()).masked(), "j***@e***.org");
    }

    #[test]
    fn time_zones_must_be_known_iana_names() {
        assert!(TimeZoneName::parse("tz", "America/Chicago").is_ok());
        assert_eq!(TimeZoneName::parse("tz", "Mars/Olympus").expect_err("bad").code, "invalid_timezone");
    }

    #[test]
    fn languages_are_normalized_tags() {
        assert_eq!(Language::parse("l", "es-mx").expect("ok").as_str(), "es-MX");
        assert_eq!(Language::parse("l", "english!").expect_err("bad").code, "invalid_language");
    }
}
