//! `POST /analyze`: receive the upload, answer with the report (cached or fresh).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::error::ErrorBody;
use super::openapi::{AnalyzedReport, RawUpload, UploadForm};
use super::speakers::RehearsalTarget;
use super::upload::{self, Upload};
use crate::app::AppState;
use crate::pipeline::Job;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(analyze))
}

/// The query of `POST /analyze` and `POST /jobs` (one struct, so both take the same inputs).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AnalyzeQuery {
    /// `auto` (default) or an ISO 639-1 code such as `ru`, `en`.
    #[param(example = "auto")]
    language: Option<String>,
    /// `full` (default) or `summary` (no per-word arrays).
    #[param(pattern = "^(full|summary)$")]
    detail: Option<String>,
    /// A speaker id (`POST /speakers`): the analysis is recorded as one of that speaker's
    /// rehearsals and the response carries `rehearsal`. Malformed → 400, unknown → 404; if the
    /// history database is down the analysis still answers, with `rehearsal.status: pending`.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    speaker: Option<String>,
    /// The rehearsal's title (needs `speaker`), at most 200 characters.
    #[param(max_length = 200)]
    title: Option<String>,
}

/// The parsed query of `POST /analyze` and `POST /jobs`.
#[derive(Debug)]
struct AnalyzeParams {
    /// `None`: detect.
    language: Option<String>,
    /// `detail=summary`: no per-word arrays in the report.
    summary: bool,
    /// `speaker=`: record the analysis as a rehearsal of this speaker (checked by
    /// `speakers::rehearsal_target`).
    speaker: Option<String>,
    /// `title=`: the rehearsal's title.
    title: Option<String>,
}

/// Parses the query of `POST /analyze` and `POST /jobs`: bad values are 400 naming the parameter.
fn parse_query(
    query: Result<Query<AnalyzeQuery>, QueryRejection>,
) -> Result<AnalyzeParams, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))?;
    let language = parse_language(query.language.as_deref())?;
    let summary = match query.detail.as_deref() {
        None | Some("full") => false,
        Some("summary") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("detail={other:?} is not valid: use full or summary"),
            ));
        }
    };
    Ok(AnalyzeParams {
        language,
        summary,
        speaker: query.speaker,
        title: query.title,
    })
}

/// An analysis request as `POST /analyze` and `POST /jobs` both take it in, before anything runs.
pub(super) struct Intake {
    /// `None`: detect.
    pub language: Option<String>,
    /// `detail=summary`: no per-word arrays in the report.
    pub summary: bool,
    /// The speaker whose rehearsal this is, checked to exist.
    pub rehearsal: Option<RehearsalTarget>,
    /// The upload, on disk.
    pub upload: Upload,
}

/// Takes in an analysis request: refused while shutting down, the query checked (400), the
/// speaker checked (404) before a byte of the upload is read, then the upload streamed to disk
/// within `MAX_FILE_SIZE_MB` (413). Records the upload on the current span.
pub(super) async fn take_in(
    state: &AppState,
    query: Result<Query<AnalyzeQuery>, QueryRejection>,
    req: Request,
) -> Result<Intake, ApiError> {
    let checked = async {
        refuse_if_shutting_down(state)?;
        let params = parse_query(query)?;
        let rehearsal = super::speakers::rehearsal_target(
            state,
            params.speaker.as_deref(),
            params.title.as_deref(),
        )
        .await?;
        Ok::<_, ApiError>((params, rehearsal))
    };
    let (
        AnalyzeParams {
            language, summary, ..
        },
        rehearsal,
    ) = match checked.await {
        Ok(v) => v,
        Err(e) => {
            drain_small_body(req).await;
            return Err(e);
        }
    };
    let cfg = &state.config.server;
    let upload = upload::receive(req, &cfg.upload_dir, cfg.max_file_size_bytes).await?;
    let span = tracing::Span::current();
    span.record("content_hash", &upload.content_hash[..16]);
    span.record("size_bytes", upload.size_bytes);
    tracing::info!(file_name = ?upload.file_name, "upload received");
    Ok(Intake {
        language,
        summary,
        rehearsal,
        upload,
    })
}

/// Reads and drops what is left of a refused request's body, up to [`REFUSED_BODY_DRAIN_BYTES`]
/// and for at most a second: a client still sending a small upload then reads the 4xx answer
/// instead of a connection closed under it. A larger body is not read (the connection closes).
async fn drain_small_body(req: Request) {
    let body = req.into_body();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        axum::body::to_bytes(body, REFUSED_BODY_DRAIN_BYTES),
    )
    .await;
}

