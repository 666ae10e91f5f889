//! Logging: a human-readable console plus a JSON-lines file rotated by size.
//!
//! The file is written through `tracing_appender::non_blocking`: request threads never wait on
//! disk. When the writer falls behind by more than [`LOG_BUFFER_LINES`] lines, new lines are
//! dropped (lossy mode) rather than blocking requests; the count of dropped lines is kept and
//! shown in `/health` (`logs.dropped_lines`). The [`LogGuard`] returned by [`init`] must live
//! until the end of `main`: dropping it flushes what is buffered.

mod json_layer;
mod rotating;

pub use json_layer::JsonLayer;
pub use rotating::RotatingFile;

use crate::config::LogConfig;
use std::io::IsTerminal;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Lines the non-blocking writer buffers before it starts dropping (about 100 MB at worst).
pub const LOG_BUFFER_LINES: usize = 128_000;

/// Dependencies whose info-level chatter drowns the service's own lines.
const QUIET_TARGETS: &[&str] = &[
    "hyper=warn",
    "hyper_util=warn",
    "h2=warn",
    "tower=warn",
    "tower_http=warn",
    "reqwest=warn",
    "rustls=warn",
    "redis=warn",
    "symphonia=warn",
    "symphonia_core=warn",
    "symphonia_bundle_mp3=warn",
    "symphonia_format_isomp4=warn",
    "moka=warn",
];

/// Keeps the file writer alive; flushes on drop.
pub struct LogGuard {
    _file: Option<WorkerGuard>,
    dropped: Option<ErrorCounter>,
}

impl LogGuard {
    /// Lines dropped because the file writer fell behind.
    pub fn dropped_lines(&self) -> usize {
        self.dropped.as_ref().map_or(0, |c| c.dropped_lines())
    }

    /// A handle to the dropped-line counter for `/health`.
    pub fn counter(&self) -> Option<ErrorCounter> {
        self.dropped.clone()
    }
}

/// The filter: `LOG_LEVEL` plus quieted dependency targets (unless `LOG_LEVEL` names them).
pub fn filter(level: &str) -> EnvFilter {
    let mut directives = String::from(level);
    for quiet in QUIET_TARGETS {
        let target = quiet.split('=').next().unwrap_or_default();
        if !level.contains(target) {
            directives.push(',');
            directives.push_str(quiet);
        }
    }
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(cfg: &LogConfig) -> std::io::Result<LogGuard> {
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true)
        .with_filter(filter(&cfg.level));

    let (file_layer, guard) = match &cfg.file {
        Some(path) => {
            let file = RotatingFile::open(path, cfg.max_size_bytes, cfg.backup_count)?;
            let (writer, guard) = NonBlockingBuilder::default()
                .buffered_lines_limit(LOG_BUFFER_LINES)
                .lossy(true)
                .finish(file);
            let counter = writer.error_counter();
            let layer: Box<dyn Layer<_> + Send + Sync> = if cfg.json {
                JsonLayer::new(writer)
                    .with_filter(filter(&cfg.level))
                    .boxed()
            } else {
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .with_filter(filter(&cfg.level))
                    .boxed()
            };
            (
                Some(layer),
                LogGuard {
                    _file: Some(guard),
                    dropped: Some(counter),
                },
            )
        }
        None => (
            None,
            LogGuard {
                _file: None,
                dropped: None,
            },
        ),
    };

    tracing_subscriber::registry()
        .with(console)
        .with(file_layer)
        .try_init()
        .map_err(std::io::Error::other)?;
    Ok(guard)
}
