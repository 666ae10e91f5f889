//! The served OpenAPI document against the real server: every documented operation is called
//! with real requests (successes and the errors a client can cause), and every response body
//! is validated against the schema the document declares for its path, method, status and
//! content type — nested all the way down, and strictly: the document's objects are closed
//! (`additionalProperties: false`), so a member added, renamed or retyped in a response without
//! the document following fails here. The document is generated from the handlers
//! (`src/http/openapi.rs`); the validator is `tests/support/json_schema.rs`.

use crate::support::app::{file_form, send_json};
use crate::support::json_schema::Validator;
use crate::support::redis_server::RedisServer;
use crate::support::sse::{SseEvent, SseReader};
use crate::support::{FakeTranscriber, TestApp, corpus, spawn_app, spawn_app_with, wait};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Semaphore;

const ADMIN: &str = "openapi-test-admin-token";
const NO_ID: &str = "00000000000000000000000000000000";
const CLIP: &str = "clips/en_talk_2.wav";

/// The served document as a validator of real responses, and what was validated so far.
struct Contract {
    doc: Value,
    /// (method, path template, status) validated so far.
    seen: BTreeSet<(String, String, u16)>,
}

/// A response as the contract saw it.
struct Answer {
    body: Value,
    text: String,
}

impl Contract {
    async fn fetch(app: &TestApp) -> Self {
        let resp = app.get("/openapi.json").await;
        assert_eq!(resp.status(), 200);
        let doc: Value = resp.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        Self::new(doc)
    }

    fn new(doc: Value) -> Self {
        Self {
            doc,
            seen: BTreeSet::new(),
        }
    }

    /// Every (METHOD, path template) the document declares.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut ops = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
        ops
    }

    /// The declared response of an operation's status (panics naming what is missing).
    fn response(&self, method: &str, template: &str, status: u16) -> &Value {
        let op = &self.doc["paths"][template][method.to_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in the document");
        let resp = &op["responses"][status.to_string()];
        assert!(
            resp.is_object(),
            "{method} {template} answered {status}, which the document does not declare"
        );
        resp
    }

    /// The schema declared for a body of this content type (`None`: the response has no body).
    fn schema(
        &self,
        method: &str,
        template: &str,
        status: u16,
        content_type: &str,
    ) -> Option<&Value> {
        let content = self
            .response(method, template, status)
            .get("content")?
            .as_object()?;
        let essence = |ct: &str| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        let media = content
            .iter()
            .find(|(k, _)| essence(k) == essence(content_type))
            .map(|(_, v)| v)
            .unwrap_or_else(|| {
                panic!(
                    "{method} {template} {status}: content type {content_type:?} not declared \
                     (declared: {:?})",
                    content.keys().collect::<Vec<_>>()
                )
            });
        Some(&media["schema"])
    }

    /// The schema of a component (`ErrorBody`, `Report`…).
    fn component(&self, name: &str) -> &Value {
        let s = &self.doc["components"]["schemas"][name];
        assert!(s.is_object(), "no component {name}");
        s
    }

    /// Validates a JSON body against the schema declared for it; `Err` lists every violation.
    fn validate(
        &self,
        method: &str,
        template: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let schema = self
            .schema(method, template, status, "application/json")
            .unwrap_or_else(|| panic!("{method} {template} {status}: no JSON body declared"));
        self.check(schema, body)
            .map_err(|e| format!("{method} {template} {status}: {e}"))
    }

    fn check(&self, schema: &Value, value: &Value) -> Result<(), String> {
        Validator::new(&self.doc)
            .validate(schema, value)
            .map_err(|e| e.join("; "))
    }

    /// Sends the request, checks its status, and checks its body against the document; panics
    /// on a mismatch.
    /// Uploads `clip` to `path` as a job (its 202 validated) and waits until the job is
    /// `state`; its id.
    async fn job_until(&mut self, app: &TestApp, path: &str, clip: &str, state: &str) -> String {
        let job = self
            .call(upload(app, path, clip), "POST", "/jobs", 202)
            .await;
        let id = job.body["id"].as_str().unwrap().to_string();
        app.wait_for_job(&id, state, |j| j["state"] == state).await;
        id
    }

    async fn call(
        &mut self,
        req: reqwest::RequestBuilder,
        method: &str,
        template: &str,
        expect: u16,
    ) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().await.unwrap();
        assert_eq!(status, expect, "{method} {template}: {text}");
        let body = match content_type.as_deref() {
            Some(ct) if ct.starts_with("application/json") => {
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{method} {template}: invalid JSON ({e}): {text}"));
                self.validate(method, template, status, &body)
                    .unwrap_or_else(|e| panic!("{e}\nbody: {text}"));
                body
            }
            // Text (HTML, scripts, metrics) or an event stream (checked event by event by
            // `check_events`): its content type must be declared.
            Some(ct) => {
                let declared = self.schema(method, template, status, ct);
                assert!(
                    declared.is_some(),
                    "{method} {template} {status}: undeclared body"
                );
                Value::Null
            }
            None => {
                assert!(
                    text.is_empty(),
                    "{method} {template} {status}: untyped body"
                );
                let declared = self.response(method, template, status);
                assert!(
                    declared.get("content").is_none(),
                    "{method} {template} {status}: a body is declared but none came"
                );
                Value::Null
            }
        };
        self.seen
            .insert((method.to_string(), template.to_string(), status));
        Answer { body, text }
    }

    /// Checks events of `GET /jobs/{id}/events` against the stream's declared schema (an event
    /// as parsed: `{event, id?, data}`).
    fn check_events(&self, events: &[SseEvent]) {
        let schema = self
            .schema("GET", "/jobs/{id}/events", 200, "text/event-stream")
            .expect("the event schema");
        for e in events {
            let parsed = as_document_event(e);
            self.check(schema, &parsed)
                .unwrap_or_else(|err| panic!("event {parsed}: {err}"));
        }
    }
}

