//! The gate's inputs for a batch of patients in a fixed number of statements (profiles,
//! ledger, numbers, authorizations, suppressions, sends), however many patients the batch has.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use sotto_crypto::ChainKey;

use super::Backend;
use super::bulk::CHUNK;
use super::consent::{authorization_from_row, consent_from_row};
use super::patients::patient_from_row;
use crate::{GateInputs, SendRow, StoreResult};

/// `$from, $from+1, …` for `n` parameters.
pub(super) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The list of `n` placeholders after `first - 1` others: numbered for PostgreSQL, plain `?`
/// for SQLite (its driver resolves numbered ones by name, in time that grows with their count).
fn list(backend: Backend, first: usize, n: usize) -> String {
    match backend {
        Backend::Postgres => placeholders(first, n),
        Backend::Sqlite => vec!["?"; n].join(", "),
    }
}

async fn rows_in(conn: &mut AnyConnection, backend: Backend, sql_head: &str, sql_tail: &str, keys: &[Vec<u8>], texts: &[String], extra: Option<i64>) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
    let mut out = Vec::new();
    let n = keys.len().max(texts.len());
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let first = if extra.is_some() { 2 } else { 1 };
        let head = if backend == Backend::Sqlite { sql_head.replace("$1", "?") } else { sql_head.to_owned() };
        let sql = format!("{head} ({}) {sql_tail}", list(backend, first, end - start));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(value) = extra {
            query = query.bind(value);
        }
        if keys.is_empty() {
            for t in &texts[start..end] {
                query = query.bind(t.as_str());
            }
        } else {
            for k in &keys[start..end] {
                query = query.bind(k.clone());
            }
        }
        out.extend(query.fetch_all(&mut *conn).await?);
        start = end;
    }
    Ok(out)
}

/// The profiles of `ids` that exist, read a chunk of ids per statement.
pub(super) async fn patients_in(conn: &mut AnyConnection, backend: Backend, ids: &[String]) -> Result<Vec<crate::PatientRecord>, sqlx::Error> {
    let rows = rows_in(
        conn,
        backend,
        "SELECT external_id, key_version, wrapped_key, identifiers, email_index, phone_index, timezone, language, preferred_channel, traits, created_at, updated_at FROM patients WHERE external_id IN",
        "",
        &[],
        ids,
        None,
    )
    .await?;
    rows.iter().map(patient_from_row).collect()
}

/// Reads the inputs of `ids` on `conn` (inside a transaction or not); sends are found by the
/// patients' opaque references.
pub(super) async fn read_inputs(conn: &mut AnyConnection, backend: Backend, key: &ChainKey, ids: &[String], sends_since: i64) -> StoreResult<BTreeMap<String, GateInputs>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    let mut out = BTreeMap::new();
    for patient in patients_in(conn, backend, &ids).await? {
        let inputs = GateInputs { patient, consents: Vec::new(), number_consent: None, authorizations: Vec::new(), suppressions: Vec::new(), sends: Vec::new() };
        out.insert(inputs.patient.external_id.clone(), inputs);
    }
    let found: Vec<String> = out.keys().cloned().collect();
    if found.is_empty() {
        return Ok(out);
    }
    let consents = rows_in(
        conn,
        backend,
        "SELECT external_id, channel, topic, status, kind, source, captured_at, evidence, recorded_at, actor FROM consents WHERE external_id IN",
        "ORDER BY captured_at, id",
        &[],
        &found,
        None,
    )
    .await?;
    for row in &consents {
        let c = consent_from_row(row)?;
        if let Some(inputs) = out.get_mut(&c.external_id) {
            inputs.consents.push(c);
        }
    }
    let authorizations = rows_in(
        conn,
        backend,
        "SELECT a.id, a.external_id, a.form_version, a.signed_at, a.expires_at, a.expires_on, a.expiration_event, a.remuneration_involved, a.document, a.created_at, a.retain_until, r.revoked_at \
         FROM authorizations a LEFT JOIN authorization_revocations r ON r.authorization_id = a.id WHERE a.external_id IN",
        "ORDER BY a.created_at, a.id",
        &[],
        &found,
        None,
    )
    .await?;
    for row in &authorizations {
        let a = authorization_from_row(row)?;
        if let Some(inputs) = out.get_mut(&a.external_id) {
            inputs.authorizations.push(a);
        }
    }
    for row in rows_in(conn, backend, "SELECT external_id, channel, reason FROM suppressions WHERE external_id IN", "ORDER BY channel, reason", &[], &found, None).await? {
        let id: String = row.try_get("external_id")?;
        if let Some(inputs) = out.get_mut(&id) {
            inputs.suppressions.push((row.try_get("channel")?, row.try_get("reason")?));
        }
    }
    let refs: BTreeMap<String, String> = found.iter().map(|id| (key.patient_ref(id), id.clone())).collect();
    let ref_list: Vec<String> = refs.keys().cloned().collect();
    for row in rows_in(conn, backend, "SELECT external_id, channel, purpose, sent_at FROM sends WHERE sent_at >= $1 AND external_id IN", "ORDER BY sent_at", &[], &ref_list, Some(sends_since)).await? {
        let send = SendRow { patient: row.try_get("external_id")?, channel: row.try_get("channel")?, purpose: row.try_get("purpose")?, sent_at: row.try_get("sent_at")? };
        if let Some(inputs) = refs.get(&send.patient).and_then(|id| out.get_mut(id)) {
            inputs.sends.push(send);
        }
    }
    let phones: BTreeMap<Vec<u8>, Vec<String>> = out.values().filter_map(|i| Some((i.patient.phone_index.clone()?, i.patient.external_id.clone()))).fold(BTreeMap::new(), |mut m, (k, id)| {
        m.entry(k).or_insert_with(Vec::new).push(id);
        m
    });
    if !phones.is_empty() {
        let keys: Vec<Vec<u8>> = phones.keys().cloned().collect();
        // The latest keyword per number: rows come in id order, so the last one wins.
        for row in rows_in(conn, backend, "SELECT phone_index, status, captured_at FROM sms_number_consents WHERE phone_index IN", "ORDER BY id", &keys, &[], None).await? {
            let index: Vec<u8> = row.try_get("phone_index")?;
            let latest = (row.try_get::<String, _>("status")?, row.try_get::<i64, _>("captured_at")?);
            for id in phones.get(&index).into_iter().flatten() {
                if let Some(inputs) = out.get_mut(id) {
                    inputs.number_consent = Some(latest.clone());
                }
            }
        }
    }
    Ok(out)
}
