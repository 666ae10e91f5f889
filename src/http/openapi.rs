//! `GET /openapi.json`: the API described for clients, generated from the code.
//!
//! Every route is registered through `utoipa_axum::routes!` from a handler annotated with
//! `#[utoipa::path]`, so the router and the document come from the same list (see
//! [`super::api`]); request and response bodies are the Rust types the handlers serialise
//! (`#[derive(utoipa::ToSchema)]`). The few bodies a handler assembles as JSON by hand (the
//! speakers' views, the job events' data) are described by the types in this module. Every
//! object schema is closed (`additionalProperties: false`, [`close_objects`]), and
//! `tests/api/openapi.rs` checks real responses of every route against the document, nested
//! fields included, so neither can drift from the other unnoticed.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::asr::Word;
use crate::domain::labels::{
    FillerSource, PaceFlag, PauseClass, RepetitionKind, TimelineKind, WordKind,
};
use crate::domain::metrics::TimelineEvent;
use crate::domain::progress::{GoalCheck, MetricDelta, MetricProgress};
use crate::jobs::record::JobProgress;
use crate::jobs::{JobError, JobState};
use crate::pipeline::Stage;
use crate::report::Report;

use super::error::ErrorBody;
use super::speakers::{RehearsalInfo, RehearsalSummary};

/// The root of the document: info, the shared components, and the fix-ups in [`Finish`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "speech-coach",
        description = "Coaching feedback for public speakers: upload a recording, get pace, \
            fillers, pauses, phrasing, voice, advice and coaching feedback. Every response carries \
            `x-request-id`; every error is JSON `{error, message, request_id}` (ErrorBody)."
    ),
    components(schemas(ErrorBody)),
    modifiers(&Finish),
    tags(
        (name = "analysis", description = "Analyse a recording in one request"),
        (name = "jobs", description = "Analyse a recording as a job: progress, events, cancel"),
        (name = "speakers", description = "Speakers, their rehearsals, progress and goals"),
        (name = "operations", description = "Health, statistics, metrics, cache administration"),
        (name = "page", description = "The web page and what it reads"),
    )
)]
pub struct ApiDoc;

/// The generated document, closed ([`close_objects`]); built once: it depends only on the code.
pub fn document() -> &'static Value {
    static DOC: LazyLock<Value> = LazyLock::new(|| {
        let mut doc = super::api().into_openapi();
        add_internal_error(&mut doc);
        let mut doc = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
        close_objects(&mut doc);
        doc
    });
    &DOC
}

/// The document as served (and as kept in `docs/openapi.json`).
pub fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        serde_json::to_string_pretty(document()).expect("the OpenAPI document serialises")
    });
    &JSON
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = OpenApiDocument))
)]
async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], document_json())
}

/// An OpenAPI 3.1 document (this one). Path items and component schemas are described by the
/// OpenAPI specification itself, not repeated here.
#[derive(ToSchema)]
pub struct OpenApiDocument {
    /// `3.1.0`.
    pub openapi: String,
    pub info: DocumentInfo,
    /// Path template → path item.
    #[schema(value_type = BTreeMap<String, Object>)]
    pub paths: serde_json::Value,
    pub components: DocumentComponents,
    pub tags: Vec<DocumentTag>,
}

/// The document's `info`.
#[derive(ToSchema)]
pub struct DocumentInfo {
    pub title: String,
    pub description: String,
    /// The crate's version.
    pub version: String,
    pub license: DocumentLicense,
}

#[derive(ToSchema)]
pub struct DocumentLicense {
    pub name: String,
    /// SPDX identifier.
    pub identifier: String,
}

/// The document's `components`.
#[derive(ToSchema)]
pub struct DocumentComponents {
    /// Name → JSON Schema.
    #[schema(value_type = BTreeMap<String, Object>)]
    pub schemas: serde_json::Value,
    /// Name → security scheme (`admin_token`).
    #[serde(rename = "securitySchemes")]
    #[schema(value_type = BTreeMap<String, Object>)]
    pub security_schemes: serde_json::Value,
}

