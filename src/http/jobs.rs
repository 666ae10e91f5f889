//! `/jobs`: long analyses without holding a request open.
//!
//! - `POST /jobs` (the inputs of `/analyze`) → 202, `Location: /jobs/{id}`, the job.
//! - `GET /jobs/{id}` → state, stage, progress, ETA, queue position, partial transcript, and the
//!   report (done) or the error `/analyze` would have answered (failed).
//! - `GET /jobs/{id}/events` → Server-Sent Events of the job's log, resumable with
//!   `Last-Event-ID`; while nothing happens, a `progress` snapshot (without an id) every 2 s.
//! - `DELETE /jobs/{id}` → cancels a queued or running job.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::analyze::{AnalyzeQuery, Intake, take_in};
use super::error::ErrorBody;
use super::openapi::{JobStreamEvent, RawUpload, UploadForm};
use super::request_id::current_request_id;
use super::speakers::{RehearsalTarget, record_rehearsal_as};
use super::{ApiError, FromPathId, PathId};
use crate::app::AppState;
use crate::history::{History, RehearsalId, SpeakerId};
use crate::jobs::runner::Submission;
use crate::jobs::{
    Finisher, JobError, JobEvent, JobId, JobPublic, JobRecord, JobRehearsal, StoreError,
    SubmitError, now_ms,
};
use crate::pipeline::{AnalysisError, AnalysisService};
use crate::report::Report;

/// Longest quiet spell on an event stream: then the current progress is sent again (without an
/// event id), so a client sees it is alive and its ETA stays fresh.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(2);

/// Retry-After of a `POST /jobs` refused because the job queue (Redis) is unreachable.
const QUEUE_DOWN_RETRY_AFTER_SEC: u64 = 5;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show, cancel))
        .routes(routes!(events))
}

/// The JSON error `/analyze` would have answered for this analysis error.
pub fn job_error(e: &AnalysisError, request_id: Option<String>) -> JobError {
    let api = ApiError::from(e);
    if api.status_code().is_server_error() {
        tracing::error!(error = %e, code = api.code(), "job failed");
    } else {
        tracing::info!(error = %e, code = api.code(), "job refused its upload");
    }
    JobError {
        status: api.status_code().as_u16(),
        error: api.code().to_string(),
        message: api.message(),
        request_id,
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "job store failed");
        Self::Unavailable("job state is unavailable right now; retry shortly".into())
    }
}

