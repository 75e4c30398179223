//! The outbound webhook poster: a JSON body and its signature headers, posted over HTTPS (or
//! HTTP to this machine in development), redirects not followed, the answer's body never read,
//! a timeout, and names resolved only to public addresses (a name that resolves to this
//! machine, a private network or a link-local address is not connected to).

use std::future::Future;
use std::pin::Pin;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use sotto_app::webhooks::{PostResult, WebhookPoster, internal};

/// Resolves through the system, keeping only addresses a webhook may reach.
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| !internal(a.ip()) || (allow_loopback && a.ip().is_loopback())).collect();
            if kept.is_empty() {
                return Err("the name resolves only to internal addresses".into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// Posts webhook deliveries with a shared client.
#[derive(Debug, Clone)]
pub struct HttpWebhookPoster {
    client: reqwest::Client,
}

impl HttpWebhookPoster {
    /// A poster whose posts give up after `timeout`.
    pub fn new(timeout: Duration, allow_loopback: bool) -> Result<Self, String> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }
}

impl WebhookPoster for HttpWebhookPoster {
    fn post<'a>(&'a self, url: &'a str, headers: Vec<(&'static str, String)>, body: String) -> Pin<Box<dyn Future<Output = PostResult> + Send + 'a>> {
        Box::pin(async move {
            let mut request = self.client.post(url).body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(answer) => Ok(answer.status().as_u16()),
                Err(e) if e.is_timeout() => Err("timeout".into()),
                Err(e) if e.is_connect() => Err("connection_failed".into()),
                Err(_) => Err("request_failed".into()),
            }
        })
    }
}
