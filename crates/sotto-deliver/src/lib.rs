//! Providers that carry messages out of Sotto: email over SMTP (lettre), with pooled
//! connections, STARTTLS required, DKIM signatures and RFC 8058 one-click unsubscribe headers;
//! SMS through a Twilio-style HTTP API; push through FCM HTTP v1 and APNs.

mod apns;
mod fcm;
mod jwt;
mod push;
mod smtp;
mod smtp_pool;
mod twilio;
mod webhook;

pub use apns::{ApnsProvider, ApnsSettings};
pub use fcm::{FcmProvider, FcmSettings, PushConfigError};
pub use jwt::KeyError;
pub use push::PushProvider;
pub use smtp::{DkimAlgorithm, DkimSettings, SmtpConfigError, SmtpProvider, SmtpSecurity, SmtpSettings};
pub use twilio::{TwilioConfigError, TwilioProvider, TwilioSettings};
pub use webhook::HttpWebhookPoster;

/// Makes ring the process's TLS crypto provider for HTTP clients, once.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