/// Analyse a recording as a job: answers 202 at once; follow it with `GET /jobs/{id}` or its
/// events. Same inputs and engine as `POST /analyze` (cache, single-flight, admission): an
/// upload already cached is `done` at once, identical uploads share one analysis, and a job the
/// queue cannot take is refused here with 503 (never accepted and then lost). A failed
/// analysis is a `failed` job whose `error` is what `/analyze` would have answered.
#[utoipa::path(
    post,
    path = "/jobs",
    tag = "jobs",
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
        (status = 202, description = "Accepted (or already done, for a cached upload)", body = JobView,
            headers(("Location" = String, description = "`/jobs/{id}`"))),
        (status = 400, description = "Bad parameter or upload", body = ErrorBody),
        (status = 404, description = "Unknown speaker", body = ErrorBody),
        (status = 413, description = "Upload over MAX_FILE_SIZE_MB", body = ErrorBody),
        (status = 415, description = "Content-Type not accepted", body = ErrorBody),
        (status = 503, description = "Queue full, shutting down or job store unavailable", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds (on `overloaded`)"))),
    )
)]
#[tracing::instrument(skip_all, fields(content_hash, size_bytes, job))]
async fn create(
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
    let span = tracing::Span::current();
    let submission = Submission {
        path: upload.path().to_path_buf(),
        content_hash: upload.content_hash.clone(),
        language,
        summary,
        request_id: Some(current_request_id()),
        rehearsal: rehearsal.map(|t| JobRehearsal {
            speaker: t.speaker.as_str().to_string(),
            title: t.title,
        }),
    };
    let record = match state.jobs.submit(submission, upload).await {
        Ok(r) => r,
        Err(SubmitError::Refused(e)) => return Err(ApiError::from(e)),
        Err(SubmitError::Store(e)) => return Err(e.into()),
        Err(SubmitError::QueueUnavailable(e)) => {
            // Jobs live in Redis; accepting one here that no other replica could see or take
            // over would lose it with this process: refuse, the client retries.
            tracing::warn!(error = %e, "job queue unreachable: job refused");
            return Err(ApiError::Overloaded {
                message: "the job queue (Redis) cannot be reached right now; nothing was \
                          accepted, retry shortly (POST /analyze still works)"
                    .into(),
                retry_after_sec: QUEUE_DOWN_RETRY_AFTER_SEC,
            });
        }
    };
    span.record("job", record.id.as_str());
    tracing::info!(state = record.public.state.as_str(), "job accepted");
    let location = format!("/jobs/{}", record.id);
    let mut resp = (StatusCode::ACCEPTED, Json(view(&state, &record))).into_response();
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

/// The jobs' [`Finisher`]: a job posted with `speaker=` has its report recorded as that
/// speaker's rehearsal by whichever replica finishes it (the same function `/analyze` calls,
/// with the job's id as the rehearsal's, so a job run twice is recorded once), and the stored
/// report carries the history-aware advice `/analyze` would have answered. Holds the history
/// and the analysis service, not the app state (which holds the jobs).
pub fn rehearsal_finisher(history: Arc<History>, analysis: Arc<AnalysisService>) -> Finisher {
    Arc::new(move |record: JobRecord, mut report: Report| {
        let (history, analysis) = (history.clone(), analysis.clone());
        Box::pin(async move {
            let Some(r) = &record.rehearsal else {
                return report;
            };
            let (Some(speaker), Some(id)) = (
                SpeakerId::parse(&r.speaker),
                RehearsalId::parse(record.id.as_str()),
            ) else {
                tracing::error!(job = %record.id, "job with a malformed rehearsal target");
                return report;
            };
            let target = RehearsalTarget {
                speaker,
                title: r.title.clone(),
            };
            let info = record_rehearsal_as(&history, &analysis, &target, id, &mut report).await;
            tracing::info!(job = %record.id, status = info.status, "job recorded as a rehearsal");
            report
        })
    })
}

/// A job: state, stage, progress, ETA, queue position, partial transcript, report or error.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job", body = JobView),
        JobErrors,
        (status = 404, description = "No such job (never existed, or expired JOB_TTL_SEC after it finished)", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    PathId(id): PathId<JobId>,
) -> Result<Json<JobView>, ApiError> {
    let record = state.jobs.get(&id).await?.ok_or_else(|| no_such_job(&id))?;
    Ok(Json(view(&state, &record)))
}

/// Cancels a queued or running job (a finished one is answered as it is).
#[utoipa::path(
    delete,
    path = "/jobs/{id}",
    tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job after the cancel request", body = JobView),
        JobErrors,
    )
)]
async fn cancel(
    State(state): State<AppState>,
    PathId(id): PathId<JobId>,
) -> Result<Json<JobView>, ApiError> {
    let record = state
        .jobs
        .cancel(&id)
        .await?
        .ok_or_else(|| no_such_job(&id))?;
    tracing::info!(job = %id, state = record.public.state.as_str(), "job cancel asked");
    Ok(Json(view(&state, &record)))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// For clients that cannot set `Last-Event-ID` (the header wins).
    last_event_id: Option<u64>,
}

/// Server-Sent Events of the job's log, from the start or after `Last-Event-ID`; while nothing
/// happens, a `progress` snapshot (without an id) every 2 s. The stream ends after a terminal
/// event (`done`, `failed`, `cancelled`). Each event's `data:` is one line of JSON; the schema
/// describes an event as parsed (`event`, `id`, `data`).
#[utoipa::path(
    get,
    path = "/jobs/{id}/events",
    tag = "jobs",
    params(
        JobPath,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event (wins over the query parameter)"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = JobStreamEvent),
        (status = 400, description = "Last-Event-ID or last_event_id is not an event id", body = ErrorBody),
        JobErrors,
    )
)]
async fn events(
    State(state): State<AppState>,
    PathId(id): PathId<JobId>,
    query: Result<Query<EventsQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))?;
    let from_header = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        "Last-Event-ID must be the id of an event of this job (a number)",
                    )
                })?,
        ),
    };
    let after = from_header.or(query.last_event_id).unwrap_or(0);
    // Unknown job: a plain 404, not an empty stream.
    if state.jobs.get(&id).await?.is_none() {
        return Err(no_such_job(&id));
    }
    let stream = futures::stream::unfold(
        (state, id, after, false),
        |(state, id, after, finished)| async move {
            if finished {
                return None;
            }
            let store = state.jobs.store().clone();
            match store.events(&id, after, SNAPSHOT_EVERY).await {
                Ok(Some(events)) if !events.is_empty() => {
                    let last = events.last().map_or(after, |e| e.id);
                    let ends = events.iter().any(|e| e.kind.is_terminal());
                    let items: Vec<Result<Event, Infallible>> =
                        events.iter().map(|e| Ok(sse_event(e))).collect();
                    Some((items, (state, id, last, ends)))
                }
                Ok(Some(_)) => {
                    // Quiet: the current progress again, without an id (resuming is unaffected);
                    // a finished job whose log the client has seen: the stream is over.
                    let snapshot = match state.jobs.get(&id).await {
                        Ok(Some(r)) if !r.public.state.is_terminal() => snapshot_event(&state, &r),
                        _ => return None,
                    };
                    Some((vec![Ok(snapshot)], (state, id, after, false)))
                }
                // Expired, or the store failed: end the stream (the client may reconnect).
                Ok(None) | Err(_) => None,
            }
        },
    );
    let stream = futures::StreamExt::flat_map(stream, futures::stream::iter);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse_event(e: &JobEvent) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(e.data.to_string())
}

