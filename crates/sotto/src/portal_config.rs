//! The `[portal]` table: the patient portal's session and link lifetimes, the topics its
//! preference center offers and the categories of secure messages, checked at start with
//! errors that name the setting.

use anyhow::bail;
use jiff::SignedDuration;
use serde::Deserialize;

/// `[portal]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalFile {
    idle_timeout_minutes: Option<i64>,
    session_hours: Option<i64>,
    link_days: Option<i64>,
    code_minutes: Option<i64>,
    topics: Option<Vec<String>>,
    categories: Option<Vec<String>>,
}

/// The portal's settings from `[portal]`, defaults where it is silent.
pub fn resolve(file: Option<PortalFile>) -> anyhow::Result<sotto_app::PortalSettings> {
    let file = file.unwrap_or_default();
    let defaults = sotto_app::PortalSettings::default();
    let within = |name: &str, value: Option<i64>, range: std::ops::RangeInclusive<i64>| -> anyhow::Result<Option<i64>> {
        match value {
            Some(v) if !range.contains(&v) => bail!("[portal] {name} must be from {} to {} (it is {v})", range.start(), range.end()),
            other => Ok(other),
        }
    };
    let idle = within("idle_timeout_minutes", file.idle_timeout_minutes, 1..=60)?.map_or(defaults.idle_timeout, SignedDuration::from_mins);
    let session = within("session_hours", file.session_hours, 1..=24)?.map_or(defaults.session_lifetime, SignedDuration::from_hours);
    let link = within("link_days", file.link_days, 1..=30)?.map_or(defaults.link_lifetime, |d| SignedDuration::from_hours(d * 24));
    let code = within("code_minutes", file.code_minutes, 2..=30)?.map_or(defaults.code_lifetime, SignedDuration::from_mins);
    if session <= idle {
        bail!("[portal] session_hours must be longer than idle_timeout_minutes");
    }
    let topics = file.topics.unwrap_or(defaults.topics.clone());
    for (i, topic) in topics.iter().enumerate() {
        if let Err(e) = sotto_core::consent::Topic::parse(&format!("[portal] topics[{i}]"), topic) {
            bail!("{}", e.message);
        }
    }
    let categories = file.categories.unwrap_or(defaults.categories.clone());
    if categories.is_empty() || categories.iter().any(|c| c.is_empty() || c.len() > 40 || !c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')) {
        bail!("[portal] categories must be codes of lowercase letters and underscores, such as [\"results\", \"billing\"]");
    }
    for (i, category) in categories.iter().enumerate() {
        if sotto_core::health_terms::find(&category.replace('_', " ")).is_some() {
            bail!("[portal] categories[{i}] reveals health information; categories are stored in the clear: use a neutral code");
        }
    }
    Ok(sotto_app::PortalSettings { idle_timeout: idle, session_lifetime: session, link_lifetime: link, code_lifetime: code, topics, categories, ..defaults })
}
