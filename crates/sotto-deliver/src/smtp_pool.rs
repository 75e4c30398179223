//! The SMTP connections to one relay: at most `pool_max` open, reused while the relay keeps
//! them, each with `TCP_NODELAY` (lettre writes a message's final dot apart from its body,
//! which Nagle's algorithm would hold until the relay's delayed ACK, some 40 ms a message),
//! STARTTLS required when configured, authenticated when credentials are given.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::Semaphore;

use sotto_app::deliver::SendError;

/// How long a connection may sit idle before it is checked with NOOP before use.
const CHECK_AFTER: Duration = Duration::from_secs(5);

/// Where the relay is and how connections to it are set up.
pub(crate) struct Pool {
    host: String,
    port: u16,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    timeout: Duration,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    permits: Semaphore,
}

fn before_sending(code: &str) -> SendError {
    SendError::Transient(code.to_owned())
}

impl Pool {
    pub(crate) fn new(host: String, port: u16, tls: Option<TlsParameters>, credentials: Option<Credentials>, timeout: Duration, max: u32) -> Self {
        let hello = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(_) => ClientId::default(),
            Err(_) => ClientId::Domain(host.split_once('.').map_or("localhost", |(_, domain)| domain).to_owned()),
        };
        Self { host, port, tls, credentials, timeout, hello, idle: Mutex::new(Vec::new()), permits: Semaphore::new(max.max(1) as usize) }
    }

    /// A new connection, ready for a message: nothing has been sent yet, so any failure here
    /// is worth trying again.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
        let tcp = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(tcp)) => tcp,
            _ => return Err(before_sending("smtp_connection_failed")),
        };
        let _ = tcp.set_nodelay(true);
        let greeting = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello);
        let mut conn = match tokio::time::timeout(self.timeout, greeting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(before_sending(&e.status().map_or_else(|| "smtp_connection_failed".to_owned(), |c| format!("smtp_{c}")))),
            Err(_) => return Err(before_sending("smtp_connection_failed")),
        };
        if let Some(tls) = &self.tls {
            // A relay that does not offer STARTTLS gets nothing (it may be one being tampered with).
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(before_sending("smtp_starttls_unavailable"));
            }
            match tokio::time::timeout(self.timeout, conn.starttls(tls.clone(), &self.hello)).await {
                Ok(Ok(())) => {}
                _ => return Err(before_sending("smtp_tls_failed")),
            }
        }
        if let Some(credentials) = &self.credentials {
            match tokio::time::timeout(self.timeout, conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(before_sending(&e.status().map_or_else(|| "smtp_auth_failed".to_owned(), |c| format!("smtp_{c}")))),
                Err(_) => return Err(before_sending("smtp_auth_failed")),
            }
        }
        Ok(conn)
    }

    /// An open connection: an idle one (checked if it sat a while), else a new one.
    async fn take(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
            match idle {
                None => return self.connect().await,
                Some((conn, _)) if conn.has_broken() => continue,
                Some((mut conn, since)) if since.elapsed() > CHECK_AFTER => {
                    if tokio::time::timeout(self.timeout, conn.test_connected()).await.unwrap_or(false) {
                        return Ok(conn);
                    }
                }
                Some((conn, _)) => return Ok(conn),
            }
        }
    }

    /// Sends one message; the connection goes back to the pool when the relay took it.
    pub(crate) async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        // Waiting for a connection sends nothing: past the timeout it is worth trying later.
        let _permit = match tokio::time::timeout(self.timeout, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(before_sending("smtp_closed")),
            Err(_) => return Err(before_sending("smtp_pool_busy")),
        };
        let mut conn = self.take().await?;
        match tokio::time::timeout(self.timeout, conn.send(envelope, bytes)).await {
            Ok(Ok(_)) => {
                self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((conn, Instant::now()));
                Ok(())
            }
            Ok(Err(e)) => Err(crate::smtp::classify(&e)),
            // The message may have been written: it is never sent again by itself.
            Err(_) => Err(SendError::Uncertain("smtp_timeout".into())),
        }
    }
}
