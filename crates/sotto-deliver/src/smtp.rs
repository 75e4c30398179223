//! Email over SMTP with lettre: a pool of connections to one relay, STARTTLS required (plain
//! text only to a loopback sink explicitly configured for development), DKIM signatures
//! (rsa-sha256 or ed25519-sha256) over From, To, Subject, Date, Message-ID and the one-click
//! unsubscribe headers, multipart text and HTML. Errors become stable codes, never text that
//! could carry an address.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::dkim::{DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};

use crate::smtp_pool::Pool;

use sotto_app::deliver::{Accepted, OutgoingMessage, Provider, SendError, SendFuture};

/// How the connection to the relay is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// STARTTLS, required: a relay that does not offer it gets nothing. Certificates are
    /// checked against the Web PKI roots and any extra roots given (PEM).
    StartTls {
        /// Extra trusted roots, for a private relay.
        extra_roots_pem: Vec<Vec<u8>>,
    },
    /// No TLS: only to a loopback address, for a development sink.
    PlainLoopback,
}

/// A DKIM signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    /// rsa-sha256, with a PKCS#1 PEM private key.
    RsaSha256,
    /// ed25519-sha256 (RFC 8463), with the base64 of the 32-byte private key.
    Ed25519Sha256,
}

/// How messages are signed.
#[derive(Clone)]
pub struct DkimSettings {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The algorithm.
    pub algorithm: DkimAlgorithm,
    /// The private key's text.
    pub private_key: String,
}

impl std::fmt::Debug for DkimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSettings").field("domain", &self.domain).field("selector", &self.selector).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// The relay and how to reach it.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The relay's host name (checked against its certificate) or address.
    pub host: String,
    /// Its port (587 for submission with STARTTLS).
    pub port: u16,
    /// TLS.
    pub security: SmtpSecurity,
    /// User name and password, when the relay asks for them.
    pub credentials: Option<(String, String)>,
    /// Connections kept open at most.
    pub pool_max: u32,
    /// How long one SMTP exchange may take.
    pub timeout: Duration,
    /// The From of every message.
    pub from: String,
    /// DKIM signing, when configured.
    pub dkim: Option<DkimSettings>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings").field("host", &self.host).field("port", &self.port).field("security", &self.security).field("dkim", &self.dkim).finish_non_exhaustive()
    }
}

/// A configuration that cannot work, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// Plain text to anything but loopback.
    #[error("smtp.tls = \"none\" is only allowed for a development sink on a loopback address (127.0.0.1, ::1 or localhost), not {0}; use tls = \"starttls\"")]
    PlainNotLoopback(String),
    /// The From address does not parse.
    #[error("the From address does not parse as a mailbox: set email_from to something like \"Clinic <no-reply@clinic.example>\"")]
    From,
    /// The DKIM key does not parse.
    #[error("smtp.dkim.private_key_file does not hold a {0} key: RSA keys are PKCS#1 PEM (BEGIN RSA PRIVATE KEY), Ed25519 keys the base64 of the 32-byte private key")]
    DkimKey(&'static str),
    /// A root certificate does not parse.
    #[error("smtp.ca_file does not hold a PEM certificate")]
    Root,
    /// TLS parameters could not be built.
    #[error("the TLS settings for the SMTP relay are invalid: {0}")]
    Tls(String),
}

/// `List-Unsubscribe` (RFC 2369), as composed.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost(String);

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

const SIGNED: [&str; 7] = ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"];

/// The SMTP provider.
pub struct SmtpProvider {
    pool: Pool,
    from: Mailbox,
    dkim: Option<DkimConfig>,
}

