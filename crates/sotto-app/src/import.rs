//! Patients imported from a CSV export: each row, through a column mapping, becomes an
//! identify call with its values read as the dictionary's types, is checked by the firewall,
//! and is stored whole or not at all. A refused row is reported by line, column and code,
//! never by its values; every row's message id comes from the file and its line, so an import
//! run again (after an interruption) stores nothing twice.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use sotto_core::dictionary::{FieldKind, ValueType};
use sotto_store::Store;

use crate::{App, AppError, ItemStatus, RequestCtx};

/// Which column holds what: `id` the patient's id, `traits` a column per trait.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMapping {
    /// The column holding the patient's id (an MRN).
    pub id: String,
    /// Trait name to column header, such as `email = "Email"`.
    #[serde(default)]
    pub traits: BTreeMap<String, String>,
}

/// A row refused: its line in the file, the column (or `id`) and the stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRefusal {
    /// The line in the file (the header is line 1).
    pub line: u64,
    /// The column the problem is in, by its header.
    pub column: String,
    /// The stable code, such as `invalid_email`.
    pub code: &'static str,
}

/// Where a mapping's columns are in a file: the id's, and each trait's with its type.
#[derive(Debug, Clone)]
pub struct ImportColumns {
    id: usize,
    traits: Vec<(String, usize, Option<ValueType>)>,
}

/// What one chunk of rows did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows stored.
    pub stored: u64,
    /// Rows already stored by an earlier run.
    pub repeated: u64,
    /// Rows refused, each with why.
    pub refused: Vec<RowRefusal>,
}

/// A row: its line in the file and its cells.
type Row = (u64, Vec<String>);

/// A cell read as the type the dictionary declares for its trait.
fn typed(cell: &str, value_type: Option<ValueType>) -> Value {
    match value_type {
        Some(ValueType::Boolean) => match cell.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "no" | "n" | "0" => Value::Bool(false),
            _ => Value::String(cell.to_owned()),
        },
        Some(ValueType::Number) => cell.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or_else(|| Value::String(cell.to_owned()), Value::Number),
        Some(ValueType::StringList) => Value::Array(cell.split(';').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect()),
        _ => Value::String(cell.to_owned()),
    }
}

impl<S: Store> App<S> {
    /// Checks a mapping against a file's header: every mapped column exists, every trait is
    /// declared. Answers the column index of the id and of each trait.
    pub async fn import_columns(&self, mapping: &ImportMapping, header: &[String]) -> Result<ImportColumns, String> {
        // The first line is not quoted back: a file exported without a header starts with a patient.
        let column = |name: &str| header.iter().position(|h| h.trim() == name).ok_or_else(|| format!("the file's first line names no column \"{name}\"; check the mapping, and that the file starts with a header line"));
        let id = column(&mapping.id)?;
        let dictionary = self.dictionary.get(&self.store).await.map_err(|e| e.to_string())?;
        let mut traits = Vec::new();
        for (name, header_name) in &mapping.traits {
            let spec = dictionary.get(FieldKind::Trait, name).ok_or_else(|| format!("the mapping names the trait \"{name}\", which the data dictionary does not declare"))?;
            traits.push((name.clone(), column(header_name)?, spec.value_type));
        }
        Ok(ImportColumns { id, traits })
    }

    /// Imports rows (line, cells) from the file `source` as identify calls, all in one
    /// ingestion batch, each row stored whole or refused whole.
    pub async fn import_rows(&self, ctx: &RequestCtx, source: &str, columns: &ImportColumns, header: &[String], rows: &[Row]) -> Result<ImportReport, AppError> {
        let (id_column, traits) = (&columns.id, &columns.traits);
        // A row with more or fewer cells than the header (cut short, or a stray comma) is
        // refused whole: its cells cannot be trusted to be in their columns.
        let (rows, ragged): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|(_, cells)| cells.len() == header.len());
        let calls: Vec<Value> = rows
            .iter()
            .map(|(line, cells)| {
                let mut map = Map::new();
                for (name, index, value_type) in traits {
                    if let Some(cell) = cells.get(*index).map(|c| c.trim()).filter(|c| !c.is_empty()) {
                        map.insert(name.clone(), typed(cell, *value_type));
                    }
                }
                let id = cells.get(*id_column).map(|c| c.trim()).unwrap_or_default();
                json!({"type": "identify", "userId": id, "traits": map, "messageId": format!("import-{source}-{line}")})
            })
            .collect();
        let results = self.ingest_calls(ctx, &calls, None).await?;
        let mut report = ImportReport::default();
        report.refused.extend(ragged.iter().map(|(line, _)| RowRefusal { line: *line, column: "(the whole row)".into(), code: "cells_do_not_match_header" }));
        for (result, (line, _)) in results.iter().zip(rows) {
            match result.status {
                ItemStatus::Accepted if result.duplicate => report.repeated += 1,
                ItemStatus::Accepted => report.stored += 1,
                ItemStatus::Rejected => {
                    for error in &result.errors {
                        // `traits.email` is named by its column; `userId` by the id's.
                        let column = match error.field.strip_prefix("traits.").map(|f| f.split(['.', '[']).next().unwrap_or(f)) {
                            Some(name) => traits.iter().find(|(t, _, _)| t == name).map_or_else(|| "?".to_owned(), |(_, i, _)| header.get(*i).cloned().unwrap_or_default()),
                            None => header.get(*id_column).cloned().unwrap_or_default(),
                        };
                        report.refused.push(RowRefusal { line: *line, column, code: error.code });
                    }
                }
            }
        }
        Ok(report)
    }
}
