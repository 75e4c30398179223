//! Configuration: defaults, then a TOML file, then `SOTTO_` environment variables, then flags.
//! Secrets may come from files (`*_FILE`). Invalid settings stop the program with a message
//! that names the setting, where it came from and how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

use sotto_crypto::MasterKey;
use sotto_http::HttpSettings;
use sotto_http::telemetry::LogFormat;
use sotto_store::DatabaseUrl;

/// Variables Sotto reads; any other `SOTTO_` variable is reported as unknown.
const KNOWN_VARS: &[&str] = &[
    "SOTTO_CONFIG", "SOTTO_DATABASE_URL", "SOTTO_DATABASE_URL_FILE", "SOTTO_LISTEN", "SOTTO_MASTER_KEY",
    "SOTTO_MASTER_KEY_FILE", "SOTTO_LOG_FORMAT", "SOTTO_DEFAULT_REGION", "SOTTO_BODY_LIMIT_BYTES",
    "SOTTO_REQUEST_TIMEOUT_SECS", "SOTTO_PRODUCTION", "SOTTO_TEST_DATABASE_URL", "SOTTO_PUBLIC_URL", "SOTTO_SMS_BRAND",
    "SOTTO_SMS_HELP_CONTACT", "SOTTO_SMS_WEBHOOK_SECRET", "SOTTO_SMS_WEBHOOK_SECRET_FILE", "SOTTO_CLINIC_NAME",
    "SOTTO_CLINIC_PHONE", "SOTTO_CLINIC_ADDRESS", "SOTTO_CLINIC_WEBSITE", "SOTTO_AUDIT_CHECKPOINTS_DIR",
    "SOTTO_AUDIT_CHECKPOINT_ENTRIES", "SOTTO_AUDIT_CHECKPOINT_MINUTES", "SOTTO_TLS_CERT_FILE", "SOTTO_TLS_KEY_FILE",
    "SOTTO_HEADER_READ_TIMEOUT_SECS", "SOTTO_GATE_WINDOW", "SOTTO_GATE_REQUIRE_VERIFIED", "SOTTO_EMAIL_FROM",
];

/// Flags (each also readable from its `SOTTO_` variable) shared by server commands.
#[derive(Debug, Args, Default)]
pub struct ConfigArgs {
    /// A TOML configuration file.
    #[arg(long, env = "SOTTO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "SOTTO_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// A file holding the database URL (for URLs with passwords).
    #[arg(long, env = "SOTTO_DATABASE_URL_FILE")]
    pub database_file: Option<PathBuf>,
    /// Address to listen on, HOST:PORT.
    #[arg(long, env = "SOTTO_LISTEN")]
    pub listen: Option<String>,
    /// File holding the 32-byte master key (base64 or hex).
    #[arg(long, env = "SOTTO_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log format: json or text.
    #[arg(long, env = "SOTTO_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Refuse to start without strong secrets.
    #[arg(long, env = "SOTTO_PRODUCTION")]
    pub production: bool,
    /// Where signed audit checkpoints are written (default: audit-checkpoints beside the data).
    #[arg(long = "checkpoints", env = "SOTTO_AUDIT_CHECKPOINTS_DIR")]
    pub audit_checkpoints: Option<PathBuf>,
}

