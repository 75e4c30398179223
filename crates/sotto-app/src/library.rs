//! The library of compliant templates that ships with Sotto: appointment confirmation and
//! reminders, secure-message nudges, a newsletter and re-engagement, per channel.

use serde_json::Value;

use sotto_store::Store;

use crate::{App, AppError, RequestCtx};

/// The library as shipped: `[{"name", "channel", "language", "surfaces", "variants"}]`, each
/// in English with a Spanish variant, in plain language.
pub fn template_library() -> Vec<Value> {
    serde_json::from_str(include_str!("../data/template_library.json")).unwrap_or_default()
}

impl<S: Store> App<S> {
    /// Loads the library: each template is created by `author` and submitted, then approved
    /// by `reviewer` (who must hold the compliance scope and be someone else). Templates whose
    /// name exists already are left as they are. Returns how many were added.
    pub async fn load_template_library(&self, author: &RequestCtx, reviewer: &RequestCtx, comment: &str) -> Result<usize, AppError> {
        let mut added = 0;
        for template in template_library() {
            let created = match self.create_template(author, &template).await {
                Ok(created) => created,
                Err(AppError::Conflict { code: "template_exists", .. }) => continue,
                Err(e) => return Err(e),
            };
            let id = created["id"].as_str().ok_or(AppError::Internal("a created template has no id"))?;
            self.review_template(author, id, 1, "submit", &Value::Null).await?;
            self.review_template(reviewer, id, 1, "approve", &serde_json::json!({ "comment": comment })).await?;
            added += 1;
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use sotto_core::default_dictionary::default_dictionary;
    use sotto_core::template::{analyze, check_name, parse_content, render_strict};

    use super::*;

    #[test]
    fn every_library_template_passes_the_checks_and_renders_clean() {
        let library = template_library();
        assert!(library.len() >= 5, "the library has {} templates", library.len());
        let sample = serde_json::json!({
            "patient": {"first_name": "Ana", "timezone": "America/New_York"},
            "event": {"appointment_start": "2026-12-04T15:30:00Z", "provider_first_name": "Maria"},
            "clinic": {"name": "Riverside Family Practice", "phone": "(555) 010-0100", "address": "1 Main St"},
            "links": {"portal": "https://p.example/portal", "unsubscribe": "https://p.example/u/t", "reschedule": "https://p.example/r", "confirm": "https://p.example/c"}
        });
        for template in library {
            let name = template["name"].as_str().unwrap_or_default();
            check_name(name).expect(name);
            let content = parse_content(&template).expect(name);
            analyze(&content, &default_dictionary()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(content.variants.contains_key("es"), "{name} has a Spanish variant");
            for language in std::iter::once(&content.language).chain(content.variants.keys()) {
                let variant = content.in_language(Some(language));
                assert_eq!(&variant.language, language);
                // Strict: a variable the sample lacks fails instead of printing nothing.
                let rendered = render_strict(&variant, &sample).unwrap_or_else(|e| panic!("{name} ({language}): every variable is defined by the sample: {e:?}"));
                assert!(rendered.surfaces.values().all(|text| !text.contains("{{") && !text.contains("..") && !text.trim().is_empty()), "{name} ({language}) rendered every surface, punctuated once");
            }
        }
    }
}
