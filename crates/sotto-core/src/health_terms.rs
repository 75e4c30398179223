//! The plaintext health-term check used by the ingestion firewall, the dictionary and name
//! checks. It is the lock-screen linter's engine (see `lint`): any blocking finding counts.

use crate::dictionary::Surface;

/// The category of the first health term in `text`, as the linter names it
/// (`condition`, `medication`, `mental_health`, …).
pub fn find(text: &str) -> Option<&'static str> {
    crate::lint::lint(text, Surface::SmsBody)
        .findings
        .into_iter()
        .find(|f| f.severity == crate::lint::Severity::Block)
        .map(|f| f.category)
}

/// Checks a name shown to staff (segments, tags, campaigns, journeys, templates): 1 to 120
/// characters and no plaintext health term; a refusal suggests a code instead.
pub fn check_name<'a>(what: &str, name: &'a str) -> Result<&'a str, crate::FieldError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 120 {
        return Err(crate::FieldError::new("invalid_name", "name", "name must be 1 to 120 characters"));
    }
    match find(name) {
        None => Ok(name),
        Some(category) => Err(crate::FieldError::new(
            "health_term_in_name",
            "name",
            format!("{what} names must not reveal health information ({category}); use a code instead, such as \"Condition 214 - annual outreach\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_health_terms_are_found_in_english_and_spanish() {
        assert_eq!(find("Diabetes"), Some("condition"));
        assert_eq!(find("your ONCOLOGY team"), Some("specialty"));
        assert_eq!(find("Resultados de laboratorio listos"), Some("lab_test"));
        assert_eq!(find("cáncer de mama"), Some("condition"));
        assert_eq!(find("HIV clinic"), Some("facility"));
    }

    #[test]
    fn everyday_words_and_parts_of_words_do_not_match() {
        for text in ["gold", "active", "closed for Labor Day", "results of our survey", "cold weather", "stdout", "chemistry class", "prehistoric"] {
            assert_eq!(find(text), None, "{text}");
        }
    }

    #[test]
    fn compatibility_forms_and_separators_are_folded() {
        assert_eq!(find("ＣＡＮＣＥＲ"), Some("condition"));
        assert_eq!(find("substance-use"), Some("substance_use"));
    }
}
