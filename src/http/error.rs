//! The one HTTP error type: every failure a client can see, its status and its JSON body.
//!
//! Body: `{"error": "<code>", "message": "<what to fix>", "request_id": "<id>"}`. Internal causes
//! are logged (with the request id, from the span) and never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::request_id::current_request_id;
use crate::pipeline::{Failure, FailureKind};

/// Everything that can go wrong in a request, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed request; `code` is specific (`empty_file`, `missing_file`, `invalid_parameter`…).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: missing or wrong admin token.
    #[error("a valid admin bearer token is required")]
    Unauthorized,
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413: upload or recording too large; `code` is `payload_too_large` or `audio_too_long`.
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    /// 415: not a format we can read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: readable format but unusable content (`corrupt_audio`, `invalid_audio_header`…).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 503: the pipeline is full (or shutting down); retry after the given seconds.
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_sec: u64,
    },
    /// 502: an upstream we depend on failed (remote ASR).
    #[error("{0}")]
    BadGateway(String),
    /// 503: a component is not available (e.g. the ASR model is missing).
    #[error("{0}")]
    Unavailable(String),
    /// 504: the analysis or an upstream took too long.
    #[error("{0}")]
    Timeout(String),
    /// 409: the work was cancelled by its owner (a cancelled job).
    #[error("{0}")]
    Cancelled(String),
    /// 500: our bug; the cause is logged, the client gets a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The status code: the one place errors map to statuses.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Overloaded { .. } | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Cancelled(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::TooLarge { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Overloaded { .. } => "overloaded",
            Self::BadGateway(_) => "upstream_error",
            Self::Unavailable(_) => "unavailable",
            Self::Timeout(_) => "timeout",
            Self::Cancelled(_) => "cancelled",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The human message: what to fix. Internal causes are not disclosed.
    pub fn message(&self) -> String {
        match self {
            Self::Internal(_) => {
                "the server failed to handle this request; it has been logged".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// Marks a response as already carrying our JSON error body (the request-id middleware turns
/// any other error response, e.g. from a tower layer, into one).
#[derive(Clone, Copy, Debug)]
pub struct JsonErrorBody;

/// The body of every error response (4xx and 5xx).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code: `invalid_parameter`, `empty_file`, `missing_file`,
    /// `malformed_multipart`, `invalid_speaker`, `invalid_goal`, `invalid_body`, `unauthorized`,
    /// `not_found`, `method_not_allowed`, `payload_too_large`, `audio_too_long`,
    /// `unsupported_media_type`, `corrupt_audio`, `invalid_audio_header`, `decode_timeout`,
    /// `no_audio`, `cancelled`, `upstream_error`, `overloaded`, `unavailable`, `timeout`,
    /// `internal_error`…
    pub error: String,
    /// What to fix, for a human.
    pub message: String,
    /// The request's id (also in the `x-request-id` header): quote it when reporting a problem.
    pub request_id: String,
}

/// Builds the JSON error response for a status, code and message with the current request id.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: code.to_string(),
        message: message.to_string(),
        request_id: current_request_id(),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.extensions_mut().insert(JsonErrorBody);
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if status.is_server_error() && !matches!(self, Self::Overloaded { .. }) {
            tracing::error!(error = %self, code = self.code(), "request failed");
        } else {
            tracing::info!(error = %self, code = self.code(), "request refused");
        }
        let mut resp = error_response(status, self.code(), &self.message());
        if let Self::Overloaded {
            retry_after_sec, ..
        } = self
        {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_sec.max(1)),
            );
        }
        resp
    }
}

impl From<crate::pipeline::AnalysisError> for ApiError {
    fn from(e: crate::pipeline::AnalysisError) -> Self {
        Self::from(&e)
    }
}

/// One mapping for owned errors and for errors shared by several waiting requests.
impl From<&crate::pipeline::AnalysisError> for ApiError {
    fn from(e: &crate::pipeline::AnalysisError) -> Self {
        Self::from(e.failure())
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let Failure {
            kind,
            code,
            message,
        } = f;
        match kind {
            FailureKind::BadRequest => Self::BadRequest { code, message },
            FailureKind::TooLarge => Self::TooLarge { code, message },
            FailureKind::UnsupportedMedia => Self::UnsupportedMediaType(message),
            FailureKind::Unprocessable => Self::Unprocessable { code, message },
            FailureKind::Overloaded { retry_after_sec } => Self::Overloaded {
                message,
                retry_after_sec,
            },
            FailureKind::Upstream => Self::BadGateway(message),
            FailureKind::Unavailable => Self::Unavailable(message),
            FailureKind::Timeout => Self::Timeout(message),
            FailureKind::Cancelled => Self::Cancelled(message),
            FailureKind::Internal => Self::Internal(message),
        }
    }
}