/// The TOML file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    listen: Option<String>,
    master_key_file: Option<PathBuf>,
    log_format: Option<String>,
    default_region: Option<String>,
    body_limit_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    production: Option<bool>,
    public_url: Option<String>,
    sms_brand: Option<String>,
    sms_help_contact: Option<String>,
    sms_webhook_secret_file: Option<PathBuf>,
    clinic_name: Option<String>,
    clinic_phone: Option<String>,
    clinic_address: Option<String>,
    clinic_website: Option<String>,
    audit_checkpoints_dir: Option<PathBuf>,
    audit_checkpoint_entries: Option<u64>,
    audit_checkpoint_minutes: Option<u64>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    header_read_timeout_secs: Option<u64>,
    gate: Option<sotto_core::gate_policy::GateSpec>,
    providers: Option<std::collections::BTreeMap<String, sotto_core::gate_policy::ProviderSpec>>,
    email_from: Option<String>,
    smtp: Option<crate::provider_config::SmtpFile>,
    twilio: Option<crate::provider_config::TwilioFile>,
    fcm: Option<crate::provider_config::FcmFile>,
    apns: Option<crate::provider_config::ApnsFile>,
    last_risk_assessment: Option<jiff::civil::Date>,
    last_staff_training: Option<jiff::civil::Date>,
    portal_configured: Option<bool>,
    portal: Option<crate::portal_config::PortalFile>,
    staff: Option<crate::staff_config::StaffFile>,
    hl7: Option<crate::hl7_config::Hl7File>,
    fhir: Option<crate::fhir_config::FhirFile>,
    webhooks_allow_loopback: Option<bool>,
    campaign_audience_cap: Option<u64>,
    campaign_second_approval_above: Option<u64>,
}

/// Typed settings, passed down to what needs them.
#[derive(Debug)]
pub struct Settings {
    /// Where data lives.
    pub database: DatabaseUrl,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The master key, when one is configured.
    pub master_key: Option<MasterKey>,
    /// How logs are written.
    pub log_format: LogFormat,
    /// Region for national phone numbers.
    pub default_region: String,
    /// HTTP limits.
    pub http: HttpSettings,
    /// Production mode.
    pub production: bool,
    /// The base URL patients reach Sotto at.
    pub public_url: String,
    /// The brand named in SMS replies.
    pub sms_brand: String,
    /// Where SMS HELP replies send people.
    pub sms_help_contact: String,
    /// The SMS provider's auth token, for webhook signatures.
    pub sms_webhook_secret: Option<sotto_crypto::webhook::Secret>,
    /// The practice's details, for templates.
    pub clinic: sotto_app::ClinicInfo,
    /// Where signed audit checkpoints go.
    pub audit_checkpoints: PathBuf,
    /// How often they are written.
    pub checkpoint_policy: sotto_app::CheckpointPolicy,
    /// The send gate's rules.
    pub gate: sotto_core::gate::GatePolicy,
    /// The provider of each channel, with its BAA.
    pub providers: std::collections::BTreeMap<sotto_core::contact::Channel, sotto_core::gate_policy::ProviderSpec>,
    /// The From of every email.
    pub email_from: String,
    /// The SMTP relay, when `[smtp]` is configured.
    pub smtp: Option<sotto_deliver::SmtpSettings>,
    /// The SMS API, when `[twilio]` is configured.
    pub twilio: Option<sotto_deliver::TwilioSettings>,
    /// FCM, when `[fcm]` is configured.
    pub fcm: Option<sotto_deliver::FcmSettings>,
    /// APNs, when `[apns]` is configured.
    pub apns: Option<sotto_deliver::ApnsSettings>,
    /// What the campaign checklist reads: risk assessment and training dates, the portal.
    pub compliance: sotto_app::Compliance,
    /// The patient portal's lifetimes and topics.
    pub portal: sotto_app::PortalSettings,
    /// The console's sessions, break-glass and API clients' tokens.
    pub staff: sotto_app::StaffSettings,
    /// How HL7 v2 messages are read.
    pub hl7: sotto_core::hl7::Hl7Settings,
    /// How FHIR resources are read.
    pub fhir: sotto_core::fhir::FhirSettings,
    /// Whether webhooks may post to this machine.
    pub webhooks_allow_loopback: bool,
}

impl Settings {
    /// The settings the use cases need.
    pub fn app_settings(&self) -> sotto_app::AppSettings {
        sotto_app::AppSettings {
            default_region: self.default_region.clone(),
            public_url: self.public_url.clone(),
            sms_brand: self.sms_brand.clone(),
            sms_help_contact: self.sms_help_contact.clone(),
            sms_webhook_secret: self.sms_webhook_secret.clone(),
            clinic: self.clinic.clone(),
            gate: self.gate.clone(),
            providers: self.providers.clone(),
            email_from: self.email_from.clone(),
            dev_mailbox: false,
            send_rate: sotto_app::AppSettings::default().send_rate,
            compliance: self.compliance.clone(),
            portal: self.portal.clone(),
            staff: self.staff.clone(),
            hl7: self.hl7.clone(),
            fhir: self.fhir.clone(),
            webhooks_allow_loopback: self.webhooks_allow_loopback,
        }
    }
}

