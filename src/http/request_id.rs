//! Request ids: accept a sane inbound `x-request-id`, else mint a UUIDv4; put it in the request's
//! tracing span (so every log line carries it), in a task-local (so error bodies carry it) and on
//! the response.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tracing::Instrument;

use super::error::{JsonErrorBody, error_response};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest inbound id we keep.
const MAX_LEN: usize = 64;

/// A validated request id: 1–64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Accepts a client-supplied id if it is safe to log and echo.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| Self(s.to_string()))
    }

    pub fn new_v4() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served by this task (`"-"` outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".to_string())
}

/// Runs `fut` with the given request id visible to [`current_request_id`] (for spawned work).
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The middleware: outermost layer of the router.
pub async fn middleware(mut req: Request, next: Next) -> Response {
    let mut values = req.headers().get_all(&X_REQUEST_ID).iter();
    let inbound = match (values.next(), values.next()) {
        // Exactly one header; several are ambiguous and replaced.
        (Some(v), None) => v.to_str().ok().and_then(RequestId::parse),
        _ => None,
    };
    let id = inbound.unwrap_or_else(RequestId::new_v4);
    req.extensions_mut().insert(id.clone());

    let span = tracing::info_span!(
        "request",
        request_id = %id.as_str(),
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let id_str = id.as_str().to_string();
    let mut resp = REQUEST_ID
        .scope(
            id_str.clone(),
            async move {
                let resp = next.run(req).await;
                let resp = jsonify_error(resp);
                tracing::info!(
                    status = resp.status().as_u16(),
                    latency_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "request finished"
                );
                resp
            }
            .instrument(span),
        )
        .await;
    if let Ok(v) = HeaderValue::from_str(&id_str) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    resp
}

/// Error responses produced outside our handlers (body-limit 413, panics → 500, timeouts) get
/// the same JSON body as ours.
fn jsonify_error(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error())
        || resp.extensions().get::<JsonErrorBody>().is_some()
    {
        return resp;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than the server accepts (see MAX_FILE_SIZE_MB)",
        ),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed here"),
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send multipart/form-data with a `file` field, or a raw audio/video body",
        ),
        s if s.is_server_error() => (
            "internal_error",
            "the server failed to handle this request; it has been logged",
        ),
        _ => ("bad_request", "the request is malformed"),
    };
    let mut out = error_response(status, code, message);
    // Keep headers such as Retry-After or Allow.
    for (k, v) in resp.headers() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_safe_ids() {
        assert!(RequestId::parse("abc-DEF_1.2").is_some());
        assert!(RequestId::parse(&"a".repeat(64)).is_some());
        for bad in ["", "../x", "a b", "a/b", "ид", "x\u{0}", &"a".repeat(65)] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn fresh_ids_are_uuid_v4() {
        let id = RequestId::new_v4();
        let u = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(u.get_version_num(), 4);
    }
}
