//! Logging setup: JSON lines (production) or compact text, filtered by `RUST_LOG`.
//! Log fields are ids, routes, statuses and codes; PHI-bearing values are `Phi<T>` and print
//! as `[redacted]` if they ever reach a formatter.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Builds the subscriber that the binary installs and tests capture.
pub fn subscriber<W>(format: LogFormat, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_target(false);
    match format {
        LogFormat::Json => Box::new(builder.json().with_current_span(true).with_span_list(false).finish()),
        LogFormat::Text => Box::new(builder.compact().finish()),
    }
}
