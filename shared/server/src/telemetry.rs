//! Tracing set-up: human or JSON lines on stderr, level from `RUST_LOG` or `log.level`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG` wins over `log.level`. Calling it twice is
/// harmless (the second call keeps the first subscriber).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match settings.format {
        LogFormat::Json => registry
            .with(fmt::layer().json().with_current_span(true).with_span_list(false).with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Human => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
    };
    drop(result);
}
