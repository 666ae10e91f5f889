//! `GET /stats/{cache,pipeline,coach}` and the admin `DELETE /cache`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::routing::{delete, get};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Value, json};

use super::ApiError;
use crate::app::AppState;
use crate::cache::CacheStats;
use crate::coach::CoachStats;
use crate::jobs::JobCounts;
use crate::pipeline::PipelineStats;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stats/cache", get(cache_stats))
        .route("/stats/pipeline", get(pipeline_stats))
        .route("/stats/coach", get(coach_stats))
        .route("/cache", delete(clear_cache))
}

async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.analysis.cache.stats().await)
}

/// The body of `GET /stats/pipeline`: admission counters, plus the jobs in the store by state.
#[derive(Debug, Serialize)]
pub struct PipelineBody {
    #[serde(flatten)]
    pub admission: PipelineStats,
    /// `None` (`null`) when the job store cannot answer.
    pub jobs: Option<JobCounts>,
}

async fn pipeline_stats(State(state): State<AppState>) -> Json<PipelineBody> {
    Json(PipelineBody {
        admission: state.analysis.admission.stats(),
        jobs: state.jobs.counts().await.ok(),
    })
}

async fn coach_stats(State(state): State<AppState>) -> Json<CoachStats> {
    Json(state.analysis.coach().stats())
}

/// Empties every cache tier. Needs `Authorization: Bearer <ADMIN_TOKEN>`; without a configured
/// token the endpoint does not exist (404).
async fn clear_cache(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!(outcome)))
}

/// Compares secrets without an early exit that would leak the matching prefix length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
