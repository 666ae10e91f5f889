//! Application wiring: shared state, binding the listener, serving, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_appender::non_blocking::ErrorCounter;

use crate::config::Config;

/// Everything a handler needs, cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// When the process started serving (for `uptime_sec`).
    pub started_at: Instant,
    /// Lines the log writer dropped because it fell behind (None when logging to no file).
    pub log_dropped: Option<ErrorCounter>,
    /// Cancelled when shutdown begins: new analyses are refused with 503.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Per-component health for `/health`.
    pub async fn components_health(&self) -> Value {
        json!({
            "logs": {
                "status": "ok",
                "file": self.config.log.file.as_ref().map(|p| p.display().to_string()),
                "dropped_lines": self.log_dropped.as_ref().map_or(0, |c| c.dropped_lines()),
            },
        })
    }
}

/// A bound, not yet serving, application. Bind port 0 in tests and read [`Application::port`].
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Builds every service from the config and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, None).await
    }

    /// Like [`Application::build`], with the log writer's dropped-line counter for `/health`.
    pub async fn build_with(
        config: Config,
        log_dropped: Option<ErrorCounter>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.server.bind_addr).await?;
        let state = AppState {
            config: Arc::new(config),
            started_at: Instant::now(),
            log_dropped,
            shutdown: CancellationToken::new(),
        };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A token that starts graceful shutdown when cancelled (tests; `main` uses signals).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serves until SIGTERM/SIGINT (or the shutdown token), then stops accepting, lets in-flight
    /// requests finish for up to `SHUTDOWN_TIMEOUT_SEC`, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let token = self.state.shutdown.clone();
        let deadline = self.state.config.server.shutdown_timeout;
        let app = crate::http::router(self.state.clone());
        tracing::info!(addr = %self.local_addr(), "listening");

        let signal_token = token.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received");
            signal_token.cancel();
        });

        let graceful = token.clone();
        let server = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { graceful.cancelled().await });
        let server = tokio::spawn(async move { server.await });

        token.cancelled().await;
        match tokio::time::timeout(deadline, server).await {
            Ok(res) => res??,
            Err(_) => tracing::warn!(
                deadline_sec = deadline.as_secs_f64(),
                "in-flight requests did not finish before the shutdown deadline"
            ),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
