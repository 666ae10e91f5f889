//! `GET /health`: liveness plus the state of each component.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::asr::{AsrHealth, AsrStatus};
use crate::cache::{CacheHealth, CacheStatus};
use crate::coach::{CoachHealth, CoachStatus};
use crate::history::{HistoryHealth, HistoryStatus};
use crate::jobs::{JobsHealth, JobsStatus};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Whether the service answers fully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceStatus {
    Ok,
    /// An optional component is unhealthy: the service still answers, with less.
    Degraded,
}

/// The body of `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    pub status: ServiceStatus,
    pub version: &'static str,
    pub uptime_sec: f64,
    pub components: Components,
}

/// Each component's own health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Components {
    pub asr: AsrHealth,
    pub cache: CacheHealth,
    pub coach: CoachHealth,
    pub history: HistoryHealth,
    pub jobs: JobsHealth,
    pub pipeline: PipelineHealth,
    pub logs: LogsHealth,
}

impl Components {
    /// A component that cannot do its part (a missing model, an unreachable tier, an open
    /// breaker, a database that does not answer, a jobs Redis that does not answer). A model still loading is not degraded.
    pub fn degraded(&self) -> bool {
        self.asr.status == AsrStatus::Unavailable
            || self.cache.status == CacheStatus::Degraded
            || self.coach.status == CoachStatus::Degraded
            || self.history.status == HistoryStatus::Degraded
            || self.jobs.status == JobsStatus::Unavailable
    }
}

/// Analyses running and waiting.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineHealth {
    pub status: ServiceStatus,
    pub active: usize,
    pub queued: usize,
}

/// The log file and what its writer dropped.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogsHealth {
    pub status: ServiceStatus,
    pub file: Option<String>,
    pub dropped_lines: usize,
}

impl AppState {
    /// Per-component health for `/health`.
    pub async fn components_health(&self) -> Components {
        Components {
            asr: self.analysis.transcriber_health(),
            cache: self.analysis.cache.health(),
            coach: self.analysis.coach().stats().health(),
            history: self.history.health(),
            jobs: self.jobs.health().await,
            pipeline: PipelineHealth {
                status: ServiceStatus::Ok,
                active: self.analysis.admission.active(),
                queued: self.analysis.admission.queued(),
            },
            logs: LogsHealth {
                status: ServiceStatus::Ok,
                file: self
                    .config
                    .log
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string()),
                dropped_lines: self.log_dropped.as_ref().map_or(0, |c| c.dropped_lines()),
            },
        }
    }
}

/// 200 with `{status, version, uptime_sec, components}`; `status` is `degraded` when an
/// optional component (Redis, disk cache, GigaChat, the history database, the jobs Redis) is
/// unhealthy — the service still answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses((status = 200, description = "Up; the state of each component", body = Health))
)]
#[tracing::instrument(skip_all)]
async fn health(State(state): State<AppState>) -> Json<Health> {
    let components = state.components_health().await;
    Json(Health {
        status: if components.degraded() {
            ServiceStatus::Degraded
        } else {
            ServiceStatus::Ok
        },
        version: env!("CARGO_PKG_VERSION"),
        uptime_sec: state.started_at.elapsed().as_secs_f64(),
        components,
    })
}
