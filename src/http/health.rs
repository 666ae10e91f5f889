//! `GET /health`: liveness plus the state of each component.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// 200 with `{status, version, uptime_sec, components}`; `status` is `degraded` when an
/// optional component (Redis, disk cache, GigaChat) is unhealthy — the service still answers.
#[tracing::instrument(skip_all)]
async fn health(State(state): State<AppState>) -> Json<Value> {
    let components = state.components_health().await;
    let degraded = components
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .any(|c| {
            matches!(
                c.get("status").and_then(Value::as_str),
                Some("degraded" | "unavailable" | "error")
            )
        });
    Json(json!({
        "status": if degraded { "degraded" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_sec": state.started_at.elapsed().as_secs_f64(),
        "components": components,
    }))
}
