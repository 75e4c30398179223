//! The clock the background work reads: the system's, moved forward only in development
//! (the demo and the sink), so a newcomer can watch two days of a journey in a minute.

use jiff::{SignedDuration, Timestamp};

use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::{App, AppError, RequestCtx};

impl<S: Store> App<S> {
    /// Now, as the journey scheduler and the dispatch worker see it.
    pub fn now(&self) -> Timestamp {
        let offset = self.clock_offset.load(std::sync::atomic::Ordering::Relaxed);
        Timestamp::now() + SignedDuration::from_micros(offset)
    }

    /// Moves the background clock forward by `by` (development only: 404 otherwise) and
    /// wakes the worker; answers the new time.
    pub async fn advance_clock(&self, ctx: &RequestCtx, by: &str) -> Result<Timestamp, AppError> {
        if !self.settings.dev_mailbox {
            return Err(AppError::NotFound("route"));
        }
        self.require(ctx, Scope::DispatchManage, "dev:clock").await?;
        let step = sotto_core::journey::parse_duration(by).ok_or_else(|| {
            AppError::Invalid(vec![sotto_core::error::FieldError::new("invalid_duration", "advance", "advance is a duration such as \"90m\", \"48h\" or \"2d\"")])
        })?;
        self.clock_offset.fetch_add(step.as_micros() as i64, std::sync::atomic::Ordering::Relaxed);
        self.outbox_notify.notify_one();
        Ok(self.now())
    }
}
