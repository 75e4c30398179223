//! Providers that carry messages out of Sotto: email over SMTP (lettre), with pooled
//! connections, STARTTLS required, DKIM signatures and RFC 8058 one-click unsubscribe headers.

mod smtp;

pub use smtp::{DkimAlgorithm, DkimSettings, SmtpConfigError, SmtpProvider, SmtpSecurity, SmtpSettings};