fn read_secret(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .with_context(|| format!("cannot read the {what} file {}: check the path and its permissions", path.display()))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Names the `SOTTO_` variables that Sotto does not know, so typos are noticed.
pub fn unknown_env_vars() -> Vec<String> {
    std::env::vars().map(|(k, _)| k).filter(|k| k.starts_with("SOTTO_") && !KNOWN_VARS.contains(&k.as_str())).collect()
}

/// Loads master key text from a file, refusing files others can read in production.
pub fn load_master_key(path: &Path, production: bool) -> anyhow::Result<MasterKey> {
    let text = read_secret(path, "master key")?;
    let key = MasterKey::parse(&text).with_context(|| format!("the master key file {} is not usable", path.display()))?;
    if production {
        if let Some(why) = key.weakness() {
            bail!("{why}: make a new one with `sotto keys generate-master --out FILE` and point SOTTO_MASTER_KEY_FILE at it");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!("the master key file {} can be read by other users (mode {:o}): run chmod 600 on it", path.display(), mode & 0o777);
            }
        }
    }
    Ok(key)
}

impl ConfigArgs {
    /// Resolves every setting, with `defaults` for the listen address and database.
    pub fn resolve(&self, default_listen: &str, default_database: Option<&str>) -> anyhow::Result<Settings> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the configuration file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("the configuration file {} is not valid: fix the named key", path.display()))?
            }
            None => FileConfig::default(),
        };
        let production = self.production || file.production.unwrap_or(false);
        let database_text = match (&self.database, &self.database_file, &file.database_url, &file.database_url_file) {
            (Some(url), _, _, _) => url.clone(),
            (None, Some(path), _, _) => read_secret(path, "database URL")?,
            (None, None, Some(url), _) => url.clone(),
            (None, None, None, Some(path)) => read_secret(path, "database URL")?,
            _ => default_database
                .map(str::to_owned)
                .context("no database configured: pass --database sqlite://PATH or postgres://…, or set SOTTO_DATABASE_URL")?,
        };
        let database: DatabaseUrl = database_text.parse().map_err(|e| anyhow::anyhow!("invalid database setting: {e}"))?;
        let listen_text = self.listen.clone().or(file.listen).unwrap_or_else(|| default_listen.to_owned());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid listen address {listen_text:?}: use HOST:PORT such as 127.0.0.1:8080"))?;
        let log_format = match self.log_format.clone().or(file.log_format).as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => bail!("invalid log format {other:?}: use json or text"),
        };
        let default_region = env("SOTTO_DEFAULT_REGION").or(file.default_region).unwrap_or_else(|| "US".into());
        if default_region.len() != 2 || !default_region.chars().all(|c| c.is_ascii_uppercase()) {
            bail!("invalid default region {default_region:?}: use a two-letter ISO 3166 code such as US");
        }
        let number = |name: &str, from_file: Option<u64>, default: u64| -> anyhow::Result<u64> {
            match env(name) {
                Some(v) => v.parse().map_err(|_| anyhow::anyhow!("{name} must be a whole number, not {v:?}")),
                None => Ok(from_file.unwrap_or(default)),
            }
        };
        let body_limit = number("SOTTO_BODY_LIMIT_BYTES", file.body_limit_bytes.map(|b| b as u64), 1024 * 1024)?;
        let timeout = number("SOTTO_REQUEST_TIMEOUT_SECS", file.request_timeout_secs, 30)?;
        if body_limit < 1024 || timeout == 0 {
            bail!("body_limit_bytes must be at least 1024 and request_timeout_secs at least 1");
        }
        let master_key = match (&self.master_key_file, file.master_key_file, env("SOTTO_MASTER_KEY")) {
            (Some(path), _, _) => Some(load_master_key(path, production)?),
            (None, Some(path), _) => Some(load_master_key(&path, production)?),
            (None, None, Some(_)) if production => {
                bail!("in production the master key must come from a file: set SOTTO_MASTER_KEY_FILE (make one with `sotto keys generate-master --out FILE`)")
            }
            (None, None, Some(text)) => Some(MasterKey::parse(&text).context("SOTTO_MASTER_KEY is not usable")?),
            (None, None, None) => None,
        };
        let public_url = env("SOTTO_PUBLIC_URL").or(file.public_url).unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) || public_url.contains(char::is_whitespace) {
            bail!("invalid public URL {public_url:?}: use the address patients reach Sotto at, such as https://engage.example.org");
        }
        if production && !public_url.starts_with("https://") {
            bail!("in production the public URL must use https:// (set SOTTO_PUBLIC_URL)");
        }
        let defaults = sotto_app::AppSettings::default();
        let sms_webhook_secret = match (env("SOTTO_SMS_WEBHOOK_SECRET_FILE").map(PathBuf::from).or(file.sms_webhook_secret_file), env("SOTTO_SMS_WEBHOOK_SECRET")) {
            (Some(path), _) => Some(read_secret(&path, "SMS webhook secret")?),
            (None, Some(_)) if production => bail!("in production the SMS webhook secret must come from a file: set SOTTO_SMS_WEBHOOK_SECRET_FILE"),
            (None, secret) => secret,
        }
        .map(sotto_crypto::webhook::Secret::new);
        let sms_brand = env("SOTTO_SMS_BRAND").or(file.sms_brand).unwrap_or(defaults.sms_brand);
        let clinic = sotto_app::ClinicInfo {
            name: env("SOTTO_CLINIC_NAME").or(file.clinic_name).unwrap_or_else(|| sms_brand.clone()),
            phone: env("SOTTO_CLINIC_PHONE").or(file.clinic_phone).unwrap_or(defaults.clinic.phone),
            address: env("SOTTO_CLINIC_ADDRESS").or(file.clinic_address).unwrap_or(defaults.clinic.address),
            website: env("SOTTO_CLINIC_WEBSITE").or(file.clinic_website).unwrap_or(defaults.clinic.website),
        };
        for (setting, value) in [("SOTTO_SMS_BRAND (sms_brand)", &sms_brand), ("SOTTO_CLINIC_NAME (clinic_name)", &clinic.name), ("SOTTO_CLINIC_ADDRESS (clinic_address)", &clinic.address)] {
            if let Some(category) = sotto_core::health_terms::find(value) {
                bail!("{setting} reveals health information ({category}) and would appear in every message, where the linter would stop it; use a neutral brand such as \"Riverside Health\"");
            }
        }
        let audit_checkpoints = self.audit_checkpoints.clone().or(file.audit_checkpoints_dir).unwrap_or_else(|| {
            let beside = database.sqlite_path().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty());
            beside.unwrap_or(Path::new(".")).join("audit-checkpoints")
        });
        let every_entries = number("SOTTO_AUDIT_CHECKPOINT_ENTRIES", file.audit_checkpoint_entries, 1_000)?;
        let every_minutes = number("SOTTO_AUDIT_CHECKPOINT_MINUTES", file.audit_checkpoint_minutes, 5)?;
        if every_entries == 0 || every_minutes == 0 || every_entries > i64::MAX as u64 || every_minutes > 24 * 60 {
            bail!("audit_checkpoint_entries must be at least 1 and audit_checkpoint_minutes from 1 to 1440");
        }
        let header_timeout = number("SOTTO_HEADER_READ_TIMEOUT_SECS", file.header_read_timeout_secs, 10)?;
        if !(1..=300).contains(&header_timeout) {
            bail!("header_read_timeout_secs must be from 1 to 300");
        }
        let tls = match (env("SOTTO_TLS_CERT_FILE").map(PathBuf::from).or(file.tls_cert_file), env("SOTTO_TLS_KEY_FILE").map(PathBuf::from).or(file.tls_key_file)) {
            (Some(cert), Some(key)) => Some(sotto_http::TlsSettings::from_pem_files(&cert, &key).map_err(|e| anyhow::anyhow!("{e} (SOTTO_TLS_CERT_FILE, SOTTO_TLS_KEY_FILE)"))?),
            (None, None) => None,
            _ => bail!("TLS needs both a certificate and a key: set SOTTO_TLS_CERT_FILE and SOTTO_TLS_KEY_FILE (or tls_cert_file and tls_key_file), or neither"),
        };
        let mut gate_spec = file.gate.unwrap_or_default();
        if let Some(w) = env("SOTTO_GATE_WINDOW") {
            gate_spec.window = Some(w);
        }
        if let Some(channels) = env("SOTTO_GATE_REQUIRE_VERIFIED") {
            gate_spec.require_verified = Some(channels.split(',').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect());
        }
        let gate = gate_spec.build().map_err(|e| anyhow::anyhow!("invalid gate policy: {e} (the [gate] table, SOTTO_GATE_WINDOW or SOTTO_GATE_REQUIRE_VERIFIED)"))?;
        let providers = sotto_core::gate_policy::check_providers(&file.providers.unwrap_or_default()).map_err(|e| anyhow::anyhow!("invalid provider settings: {e}"))?;
        let checkpoint_policy = sotto_app::CheckpointPolicy {
            every_entries: every_entries as i64,
            every: Duration::from_secs(every_minutes * 60),
            ..sotto_app::CheckpointPolicy::default()
        };
        let email_from = env("SOTTO_EMAIL_FROM").or(file.email_from).unwrap_or(defaults.email_from);
        if !email_from.contains('@') || email_from.contains(['\r', '\n']) {
            bail!("the From address {email_from:?} is not an email address: set email_from (or SOTTO_EMAIL_FROM) to something like \"Clinic <no-reply@clinic.example>\"");
        }
        let smtp = crate::provider_config::resolve(file.smtp, &email_from, production)?;
        let twilio = crate::provider_config::resolve_twilio(file.twilio, &public_url, production)?;
        let fcm = crate::provider_config::resolve_fcm(file.fcm, production)?;
        let apns = crate::provider_config::resolve_apns(file.apns, production)?;
        // Twilio signs its webhooks with the account's auth token.
        let sms_webhook_secret = sms_webhook_secret.or_else(|| twilio.as_ref().map(|t| sotto_crypto::webhook::Secret::new(t.auth_token.clone())));
        let compliance = sotto_app::Compliance {
            last_risk_assessment: file.last_risk_assessment,
            last_staff_training: file.last_staff_training,
            // Sotto serves its own portal at /portal; a deployment that turns it off says so.
            portal_configured: file.portal_configured.unwrap_or(true),
            audience_cap: file.campaign_audience_cap,
            second_approval_above: file.campaign_second_approval_above,
        };
        let portal = crate::portal_config::resolve(file.portal)?;
        let staff = crate::staff_config::resolve(file.staff)?;
        let hl7 = crate::hl7_config::resolve(file.hl7, &default_region)?;
        let fhir = crate::fhir_config::resolve(file.fhir, &default_region)?;
        let webhooks_allow_loopback = file.webhooks_allow_loopback.unwrap_or(false);
        if webhooks_allow_loopback && production {
            bail!("webhooks_allow_loopback is for development: in production a webhook may only post to a public https:// host; remove it");
        }
        Ok(Settings {
            webhooks_allow_loopback,
            fhir,
            hl7,
            portal,
            staff,
            compliance,
            smtp,
            twilio,
            fcm,
            apns,
            email_from,
            gate,
            providers,
            audit_checkpoints,
            checkpoint_policy,
            public_url: public_url.trim_end_matches('/').to_owned(),
            sms_brand,
            clinic,
            sms_help_contact: env("SOTTO_SMS_HELP_CONTACT").or(file.sms_help_contact).unwrap_or(defaults.sms_help_contact),
            sms_webhook_secret,
            database,
            listen,
            master_key,
            log_format,
            default_region,
            http: HttpSettings { body_limit: body_limit as usize, request_timeout: Duration::from_secs(timeout), header_read_timeout: Duration::from_secs(header_timeout), tls, max_connections: 1024 },
            production,
        })
    }
}