fn snapshot_event(state: &AppState, r: &JobRecord) -> Event {
    let data = json!({
        "state": r.public.state,
        "stage": r.public.stage,
        "progress": r.public.progress,
        "eta_sec": eta_now(r),
        "queue_position": state.jobs.queue_position(r),
        "snapshot": true,
    });
    Event::default().event("progress").data(data.to_string())
}

/// The `{id}` of the `/jobs/{id}…` routes (described once for the OpenAPI document).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "describes the parameter; `PathId` reads it")]
struct JobPath {
    /// The job id `POST /jobs` returned (32 hex digits)
    id: String,
}

impl FromPathId for JobId {
    fn from_path_id(raw: &str) -> Result<Self, ApiError> {
        parse_id(raw)
    }
}

/// The errors the `/jobs/{id}…` routes share, each an [`ErrorBody`], for the OpenAPI document
/// only (the handlers answer [`ApiError`]s; this is never built). A route whose 404 says more
/// lists its own after this set: a later response of a status replaces it.
#[allow(dead_code, reason = "describes responses; never built")]
#[derive(utoipa::IntoResponses)]
enum JobErrors {
    #[response(status = 404, description = "No such job")]
    Unknown(ErrorBody),
    #[response(status = 503, description = "The job store is unavailable")]
    Unavailable(ErrorBody),
}

fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    JobId::parse(raw).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no job {raw:?}: job ids are the 32 hex digits POST /jobs returned"
        ))
    })
}

fn no_such_job(id: &JobId) -> ApiError {
    ApiError::NotFound(format!(
        "no job {id}: it never existed or expired (JOB_TTL_SEC after it finished)"
    ))
}

/// The ETA as of now: the stored one minus the time since it was computed.
fn eta_now(r: &JobRecord) -> Option<f64> {
    r.eta_sec.map(|eta| {
        let since = now_ms().saturating_sub(r.public.updated_at_ms) as f64 / 1000.0;
        ((eta - since).max(0.0) * 10.0).round() / 10.0
    })
}

/// A job as clients see it (`POST /jobs`, `GET /jobs/{id}`, `DELETE /jobs/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// 32 hex digits.
    pub id: String,
    #[serde(flatten)]
    #[schema(inline)]
    pub public: JobPublic,
    /// Seconds left, as of now; null until the recogniser's first window; 0 when done.
    pub eta_sec: Option<f64>,
    /// 1-based place in this replica's admission queue while waiting for a slot, else null
    /// (always null with jobs on Redis).
    pub queue_position: Option<usize>,
    /// When `done`: the report (its summary when the job asked for `detail=summary`).
    pub report: Option<Report>,
    pub links: JobLinks,
}

/// Where to follow a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobLinks {
    /// `/jobs/{id}`.
    #[serde(rename = "self")]
    pub self_: String,
    /// `/jobs/{id}/events`.
    pub events: String,
}

/// The job as clients see it.
fn view(state: &AppState, r: &JobRecord) -> JobView {
    let path = format!("/jobs/{}", r.id);
    let report = r.report.as_ref().map(|rep| {
        if r.summary {
            rep.clone().summary()
        } else {
            rep.clone()
        }
    });
    JobView {
        id: r.id.to_string(),
        public: r.public.clone(),
        eta_sec: eta_now(r),
        queue_position: state.jobs.queue_position(r),
        report,
        links: JobLinks {
            events: format!("{path}/events"),
            self_: path,
        },
    }
}
