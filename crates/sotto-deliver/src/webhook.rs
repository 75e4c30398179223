//! The outbound webhook poster: a JSON body and its signature headers, posted over HTTPS (or
//! HTTP to this machine), redirects not followed, the answer's body never read, a timeout.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sotto_app::webhooks::{PostResult, WebhookPoster};

/// Posts webhook deliveries with a shared client.
#[derive(Debug, Clone)]
pub struct HttpWebhookPoster {
    client: reqwest::Client,
}

impl HttpWebhookPoster {
    /// A poster whose posts give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, String> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;
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