/// An SSE event the way the document describes one.
fn as_document_event(e: &SseEvent) -> Value {
    let mut v = json!({"event": e.event, "data": e.data});
    if let Some(id) = e.id {
        v["id"] = json!(id.to_string());
    }
    v
}

fn upload(app: &TestApp, path: &str, rel: &str) -> reqwest::RequestBuilder {
    let name = rel.rsplit('/').next().unwrap();
    app.client
        .post(app.url(path))
        .multipart(file_form(corpus::read(rel), name))
}

/// Reads a whole (finished) job's event stream.
async fn all_events(app: &TestApp, id: &str) -> Vec<SseEvent> {
    let resp = app.get(&format!("/jobs/{id}/events")).await;
    assert_eq!(resp.status(), 200);
    let mut reader = SseReader::new(resp).with_chunk_timeout(wait::LIMIT);
    let mut events = Vec::new();
    while let Some(e) = reader.next().await {
        events.push(e);
    }
    events
}

#[tokio::test]
async fn every_route_answers_what_the_document_declares() {
    let app = spawn_app(&[("ADMIN_TOKEN", ADMIN)]).await;
    let mut c = Contract::fetch(&app).await;
    let url = |p: &str| app.url(p);
    let get = |p: &str| app.client.get(url(p));

    // --- /analyze: a fresh report, the same from the cache, a summary; errors.
    let report = c
        .call(upload(&app, "/analyze", CLIP), "POST", "/analyze", 200)
        .await
        .body;
    assert!(
        report["transcript"]["segments"][0]["words"][0]["start_sec"].is_number(),
        "the report has nested words to validate: {report}"
    );
    assert!(!report["timeline"].as_array().unwrap().is_empty());
    assert!(!report["advice"].as_array().unwrap().is_empty());
    c.call(upload(&app, "/analyze", CLIP), "POST", "/analyze", 200)
        .await;
    c.call(
        upload(&app, "/analyze?detail=summary", CLIP),
        "POST",
        "/analyze",
        200,
    )
    .await;
    c.call(
        upload(&app, "/analyze?detail=bogus", CLIP),
        "POST",
        "/analyze",
        400,
    )
    .await;
    c.call(
        upload(&app, &format!("/analyze?speaker={NO_ID}"), CLIP),
        "POST",
        "/analyze",
        404,
    )
    .await;
    c.call(
        app.client
            .post(url("/analyze"))
            .header("content-type", "text/plain")
            .body("hello"),
        "POST",
        "/analyze",
        415,
    )
    .await;
    c.call(
        upload(&app, "/analyze", "bad/huge_rate.wav"),
        "POST",
        "/analyze",
        422,
    )
    .await;

    // --- speakers: create, register, rehearsals, progress, compare, goals, delete.
    let created = c
        .call(app.client.post(url("/speakers")), "POST", "/speakers", 201)
        .await;
    let sp = created.body["id"].as_str().unwrap().to_string();
    let mine = "0123456789abcdef0123456789abcdef";
    let put = |id: &str| app.client.put(url(&format!("/speakers/{id}")));
    c.call(put(mine), "PUT", "/speakers/{id}", 201).await;
    c.call(put(mine), "PUT", "/speakers/{id}", 200).await;
    c.call(put("not-an-id"), "PUT", "/speakers/{id}", 400).await;
    let mut rehearsals = Vec::new();
    for (clip, title) in [(CLIP, "first"), ("clips/en_talk_1.wav", "second")] {
        let path = format!("/analyze?speaker={sp}&title={title}");
        let r = c
            .call(upload(&app, &path, clip), "POST", "/analyze", 200)
            .await
            .body;
        assert_eq!(r["rehearsal"]["status"], "recorded", "{r}");
        rehearsals.push(r["rehearsal"]["id"].as_str().unwrap().to_string());
    }
    let rh = "/speakers/{id}/rehearsals";
    let page = c
        .call(get(&format!("/speakers/{sp}/rehearsals")), "GET", rh, 200)
        .await;
    assert_eq!(page.body["rehearsals"].as_array().unwrap().len(), 2);
    c.call(
        get(&format!("/speakers/{sp}/rehearsals?limit=0")),
        "GET",
        rh,
        400,
    )
    .await;
    c.call(
        get(&format!("/speakers/{NO_ID}/rehearsals")),
        "GET",
        rh,
        404,
    )
    .await;
    let one = "/speakers/{id}/rehearsals/{rehearsal}";
    let stored = c
        .call(
            get(&format!("/speakers/{sp}/rehearsals/{}", rehearsals[0])),
            "GET",
            one,
            200,
        )
        .await;
    assert!(stored.body["transcript"]["segments"][0]["words"].is_array());
    c.call(
        get(&format!("/speakers/{sp}/rehearsals/{NO_ID}")),
        "GET",
        one,
        404,
    )
    .await;
    c.call(
        get(&format!("/speakers/{sp}/rehearsals/x")),
        "GET",
        one,
        400,
    )
    .await;
    let goals = "/speakers/{id}/goals";
    let set_goals = |body: Value| {
        app.client
            .put(url(&format!("/speakers/{sp}/goals")))
            .json(&body)
    };
    c.call(
        set_goals(json!({"goals": [
            {"metric": "fillers_per_minute", "max": 3},
            {"metric": "pace_wpm", "min": 120, "max": 160}
        ]})),
        "PUT",
        goals,
        200,
    )
    .await;
    c.call(
        set_goals(json!({"goals": [{"metric": "charisma", "min": 1}]})),
        "PUT",
        goals,
        400,
    )
    .await;
    let g = c
        .call(get(&format!("/speakers/{sp}/goals")), "GET", goals, 200)
        .await;
    assert_eq!(g.body["goals"].as_array().unwrap().len(), 2);
    c.call(get(&format!("/speakers/{NO_ID}/goals")), "GET", goals, 404)
        .await;
    let progress = "/speakers/{id}/progress";
    let p = c
        .call(
            get(&format!("/speakers/{sp}/progress")),
            "GET",
            progress,
            200,
        )
        .await;
    assert!(
        p.body["comparison"].is_object(),
        "two rehearsals compare: {}",
        p.text
    );
    c.call(
        get(&format!("/speakers/{mine}/progress")),
        "GET",
        progress,
        200,
    )
    .await;
    c.call(
        get(&format!("/speakers/{NO_ID}/progress")),
        "GET",
        progress,
        404,
    )
    .await;
    let cmp = "/speakers/{id}/compare";
    let (a, b) = (&rehearsals[0], &rehearsals[1]);
    c.call(
        get(&format!("/speakers/{sp}/compare?a={a}&b={b}")),
        "GET",
        cmp,
        200,
    )
    .await;
    c.call(
        get(&format!("/speakers/{sp}/compare?a={a}")),
        "GET",
        cmp,
        400,
    )
    .await;
    c.call(
        get(&format!("/speakers/{sp}/compare?a={a}&b={NO_ID}")),
        "GET",
        cmp,
        404,
    )
    .await;
    let delete = |id: &str| app.client.delete(url(&format!("/speakers/{id}")));
    c.call(delete(&sp), "DELETE", "/speakers/{id}", 200).await;
    c.call(delete(&sp), "DELETE", "/speakers/{id}", 404).await;
    c.call(delete("nope"), "DELETE", "/speakers/{id}", 400)
        .await;

    // --- jobs: done (with its events), failed, cancelled; errors.
    let id = c
        .job_until(&app, "/jobs", "clips/ru_talk_1.wav", "done")
        .await;
    let done = c
        .call(get(&format!("/jobs/{id}")), "GET", "/jobs/{id}", 200)
        .await;
    assert!(done.body["report"]["transcript"]["segments"][0]["words"].is_array());
    let events_route = "/jobs/{id}/events";
    c.call(get(&format!("/jobs/{id}/events")), "GET", events_route, 200)
        .await;
    let events = all_events(&app, &id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(
        kinds.contains(&"stage") && kinds.last() == Some(&"done"),
        "{kinds:?}"
    );
    c.check_events(&events);
    let sid = c
        .job_until(&app, "/jobs?detail=summary", "clips/ru_talk_1.wav", "done")
        .await;
    c.call(get(&format!("/jobs/{sid}")), "GET", "/jobs/{id}", 200)
        .await;
    let fid = c
        .job_until(&app, "/jobs", "bad/huge_rate.wav", "failed")
        .await;
    let f = c
        .call(get(&format!("/jobs/{fid}")), "GET", "/jobs/{id}", 200)
        .await;
    assert_eq!(f.body["error"]["status"], 422);
    c.check_events(&all_events(&app, &fid).await);
    c.call(
        app.client.delete(url(&format!("/jobs/{id}"))),
        "DELETE",
        "/jobs/{id}",
        200,
    )
    .await;
    c.call(
        app.client.delete(url(&format!("/jobs/{NO_ID}"))),
        "DELETE",
        "/jobs/{id}",
        404,
    )
    .await;
    c.call(get(&format!("/jobs/{NO_ID}")), "GET", "/jobs/{id}", 404)
        .await;
    c.call(
        get(&format!("/jobs/{id}/events")).header("Last-Event-ID", "soon"),
        "GET",
        events_route,
        400,
    )
    .await;
    c.call(
        get(&format!("/jobs/{id}/events?last_event_id=x")),
        "GET",
        events_route,
        400,
    )
    .await;
    c.call(
        get(&format!("/jobs/{NO_ID}/events")),
        "GET",
        events_route,
        404,
    )
    .await;
    c.call(
        app.client
            .post(url("/jobs"))
            .header("content-type", "text/plain")
            .body("hello"),
        "POST",
        "/jobs",
        415,
    )
    .await;
    c.call(
        upload(&app, "/jobs?language=klingon", CLIP),
        "POST",
        "/jobs",
        400,
    )
    .await;
    c.call(
        upload(&app, &format!("/jobs?speaker={NO_ID}"), CLIP),
        "POST",
        "/jobs",
        404,
    )
    .await;

    // --- operations.
    let health = c.call(get("/health"), "GET", "/health", 200).await;
    assert_eq!(health.body["components"]["jobs"]["backend"], "memory");
    c.call(get("/stats/cache"), "GET", "/stats/cache", 200)
        .await;
    c.call(get("/stats/pipeline"), "GET", "/stats/pipeline", 200)
        .await;
    c.call(get("/stats/coach"), "GET", "/stats/coach", 200)
        .await;
    let m = c.call(get("/metrics"), "GET", "/metrics", 200).await;
    assert!(m.text.contains("speech_coach_http_requests"), "{}", m.text);
    c.call(get("/openapi.json"), "GET", "/openapi.json", 200)
        .await;
    c.call(app.client.delete(url("/cache")), "DELETE", "/cache", 401)
        .await;
    c.call(
        app.client.delete(url("/cache")).bearer_auth(ADMIN),
        "DELETE",
        "/cache",
        200,
    )
    .await;

    // --- the page.
    let page = c.call(get("/"), "GET", "/", 200).await;
    assert!(page.text.contains("<html") || page.text.contains("<!DOCTYPE"));
    let etag = app.get("/").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    c.call(get("/").header("if-none-match", etag), "GET", "/", 304)
        .await;
    for name in ["app.js", "progress.js", "style.css", "favicon.svg"] {
        c.call(
            get(&format!("/static/{name}")),
            "GET",
            "/static/{name}",
            200,
        )
        .await;
    }
    c.call(get("/static/nope.js"), "GET", "/static/{name}", 404)
        .await;
    c.call(get("/api/config"), "GET", "/api/config", 200).await;

    // Every documented operation was called and checked here.
    let called: BTreeSet<(String, String)> = c
        .seen
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let missing: Vec<_> = c.operations().difference(&called).cloned().collect();
    assert!(
        missing.is_empty(),
        "documented but not exercised here: {missing:?}"
    );

    // An unknown route is the router's JSON 404.
    let resp = app.get("/no/such/route").await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    c.check(c.component("ErrorBody"), &body).unwrap();
}

/// The errors that need a server set up for them: a small upload limit (413), no admin token
/// (`DELETE /cache` does not exist), a running job's quiet stream (snapshots without an id have
/// their own shape) and a job cancelled while it runs.
#[tokio::test]
async fn limits_snapshots_and_cancelled_jobs_match_the_document() {
    let small = spawn_app(&[("MAX_FILE_SIZE_MB", "0.01")]).await;
    let mut c = Contract::fetch(&small).await;
    c.call(upload(&small, "/analyze", CLIP), "POST", "/analyze", 413)
        .await;
    c.call(upload(&small, "/jobs", CLIP), "POST", "/jobs", 413)
        .await;
    c.call(
        small.client.delete(small.url("/cache")),
        "DELETE",
        "/cache",
        404,
    )
    .await;

    let gate = Arc::new(Semaphore::new(0));
    let app = spawn_app_with(&[], Arc::new(FakeTranscriber::gated(gate.clone()))).await;
    let (id, _) = app
        .submit_job(corpus::read("clips/en_talk_1.wav"), "")
        .await;
    let mut reader = app.job_events(&id, None).await;
    let mut events = Vec::new();
    while !events.iter().any(|e: &SseEvent| e.id.is_none()) {
        let e = tokio::time::timeout(wait::LIMIT, reader.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on while the job runs");
        events.push(e);
    }
    c.check_events(&events);
    let running = c
        .call(
            app.client.get(app.url(&format!("/jobs/{id}"))),
            "GET",
            "/jobs/{id}",
            200,
        )
        .await;
    assert_eq!(running.body["state"], "running", "{}", running.text);
    let cancelled = c
        .call(
            app.client.delete(app.url(&format!("/jobs/{id}"))),
            "DELETE",
            "/jobs/{id}",
            200,
        )
        .await;
    assert_eq!(cancelled.body["state"], "cancelled", "{}", cancelled.text);
    gate.add_permits(100);
    c.check_events(&all_events(&app, &id).await);
}

/// Jobs on Redis: the job's `worker` and `attempt`, the claim's state event, and `/health`'s
/// jobs component with the Redis backend match the document too.
#[tokio::test]
async fn jobs_on_redis_match_the_document() {
    let redis = RedisServer::start();
    let url = redis.url();
    let app = spawn_app_with(
        &[("REDIS_URL", url.as_str()), ("WORKERS_PER_REPLICA", "1")],
        Arc::new(FakeTranscriber::new()),
    )
    .await;
    let mut c = Contract::fetch(&app).await;
    let id = c.job_until(&app, "/jobs", CLIP, "done").await;
    let done = c
        .call(
            app.client.get(app.url(&format!("/jobs/{id}"))),
            "GET",
            "/jobs/{id}",
            200,
        )
        .await;
    assert_eq!(done.body["attempt"], 1, "{}", done.text);
    assert!(done.body["worker"].is_string(), "{}", done.text);
    let events = all_events(&app, &id).await;
    assert!(
        events
            .iter()
            .any(|e| e.event == "state" && e.data["worker"].is_string()),
        "a claim event: {events:?}"
    );
    c.check_events(&events);
    let health = c
        .call(app.client.get(app.url("/health")), "GET", "/health", 200)
        .await;
    assert_eq!(
        health.body["components"]["jobs"]["backend"], "redis",
        "{}",
        health.text
    );
    c.call(
        app.client.get(app.url("/stats/pipeline")),
        "GET",
        "/stats/pipeline",
        200,
    )
    .await;
}

/// Every path the document declares is routed for exactly the methods it declares: any other
/// method is the router's 405 (so no route is served that the document does not describe for
/// that path), and that 405 is a JSON error.
#[tokio::test]
async fn documented_paths_have_exactly_the_documented_methods() {
    let app = spawn_app(&[("ADMIN_TOKEN", ADMIN)]).await;
    let c = Contract::fetch(&app).await;
    let concrete = |p: &str| {
        p.replace("{id}", NO_ID)
            .replace("{rehearsal}", NO_ID)
            .replace("{name}", "app.js")
    };
    for (path, item) in c.doc["paths"].as_object().unwrap() {
        let declared: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let resp = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    app.url(&concrete(path)),
                )
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            if declared.iter().any(|m| m == method) {
                let unrouted = status == 405 || text.contains("see GET /openapi.json");
                assert!(
                    !unrouted,
                    "{method} {path} is documented but not routed: {status} {text}"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {path} is routed but not documented: {text}"
                );
                let body: Value = serde_json::from_str(&text).unwrap();
                c.check(c.component("ErrorBody"), &body).unwrap();
            }
        }
    }
}

