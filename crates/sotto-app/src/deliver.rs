//! What a provider is handed, how a hand-off can end, and the development sink with its
//! mailbox: the sink keeps what it would have delivered in memory, newest first, so the demo
//! can show every email, SMS and push as the patient would see it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::Timestamp;
use serde::Serialize;

use sotto_core::contact::Channel;
pub use sotto_core::email_report::ReportKind;
use sotto_core::phi::Phi;

use crate::failover::Health;

/// A message rendered for one patient, ready for a provider. Lives only in memory.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// The outbox id (`msg_…`), also the basis of the email Message-ID.
    pub id: String,
    /// The channel.
    pub channel: Channel,
    /// The address, number or (push) the first device token.
    pub to: Phi<String>,
    /// Push: every device token of the patient, each notified; empty for email and SMS.
    pub devices: Vec<Phi<String>>,
    /// Email subject or push title.
    pub subject: Phi<String>,
    /// Email preview text.
    pub preview: Phi<String>,
    /// Plain text: the email's text part, the SMS, or the push body.
    pub text: Phi<String>,
    /// The email's HTML part.
    pub html: Option<Phi<String>>,
    /// Headers Sotto sets beyond From, To, Subject, Date and Message-ID (List-Unsubscribe and
    /// List-Unsubscribe-Post on marketing email).
    pub headers: Vec<(String, String)>,
    /// When it was rendered.
    pub at: Timestamp,
}

/// A provider's acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The provider's id for the message.
    pub provider_message_id: String,
    /// Push: device tokens the service said are no longer valid, to be forgotten.
    pub stale_devices: Vec<Phi<String>>,
}

impl Accepted {
    /// An acceptance with the provider's id and nothing stale.
    pub fn id(provider_message_id: impl Into<String>) -> Self {
        Self { provider_message_id: provider_message_id.into(), stale_devices: Vec::new() }
    }
}

/// The code of a push hand-off refused because every device token was invalid: the message
/// fails and the tokens are forgotten.
pub const PUSH_TOKENS_INVALID: &str = "push_tokens_invalid";

/// How a hand-off failed, with a stable code and no PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth trying again (a 4xx SMTP reply, a 429 or 5xx answer, a refused connection).
    Transient(String),
    /// Never worth trying again (a 5xx SMTP reply for the recipient, a 400 answer).
    Permanent(String),
    /// The provider may have taken it (a timeout after the message was written).
    Uncertain(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transient(c) => write!(f, "transient:{c}"),
            SendError::Permanent(c) => write!(f, "permanent:{c}"),
            SendError::Uncertain(c) => write!(f, "uncertain:{c}"),
        }
    }
}

/// A boxed future a provider answers with.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Accepted, SendError>> + Send + 'a>>;

/// Something that carries messages of one channel to patients.
pub trait Provider: Send + Sync + fmt::Debug {
    /// Its name, as configured (`sink`, `smtp`, `twilio`, …).
    fn name(&self) -> &str;
    /// Hands one message over.
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a>;
}

/// The provider for each channel, and the rate each may be handed messages at (drawn from a
/// bucket in the store, shared by every worker process).
#[derive(Debug, Clone, Default)]
pub struct Providers {
    by_channel: BTreeMap<Channel, Arc<dyn Provider>>,
    backups: BTreeMap<Channel, Arc<dyn Provider>>,
    rates: BTreeMap<Channel, f64>,
    health: Arc<Mutex<BTreeMap<(Channel, bool), Health>>>,
}

impl Providers {
    /// Names a channel's backup, which takes over after the primary fails
    /// [`FAILOVER_AFTER`](crate::failover::FAILOVER_AFTER) times in a row.
    pub fn with_backup(mut self, channel: Channel, provider: Arc<dyn Provider>) -> Self {
        self.backups.insert(channel, provider);
        self
    }