/// How much of a refused request's body is read before answering (see [`drain_small_body`]).
const REFUSED_BODY_DRAIN_BYTES: usize = 4 << 20;

/// Requests arriving after shutdown began are refused (503); those already in flight (uploading,
/// queued or running) are served within SHUTDOWN_TIMEOUT_SEC.
pub(super) fn refuse_if_shutting_down(state: &AppState) -> Result<(), ApiError> {
    if state.shutdown.is_cancelled() {
        state.analysis.admission.count_rejected();
        return Err(ApiError::Overloaded {
            message: "the service is shutting down; retry on another instance or shortly".into(),
            retry_after_sec: 30,
        });
    }
    Ok(())
}

/// A language parameter: `auto` → detect; otherwise a 2–3 letter lowercase code.
fn parse_language(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("auto") => Ok(None),
        Some(s) if (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(Some(s.to_ascii_lowercase()))
        }
        Some(s) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("language={s:?} is not valid: use auto, ru, en or another ISO 639-1 code"),
        )),
    }
}

/// Analyse a recording (or serve it from the cache). The upload is a multipart form's `file`
/// field or the raw body with an `audio/*`, `video/*`, `application/ogg` or
/// `application/octet-stream` Content-Type; the format is sniffed from the bytes.
#[utoipa::path(
    post,
    path = "/analyze",
    tag = "analysis",
    params(AnalyzeQuery),
    request_body(
        description = "The recording",
        content(
            (UploadForm = "multipart/form-data"),
            (RawUpload = "audio/*"),
            (RawUpload = "video/*"),
            (RawUpload = "application/ogg"),
            (RawUpload = "application/octet-stream"),
        )
    ),
    responses(
        (status = 200, description = "The report", body = AnalyzedReport,
            headers(("x-cache" = super::openapi::CacheOutcome, description = "How the report was obtained"))),
        (status = 400, description = "Bad parameter or upload (`invalid_parameter`, `empty_file`, `missing_file`, `malformed_multipart`, `invalid_speaker`)", body = ErrorBody),
        (status = 404, description = "Unknown speaker", body = ErrorBody),
        (status = 413, description = "Upload over MAX_FILE_SIZE_MB (`payload_too_large`) or recording over MAX_AUDIO_DURATION_SEC (`audio_too_long`)", body = ErrorBody),
        (status = 415, description = "Not a format we can read", body = ErrorBody),
        (status = 422, description = "Readable format, unusable content (`corrupt_audio`, `invalid_audio_header`, `decode_timeout`, `no_audio`)", body = ErrorBody),
        (status = 502, description = "The remote speech recogniser failed", body = ErrorBody),
        (status = 503, description = "Overloaded, shutting down or recogniser unavailable", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds (on `overloaded`)"))),
        (status = 504, description = "The analysis or the recogniser took too long", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(content_hash, size_bytes))]
async fn analyze(
    State(state): State<AppState>,
    query: Result<Query<AnalyzeQuery>, QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Intake {
        language,
        summary,
        rehearsal,
        upload,
    } = take_in(&state, query, req).await?;
    let job = Job {
        path: upload.path().to_path_buf(),
        content_hash: upload.content_hash.clone(),
        language,
        progress: None,
        queue_timeout: None,
        slot: None,
    };
    let analyzed = state.analysis.analyze(job, upload).await?;
    let outcome = analyzed.outcome;
    state.metrics.cache_outcome(outcome.header_value());
    tracing::info!(cache = outcome.header_value(), "report ready");
    let mut report = analyzed.report;
    let recorded = match &rehearsal {
        Some(target) => Some(super::speakers::record_rehearsal(&state, target, &mut report).await),
        None => None,
    };
    let report = if summary { report.summary() } else { report };
    let mut resp = match recorded {
        Some(info) => Json(info.attach(&report)).into_response(),
        None => Json(report).into_response(),
    };
    resp.headers_mut()
        .insert("x-cache", HeaderValue::from_static(outcome.header_value()));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::parse_language;

    #[test]
    fn language_parameter() {
        assert_eq!(parse_language(None).unwrap(), None);
        assert_eq!(parse_language(Some("auto")).unwrap(), None);
        assert_eq!(parse_language(Some("RU")).unwrap().as_deref(), Some("ru"));
        for bad in ["r", "russian", "e1", "../"] {
            assert!(parse_language(Some(bad)).is_err(), "{bad}");
        }
    }
}