/// No route reaches the router without its description: `src/http` registers routes only
/// through `utoipa_axum::routes!` (which needs the handler's `#[utoipa::path]`), never with
/// axum's own `.route(…)`/`routing::` helpers, so the router and the document are one list.
#[test]
fn every_route_in_the_router_is_in_the_document() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut registered = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // Only the code the server runs (unit tests may build their own routers).
        let code = text.split("#[cfg(test)]").next().unwrap();
        for forbidden in [".route(", "routing::", ".nest(", ".route_service("] {
            assert!(
                !code.contains(forbidden),
                "{} registers a route with `{forbidden}`: use utoipa_axum::routes! and \
                 #[utoipa::path] so the route is in the OpenAPI document",
                path.display()
            );
        }
        registered += code.matches("routes!(").count();
    }
    assert!(
        registered >= 10,
        "routes! registrations found: {registered}"
    );
}

/// The check can fail: a real report is refused by a document whose nested schema is wrong,
/// and by the true document once a nested member is added, renamed or retyped.
#[tokio::test]
async fn the_validation_rejects_drift_in_nested_fields() {
    let app = spawn_app(&[]).await;
    let c = Contract::fetch(&app).await;
    let report = send_json(upload(&app, "/analyze", CLIP)).await;
    c.validate("POST", "/analyze", 200, &report)
        .expect("the real report validates");

    // The document says a word's start is a string: the real report is refused, at the word.
    let mut wrong = c.doc.clone();
    wrong["components"]["schemas"]["Word"]["properties"]["start_sec"] = json!({"type": "string"});
    let err = Contract::new(wrong)
        .validate("POST", "/analyze", 200, &report)
        .unwrap_err();
    assert!(
        err.contains("/transcript/segments/0/words/0/start_sec"),
        "{err}"
    );

    // The document lacks a nested member the server sends.
    let mut short = c.doc.clone();
    short["components"]["schemas"]["Segment"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("no_speech_prob");
    let err = Contract::new(short)
        .validate("POST", "/analyze", 200, &report)
        .unwrap_err();
    assert!(err.contains("no_speech_prob"), "{err}");

    // The server sends a member the document does not know (a field added to a type).
    let mut added = report.clone();
    added["transcript"]["segments"][0]["words"][0]["loudness"] = json!(3);
    let err = c.validate("POST", "/analyze", 200, &added).unwrap_err();
    assert!(err.contains("loudness"), "{err}");

    // A member renamed: the old name missing and the new one unknown, both reported.
    let mut renamed = report.clone();
    let fb = renamed["feedback"].as_object_mut().unwrap();
    let v = fb.remove("strengths").unwrap();
    fb.insert("good_points".into(), v);
    let err = c.validate("POST", "/analyze", 200, &renamed).unwrap_err();
    assert!(
        err.contains("`strengths` is missing") && err.contains("good_points"),
        "{err}"
    );

    // A member retyped deep in the timeline, and a label outside its enum.
    let mut retyped = report.clone();
    let timeline = retyped["timeline"].as_array_mut().unwrap();
    let speech = timeline
        .iter_mut()
        .find(|e| e["type"] == "speech")
        .expect("speech");
    speech["end_sec"] = json!("late");
    let err = c.validate("POST", "/analyze", 200, &retyped).unwrap_err();
    assert!(err.contains("/timeline/"), "{err}");
    let mut relabelled = report.clone();
    relabelled["metrics"]["pace_windows"][0]["flag"] = json!("sluggish");
    let err = c
        .validate("POST", "/analyze", 200, &relabelled)
        .unwrap_err();
    assert!(err.contains("sluggish"), "{err}");
}

/// The validator itself, on small schemas.
fn errors(doc: &Value, schema: Value, v: Value) -> Vec<String> {
    Validator::new(doc)
        .validate(&schema, &v)
        .err()
        .unwrap_or_default()
}

#[test]
fn types_refs_and_closed_objects() {
    let doc = json!({"components": {"schemas": {
        "Word": {"type": "object", "additionalProperties": false,
                 "required": ["word", "start_sec"],
                 "properties": {"word": {"type": "string"}, "start_sec": {"type": "number"}}},
    }}});
    let word = json!({"$ref": "#/components/schemas/Word"});
    let list = json!({"type": "array", "items": word.clone()});
    assert!(errors(&doc, list.clone(), json!([{"word": "a", "start_sec": 1}])).is_empty());
    let e = errors(&doc, list.clone(), json!([{"word": "a", "start_sec": "1"}]));
    assert_eq!(e, ["/0/start_sec: expected number, got string \"1\""]);
    let e = errors(
        &doc,
        list.clone(),
        json!([{"word": "a", "start_sec": 1, "loud": 3}]),
    );
    assert_eq!(e, ["/0/loud: member `loud` is not in the schema"]);
    let e = errors(&doc, list, json!([{"word": "a"}]));
    assert_eq!(e, ["/0: required member `start_sec` is missing"]);
}

#[test]
fn nullability_enums_and_alternatives() {
    let doc = json!({});
    let nullable = json!({"type": ["integer", "null"], "minimum": 0});
    assert!(errors(&doc, nullable.clone(), json!(null)).is_empty());
    assert!(!errors(&doc, nullable.clone(), json!(-1)).is_empty());
    assert!(!errors(&doc, nullable, json!(1.5)).is_empty());
    assert!(
        errors(
            &doc,
            json!({"type": "string", "nullable": true}),
            json!(null)
        )
        .is_empty()
    );
    let e = errors(
        &doc,
        json!({"type": "string", "enum": ["ok", "degraded"]}),
        json!("bad"),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    let one_of = json!({"oneOf": [{"type": "null"}, {"type": "number"}]});
    assert!(errors(&doc, one_of.clone(), json!(2)).is_empty());
    assert!(!errors(&doc, one_of, json!("x")).is_empty());
    let both = json!({"oneOf": [{"type": "number"}, {"type": "integer"}]});
    assert!(
        !errors(&doc, both.clone(), json!(2)).is_empty(),
        "two match"
    );
    assert!(errors(&doc, both, json!(2.5)).is_empty());
    let any = json!({"anyOf": [{"type": "number"}, {"type": "integer"}]});
    assert!(errors(&doc, any, json!(2)).is_empty());
    let all = json!({"allOf": [{"type": "number"}, {"minimum": 3}]});
    assert!(!errors(&doc, all, json!(2)).is_empty());
}