    /// The provider a message of `channel` goes to now, and whether it is the backup.
    pub fn route(&self, channel: Channel) -> Option<(Arc<dyn Provider>, bool)> {
        let primary = self.by_channel.get(&channel)?;
        let failing = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&(channel, false)).is_some_and(|h| h.failing_over(Instant::now()));
        match self.backups.get(&channel) {
            Some(backup) if failing => Some((backup.clone(), true)),
            _ => Some((primary.clone(), false)),
        }
    }

    /// Records how a hand-off to a channel's primary or backup went.
    pub fn record(&self, channel: Channel, backup: bool, ok: bool) {
        self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry((channel, backup)).or_default().record(ok, Instant::now());
    }

    /// Why sending should pause, when the providers that would carry `channel` now fail at
    /// least `rate` of their last hand-offs (at least `min_sample` of them); the windows are
    /// then forgotten, so a resume starts afresh.
    pub fn failing(&self, channel: Channel, rate: f64, min_sample: usize) -> Option<String> {
        let mut health = self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bad = |backup: bool| health.get(&(channel, backup)).map(Health::failures).filter(|(f, n)| *n >= min_sample && *f as f64 >= rate * *n as f64);
        let primary = bad(false)?;
        let (failed, sample) = if self.backups.contains_key(&channel) { bad(true)? } else { primary };
        let name = self.by_channel.get(&channel).map(|p| p.name().to_owned()).unwrap_or_default();
        let reason = format!("paused automatically: the {channel} provider {name} failed {failed} of its last {sample} hand-offs{}", if self.backups.contains_key(&channel) { ", and so did its backup" } else { "" });
        health.retain(|(c, _), _| *c != channel);
        Some(reason)
    }

    /// Limits how fast a channel's provider is handed messages, by every worker together.
    pub fn with_rate(mut self, channel: Channel, per_second: f64) -> Self {
        self.rates.insert(channel, per_second);
        self
    }

    /// The lowest rate any channel is limited to.
    pub fn slowest_rate(&self) -> Option<f64> {
        self.rates.values().copied().reduce(f64::min)
    }

    /// The most messages a second the channel's provider may be handed, when limited.
    pub fn rate(&self, channel: Channel) -> Option<f64> {
        self.rates.get(&channel).copied()
    }

    /// Sets the provider of a channel.
    pub fn with(mut self, channel: Channel, provider: Arc<dyn Provider>) -> Self {
        self.by_channel.insert(channel, provider);
        self
    }

    /// Every channel delivered to the sink.
    pub fn sink(mailbox: &Arc<Mailbox>) -> Self {
        let sink: Arc<dyn Provider> = Arc::new(SinkProvider { mailbox: mailbox.clone() });
        Self::default().with(Channel::Email, sink.clone()).with(Channel::Sms, sink.clone()).with(Channel::Push, sink)
    }

    /// The provider of a channel.
    pub fn get(&self, channel: Channel) -> Option<&Arc<dyn Provider>> {
        self.by_channel.get(&channel)
    }
}

/// One message as the sink kept it.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxEntry {
    /// Its place in the mailbox.
    pub id: u64,
    /// The channel.
    pub channel: Channel,
    /// The outbox id.
    pub message_id: String,
    /// The recipient.
    pub to: String,
    /// Subject or push title.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML, for email.
    pub html: Option<String>,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// When it arrived.
    pub at: String,
}

/// The development sink's memory: the newest messages, at most `capacity`.
#[derive(Debug)]
pub struct Mailbox {
    entries: Mutex<(u64, VecDeque<MailboxEntry>)>,
    capacity: usize,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self { entries: Mutex::new((0, VecDeque::new())), capacity: 2_000 }
    }
}

impl Mailbox {
    /// Keeps one message, dropping the oldest past capacity.
    pub fn keep(&self, mut entry: MailboxEntry) -> u64 {
        let mut guard = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.0 += 1;
        entry.id = guard.0;
        guard.1.push_front(entry);
        guard.1.truncate(self.capacity);
        guard.0
    }

    /// The messages kept, newest first.
    pub fn list(&self) -> Vec<MailboxEntry> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.iter().cloned().collect()
    }
}

/// The development provider: keeps every message in the mailbox instead of delivering it.
#[derive(Debug)]
pub struct SinkProvider {
    mailbox: Arc<Mailbox>,
}

impl SinkProvider {
    /// A sink keeping messages in `mailbox`.
    pub fn new(mailbox: &Arc<Mailbox>) -> Self {
        Self { mailbox: mailbox.clone() }
    }
}

impl Provider for SinkProvider {
    fn name(&self) -> &str {
        "sink"
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let entry = MailboxEntry {
                id: 0,
                channel: m.channel,
                message_id: m.id.clone(),
                to: m.to.expose().clone(),
                subject: m.subject.expose().clone(),
                text: m.text.expose().clone(),
                html: m.html.as_ref().map(|h| h.expose().clone()),
                headers: m.headers.clone(),
                at: m.at.to_string(),
            };
            let n = self.mailbox.keep(entry);
            Ok(Accepted::id(format!("sink-{n}")))
        })
    }
}
