//! Where the logs go: `tracing` events to stderr, human-readable by default or one JSON
//! object per line (`--log-format json`), filtered by `AISLE_LOG` (e.g. `debug`,
//! `aisle_engine=debug,info`) or the command's default level.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format '{other}' (expected text or json)"
            )),
        }
    }
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The format [`init`] installed first (a training process the server starts writes its
/// lines in the server's format).
static INSTALLED: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The format log lines are written in.
pub fn format() -> LogFormat {
    INSTALLED.get().copied().unwrap_or_default()
}

/// Installs the global subscriber; `default_level` applies when `AISLE_LOG` is not set.
/// A second call (tests, the demo starting the server) keeps the first subscriber.
pub fn init(format: LogFormat, default_level: &str) {
    let _ = INSTALLED.set(format);
    let filter =
        EnvFilter::try_from_env("AISLE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}
