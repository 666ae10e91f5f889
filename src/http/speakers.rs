//! Speakers and their rehearsals: `POST /speakers`, `PUT|DELETE /speakers/{id}`,
//! `GET /speakers/{id}/rehearsals[/{rehearsal}]`, `GET /speakers/{id}/progress`,
//! `GET /speakers/{id}/compare?a=…&b=…`, `GET|PUT /speakers/{id}/goals`.
//!
//! There are no accounts: a speaker id is 128 random bits, and knowing it is what grants access
//! to that speaker's history (like a share link). It is never logged in full.
//!
//! Also the one function an analysis path calls once its report is ready:
//! [`rehearsal_target`] (checks `speaker`/`title` before the upload is analysed) and
//! [`record_rehearsal`] (history-aware advice and feedback, then the write).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, IntoResponses};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ErrorBody;
use super::openapi::{
    CompareView, Comparison, Deleted, GoalsView, ProgressView, Registered, RehearsalPage,
    RehearsalRef, StoredReport,
};
use super::{ApiError, FromPathId, PathId};
use crate::app::AppState;
use crate::domain::advice::history_advice;
use crate::domain::progress::{
    self, Goal, GoalCheck, MetricProgress, MetricValues, Sample, check_goals,
};
use crate::history::{
    History, RecordOutcome, RehearsalFacts, RehearsalId, RehearsalMeta, RehearsalRow, SpeakerId,
    StoreError,
};
use crate::pipeline::AnalysisService;
use crate::report::Report;

/// Longest rehearsal title, characters.
const MAX_TITLE_CHARS: usize = 200;
/// Rehearsals per page of `GET /speakers/{id}/rehearsals`: default and most.
const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(register, delete))
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(progress_view))
        .routes(routes!(compare))
        .routes(routes!(get_goals, put_goals))
}

/// A 32-hex-digit id or 400 naming the parameter.
fn parse_speaker(raw: &str) -> Result<SpeakerId, ApiError> {
    SpeakerId::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_speaker",
            "a speaker id is 32 hexadecimal digits (as issued by POST /speakers)",
        )
    })
}

/// The `{id}` of every `/speakers/{id}…` route (described once for the OpenAPI document).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "describes the parameter; `PathId` reads it")]
struct SpeakerPath {
    /// Speaker id: 128 random bits as 32 hex digits. Knowing it grants access to the speaker's history (like a share link): keep it private.
    id: String,
}

impl FromPathId for SpeakerId {
    fn from_path_id(raw: &str) -> Result<Self, ApiError> {
        parse_speaker(raw)
    }
}

/// The errors the `/speakers/{id}…` routes share, each an [`ErrorBody`], for the OpenAPI
/// document only (the handlers answer [`ApiError`]s; this is never built). A route whose 400 or
/// 404 says more lists its own after this set: a later response of a status replaces it.
#[allow(dead_code, reason = "describes responses; never built")]
#[derive(IntoResponses)]
enum SpeakerErrors {
    #[response(status = 400, description = "Malformed speaker id or parameter")]
    Malformed(ErrorBody),
    #[response(
        status = 404,
        description = "No such speaker (never created, or deleted)"
    )]
    Unknown(ErrorBody),
    #[response(
        status = 503,
        description = "The history database is unavailable; retry shortly"
    )]
    Unavailable(ErrorBody),
}

fn parse_rehearsal(name: &str, raw: &str) -> Result<RehearsalId, ApiError> {
    RehearsalId::parse(raw).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("{name}: a rehearsal id is 32 hexadecimal digits"),
        )
    })
}

fn unknown_speaker() -> ApiError {
    ApiError::NotFound("no such speaker (never created, or deleted)".into())
}

/// The database failed a read or write the client asked for directly: 503, retry later.
fn db_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "history database unavailable");
            ApiError::Unavailable("the history database is unavailable; retry shortly".into())
        }
        StoreError::UnknownSpeaker => unknown_speaker(),
        StoreError::Other(cause) => ApiError::internal(cause),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Existing speaker's goals, or 404.
async fn known(state: &AppState, id: &SpeakerId) -> Result<Vec<Goal>, ApiError> {
    state
        .history
        .goals(id)
        .await
        .map_err(db_error)?
        .ok_or_else(unknown_speaker)
}

#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    id: String,
    created_at_ms: i64,
    note: &'static str,
}

const ID_NOTE: &str = "keep this id private: anyone who knows it can read and erase this \
                       speaker's rehearsals";

