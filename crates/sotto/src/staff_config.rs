//! The `[staff]` table: the console's session lifetimes, the longest break-glass grant and the
//! life of API clients' tokens, checked at start with errors that name the setting.

use anyhow::bail;
use jiff::SignedDuration;
use serde::Deserialize;

/// `[staff]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffFile {
    idle_timeout_minutes: Option<i64>,
    session_hours: Option<i64>,
    break_glass_max_minutes: Option<i64>,
    token_minutes: Option<i64>,
}

/// The staff settings from `[staff]`, defaults where it is silent.
pub fn resolve(file: Option<StaffFile>) -> anyhow::Result<sotto_app::StaffSettings> {
    let file = file.unwrap_or_default();
    let defaults = sotto_app::StaffSettings::default();
    let within = |name: &str, value: Option<i64>, range: std::ops::RangeInclusive<i64>| -> anyhow::Result<Option<i64>> {
        match value {
            Some(v) if !range.contains(&v) => bail!("[staff] {name} must be from {} to {} (it is {v})", range.start(), range.end()),
            other => Ok(other),
        }
    };
    let idle = within("idle_timeout_minutes", file.idle_timeout_minutes, 1..=60)?.map_or(defaults.idle_timeout, SignedDuration::from_mins);
    let session = within("session_hours", file.session_hours, 1..=24)?.map_or(defaults.session_lifetime, SignedDuration::from_hours);
    let glass = within("break_glass_max_minutes", file.break_glass_max_minutes, 5..=240)?.map_or(defaults.break_glass_max, SignedDuration::from_mins);
    let token = within("token_minutes", file.token_minutes, 1..=60)?.map_or(defaults.token_lifetime, SignedDuration::from_mins);
    if session <= idle {
        bail!("[staff] session_hours must be longer than idle_timeout_minutes");
    }
    Ok(sotto_app::StaffSettings { idle_timeout: idle, session_lifetime: session, break_glass_max: glass, token_lifetime: token, ..defaults })
}
