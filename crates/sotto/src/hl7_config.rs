//! The `[hl7]` table: which PID-3 identifier is the external id, the zone of times sent
//! without an offset, and the AIS service codes mapped to appointment-type vault codes,
//! checked at start with errors that name the setting.

use std::collections::BTreeMap;

use anyhow::bail;
use serde::Deserialize;

use sotto_core::hl7::Hl7Settings;

/// `[hl7]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hl7File {
    identifier_type: Option<String>,
    assigning_authority: Option<String>,
    timezone: Option<String>,
    service_codes: Option<BTreeMap<String, String>>,
}

/// The HL7 settings from `[hl7]`, defaults where it is silent.
pub fn resolve(file: Option<Hl7File>, region: &str) -> anyhow::Result<Hl7Settings> {
    let file = file.unwrap_or_default();
    let defaults = Hl7Settings::default();
    let id_type = file.identifier_type.unwrap_or(defaults.id_type);
    if id_type.is_empty() || id_type.len() > 10 || !id_type.chars().all(|c| c.is_ascii_alphanumeric()) {
        bail!("[hl7] identifier_type must be an identifier type code of table 0203, such as \"MR\"");
    }
    let timezone = match file.timezone {
        Some(name) => jiff::tz::TimeZone::get(&name).map_err(|_| anyhow::anyhow!("[hl7] timezone must be an IANA zone such as \"America/Chicago\""))?,
        None => defaults.timezone,
    };
    let service_codes = file.service_codes.unwrap_or_default();
    for (code, vault) in &service_codes {
        let body = vault.strip_prefix("appt_type:").unwrap_or_default();
        if code.is_empty() || body.is_empty() || !body.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
            bail!("[hl7.service_codes] maps a service code (\"code\" or \"system|code\") to an appointment-type vault code such as \"appt_type:5\"; one entry is not of that form");
        }
    }
    Ok(Hl7Settings { id_type, id_authority: file.assigning_authority.filter(|a| !a.is_empty()), service_codes, timezone, region: region.to_owned() })
}
