//! The gate policy as a deployment writes it (the `[gate]` table of the configuration file):
//! sending windows per channel and US state, frequency caps, and which channels need a
//! verified contact. Every value is checked when the program starts, and an error names the
//! setting and how to fix it.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Deserialize;

use crate::contact::Channel;
use crate::gate::{Cap, GatePolicy};
use crate::purpose::Purpose;
use crate::quiet_hours::{Window, zones_for_state};

/// One frequency cap as configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    /// `email`, `sms` or `push`; every channel when absent.
    pub channel: Option<String>,
    /// Purposes counted together; every purpose when empty.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// The sliding window in hours.
    pub window_hours: u32,
    /// The most messages in it; 0 blocks.
    pub max: usize,
}

/// The gate policy as configured; absent parts keep their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    /// The default window, `HH:MM-HH:MM` in the patient's zone.
    pub window: Option<String>,
    /// Narrower windows per channel.
    #[serde(default)]
    pub channel_windows: BTreeMap<String, String>,
    /// Windows per US state (two-letter code); replaces the defaults (FL and OK) when given.
    pub state_windows: Option<BTreeMap<String, String>>,
    /// Frequency caps; replace the defaults when given.
    pub caps: Option<Vec<CapSpec>>,
    /// Channels whose contact must be verified before sending.
    pub require_verified: Option<Vec<String>>,
}

fn window(setting: &str, raw: &str) -> Result<Window, String> {
    Window::parse(raw).ok_or_else(|| format!("{setting} = {raw:?} is not a window: write HH:MM-HH:MM with the start before the end, such as \"08:00-21:00\""))
}

fn channel(setting: &str, raw: &str) -> Result<Channel, String> {
    Channel::parse(setting, raw).map_err(|_| format!("{setting} = {raw:?} is not a channel: use email, sms or push"))
}

impl GateSpec {
    /// The policy, or a message naming the first setting that is wrong.
    pub fn build(&self) -> Result<GatePolicy, String> {
        let mut policy = GatePolicy::default();
        if let Some(w) = &self.window {
            policy.window = window("gate.window", w)?;
        }
        for (c, w) in &self.channel_windows {
            let setting = format!("gate.channel_windows.{c}");
            policy.channel_windows.insert(channel(&setting, c)?, window(&setting, w)?);
        }
        if let Some(states) = &self.state_windows {
            policy.state_windows.clear();
            for (state, w) in states {
                let setting = format!("gate.state_windows.{state}");
                if zones_for_state(state).is_none() {
                    return Err(format!("{setting}: {state:?} is not a US state or territory code such as FL"));
                }
                policy.state_windows.insert(state.clone(), window(&setting, w)?);
            }
        }
        if let Some(caps) = &self.caps {
            policy.caps = caps
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let setting = format!("gate.caps[{i}]");
                    if c.window_hours == 0 || c.window_hours > 24 * 366 {
                        return Err(format!("{setting}.window_hours must be from 1 to 8784 (a year)"));
                    }
                    let purposes = c
                        .purposes
                        .iter()
                        .map(|p| Purpose::parse("purpose", p).map_err(|_| format!("{setting}.purposes: {p:?} is not a purpose; use treatment, operations, marketing or marketing_remunerated")))
                        .collect::<Result<Vec<_>, _>>()?;
                    let channel = c.channel.as_deref().map(|ch| channel(&format!("{setting}.channel"), ch)).transpose()?;
                    Ok(Cap { channel, purposes, window: SignedDuration::from_hours(i64::from(c.window_hours)), max: c.max })
                })
                .collect::<Result<_, String>>()?;
        }
        if let Some(channels) = &self.require_verified {
            policy.require_verified = channels.iter().map(|c| channel("gate.require_verified", c)).collect::<Result<_, _>>()?;
        }
        Ok(policy)
    }
}

/// A provider as configured (`[providers.email]`, `[providers.sms]`, `[providers.push]`):
/// its name and its business associate agreement.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// A name for people, such as `smtp-relay` or `twilio`.
    pub name: String,
    /// What carries the messages.
    #[serde(default)]
    pub kind: ProviderKind,
    /// When the BAA with the provider was signed; none on file when absent.
    pub baa_signed: Option<jiff::civil::Date>,
    /// When that BAA ends, if it does.
    pub baa_expires: Option<jiff::civil::Date>,
    /// The most messages a second this process hands the provider (its account's limit).
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// A provider that takes over while this one keeps failing (covered by a BAA too).
    #[serde(default)]
    pub backup: Option<Box<ProviderSpec>>,
}

/// What carries a channel's messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Keeps messages in the development mailbox; refused in production.
    #[default]
    Sink,
    /// An SMTP relay (email), configured in `[smtp]`.
    Smtp,
    /// A Twilio-style SMS API, configured in `[twilio]`.
    Twilio,
    /// Firebase Cloud Messaging (push), configured in `[fcm]`; APNs tokens go to `[apns]`
    /// when that is configured too.
    Fcm,
    /// Apple Push Notification service (push), configured in `[apns]`; FCM tokens go to
    /// `[fcm]` when that is configured too.
    Apns,
}

impl ProviderKind {
    /// The configured name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Sink => "sink",
            ProviderKind::Smtp => "smtp",
            ProviderKind::Twilio => "twilio",
            ProviderKind::Fcm => "fcm",
            ProviderKind::Apns => "apns",
        }
    }
}

