//! Pacing hand-offs to the providers' configured rates with tokens drawn from the store's
//! shared buckets (one per channel), so the rate holds across every worker process. A chunk
//! draws what it still needs in one statement and waits while the bucket is empty.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use sotto_core::contact::Channel;
use sotto_store::SendRateStore;

use crate::deliver::Providers;
use crate::micros;

/// The tokens one chunk holds and still needs, per channel.
pub(crate) struct Pacer<'a, S> {
    store: &'a S,
    providers: &'a Providers,
    held: BTreeMap<Channel, i64>,
    needed: BTreeMap<Channel, i64>,
}

impl<'a, S: SendRateStore> Pacer<'a, S> {
    /// A pacer for a chunk that will hand over `needed` messages per channel.
    pub(crate) fn new(store: &'a S, providers: &'a Providers, needed: BTreeMap<Channel, i64>) -> Self {
        Self { store, providers, held: BTreeMap::new(), needed }
    }

    /// Waits until the channel's provider may take one more message. When the store cannot
    /// be read it waits one interval of the rate instead, so messages already handed over in
    /// this chunk are still recorded.
    pub(crate) async fn take(&mut self, channel: Channel) {
        let Some(rate) = self.providers.rate(channel) else { return };
        let interval = Duration::from_secs_f64((1.0 / rate).clamp(0.001, 1.0));
        loop {
            let held = self.held.entry(channel).or_default();
            let needed = self.needed.entry(channel).or_default();
            if *held > 0 {
                *held -= 1;
                *needed = (*needed - 1).max(0);
                return;
            }
            let wanted = (*needed).max(1);
            match self.store.take_send_tokens(channel.as_str(), rate, rate.max(1.0), wanted, micros(Timestamp::now())).await {
                Ok(granted) if granted > 0 => *self.held.entry(channel).or_default() += granted,
                Ok(_) => tokio::time::sleep(interval).await,
                Err(e) => {
                    tracing::warn!(%channel, error = %e, "cannot draw from the shared send rate; pacing this hand-off locally");
                    tokio::time::sleep(interval).await;
                    return;
                }
            }
        }
    }
}