/// A tag grouping operations.
#[derive(ToSchema)]
pub struct DocumentTag {
    pub name: String,
    pub description: String,
}

/// The admin token scheme of `DELETE /cache`.
struct Finish;

impl Modify for Finish {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <ADMIN_TOKEN>`"))
                    .build(),
            ),
        );
    }
}

/// What every operation can answer besides its own responses: 500 for our bugs (a panic is
/// caught and turned into this body).
fn add_internal_error(doc: &mut utoipa::openapi::OpenApi) {
    let internal = utoipa::openapi::ResponseBuilder::new()
        .description("Our bug (logged with the request id); `error` is `internal_error`")
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("500".into())
                .or_insert_with(|| RefOr::T(internal.clone()));
        }
    }
}

/// Multipart upload: the recording in the `file` field (other fields are ignored).
#[derive(ToSchema)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// The recording as the raw request body.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct RawUpload(pub Vec<u8>);

/// The report of `POST /analyze`, with `rehearsal` when the analysis was recorded for a speaker
/// (`speaker=`).
#[derive(ToSchema)]
pub struct AnalyzedReport {
    #[serde(flatten)]
    pub report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<RehearsalInfo>,
}

/// A stored rehearsal's report (as it was answered, without cache facts), with its `rehearsal`.
#[derive(ToSchema)]
pub struct StoredReport {
    #[serde(flatten)]
    pub report: Report,
    pub rehearsal: StoredRehearsal,
}

/// The `rehearsal` member of a stored report.
#[derive(ToSchema)]
pub struct StoredRehearsal {
    pub id: String,
    pub speaker: String,
    pub title: Option<String>,
    pub recorded_at_ms: i64,
    /// Always `recorded` here.
    pub status: String,
    /// The tracked numbers of this rehearsal (`pace_wpm`, `fillers_per_minute`, …).
    pub metrics: BTreeMap<String, f64>,
}

/// One event of `GET /jobs/{id}/events`, parsed: the SSE `event:` name, its `id:` and its
/// `data:` (one line of JSON). `progress` events without an id are snapshots sent while
/// nothing happens (every 2 s); they do not move `Last-Event-ID`.
#[derive(ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobStreamEvent {
    /// The state changed to `queued` or `running`.
    State { id: String, data: StateEventData },
    /// A stage started.
    Stage { id: String, data: StageEventData },
    /// A window was transcribed, or (no id) a snapshot of the progress.
    Progress {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        data: ProgressEventData,
    },
    /// Terminal: the report is ready (`GET /jobs/{id}`).
    Done { id: String, data: DoneEventData },
    /// Terminal: the analysis failed.
    Failed { id: String, data: FailedEventData },
    /// Terminal: cancelled by `DELETE /jobs/{id}`.
    Cancelled {
        id: String,
        data: CancelledEventData,
    },
}

/// The state changed; with jobs on Redis, also when a worker claims the job (then `worker`,
/// `attempt` and, on a retry, `retry_reason`: a retry starts the job over from `queued`).
#[derive(ToSchema)]
pub struct StateEventData {
    pub state: JobState,
    pub stage: Stage,
    /// The worker that claimed the job (`<consumer>/<n>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Which attempt this is, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Why the previous attempt did not finish; null on the first.
    pub retry_reason: Option<String>,
}

#[derive(ToSchema)]
pub struct StageEventData {
    pub stage: Stage,
    /// Only on the `queued` stage: the admission ticket (null behind an identical upload).
    pub queue_ticket: Option<u64>,
}

#[derive(ToSchema)]
#[serde(untagged)]
pub enum ProgressEventData {
    Window(WindowEventData),
    Snapshot(SnapshotEventData),
}

/// A window was transcribed: the progress, the ETA and the window's words.
#[derive(ToSchema)]
pub struct WindowEventData {
    pub progress: JobProgress,
    pub eta_sec: Option<f64>,
    pub words: Vec<Word>,
    pub text: String,
}

