//! Static analysis of a template: which variables reach which surface, and whether each is
//! shown as text or only steers a branch, checked against the dictionary; and the lint of every
//! literal. Reads minijinja's own tokens, so what is analysed is what will render.
//!
//! The language is deliberately small: `{{ … }}`, `{% if %}`/`elif`/`else`, `{% for %}` and
//! `{% set name = … %}`; names a `set` or `for` binds carry the classes of what they were bound
//! from. Dynamic access (`patient[name]`), macros, includes and inheritance are refused because
//! they would hide what a surface shows.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::machinery::{Token, tokenize};
use serde::Serialize;

use super::{SYSTEM_VARIABLES, TemplateContent, shown_allowed};
use crate::dictionary::{DataClass, Dictionary, FieldKind, Surface};
use crate::error::FieldError;
use crate::lint::{Finding, Severity, lint};

/// One variable used on one surface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct VariableUse {
    /// Where it is used.
    pub surface: Surface,
    /// Its path, such as `event.appointment_start`.
    pub variable: String,
    /// Its data class.
    pub class: DataClass,
    /// Whether its value is printed (rather than only tested).
    pub shown: bool,
}

/// What saving a template found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Every variable, by surface.
    pub variables: Vec<VariableUse>,
    /// Warnings from linting the literals, by surface.
    pub warnings: BTreeMap<Surface, Vec<Finding>>,
    /// Warnings on the language variants, by language and surface.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub variant_warnings: BTreeMap<String, BTreeMap<Surface, Vec<Finding>>>,
}

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None", "loop"];
const TAGS: &[&str] = &["if", "elif", "else", "endif", "for", "endfor", "set"];
/// The names templates read their values from.
const ROOTS: &[&str] = &["patient", "event", "clinic", "links"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Print,
    Block,
}

struct Surfacer<'d> {
    surface: Surface,
    field: String,
    dictionary: &'d Dictionary,
    locals: BTreeMap<String, BTreeSet<(DataClass, Vec<Surface>)>>,
    uses: BTreeSet<VariableUse>,
    errors: Vec<FieldError>,
}

/// Analyses every surface of every language; all problems are reported together.
pub fn analyze(content: &TemplateContent, dictionary: &Dictionary) -> Result<Analysis, Vec<FieldError>> {
    let mut variables = BTreeSet::new();
    let mut errors = Vec::new();
    let mut by_language = BTreeMap::new();
    for (prefix, surfaces) in content.languages() {
        let mut warnings = BTreeMap::new();
        analyze_surfaces(surfaces, &prefix, dictionary, &mut variables, &mut warnings, &mut errors);
        if !warnings.is_empty() || prefix == "surfaces" {
            by_language.insert(prefix, warnings);
        }
    }
    let warnings = by_language.remove("surfaces").unwrap_or_default();
    let variant_warnings = by_language.into_iter().map(|(prefix, w)| (prefix.trim_start_matches("variants.").to_owned(), w)).collect();
    if errors.is_empty() { Ok(Analysis { variables: variables.into_iter().collect(), warnings, variant_warnings }) } else { Err(errors) }
}

fn analyze_surfaces(
    surfaces: &BTreeMap<Surface, String>,
    prefix: &str,
    dictionary: &Dictionary,
    variables: &mut BTreeSet<VariableUse>,
    warnings: &mut BTreeMap<Surface, Vec<Finding>>,
    errors: &mut Vec<FieldError>,
) {
    for (surface, source) in surfaces {
        let mut s = Surfacer { surface: *surface, field: format!("{prefix}.{}", surface.as_str()), dictionary, locals: BTreeMap::new(), uses: BTreeSet::new(), errors: Vec::new() };
        let literal = s.walk(source);
        let report = lint(&literal, *surface);
        for f in &report.findings {
            if f.severity == Severity::Block {
                s.errors.push(FieldError::new(
                    "health_term",
                    s.field.clone(),
                    format!("the text at bytes {}..{} reveals health information ({}); try: \"{}\"", f.span.0, f.span.1, f.category, f.suggestion),
                ));
            }
        }
        let warned: Vec<Finding> = report.findings.into_iter().filter(|f| f.severity == Severity::Warn).collect();
        if !warned.is_empty() {
            warnings.insert(*surface, warned);
        }
        variables.extend(s.uses);
        errors.extend(s.errors);
    }
}

