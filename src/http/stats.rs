//! `GET /stats/{cache,pipeline,coach}` and the admin `DELETE /cache`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::error::ErrorBody;
use crate::app::AppState;
use crate::cache::{CacheStats, ClearOutcome};
use crate::coach::CoachStats;
use crate::jobs::JobCounts;
use crate::pipeline::PipelineStats;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cache_stats))
        .routes(routes!(pipeline_stats))
        .routes(routes!(coach_stats))
        .routes(routes!(clear_cache))
}

/// Cache counters since start, per-tier usage and status.
#[utoipa::path(
    get,
    path = "/stats/cache",
    tag = "operations",
    responses((status = 200, description = "Cache statistics", body = CacheStats))
)]
async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.analysis.cache.stats().await)
}

/// The body of `GET /stats/pipeline`: admission counters, plus the jobs in the store by state.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineBody {
    #[serde(flatten)]
    pub admission: PipelineStats,
    /// Jobs by state; `null` when the job store cannot answer.
    pub jobs: Option<JobCounts>,
}

/// Admission counters, plus the jobs in the store by state (`jobs: null` if it cannot answer).
#[utoipa::path(
    get,
    path = "/stats/pipeline",
    tag = "operations",
    responses((status = 200, description = "Pipeline statistics", body = PipelineBody))
)]
async fn pipeline_stats(State(state): State<AppState>) -> Json<PipelineBody> {
    Json(PipelineBody {
        admission: state.analysis.admission.stats(),
        jobs: state.jobs.counts().await.ok(),
    })
}

/// The coach's counters and its circuit breaker.
#[utoipa::path(
    get,
    path = "/stats/coach",
    tag = "operations",
    responses((status = 200, description = "Coach statistics", body = CoachStats))
)]
async fn coach_stats(State(state): State<AppState>) -> Json<CoachStats> {
    Json(state.analysis.coach().stats())
}

/// Empties every cache tier. Needs `Authorization: Bearer <ADMIN_TOKEN>`; without a configured
/// token the endpoint does not exist (404).
#[utoipa::path(
    delete,
    path = "/cache",
    tag = "operations",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "What was cleared, per tier", body = ClearOutcome),
        (status = 401, description = "Missing or wrong `Authorization: Bearer <ADMIN_TOKEN>`", body = ErrorBody),
        (status = 404, description = "No ADMIN_TOKEN configured: the endpoint does not exist", body = ErrorBody),
    )
)]
async fn clear_cache(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ClearOutcome>, ApiError> {
    let Some(token) = &state.config.server.admin_token else {
        return Err(ApiError::NotFound("no such endpoint".into()));
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), token.expose_secret().as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    let outcome = state.analysis.cache.clear().await;
    tracing::warn!(cleared = ?outcome.cleared, failed = outcome.failed.len(), "cache cleared by admin");
    Ok(Json(outcome))
}

/// Compares secrets without an early exit that would leak the matching prefix length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