/// The current progress, repeated while nothing happens.
#[derive(ToSchema)]
pub struct SnapshotEventData {
    pub state: JobState,
    pub stage: Stage,
    pub progress: JobProgress,
    pub eta_sec: Option<f64>,
    pub queue_position: Option<u64>,
    /// Always true.
    pub snapshot: bool,
}

#[derive(ToSchema)]
pub struct DoneEventData {
    pub state: JobState,
    pub progress: JobProgress,
    /// How the report was obtained (the `x-cache` value `POST /analyze` would have sent).
    pub cache: CacheOutcome,
}

/// How a report was obtained: the `x-cache` header of `POST /analyze`, the `cache` of a job's
/// `done` event ([`crate::cache::Outcome::header_value`]).
#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    HitMemory,
    HitRedis,
    HitDisk,
    Miss,
    Coalesced,
}

#[derive(ToSchema)]
pub struct FailedEventData {
    pub state: JobState,
    pub error: JobError,
}

#[derive(ToSchema)]
pub struct CancelledEventData {
    pub state: JobState,
}

/// `PUT /speakers/{id}`.
#[derive(ToSchema)]
pub struct Registered {
    pub id: String,
    /// False when the speaker already existed (status 200).
    pub created: bool,
    pub note: String,
}

/// `DELETE /speakers/{id}`.
#[derive(ToSchema)]
pub struct Deleted {
    pub id: String,
    /// Always true.
    pub deleted: bool,
    pub rehearsals_deleted: u64,
}

/// `GET /speakers/{id}/rehearsals`: a page, newest first.
#[derive(ToSchema)]
pub struct RehearsalPage {
    pub speaker: String,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// This speaker's rehearsals waiting for the database (not listed yet).
    pub pending_writes: u64,
    pub rehearsals: Vec<RehearsalSummary>,
}

/// `GET /speakers/{id}/progress`.
#[derive(serde::Serialize, ToSchema)]
pub struct ProgressView {
    pub speaker: String,
    pub rehearsal_count: u64,
    /// How many previous rehearsals a baseline is the median of.
    pub baseline_of: u64,
    /// Oldest first.
    pub rehearsals: Vec<RehearsalRef>,
    pub metrics: Vec<MetricProgress>,
    /// The latest rehearsal against each goal.
    pub goals: Vec<GoalCheck>,
    /// The last two rehearsals side by side; null with fewer than two.
    pub comparison: Option<Comparison>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct RehearsalRef {
    pub id: String,
    pub recorded_at_ms: i64,
    pub title: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct Comparison {
    pub a: RehearsalSummary,
    pub b: RehearsalSummary,
    /// `b - a` per tracked metric.
    pub metrics: Vec<MetricDelta>,
}

/// `GET /speakers/{id}/compare`.
#[derive(ToSchema)]
pub struct CompareView {
    pub speaker: String,
    pub a: RehearsalSummary,
    pub b: RehearsalSummary,
    /// `b - a` per tracked metric.
    pub metrics: Vec<MetricDelta>,
}

/// `GET|PUT /speakers/{id}/goals`.
#[derive(ToSchema)]
pub struct GoalsView {
    pub speaker: String,
    pub goals: Vec<GoalCheck>,
}

/// The timeline's events: one object per event, `type` deciding which members it has. Written
/// by hand because the event's details are a JSON map built in `domain::timeline`; the labels
/// in them are the label enums (`$ref`s).
impl PartialSchema for TimelineEvent {
    fn schema() -> RefOr<Schema> {
        serde_json::from_value(timeline_event_schema())
            .expect("the timeline event schema is a valid schema")
    }
}

impl ToSchema for TimelineEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((T::name().into_owned(), T::schema()));
        }
        add::<FillerSource>(schemas);
        add::<PauseClass>(schemas);
        add::<PaceFlag>(schemas);
        add::<WordKind>(schemas);
        add::<RepetitionKind>(schemas);
    }
}

