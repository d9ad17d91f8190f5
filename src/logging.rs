//! Where log lines go: stderr, human-readable by default, or one JSON object per line
//! with `BCGRAPH_LOG_FORMAT=json` (for log collectors). Either way a line names the spans
//! it was written in (a request's id, a job's id, a sync and its page), with their fields.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Install the process's subscriber (`RUST_LOG` filters it; `info` by default). A bad
/// `BCGRAPH_LOG_FORMAT` is an error naming it; a subscriber already installed (a test
/// harness's) is kept.
pub(crate) fn init() -> Result<(), String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let format = std::env::var("BCGRAPH_LOG_FORMAT").unwrap_or_default();
    let lines = match format.trim() {
        "" | "text" => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        "json" => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
        other => return Err(format!("BCGRAPH_LOG_FORMAT: `{other}` is not `text` or `json`")),
    };
    let _ = tracing_subscriber::registry().with(filter).with(lines).try_init();
    Ok(())
}