impl ProviderSpec {
    /// Whether a BAA is in force on `today`.
    pub fn baa_in_force(&self, today: jiff::civil::Date) -> bool {
        self.baa_signed.is_some_and(|signed| signed <= today) && self.baa_expires.is_none_or(|end| today < end)
    }
}

/// Checks configured providers: known channels, a name, a BAA that ends after it was signed.
pub fn check_providers(providers: &BTreeMap<String, ProviderSpec>) -> Result<BTreeMap<Channel, ProviderSpec>, String> {
    let mut out = BTreeMap::new();
    for (c, spec) in providers {
        let setting = format!("providers.{c}");
        let ch = channel(&setting, c)?;
        if spec.name.trim().is_empty() {
            return Err(format!("{setting}.name must name the provider"));
        }
        if spec.rate_per_second.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            return Err(format!("{setting}.rate_per_second must be a positive number of messages a second"));
        }
        if let Some(backup) = &spec.backup {
            if backup.name.trim().is_empty() || backup.baa_signed.is_none() {
                return Err(format!("{setting}.backup needs a name and baa_signed: a backup carries the same messages, so it needs a BAA too"));
            }
            if backup.backup.is_some() {
                return Err(format!("{setting}.backup cannot have a backup of its own"));
            }
        }
        if let (Some(signed), Some(end)) = (spec.baa_signed, spec.baa_expires)
            && end <= signed
        {
            return Err(format!("{setting}.baa_expires must be after baa_signed"));
        }
        if spec.baa_expires.is_some() && spec.baa_signed.is_none() {
            return Err(format!("{setting}: baa_expires is set without baa_signed; give the date the BAA was signed"));
        }
        out.insert(ch, spec.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_like: serde_json::Value) -> Result<GatePolicy, String> {
        serde_json::from_value::<GateSpec>(toml_like).map_err(|e| e.to_string())?.build()
    }

    #[test]
    fn an_empty_spec_is_the_default_policy_and_each_part_can_be_set() {
        let default = spec(serde_json::json!({})).expect("default");
        assert_eq!(default.caps, GatePolicy::default().caps);
        let custom = spec(serde_json::json!({
            "window": "09:00-20:00", "channel_windows": {"sms": "10:00-19:00"}, "state_windows": {"TX": "09:00-20:00"},
            "caps": [{"channel": "sms", "window_hours": 24, "max": 1}, {"purposes": ["marketing", "marketing_remunerated"], "window_hours": 168, "max": 0}],
            "require_verified": ["email"]
        }))
        .expect("custom");
        assert_eq!(custom.window, Window::hours(9, 20));
        assert_eq!(custom.channel_windows.get(&Channel::Sms), Some(&Window::hours(10, 19)));
        assert_eq!(custom.state_windows.keys().collect::<Vec<_>>(), ["TX"]);
        assert_eq!(custom.caps.len(), 2);
        assert_eq!(custom.require_verified.into_iter().collect::<Vec<_>>(), [Channel::Email]);
    }

    #[test]
    fn a_baa_is_in_force_from_its_signing_until_its_end() {
        let d = |s: &str| s.parse::<jiff::civil::Date>().expect("date");
        let p = ProviderSpec { name: "smtp".into(), kind: ProviderKind::Smtp, baa_signed: Some(d("2026-01-15")), baa_expires: Some(d("2027-01-15")), rate_per_second: None, backup: None };
        assert!(!p.baa_in_force(d("2026-01-14")));
        assert!(p.baa_in_force(d("2026-01-15")));
        assert!(p.baa_in_force(d("2027-01-14")));
        assert!(!p.baa_in_force(d("2027-01-15")));
        assert!(!ProviderSpec { baa_signed: None, ..p.clone() }.baa_in_force(d("2026-06-01")));
        let mut configured = BTreeMap::new();
        configured.insert("email".to_owned(), ProviderSpec { baa_expires: Some(d("2025-01-01")), ..p.clone() });
        assert!(check_providers(&configured).expect_err("ends before it starts").contains("providers.email.baa_expires"));
        configured.insert("email".to_owned(), p);
        configured.insert("fax".to_owned(), ProviderSpec { name: "x".into(), kind: ProviderKind::Sink, baa_signed: None, baa_expires: None, rate_per_second: None, backup: None });
        assert!(check_providers(&configured).expect_err("fax").contains("providers.fax"));
    }

    #[test]
    fn each_wrong_setting_is_named() {
        for (bad, named) in [
            (serde_json::json!({"window": "21:00-08:00"}), "gate.window"),
            (serde_json::json!({"channel_windows": {"fax": "08:00-20:00"}}), "gate.channel_windows.fax"),
            (serde_json::json!({"state_windows": {"XX": "08:00-20:00"}}), "gate.state_windows.XX"),
            (serde_json::json!({"caps": [{"window_hours": 0, "max": 1}]}), "gate.caps[0].window_hours"),
            (serde_json::json!({"caps": [{"purposes": ["spam"], "window_hours": 1, "max": 1}]}), "gate.caps[0].purposes"),
            (serde_json::json!({"require_verified": ["pigeon"]}), "gate.require_verified"),
            (serde_json::json!({"colour": "blue"}), "colour"),
        ] {
            let e = spec(bad.clone()).expect_err("refused");
            assert!(e.contains(named), "{bad} -> {e}");
        }
    }
}