/// A timeline event variant: its `type`, its members (name, kind: `text`, `text_or_null`,
/// `number`, `count` or a label enum's schema name) and which of them are always there.
type TimelineVariant = (
    TimelineKind,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

/// The timeline event variants.
const TIMELINE_VARIANTS: [TimelineVariant; 10] = [
    (TimelineKind::Speech, &[], &[]),
    (
        TimelineKind::Filler,
        &[
            ("text", "text_or_null"),
            ("source", "FillerSource"),
            ("confidence", "number"),
        ],
        &["text", "source", "confidence"],
    ),
    (
        TimelineKind::Pause,
        &[
            ("class", "PauseClass"),
            ("duration_sec", "number"),
            ("word_before", "text"),
            ("word_after", "text"),
        ],
        &["class", "duration_sec"],
    ),
    (
        TimelineKind::PaceWindow,
        &[("wpm", "number"), ("flag", "PaceFlag")],
        &["wpm", "flag"],
    ),
    (
        TimelineKind::Monotone,
        &[("pitch_std_semitones", "number")],
        &["pitch_std_semitones"],
    ),
    (TimelineKind::FillerBurst, &[("count", "count")], &["count"]),
    (
        TimelineKind::Hedge,
        &[("text", "text"), ("kind", "WordKind")],
        &["text", "kind"],
    ),
    (
        TimelineKind::Repetition,
        &[("kind", "RepetitionKind"), ("text", "text")],
        &["kind", "text"],
    ),
    (
        TimelineKind::OverusedPhrase,
        &[("text", "text"), ("count", "count")],
        &["text", "count"],
    ),
    (
        TimelineKind::LongSentence,
        &[("words", "count"), ("text", "text")],
        &["words", "text"],
    ),
];

fn timeline_event_schema() -> Value {
    let member = |kind: &str| match kind {
        "text" => json!({"type": "string"}),
        "text_or_null" => {
            json!({"type": ["string", "null"], "description": "null for acoustic fillers"})
        }
        "number" => json!({"type": "number", "format": "double"}),
        "count" => json!({"type": "integer", "minimum": 0}),
        label => json!({"$ref": format!("#/components/schemas/{label}")}),
    };
    let one_of: Vec<Value> = TIMELINE_VARIANTS
        .iter()
        .map(|(kind, members, required)| {
            let mut properties = Map::new();
            properties.insert(
                "type".into(),
                json!({"type": "string", "enum": [kind.as_str()]}),
            );
            properties.insert("start_sec".into(), member("number"));
            properties.insert("end_sec".into(), member("number"));
            for (name, ty) in members.iter() {
                properties.insert((*name).into(), member(ty));
            }
            let mut req = vec!["type", "start_sec", "end_sec"];
            req.extend_from_slice(required);
            json!({
                "type": "object",
                "title": kind.as_str(),
                "properties": properties,
                "required": req,
            })
        })
        .collect();
    json!({
        "description": "One event for a UI timeline, in time order; `type` says which members \
            it has besides `start_sec` and `end_sec`.",
        "oneOf": one_of,
    })
}

/// Closes every object schema that lists its members (`additionalProperties: false`), so a
/// member the document does not name is invalid. Compositions of objects (`allOf`: how utoipa
/// writes `#[serde(flatten)]`) are merged into one object first, since a closed part would
/// refuse its siblings' members; a part that is `oneOf [null, T]` (a flattened `Option<T>`)
/// contributes T's members as optional. Maps (`additionalProperties: <schema>`) stay open.
fn close_objects(doc: &mut Value) {
    let schemas = doc["components"]["schemas"].clone();
    close(doc, &schemas);
}

fn close(v: &mut Value, schemas: &Value) {
    match v {
        Value::Object(m) => {
            for child in m.values_mut() {
                close(child, schemas);
            }
            if let Some(Value::Array(parts)) = m.get("allOf")
                && let Some((properties, required)) = merge_parts(parts, schemas)
            {
                m.remove("allOf");
                m.insert("type".into(), json!("object"));
                m.insert("properties".into(), Value::Object(properties));
                m.insert("required".into(), json!(required));
            }
            if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                m.insert("additionalProperties".into(), json!(false));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| close(x, schemas)),
        _ => {}
    }
}

/// The members and required names of an `allOf` whose parts are all objects; `None` otherwise.
fn merge_parts(parts: &[Value], schemas: &Value) -> Option<(Map<String, Value>, Vec<String>)> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for part in parts {
        let (object, optional) = match part.get("oneOf").and_then(Value::as_array) {
            Some(alts) if alts.len() == 2 && alts.iter().any(|a| a["type"] == "null") => {
                let t = alts.iter().find(|a| a["type"] != "null")?;
                (resolve(t, schemas)?, true)
            }
            _ => (resolve(part, schemas)?, false),
        };
        let object = match object.get("allOf").and_then(Value::as_array) {
            Some(inner) => {
                let (p, r) = merge_parts(inner, schemas)?;
                json!({"type": "object", "properties": p, "required": r})
            }
            None => object,
        };
        if object["type"] != "object" {
            return None;
        }
        properties.extend(object["properties"].as_object()?.clone());
        if !optional && let Some(names) = object["required"].as_array() {
            required.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    Some((properties, required))
}

/// A schema with a `#/components/schemas/` reference followed.
fn resolve(schema: &Value, schemas: &Value) -> Option<Value> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => schemas
            .get(r.strip_prefix("#/components/schemas/")?)
            .cloned(),
        None => Some(schema.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/openapi.json` is this document, for reading without a server and for reviewing API
    /// changes in a diff. `UPDATE_OPENAPI=1 cargo test --lib openapi` rewrites it.
    #[test]
    fn docs_copy_is_the_generated_document() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let generated = format!("{}\n", document_json());
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "docs/openapi.json is not the generated document: run \
             `UPDATE_OPENAPI=1 cargo test --lib openapi` and commit the result"
        );
    }

    /// The hand-written timeline schema survives utoipa's types unchanged (nothing silently
    /// dropped by their deserialisation).
    #[test]
    fn timeline_schema_round_trips() {
        let parsed = TimelineEvent::schema();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back, timeline_event_schema());
    }

    /// Every timeline kind has its variant, once.
    #[test]
    fn timeline_schema_covers_every_kind() {
        let kinds: Vec<TimelineKind> = TIMELINE_VARIANTS.iter().map(|(k, ..)| *k).collect();
        assert_eq!(kinds, TimelineKind::ALL);
    }

    /// `CacheOutcome` names every `x-cache` value the service sends.
    #[test]
    fn cache_outcome_lists_every_header_value() {
        use crate::cache::{Outcome, TierName};
        let schema = serde_json::to_value(CacheOutcome::schema()).unwrap();
        let outcomes = [
            Outcome::Hit(TierName::Memory),
            Outcome::Hit(TierName::Redis),
            Outcome::Hit(TierName::Disk),
            Outcome::Miss,
            Outcome::Coalesced,
        ];
        let values: Vec<&str> = outcomes.iter().map(|o| o.header_value()).collect();
        assert_eq!(schema["enum"], json!(values));
    }

    /// Every object of the document that lists members is closed, and no `allOf` is left.
    #[test]
    fn every_object_is_closed() {
        fn walk(v: &Value, at: &str) {
            match v {
                Value::Object(m) => {
                    assert!(!m.contains_key("allOf"), "allOf left at {at}");
                    if m.contains_key("properties") {
                        assert_eq!(
                            m["additionalProperties"],
                            json!(false),
                            "open object at {at}"
                        );
                    }
                    for (k, child) in m {
                        walk(child, &format!("{at}/{k}"));
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        walk(child, &format!("{at}/{i}"));
                    }
                }
                _ => {}
            }
        }
        walk(document(), "");
    }

    #[test]
    fn every_operation_declares_an_error_body() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"]["500"].is_object(),
                    "{method} {path} lacks 500"
                );
            }
        }
    }
}
