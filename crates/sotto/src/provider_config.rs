//! The `[smtp]`, `[twilio]`, `[fcm]` and `[apns]` tables: the relay email goes through, the SMS
//! API and the push services, checked at start with errors that say what to fix. Secrets
//! (passwords, keys, tokens) come from files.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use sotto_deliver::{ApnsSettings, DkimAlgorithm, DkimSettings, FcmSettings, SmtpSecurity, SmtpSettings, TwilioSettings};

/// `[smtp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    host: String,
    port: Option<u16>,
    /// `starttls` (the default) or `none` (a development sink on loopback only).
    tls: Option<String>,
    /// A PEM file of extra roots to trust, for a private relay.
    ca_file: Option<PathBuf>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    pool_max: Option<u32>,
    timeout_secs: Option<u64>,
    dkim: Option<DkimFile>,
}

/// `[smtp.dkim]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimFile {
    domain: String,
    selector: String,
    /// `rsa-sha256` or `ed25519-sha256`.
    algorithm: String,
    private_key_file: PathBuf,
}

fn read(path: &PathBuf, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}: check the path and its permissions", path.display()))
}

/// `[twilio]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioFile {
    /// The API's base URL (default `https://api.twilio.com`).
    base_url: Option<String>,
    account_sid: String,
    auth_token_file: PathBuf,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    timeout_secs: Option<u64>,
}

/// The SMS API's settings, checked; statuses are posted back to the public URL.
pub fn resolve_twilio(file: Option<TwilioFile>, public_url: &str, production: bool) -> anyhow::Result<Option<TwilioSettings>> {
    let Some(file) = file else { return Ok(None) };
    let base_url = file.base_url.unwrap_or_else(|| "https://api.twilio.com".into());
    if production && !base_url.starts_with("https://") {
        bail!("twilio.base_url must use https:// in production");
    }
    if !file.account_sid.starts_with("AC") || file.account_sid.len() != 34 {
        bail!("twilio.account_sid must be the account SID (AC and 32 hex digits)");
    }
    let settings = TwilioSettings {
        base_url,
        account_sid: file.account_sid,
        auth_token: read(&file.auth_token_file, "twilio.auth_token_file")?.trim().to_owned(),
        from: file.from,
        messaging_service_sid: file.messaging_service_sid,
        status_callback: Some(format!("{}/v1/providers/twilio/status", public_url.trim_end_matches('/'))),
        timeout: Duration::from_secs(file.timeout_secs.unwrap_or(15).clamp(1, 120)),
    };
    sotto_deliver::TwilioProvider::new(settings.clone()).map_err(|e| anyhow::anyhow!("invalid [twilio] settings: {e}"))?;
    Ok(Some(settings))
}

/// The relay's settings, checked.
pub fn resolve(file: Option<SmtpFile>, from: &str, production: bool) -> anyhow::Result<Option<SmtpSettings>> {
    let Some(file) = file else { return Ok(None) };
    if file.host.trim().is_empty() {
        bail!("smtp.host must name the relay, such as smtp.clinic.example");
    }
    let security = match file.tls.as_deref().unwrap_or("starttls") {
        "starttls" => SmtpSecurity::StartTls { extra_roots_pem: file.ca_file.as_ref().map(|p| read(p, "smtp.ca_file").map(String::into_bytes)).transpose()?.into_iter().collect() },
        "none" if production => bail!("smtp.tls = \"none\" is refused in production: email must go over STARTTLS"),
        "none" => SmtpSecurity::PlainLoopback,
        other => bail!("smtp.tls must be \"starttls\" or \"none\" (a development sink on loopback), not {other:?}"),
    };
    let credentials = match (file.username, file.password_file) {
        (Some(user), Some(path)) => Some((user, read(&path, "smtp.password_file")?.trim().to_owned())),
        (None, None) => None,
        _ => bail!("smtp.username and smtp.password_file go together: set both or neither"),
    };
    let dkim = match file.dkim {
        None if production => bail!("production email must be DKIM-signed: add [smtp.dkim] with domain, selector, algorithm and private_key_file"),
        None => None,
        Some(d) => {
            let algorithm = match d.algorithm.as_str() {
                "rsa-sha256" => DkimAlgorithm::RsaSha256,
                "ed25519-sha256" => DkimAlgorithm::Ed25519Sha256,
                other => bail!("smtp.dkim.algorithm must be \"rsa-sha256\" or \"ed25519-sha256\", not {other:?}"),
            };
            Some(DkimSettings { domain: d.domain, selector: d.selector, algorithm, private_key: read(&d.private_key_file, "smtp.dkim.private_key_file")? })
        }
    };
    let timeout = file.timeout_secs.unwrap_or(30);
    if !(1..=600).contains(&timeout) {
        bail!("smtp.timeout_secs must be from 1 to 600");
    }
    let settings = SmtpSettings {
        host: file.host,
        port: file.port.unwrap_or(587),
        security,
        credentials,
        pool_max: file.pool_max.unwrap_or(8).clamp(1, 256),
        timeout: Duration::from_secs(timeout),
        from: from.to_owned(),
        dkim,
    };
    // Build it once now, so a bad key or address stops the program at start.
    sotto_deliver::SmtpProvider::new(&settings).map_err(|e| anyhow::anyhow!("invalid [smtp] settings: {e}"))?;
    Ok(Some(settings))
}