/// `POST /speakers`: a new speaker with a fresh random id.
#[utoipa::path(
    post,
    path = "/speakers",
    tag = "speakers",
    responses(
        (status = 201, description = "The new speaker's id (no account: the id is the credential)", body = Created),
        (status = 503, description = "The history database is unavailable; retry shortly", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn create(State(state): State<AppState>) -> Result<Response, ApiError> {
    let id = SpeakerId::generate();
    let at = now_ms();
    state
        .history
        .store
        .create_speaker(id.as_str(), at)
        .await
        .map_err(db_error)?;
    tracing::info!(speaker = id.short(), "speaker created");
    let body = Created {
        id: id.as_str().to_string(),
        created_at_ms: at,
        note: ID_NOTE,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `PUT /speakers/{id}`: registers an id the client generated (128 random bits). 201 when
/// new, 200 when it already existed.
#[utoipa::path(
    put,
    path = "/speakers/{id}",
    tag = "speakers",
    params(SpeakerPath),
    responses(
        (status = 200, description = "Already existed", body = Registered),
        (status = 201, description = "Registered", body = Registered),
        (status = 400, description = "Malformed speaker id or parameter", body = ErrorBody),
        (status = 503, description = "The history database is unavailable; retry shortly", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn register(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
) -> Result<Response, ApiError> {
    let at = now_ms();
    let created = state
        .history
        .store
        .create_speaker(id.as_str(), at)
        .await
        .map_err(db_error)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({"id": id.as_str(), "created": created, "note": ID_NOTE});
    Ok((status, Json(body)).into_response())
}

/// `DELETE /speakers/{id}`: erases the speaker and every rehearsal (and says how many).
#[utoipa::path(
    delete,
    path = "/speakers/{id}",
    tag = "speakers",
    params(SpeakerPath),
    responses(
        (status = 200, description = "Erased", body = Deleted),
        SpeakerErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn delete(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
) -> Result<Json<Value>, ApiError> {
    let erased = state
        .history
        .delete_speaker(&id)
        .await
        .map_err(db_error)?
        .ok_or_else(unknown_speaker)?;
    tracing::info!(speaker = id.short(), erased, "speaker deleted");
    Ok(Json(
        json!({"id": id.as_str(), "deleted": true, "rehearsals_deleted": erased}),
    ))
}

/// One rehearsal as listed: its facts, tracked numbers and goal statuses.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RehearsalSummary {
    #[serde(flatten)]
    #[schema(inline)]
    pub facts: RehearsalFacts,
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    pub metrics: MetricValues,
    pub goals: Vec<GoalCheck>,
}

fn summary(meta: &RehearsalMeta, values: MetricValues, goals: Vec<GoalCheck>) -> RehearsalSummary {
    RehearsalSummary {
        facts: meta.facts.clone(),
        metrics: values,
        goals,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Rehearsals per page, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Rehearsals to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// `GET /speakers/{id}/rehearsals?limit=&offset=`: newest first.
#[utoipa::path(
    get,
    path = "/speakers/{id}/rehearsals",
    tag = "speakers",
    params(SpeakerPath, Page),
    responses(
        (status = 200, description = "A page of rehearsals, newest first", body = RehearsalPage),
        SpeakerErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(page) =
        page.map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    let offset = page.offset.unwrap_or(0);
    if !(1..=MAX_PAGE).contains(&limit) || offset < 0 {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit must be 1..={MAX_PAGE} and offset at least 0"),
        ));
    }
    let goals = known(&state, &id).await?;
    let h = &state.history;
    let total = h
        .store
        .count_rehearsals(id.as_str())
        .await
        .map_err(db_error)?;
    let rows = h
        .store
        .list_rehearsals(id.as_str(), limit, offset)
        .await
        .map_err(db_error)?;
    // Goal statuses are judged against each rehearsal's own predecessors.
    let samples = h.samples(&id).await.map_err(db_error)?;
    let samples: Vec<Sample> = samples.into_iter().map(|(_, s)| s).collect();
    let n = h.config.baseline_rehearsals;
    let items: Vec<RehearsalSummary> = rows
        .iter()
        .map(|m| {
            let values: MetricValues = serde_json::from_str(&m.metrics_json).unwrap_or_default();
            let checks = samples
                .iter()
                .position(|s| s.rehearsal_id == m.facts.id)
                .map(|i| check_goals(&goals, &samples, i, n))
                .unwrap_or_default();
            summary(m, values, checks)
        })
        .collect();
    Ok(Json(json!({
        "speaker": id.as_str(),
        "total": total,
        "limit": limit,
        "offset": offset,
        "pending_writes": h.outbox.pending_for(id.as_str()),
        "rehearsals": items,
    })))
}

/// `GET /speakers/{id}/rehearsals/{rehearsal}`: the report as it was answered, with its
/// `rehearsal` facts.
#[utoipa::path(
    get,
    path = "/speakers/{id}/rehearsals/{rehearsal}",
    tag = "speakers",
    params(SpeakerPath, ("rehearsal" = String, Path, description = "Rehearsal id (32 hex digits)")),
    responses(
        (status = 200, description = "The stored report, with `rehearsal`", body = StoredReport),
        SpeakerErrors,
        (status = 404, description = "No such speaker or rehearsal", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn one(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
    Path((_, rehearsal)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let rid = parse_rehearsal("rehearsal", &rehearsal)?;
    let (meta, report_json) = state
        .history
        .store
        .rehearsal(id.as_str(), rid.as_str())
        .await
        .map_err(db_error)?
        .ok_or_else(|| ApiError::NotFound("no such rehearsal for this speaker".into()))?;
    let mut report: Value = serde_json::from_str(&report_json).map_err(ApiError::internal)?;
    let values: MetricValues = serde_json::from_str(&meta.metrics_json).unwrap_or_default();
    if let Some(obj) = report.as_object_mut() {
        obj.insert(
            "rehearsal".into(),
            json!({
                "id": meta.facts.id,
                "speaker": id.as_str(),
                "title": meta.facts.title,
                "recorded_at_ms": meta.facts.recorded_at_ms,
                "status": "recorded",
                "metrics": values,
            }),
        );
    }
    Ok(Json(report))
}

/// `GET /speakers/{id}/progress`.
#[utoipa::path(
    get,
    path = "/speakers/{id}/progress",
    tag = "speakers",
    params(SpeakerPath),
    responses(
        (status = 200, description = "Per metric: series, baseline (median of the previous N), change of the latest, personal best; goals; the last two side by side", body = ProgressView),
        SpeakerErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn progress_view(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
) -> Result<Json<ProgressView>, ApiError> {
    let goals = known(&state, &id).await?;
    let h = &state.history;
    let (metas, samples): (Vec<RehearsalMeta>, Vec<Sample>) =
        h.samples(&id).await.map_err(db_error)?.into_iter().unzip();
    let n = h.config.baseline_rehearsals;
    let metrics = progress::progress(&samples, n);
    let goal_checks = samples
        .len()
        .checked_sub(1)
        .map(|last| check_goals(&goals, &samples, last, n))
        .unwrap_or_else(|| check_goals(&goals, &[], 0, n));
    let comparison = (samples.len() >= 2).then(|| {
        let (a, b) = (samples.len() - 2, samples.len() - 1);
        Comparison {
            a: summary(&metas[a], samples[a].values.clone(), vec![]),
            b: summary(&metas[b], samples[b].values.clone(), vec![]),
            metrics: progress::compare(&samples[a].values, &samples[b].values),
        }
    });
    let rehearsals = metas
        .into_iter()
        .map(|m| RehearsalRef {
            id: m.facts.id,
            recorded_at_ms: m.facts.recorded_at_ms,
            title: m.facts.title,
        })
        .collect();
    Ok(Json(ProgressView {
        speaker: id.as_str().to_owned(),
        rehearsal_count: samples.len() as u64,
        baseline_of: n as u64,
        rehearsals,
        metrics,
        goals: goal_checks,
        comparison,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CompareQuery {
    /// The earlier rehearsal's id.
    #[param(required = true)]
    a: Option<String>,
    /// The later rehearsal's id.
    #[param(required = true)]
    b: Option<String>,
}

/// `GET /speakers/{id}/compare?a=…&b=…`: two rehearsals side by side, `b - a`.
#[utoipa::path(
    get,
    path = "/speakers/{id}/compare",
    tag = "speakers",
    params(SpeakerPath, CompareQuery),
    responses(
        (status = 200, description = "Two rehearsals side by side with `b - a` and which moved the right way", body = CompareView),
        SpeakerErrors,
        (status = 400, description = "Malformed or missing id", body = ErrorBody),
        (status = 404, description = "No such speaker or rehearsal", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn compare(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
    query: Result<Query<CompareQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))?;
    let (Some(a), Some(b)) = (q.a.as_deref(), q.b.as_deref()) else {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "give two rehearsal ids: ?a=<earlier>&b=<later>",
        ));
    };
    let (a, b) = (parse_rehearsal("a", a)?, parse_rehearsal("b", b)?);
    known(&state, &id).await?;
    let store = &state.history.store;
    let mut sides = Vec::new();
    for (name, rid) in [("a", &a), ("b", &b)] {
        let (meta, _) = store
            .rehearsal(id.as_str(), rid.as_str())
            .await
            .map_err(db_error)?
            .ok_or_else(|| {
                ApiError::NotFound(format!("{name}: no such rehearsal for this speaker"))
            })?;
        let values: MetricValues = serde_json::from_str(&meta.metrics_json).unwrap_or_default();
        sides.push((meta, values));
    }
    let deltas = progress::compare(&sides[0].1, &sides[1].1);
    Ok(Json(json!({
        "speaker": id.as_str(),
        "a": summary(&sides[0].0, sides[0].1.clone(), vec![]),
        "b": summary(&sides[1].0, sides[1].1.clone(), vec![]),
        "metrics": deltas,
    })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct GoalsBody {
    goals: Vec<Goal>,
}

/// Goals and the latest rehearsal's status against each.
async fn goals_view(state: &AppState, id: &SpeakerId, goals: &[Goal]) -> Result<Value, ApiError> {
    let h = &state.history;
    let samples: Vec<Sample> = h
        .samples(id)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let n = h.config.baseline_rehearsals;
    let last = samples.len().saturating_sub(1);
    Ok(json!({
        "speaker": id.as_str(),
        "goals": check_goals(goals, &samples, last, n),
    }))
}

/// `GET /speakers/{id}/goals`.
#[utoipa::path(
    get,
    path = "/speakers/{id}/goals",
    tag = "speakers",
    params(SpeakerPath),
    responses(
        (status = 200, description = "The goals and the latest rehearsal's status against each", body = GoalsView),
        SpeakerErrors,
    )
)]
#[tracing::instrument(skip_all)]
async fn get_goals(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
) -> Result<Json<Value>, ApiError> {
    let goals = known(&state, &id).await?;
    Ok(Json(goals_view(&state, &id, &goals).await?))
}

/// `PUT /speakers/{id}/goals` with `{"goals": [{"metric": "fillers_per_minute", "max": 3}, …]}`:
/// replaces every goal.
#[utoipa::path(
    put,
    path = "/speakers/{id}/goals",
    tag = "speakers",
    params(SpeakerPath),
    request_body(content = GoalsBody, description = "Every goal (replaces the old ones)",
        example = json!({"goals": [{"metric": "fillers_per_minute", "max": 3}, {"metric": "pace_wpm", "min": 120, "max": 160}]})),
    responses(
        (status = 200, description = "The new goals with their status", body = GoalsView),
        SpeakerErrors,
        (status = 400, description = "Malformed id, body (`invalid_body`) or goal (`invalid_goal`)", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all)]
async fn put_goals(
    State(state): State<AppState>,
    PathId(id): PathId<SpeakerId>,
    body: Result<Json<GoalsBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    let mut seen = std::collections::HashSet::new();
    for g in &body.goals {
        g.validate()
            .map_err(|m| ApiError::bad_request("invalid_goal", m))?;
        if !seen.insert(g.metric.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_goal",
                format!("{} has two goals: give one with min and max", g.metric),
            ));
        }
    }
    let text = serde_json::to_string(&body.goals).map_err(ApiError::internal)?;
    let updated = state
        .history
        .store
        .set_goals(id.as_str(), &text)
        .await
        .map_err(db_error)?;
    if !updated {
        return Err(unknown_speaker());
    }
    Ok(Json(goals_view(&state, &id, &body.goals).await?))
}

/// Where an analysis should be recorded: a checked speaker and an optional title.
#[derive(Debug, Clone)]
pub struct RehearsalTarget {
    pub speaker: SpeakerId,
    pub title: Option<String>,
}

/// Checks the `speaker` and `title` parameters of an analysis before its upload is analysed:
/// malformed → 400, unknown speaker → 404. When the database cannot say (it is down) the
/// analysis goes ahead and its write is queued; an unknown speaker's write is then dropped.
pub async fn rehearsal_target(
    state: &AppState,
    speaker: Option<&str>,
    title: Option<&str>,
) -> Result<Option<RehearsalTarget>, ApiError> {
    let title = match title.map(str::trim) {
        None | Some("") => None,
        Some(t) if t.chars().count() > MAX_TITLE_CHARS || t.chars().any(char::is_control) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("title: at most {MAX_TITLE_CHARS} characters, no control characters"),
            ));
        }
        Some(t) => Some(t.to_string()),
    };
    let Some(raw) = speaker.filter(|s| !s.trim().is_empty()) else {
        if title.is_some() {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                "title needs speaker=<id>: only a speaker's rehearsals have titles",
            ));
        }
        return Ok(None);
    };
    let speaker = parse_speaker(raw)?;
    match state.history.speaker_exists(&speaker).await {
        Ok(true) => {}
        Ok(false) => return Err(unknown_speaker()),
        Err(e) => tracing::warn!(error = %e, "speaker not checked: history database unavailable"),
    }
    Ok(Some(RehearsalTarget { speaker, title }))
}

/// What became of the rehearsal of an analysis; the `rehearsal` object of the response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RehearsalInfo {
    pub id: String,
    pub speaker: String,
    pub title: Option<String>,
    pub recorded_at_ms: i64,
    /// `recorded` | `pending` (database down: retried in the background) | `not_recorded`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Earlier rehearsals the advice compared this one with.
    pub earlier_rehearsals: usize,
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    pub metrics: MetricValues,
    pub goals: Vec<GoalCheck>,
}

impl RehearsalInfo {
    /// The report JSON with this as its `rehearsal` member.
    pub fn attach(&self, report: &Report) -> Value {
        let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "rehearsal".into(),
                serde_json::to_value(self).unwrap_or(Value::Null),
            );
        }
        v
    }
}

/// Records a finished analysis as a rehearsal of `target.speaker`. Call it once the report is
/// ready (fresh or from the cache) — `/analyze` and the jobs path both do. When the speaker has
/// earlier rehearsals, the report's advice gains items citing the change against the baseline,
/// and the coach is asked again with the history (only when it can answer: GigaChat healthy).
/// Never fails: a database that is down queues the write and says so in the result.
pub async fn record_rehearsal(
    state: &AppState,
    target: &RehearsalTarget,
    report: &mut Report,
) -> RehearsalInfo {
    let id = RehearsalId::generate();
    record_rehearsal_as(&state.history, &state.analysis, target, id, report).await
}

/// [`record_rehearsal`] with the rehearsal's id given (a job's: recording it again, after a
/// re-run, changes nothing) and only the services it needs (a job's finisher holds these, not
/// the whole state).
pub async fn record_rehearsal_as(
    h: &History,
    analysis: &AnalysisService,
    target: &RehearsalTarget,
    id: RehearsalId,
    report: &mut Report,
) -> RehearsalInfo {
    let n = h.config.baseline_rehearsals;
    let recorded_at_ms = now_ms();
    let values = progress::values_of(&report.metrics);
    // History and goals are best-effort here: without them the rehearsal is still recorded.
    let mut samples: Vec<Sample> = match h.samples(&target.speaker).await {
        Ok(rows) => rows.into_iter().map(|(_, s)| s).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "earlier rehearsals not read: advice without history");
            Vec::new()
        }
    };
    let goals = h
        .goals(&target.speaker)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let earlier = samples.len();
    samples.push(Sample {
        rehearsal_id: id.as_str().to_string(),
        recorded_at_ms,
        values: values.clone(),
    });
    if earlier > 0 {
        let trends: Vec<MetricProgress> = progress::progress(&samples, n);
        report
            .advice
            .extend(history_advice(&trends, &report.language));
        let coach = analysis.coach();
        if coach.is_healthy() {
            report.feedback = coach.feedback_with_history(report, &trends).await;
        }
    }
    let goal_checks = check_goals(&goals, &samples, earlier, n);

    let mut stored = report.clone();
    stored.cache = Default::default();
    let row = RehearsalRow {
        id: id.as_str().to_string(),
        speaker_id: target.speaker.as_str().to_string(),
        recorded_at_ms,
        title: target.title.clone(),
        language: report.language.clone(),
        duration_sec: report.audio.duration_sec,
        report_id: report.id.clone(),
        metrics_json: serde_json::to_string(&values).unwrap_or_else(|_| "{}".into()),
        report_json: serde_json::to_string(&stored).unwrap_or_else(|_| "{}".into()),
    };
    let outcome = h.record(row).await;
    let (status, message) = match outcome {
        RecordOutcome::Recorded => ("recorded", None),
        RecordOutcome::Pending => (
            "pending",
            Some(
                "the history database is unavailable: this rehearsal is saved as soon as it is \
                 back"
                    .to_string(),
            ),
        ),
        RecordOutcome::NotRecorded(why) => ("not_recorded", Some(why)),
    };
    tracing::info!(speaker = target.speaker.short(), rehearsal = %id, status, "rehearsal");
    RehearsalInfo {
        id: id.as_str().to_string(),
        speaker: target.speaker.as_str().to_string(),
        title: target.title.clone(),
        recorded_at_ms,
        status,
        message,
        earlier_rehearsals: earlier,
        metrics: values,
        goals: goal_checks,
    }
}
