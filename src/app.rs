//! The HTTP application: shared state, binding the listener, serving, graceful shutdown. The
//! services it serves are built by [`crate::startup`], which the CLI uses too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_appender::non_blocking::ErrorCounter;

use crate::asr::Transcriber;
use crate::coach::Coach;
use crate::config::Config;
use crate::history::History;
use crate::http::metrics::Metrics;
use crate::jobs::{Jobs, MemoryJobStore, RedisJobs};
use crate::pipeline::AnalysisService;

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
    /// Cache + admission + pipeline.
    pub analysis: Arc<AnalysisService>,
    /// Asynchronous jobs on top of `analysis` (`/jobs`).
    pub jobs: Arc<Jobs>,
    /// Prometheus metrics recorded as requests happen.
    pub metrics: Metrics,
    /// Speakers, rehearsals and goals (database + retry outbox).
    pub history: Arc<History>,
}

/// The replaceable services (tests put fakes at these seams).
#[derive(Default)]
pub struct Services {
    /// `None` → built from `config.asr`.
    pub transcriber: Option<Arc<dyn Transcriber>>,
    /// `None` → built from `config.coach`.
    pub coach: Option<Arc<dyn Coach>>,
    /// Lines dropped by the log writer (for `/health`).
    pub log_dropped: Option<ErrorCounter>,
}

/// A bound, not yet serving, application. Bind port 0 in tests and read [`Application::port`].
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Builds every service from the config and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Services::default()).await
    }

    /// Like [`Application::build`], with some services supplied (fakes in tests).
    pub async fn build_with(config: Config, services: Services) -> anyhow::Result<Self> {
        let analysis = Arc::new(
            crate::startup::build_analysis(&config, services.transcriber, services.coach).await?,
        );
        let jobs = Arc::new(match &config.jobs.redis {
            None => Jobs::new(
                memory_job_store(config.jobs.ttl),
                analysis.clone(),
                config.jobs.queue_timeout,
                crate::http::jobs::job_error,
            ),
            Some(redis) => {
                // An upload may wait for a worker, then be tried JOB_MAX_ATTEMPTS times, each
                // up to the analysis deadline plus the reclaim delay; an hour more for slack.
                let attempts = redis.max_attempts;
                let upload_ttl = config.jobs.queue_timeout
                    + (config.pipeline.analysis_timeout + redis.reclaim_after()) * attempts
                    + std::time::Duration::from_secs(3600);
                let queue = RedisJobs::new(redis, config.jobs.ttl, upload_ttl)
                    .map_err(anyhow::Error::msg)?;
                Jobs::distributed(
                    Arc::new(queue),
                    analysis.clone(),
                    config.jobs.queue_timeout,
                    crate::http::jobs::job_error,
                )
            }
        });
        let history = History::open(config.history.clone()).map_err(anyhow::Error::msg)?;
        // Whoever finishes a job posted with `speaker=` records its rehearsal.
        jobs.set_finisher(crate::http::jobs::rehearsal_finisher(
            history.clone(),
            analysis.clone(),
        ));
        let listener = TcpListener::bind(config.server.bind_addr).await?;
        let shutdown = CancellationToken::new();
        history.start(shutdown.child_token()).await;
        let state = AppState {
            config: Arc::new(config),
            started_at: Instant::now(),
            log_dropped: services.log_dropped,
            shutdown,
            analysis,
            jobs,
            metrics: Metrics::default(),
            history,
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

        // With jobs on Redis: this replica's workers (they stop taking jobs at shutdown).
        crate::jobs::worker::start(
            self.state.jobs.clone(),
            self.state.config.server.upload_dir.clone(),
            token.child_token(),
        );

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
        let stopping = Instant::now();
        // The listener is closed and new /analyze requests and jobs are refused (503); requests
        // already in flight — uploading, queued or analysing — finish within the deadline, and
        // so do accepted jobs, in what is left of it.
        match tokio::time::timeout(deadline, server).await {
            Ok(res) => res??,
            Err(_) => tracing::warn!(
                deadline_sec = deadline.as_secs_f64(),
                "in-flight requests did not finish before the shutdown deadline"
            ),
        }
        let jobs = self.state.jobs.clone();
        let left = deadline.saturating_sub(stopping.elapsed());
        if tokio::time::timeout(left, jobs.drained()).await.is_err() {
            tracing::warn!(
                jobs = jobs.active(),
                "jobs still running at the shutdown deadline are lost"
            );
        }
        // Let background cache writes (Redis, disk) land before exit.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.state.analysis.cache.flush(),
        )
        .await;
        // One last try for rehearsal writes still waiting for the database, then close the pool.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.state.history.drain_outbox(),
        )
        .await;
        self.state.history.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The in-memory job store, with a background sweep dropping expired jobs (reads already skip
/// them; the sweep returns their memory) until the store is dropped.
fn memory_job_store(ttl: std::time::Duration) -> Arc<MemoryJobStore> {
    let store = Arc::new(MemoryJobStore::new(ttl));
    let weak = Arc::downgrade(&store);
    // Often enough that an expired job's memory is back within a minute (or one TTL).
    let every = ttl.clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(60),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(store) = weak.upgrade() else { return };
            store.purge_expired();
        }
    });
    store
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