impl Surfacer<'_> {
    /// Walks the tokens, checking each group; returns the source with everything but literal
    /// text (template data and quoted strings) blanked out, so lint spans are offsets into the
    /// source.
    fn walk(&mut self, source: &str) -> String {
        let mut literal = vec![b' '; source.len()];
        let mut keep = |range: std::ops::Range<usize>| {
            if let (Some(to), Some(from)) = (literal.get_mut(range.clone()), source.get(range)) {
                to.copy_from_slice(from.as_bytes());
            }
        };
        let mut group: Option<(Group, Vec<Token<'_>>, u16)> = None;
        let mut lexed = true;
        for item in tokenize(source, false, Default::default()) {
            let (token, span) = match item {
                Ok(t) => t,
                Err(e) => {
                    self.errors.push(FieldError::new("template_syntax", self.field.clone(), format!("syntax error: {}", e.detail().unwrap_or("invalid template"))));
                    lexed = false;
                    break;
                }
            };
            match token {
                Token::TemplateData(text) => {
                    let at = (text.as_ptr() as usize).wrapping_sub(source.as_ptr() as usize);
                    keep(at..at.saturating_add(text.len()));
                }
                Token::VariableStart => group = Some((Group::Print, Vec::new(), span.start_line)),
                Token::BlockStart => group = Some((Group::Block, Vec::new(), span.start_line)),
                Token::VariableEnd | Token::BlockEnd => {
                    if let Some((kind, tokens, line)) = group.take() {
                        self.group(kind, &tokens, line);
                    }
                }
                other => {
                    // A quoted string can print as text too (`{{ "oncology" }}`): lint it.
                    if matches!(other, Token::Str(_) | Token::String(_)) {
                        keep(span.start_offset as usize + 1..(span.end_offset as usize).saturating_sub(1));
                    }
                    if let Some((_, tokens, _)) = group.as_mut() {
                        tokens.push(other);
                    }
                }
            }
        }
        if lexed && minijinja::Environment::new().template_from_str(source).is_err() {
            self.errors.push(FieldError::new("template_syntax", self.field.clone(), "the template does not compile: check that every block is closed"));
        }
        String::from_utf8(literal).unwrap_or_default()
    }

    fn group(&mut self, kind: Group, tokens: &[Token<'_>], line: u16) {
        if kind == Group::Print {
            for reference in references(tokens) {
                self.reference(&reference, true, line);
            }
            return;
        }
        let tag = match tokens.first() {
            Some(Token::Ident(tag)) => *tag,
            _ => "",
        };
        if !TAGS.contains(&tag) {
            self.errors.push(FieldError::new(
                "unsupported_tag",
                self.field.clone(),
                format!("line {line}: {{% {tag} %}} is not allowed; templates use if, elif, else, for and set only"),
            ));
            return;
        }
        let rest = &tokens[1..];
        let (targets, expr): (Vec<&str>, &[Token<'_>]) = match tag {
            "for" => {
                let split = rest.iter().position(|t| matches!(t, Token::Ident("in"))).unwrap_or(rest.len());
                let targets = rest[..split].iter().filter_map(|t| if let Token::Ident(n) = t { Some(*n) } else { None }).collect();
                (targets, rest.get(split + 1..).unwrap_or(&[]))
            }
            "set" => match rest {
                [Token::Ident(name), Token::Assign, expr @ ..] => (vec![*name], expr),
                _ => {
                    self.errors.push(FieldError::new("unsupported_tag", self.field.clone(), format!("line {line}: use {{% set name = value %}}; block assignments are not allowed")));
                    return;
                }
            },
            _ => (Vec::new(), rest),
        };
        let mut classes = BTreeSet::new();
        for reference in references(expr) {
            classes.extend(self.reference(&reference, false, line));
        }
        for target in targets {
            if ROOTS.contains(&target) {
                self.errors.push(FieldError::new("unsupported_tag", self.field.clone(), format!("line {line}: {target} is a template variable and cannot be bound by set or for")));
                continue;
            }
            self.locals.insert(target.to_owned(), classes.clone());
        }
    }

    /// Records one reference; returns the classes it carries (for names bound from it).
    fn reference(&mut self, reference: &Reference, shown: bool, line: u16) -> BTreeSet<(DataClass, Vec<Surface>)> {
        let path = reference.path.as_str();
        let root = path.split('.').next().unwrap_or_default();
        if reference.subscripted && ROOTS.contains(&root) {
            self.errors.push(FieldError::new("dynamic_access", self.field.clone(), format!("line {line}: {root}[…] hides which field is used; name the field, as in patient.first_name")));
            return BTreeSet::new();
        }
        if let Some(classes) = self.locals.get(root).cloned() {
            if shown {
                for (class, allowed) in &classes {
                    self.check_shown(path, *class, allowed, line);
                }
            }
            return classes;
        }
        let Some((class, allowed)) = self.resolve(path, line) else { return BTreeSet::new() };
        if class == DataClass::SensitivePhi {
            self.errors.push(FieldError::new("sensitive_variable", self.field.clone(), format!("line {line}: {path} is sensitive PHI and can never be used in a message")));
            return BTreeSet::new();
        }
        if shown {
            self.check_shown(path, class, &allowed, line);
        }
        self.uses.insert(VariableUse { surface: self.surface, variable: path.to_owned(), class, shown });
        BTreeSet::from([(class, allowed)])
    }

    fn check_shown(&mut self, path: &str, class: DataClass, allowed: &[Surface], line: u16) {
        if shown_allowed(class, self.surface, allowed) {
            return;
        }
        let (code, why) = match class {
            DataClass::Coded => ("coded_as_text", "is a coded value; codes steer branches ({% if … %}) and are never shown as text"),
            _ => ("surface_not_allowed", "is operational PHI that the data dictionary does not allow on this surface"),
        };
        self.errors.push(FieldError::new(code, self.field.clone(), format!("line {line}: {path} {why}")));
    }

    fn resolve(&mut self, path: &str, line: u16) -> Option<(DataClass, Vec<Surface>)> {
        let mut parts = path.splitn(3, '.');
        let (root, name) = (parts.next().unwrap_or_default(), parts.next());
        let kind = match (root, name) {
            ("patient", Some(_)) => FieldKind::Trait,
            ("event", Some(_)) => FieldKind::Property,
            ("clinic" | "links", Some(n)) if SYSTEM_VARIABLES.contains(&format!("{root}.{n}").as_str()) => return Some((DataClass::NonPhi, Vec::new())),
            _ => {
                self.errors.push(FieldError::new(
                    "unknown_variable",
                    self.field.clone(),
                    format!("line {line}: a name used here is not a template variable (not repeated here); use patient.<trait>, event.<property>, clinic.name, clinic.phone, clinic.address, clinic.website or links.portal, links.unsubscribe, links.confirm, links.reschedule"),
                ));
                return None;
            }
        };
        let name = name.unwrap_or_default();
        match self.dictionary.get(kind, name) {
            Some(spec) => Some((spec.class, spec.surfaces.clone())),
            None => {
                let what = if kind == FieldKind::Trait { "trait" } else { "event property" };
                self.errors.push(FieldError::new("undeclared_variable", self.field.clone(), format!("line {line}: a {what} used here is not declared in the data dictionary (not repeated here)")));
                None
            }
        }
    }
}

/// A variable path read by an expression (`a.b.c`), and whether `[` follows it.
struct Reference {
    path: String,
    subscripted: bool,
}

/// The variables an expression reads. Filter and test names, keyword arguments, functions and
/// attributes are not variables.
fn references(tokens: &[Token<'_>]) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let Token::Ident(name) = tokens[i] else {
            i += 1;
            continue;
        };
        let prev = i.checked_sub(1).map(|p| &tokens[p]);
        let not_variable = KEYWORDS.contains(&name)
            || matches!(prev, Some(Token::Dot | Token::Pipe | Token::Ident("is")))
            || matches!(tokens.get(i + 1), Some(Token::ParenOpen | Token::Assign));
        if not_variable {
            i += 1;
            continue;
        }
        let mut path = name.to_owned();
        while let (Some(Token::Dot), Some(Token::Ident(attr))) = (tokens.get(i + 1), tokens.get(i + 2)) {
            path.push('.');
            path.push_str(attr);
            i += 2;
        }
        out.push(Reference { path, subscripted: matches!(tokens.get(i + 1), Some(Token::BracketOpen)) });
        i += 1;
    }
    out
}