/// `[fcm]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmFile {
    /// The service-account key file (JSON) from the Google Cloud console.
    service_account_file: PathBuf,
    /// The API's base URL (default `https://fcm.googleapis.com`).
    base_url: Option<String>,
    timeout_secs: Option<u64>,
}

/// FCM's settings, checked; the key must sign.
pub fn resolve_fcm(file: Option<FcmFile>, production: bool) -> anyhow::Result<Option<FcmSettings>> {
    let Some(file) = file else { return Ok(None) };
    let base_url = file.base_url.unwrap_or_else(|| "https://fcm.googleapis.com".into());
    let timeout = Duration::from_secs(file.timeout_secs.unwrap_or(15).clamp(1, 120));
    let json = read(&file.service_account_file, "fcm.service_account_file")?;
    let settings = FcmSettings::from_service_account(&json, base_url, timeout).map_err(|e| anyhow::anyhow!("invalid [fcm] settings: {e}"))?;
    if production && !(settings.base_url.starts_with("https://") && settings.token_uri.starts_with("https://")) {
        bail!("fcm.base_url and the service account's token_uri must use https:// in production");
    }
    sotto_deliver::FcmProvider::new(settings.clone()).map_err(|e| anyhow::anyhow!("invalid [fcm] settings: {e}"))?;
    Ok(Some(settings))
}

/// `[apns]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsFile {
    team_id: String,
    key_id: String,
    /// The `.p8` signing key from the Apple developer account.
    private_key_file: PathBuf,
    /// The app's bundle id.
    topic: String,
    /// `production` (the default) or `sandbox`, or a base URL.
    environment: Option<String>,
    /// A PEM file of extra roots to trust, for a private gateway.
    ca_file: Option<PathBuf>,
    timeout_secs: Option<u64>,
}

/// APNs' settings, checked; the key must sign.
pub fn resolve_apns(file: Option<ApnsFile>, production: bool) -> anyhow::Result<Option<ApnsSettings>> {
    let Some(file) = file else { return Ok(None) };
    let base_url = match file.environment.as_deref().unwrap_or("production") {
        "production" => "https://api.push.apple.com".to_owned(),
        "sandbox" => "https://api.sandbox.push.apple.com".to_owned(),
        url if url.starts_with("https://") || (!production && url.starts_with("http://")) => url.to_owned(),
        other => bail!("apns.environment must be \"production\", \"sandbox\" or an https:// URL, not {other:?}"),
    };
    let settings = ApnsSettings {
        base_url,
        team_id: file.team_id,
        key_id: file.key_id,
        private_key_pem: read(&file.private_key_file, "apns.private_key_file")?,
        topic: file.topic,
        extra_roots_pem: file.ca_file.as_ref().map(|p| read(p, "apns.ca_file").map(String::into_bytes)).transpose()?.into_iter().collect(),
        timeout: Duration::from_secs(file.timeout_secs.unwrap_or(15).clamp(1, 120)),
    };
    sotto_deliver::ApnsProvider::new(settings.clone()).map_err(|e| anyhow::anyhow!("invalid [apns] settings: {e}"))?;
    Ok(Some(settings))
}
