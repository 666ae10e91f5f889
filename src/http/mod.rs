//! The HTTP surface: router, middleware, one error type, one module per endpoint group.
//!
//! Layers, outermost first: request id (+ span, + JSON-ifying stray error responses) →
//! panic catcher (→ 500 JSON, logged) → upload size guard (413 on a declared oversize body,
//! before anything is read) → routes.

pub mod analyze;
pub mod error;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod request_id;
pub mod speakers;
pub mod stats;
pub mod upload;

pub use error::ApiError;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

/// Extra bytes allowed over `MAX_FILE_SIZE_MB` for multipart framing and form fields.
pub const MULTIPART_OVERHEAD_BYTES: u64 = 64 * 1024;

/// Every route with its OpenAPI description: each module registers its handlers with
/// `utoipa_axum::routes!`, which needs the handler's `#[utoipa::path]`, so a route cannot be
/// served without being documented (the document is [`openapi::document`]).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(analyze::router())
        .merge(jobs::router())
        .merge(stats::router())
        .merge(speakers::router())
        .merge(metrics::router())
        .merge(page::router())
        .merge(openapi::router())
}

/// The whole application router (no listener: tests can drive it with `oneshot`).
pub fn router(state: AppState) -> Router {
    let (routes, _doc) = api().split_for_parts();
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_oversized,
        ))
        .layer(CatchPanicLayer::custom(panic_to_500))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(middleware::from_fn(request_id::middleware))
        .with_state(state)
}

/// The `{id}` of a route, parsed into `T` before the handler runs: a malformed id is answered
/// with [`FromPathId::from_path_id`]'s error. (The parameter is described for the OpenAPI
/// document by the route's own `IntoParams` type.)
pub struct PathId<T>(pub T);

/// An id a route takes as its `{id}` ([`PathId`]).
pub trait FromPathId: Sized {
    /// The id, or what to answer a client who sent `raw`.
    fn from_path_id(raw: &str) -> Result<Self, ApiError>;
}

impl<S: Send + Sync, T: FromPathId> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            id: String,
        }
        let Path(raw) = Path::<Raw>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))?;
        T::from_path_id(&raw.id).map(PathId)
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see GET /openapi.json for the API".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Refuses a body whose declared length is over the limit before reading any of it. Bodies of
/// unknown length (chunked) are counted while streamed by the upload reader.
async fn refuse_oversized(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.config.server.max_file_size_bytes + MULTIPART_OVERHEAD_BYTES;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > limit) {
        return ApiError::TooLarge {
            code: "payload_too_large",
            message: format!(
                "the upload is {len} bytes; the limit is {} bytes (MAX_FILE_SIZE_MB)",
                state.config.server.max_file_size_bytes
            ),
        }
        .into_response();
    }
    next.run(req).await
}

fn panic_to_500(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::Internal(detail.to_string()).into_response()
}
