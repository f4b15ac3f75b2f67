//! Tracing setup: JSON logs, filter from `RUST_LOG` (default `info`).
//!
//! PHI never reaches a log line: spans use `skip_all` with explicit safe fields, domain types that
//! hold PHI redact themselves, and free text from callers (transcripts, tool arguments) is never
//! logged. Tests pass a capturing writer (`testkit::LogCapture`) and search it for PHI.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// A JSON subscriber writing to `sink`.
pub fn subscriber<W>(default_filter: &str, sink: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(sink),
    )
}

/// Install `subscriber` for the process (once; later calls are ignored).
pub fn init(subscriber: impl Subscriber + Send + Sync) {
    let _ = tracing::subscriber::set_global_default(subscriber);
}
