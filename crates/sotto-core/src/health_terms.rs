//! A small check for plaintext health terms in free text, used by the ingestion firewall
//! and the dictionary. It folds case, compatibility forms and accents, and matches whole words.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A category of health information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Diseases and diagnoses.
    Condition,
    /// Specialties and specialists that imply a condition.
    Specialty,
    /// Procedures, tests and their results.
    Procedure,
    /// Medicines, generic and brand.
    Medication,
    /// Mental health, substance use, HIV/STI, reproductive, genetic and gender-affirming care.
    Sensitive,
}

impl Category {
    /// A stable name for reports and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Condition => "condition",
            Category::Specialty => "specialty",
            Category::Procedure => "procedure",
            Category::Medication => "medication",
            Category::Sensitive => "sensitive",
        }
    }
}

use Category::{Condition, Medication, Procedure, Sensitive, Specialty};

const TERMS: &[(&str, Category)] = &[
    ("diabetes", Condition), ("diabetic", Condition), ("cancer", Condition), ("tumor", Condition),
    ("tumour", Condition), ("leukemia", Condition), ("lymphoma", Condition), ("melanoma", Condition),
    ("hypertension", Condition), ("asthma", Condition), ("copd", Condition), ("arthritis", Condition),
    ("dementia", Condition), ("alzheimer", Condition), ("alzheimers", Condition), ("epilepsy", Condition),
    ("hepatitis", Condition), ("obesity", Condition), ("heart disease", Condition), ("heart failure", Condition),
    ("kidney disease", Condition), ("multiple sclerosis", Condition), ("parkinson", Condition),
    ("parkinsons", Condition), ("autism", Condition), ("diagnosis", Condition), ("diagnosed", Condition),
    ("oncology", Specialty), ("oncologist", Specialty), ("cardiology", Specialty), ("cardiologist", Specialty),
    ("neurology", Specialty), ("neurologist", Specialty), ("urology", Specialty), ("urologist", Specialty),
    ("gynecology", Specialty), ("gynecologist", Specialty), ("obgyn", Specialty), ("dermatology", Specialty),
    ("endocrinology", Specialty), ("endocrinologist", Specialty), ("nephrology", Specialty),
    ("hospice", Specialty), ("dialysis", Procedure), ("chemotherapy", Procedure), ("chemo", Procedure),
    ("radiation therapy", Procedure), ("biopsy", Procedure), ("mammogram", Procedure),
    ("colonoscopy", Procedure), ("surgery", Procedure), ("transplant", Procedure), ("vasectomy", Procedure),
    ("hysterectomy", Procedure), ("lab results", Procedure), ("blood test", Procedure),
    ("pathology report", Procedure), ("prescription", Medication), ("insulin", Medication),
    ("metformin", Medication), ("ozempic", Medication), ("wegovy", Medication), ("prozac", Medication),
    ("zoloft", Medication), ("xanax", Medication), ("adderall", Medication), ("antidepressant", Medication),
    ("antidepressants", Medication), ("methadone", Medication), ("suboxone", Medication),
    ("hiv", Sensitive), ("aids virus", Sensitive), ("std", Sensitive), ("sti", Sensitive),
    ("herpes", Sensitive), ("syphilis", Sensitive), ("gonorrhea", Sensitive), ("chlamydia", Sensitive),
    ("depression", Sensitive), ("bipolar", Sensitive), ("schizophrenia", Sensitive), ("ptsd", Sensitive),
    ("psychiatric", Sensitive), ("psychiatrist", Sensitive), ("psychotherapy", Sensitive),
    ("mental health", Sensitive), ("eating disorder", Sensitive), ("anxiety disorder", Sensitive),
    ("addiction", Sensitive), ("substance abuse", Sensitive), ("alcoholism", Sensitive), ("rehab", Sensitive),
    ("overdose", Sensitive), ("opioid", Sensitive), ("pregnancy", Sensitive), ("pregnant", Sensitive),
    ("abortion", Sensitive), ("miscarriage", Sensitive), ("ivf", Sensitive), ("fertility", Sensitive),
    ("prenatal", Sensitive), ("genetic testing", Sensitive), ("brca", Sensitive),
    ("gender affirming", Sensitive), ("hormone therapy", Sensitive),
    // Spanish
    ("cancer", Condition), ("diagnostico", Condition), ("oncologia", Specialty), ("quimioterapia", Procedure),
    ("cirugia", Procedure), ("dialisis", Procedure), ("resultados de laboratorio", Procedure),
    ("receta medica", Medication), ("insulina", Medication), ("vih", Sensitive), ("sida", Sensitive),
    ("embarazo", Sensitive), ("embarazada", Sensitive), ("aborto", Sensitive), ("depresion", Sensitive),
    ("salud mental", Sensitive), ("adiccion", Sensitive),
];

fn matcher() -> &'static AhoCorasick {
    static MATCHER: OnceLock<AhoCorasick> = OnceLock::new();
    MATCHER.get_or_init(|| {
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(TERMS.iter().map(|(t, _)| *t))
            .expect("the built-in term list compiles")
    })
}

/// Folds text for matching: compatibility forms, accents, case, and runs of separators.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    out
}

/// Finds the first health term in `text`, as a whole word, and returns its category.
pub fn find(text: &str) -> Option<Category> {
    let folded = fold(text);
    let bytes = folded.as_bytes();
    matcher().find_iter(&folded).find_map(|m| {
        let before_ok = m.start() == 0 || bytes[m.start() - 1] == b' ';
        let after_ok = m.end() == bytes.len() || bytes[m.end()] == b' ';
        (before_ok && after_ok).then(|| TERMS[m.pattern().as_usize()].1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_health_terms_are_found_in_english_and_spanish() {
        assert_eq!(find("Diabetes"), Some(Condition));
        assert_eq!(find("your ONCOLOGY team"), Some(Specialty));
        assert_eq!(find("Resultados de laboratorio listos"), Some(Procedure));
        assert_eq!(find("cáncer de mama"), Some(Condition));
        assert_eq!(find("HIV clinic"), Some(Sensitive));
    }

    #[test]
    fn everyday_words_and_parts_of_words_do_not_match() {
        for text in ["gold", "active", "closed for Labor Day", "results of our survey", "cold weather", "stdout", "chemistry class", "prehistoric"] {
            assert_eq!(find(text), None, "{text}");
        }
    }

    #[test]
    fn compatibility_forms_and_separators_are_folded() {
        assert_eq!(find("ＣＡＮＣＥＲ"), Some(Condition));
        assert_eq!(find("mental-health"), Some(Sensitive));
    }
}