impl std::fmt::Debug for SmtpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpProvider").finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl SmtpProvider {
    /// Builds the provider; connections open when the first message goes.
    pub fn new(settings: &SmtpSettings) -> Result<Self, SmtpConfigError> {
        let from: Mailbox = settings.from.parse().map_err(|_| SmtpConfigError::From)?;
        let tls = match &settings.security {
            SmtpSecurity::PlainLoopback if is_loopback(&settings.host) => None,
            SmtpSecurity::PlainLoopback => return Err(SmtpConfigError::PlainNotLoopback(settings.host.clone())),
            SmtpSecurity::StartTls { extra_roots_pem } => {
                let mut builder = TlsParameters::builder(settings.host.clone());
                for pem in extra_roots_pem {
                    builder = builder.add_root_certificate(Certificate::from_pem(pem).map_err(|_| SmtpConfigError::Root)?);
                }
                Some(builder.build_rustls().map_err(|e| SmtpConfigError::Tls(e.to_string()))?)
            }
        };
        let credentials = settings.credentials.as_ref().map(|(user, password)| Credentials::new(user.clone(), password.clone()));
        let pool = Pool::new(settings.host.clone(), settings.port, tls, credentials, settings.timeout, settings.pool_max);
        let dkim = match &settings.dkim {
            None => None,
            Some(d) => {
                let (algorithm, name) = match d.algorithm {
                    DkimAlgorithm::RsaSha256 => (DkimSigningAlgorithm::Rsa, "rsa-sha256"),
                    DkimAlgorithm::Ed25519Sha256 => (DkimSigningAlgorithm::Ed25519, "ed25519-sha256"),
                };
                let key = DkimSigningKey::new(d.private_key.trim(), algorithm).map_err(|_| SmtpConfigError::DkimKey(name))?;
                let headers = SIGNED.iter().map(|h| HeaderName::new_from_ascii_str(h)).collect();
                let relaxed = DkimCanonicalization { header: DkimCanonicalizationType::Relaxed, body: DkimCanonicalizationType::Relaxed };
                Some(DkimConfig::new(d.selector.clone(), d.domain.clone(), key, headers, relaxed))
            }
        };
        Ok(Self { pool, from, dkim })
    }

    /// The message as it goes on the wire, signed.
    fn message(&self, m: &OutgoingMessage) -> Result<Message, SendError> {
        let to: Mailbox = m.to.expose().parse().map_err(|_| SendError::Permanent("invalid_address".into()))?;
        let header = |name: &str| m.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let sent_at = UNIX_EPOCH + Duration::from_micros(u64::try_from(m.at.as_microsecond()).unwrap_or_default());
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.expose().clone())
            .date(if sent_at > UNIX_EPOCH { sent_at } else { SystemTime::now() })
            .message_id(header("Message-ID"));
        if let Some(url) = header("List-Unsubscribe") {
            builder = builder.header(ListUnsubscribe(url));
        }
        if let Some(post) = header("List-Unsubscribe-Post") {
            builder = builder.header(ListUnsubscribePost(post));
        }
        let built = match &m.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(m.text.expose().clone(), html.expose().clone())),
            None => builder.body(m.text.expose().clone()),
        };
        let mut message = built.map_err(|_| SendError::Permanent("message_unbuildable".into()))?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(message)
    }
}

/// A stable code for an SMTP failure, and whether the message may have been taken.
pub(crate) fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let code = e.status().map(|c| format!("smtp_{c}"));
    if e.is_permanent() {
        return SendError::Permanent(code.unwrap_or_else(|| "smtp_permanent".into()));
    }
    if e.is_transient() {
        return SendError::Transient(code.unwrap_or_else(|| "smtp_transient".into()));
    }
    if e.is_tls() {
        return SendError::Transient("smtp_tls_failed".into());
    }
    // Client errors come before anything is sent: a relay that does not offer STARTTLS (it
    // may be one being tampered with, so it is tried again later), or a message the client
    // cannot send at all.
    if e.is_client() {
        return if e.to_string().contains("STARTTLS") { SendError::Transient("smtp_starttls_unavailable".into()) } else { SendError::Permanent("smtp_client_error".into()) };
    }
    if e.is_response() {
        return SendError::Uncertain("smtp_bad_response".into());
    }
    // lettre reports a failure to open the connection (nothing was sent, a connect timeout
    // included) as its Connection kind, and a failure on an open one as Network: only the
    // latter may have lost the reply to a message the relay took.
    if format!("{e:?}").contains("kind: Connection") {
        return SendError::Transient("smtp_connection_failed".into());
    }
    if e.is_timeout() {
        return SendError::Uncertain("smtp_timeout".into());
    }
    SendError::Uncertain("smtp_network".into())
}

impl Provider for SmtpProvider {
    fn name(&self) -> &str {
        "smtp"
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let message = self.message(m)?;
            match self.pool.send(message.envelope(), &message.formatted()).await {
                Ok(()) => Ok(Accepted::id(m.headers.iter().find(|(n, _)| n == "Message-ID").map(|(_, v)| v.trim_matches(['<', '>']).to_owned()).unwrap_or_else(|| m.id.clone()))),
                Err(error) => {
                    tracing::warn!(error = %error, "SMTP hand-off failed");
                    Err(error)
                }
            }
        })
    }
}
