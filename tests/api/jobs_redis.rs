//! Jobs on Redis (issue 15) with in-process replicas sharing one real `redis-server`: the
//! cluster-wide bound on open jobs, cancelling on another replica, and Redis outages. The
//! multi-process cases (kill -9, cross-process counts) are in `tests/replicas.rs`.

use crate::support::redis_server::RedisServer;
use crate::support::{FakeTranscriber, TestApp, corpus, spawn_app_with, wait};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const CLIP: &str = "clips/en_talk_2.wav";

fn clip() -> Vec<u8> {
    corpus::read(CLIP)
}

fn variant(i: u8) -> Vec<u8> {
    corpus::variant(CLIP, i)
}

fn settings<'a>(
    redis: &'a str,
    workers: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("REDIS_URL", redis),
        ("WORKERS_PER_REPLICA", workers),
        ("MAX_CONCURRENT_ANALYSES", "1"),
        ("JOB_HEARTBEAT_MS", "100"),
        ("JOB_REDIS_TIMEOUT_MS", "300"),
        ("REDIS_CONNECT_TIMEOUT_MS", "200"),
        ("REDIS_RESPONSE_TIMEOUT_MS", "200"),
        ("REDIS_PROBE_INTERVAL_MS", "50"),
    ];
    v.extend_from_slice(extra);
    v
}

async fn post_job(app: &TestApp, bytes: Vec<u8>) -> reqwest::Response {
    app.post_job(bytes, "").await
}

async fn wait_json(app: &TestApp, path: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait::value(wait::LIMIT, what, || app.get_json(path), pred).await
}

#[tokio::test]
async fn open_jobs_are_bounded_cluster_wide_and_a_cancelled_queued_job_frees_its_place() {
    let redis = RedisServer::start();
    let url = redis.url();
    // Two replicas that run no jobs: everything stays in the stream.
    let cfg = settings(&url, "0", &[("MAX_QUEUED_JOBS", "2")]);
    let a = spawn_app_with(&cfg, Arc::new(FakeTranscriber::new())).await;
    let b = spawn_app_with(&cfg, Arc::new(FakeTranscriber::new())).await;
    assert_eq!(post_job(&a, variant(1)).await.status(), 202);
    let second = post_job(&b, variant(2)).await;
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.unwrap();
    let full = post_job(&a, variant(3)).await;
    assert_eq!(full.status(), 503, "MAX_QUEUED_JOBS=2 across both replicas");
    assert!(full.headers().contains_key("retry-after"));
    let body: Value = full.json().await.unwrap();
    assert_eq!(body["error"], "overloaded");
    let stats = b.get_json("/stats/pipeline").await;
    assert_eq!(stats["jobs"]["queued"], 2, "{stats}");

    // Cancelled on the other replica while waiting: it leaves the stream at once.
    let id = second["id"].as_str().unwrap();
    let cancelled = a.delete_job(id).await;
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(redis.command("XLEN speech-coach:jobs:stream").trim(), ":1");
    assert_eq!(
        post_job(&a, variant(3)).await.status(),
        202,
        "its place is free"
    );
}

#[tokio::test]
async fn a_job_cancelled_on_one_replica_stops_where_it_runs() {
    let redis = RedisServer::start();
    let url = redis.url();
    let gate = Arc::new(Semaphore::new(0));
    let fake = Arc::new(FakeTranscriber::windowed(3.0, Some(gate.clone())));
    let worker = spawn_app_with(&settings(&url, "1", &[]), fake.clone()).await;
    let front = spawn_app_with(&settings(&url, "0", &[]), Arc::new(FakeTranscriber::new())).await;
    let (id, _) = front.submit_job(clip(), "").await;
    let path = format!("/jobs/{id}");
    gate.add_permits(1);
    wait_json(&front, &path, "the first window", |j| {
        j["progress"]["audio_sec_done"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let resp = front.delete(&path).await;
    assert_eq!(resp.status(), 200);
    // The worker's replica notices at its next heartbeat and lets go of the job; the run, held
    // at its next window, stops there once let through.
    wait_json(&worker, "/health", "the worker let go", |h| {
        h["components"]["jobs"]["active"] == 0
    })
    .await;
    gate.add_permits(10);
    wait_json(&worker, "/stats/pipeline", "the run cancelled", |s| {
        s["cancelled"] == 1
    })
    .await;
    let j = worker.get_json(&path).await;
    assert_eq!(j["state"], "cancelled", "{j}");
    assert!(j["report"].is_null());
    wait_json(&front, "/stats/pipeline", "the stream emptied", |s| {
        s["jobs"]["running"] == 0 && s["jobs"]["queued"] == 0
    })
    .await;
}

#[tokio::test]
async fn while_redis_is_down_jobs_are_refused_with_retry_after_and_analyze_still_works() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let app = spawn_app_with(&settings(&url, "1", &[]), Arc::new(FakeTranscriber::new())).await;
    let h = app.get_json("/health").await;
    assert_eq!(h["components"]["jobs"]["status"], "ok", "{h}");
    assert_eq!(h["components"]["jobs"]["backend"], "redis", "{h}");

    redis.stop();
    let refused = post_job(&app, clip()).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Redis"),
        "{body}"
    );
    let h = app.get_json("/health").await;
    assert_eq!(h["components"]["jobs"]["status"], "unavailable", "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    let direct = app.analyze_multipart(clip(), "talk.wav", "").await;
    assert_eq!(direct.status(), 200, "/analyze does not need the job queue");

    redis.start_again();
    let start = Instant::now();
    let id = loop {
        let resp = post_job(&app, variant(5)).await;
        if resp.status() == 202 {
            break resp.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
        }
        assert_eq!(resp.status(), 503);
        assert!(
            start.elapsed() < wait::LIMIT,
            "jobs not accepted again after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let done = wait_json(&app, &format!("/jobs/{id}"), "done", |j| {
        j["state"] == "done"
    })
    .await;
    assert_eq!(done["attempt"], 1);
    assert!(done["report"]["transcript"]["text"].is_string());
}

/// A job posted with `speaker=` is recorded as a rehearsal by the replica that finishes it,
/// under the job's id, even when the replica that accepted it is gone by then; the stored
/// report is the job's.
#[tokio::test]
async fn a_jobs_rehearsal_is_recorded_where_it_finishes_after_the_accepting_replica_is_gone() {
    let redis = RedisServer::start();
    let url = redis.url();
    let db_dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", db_dir.path().join("history.db").display());
    let gate = Arc::new(Semaphore::new(0));
    let worker = spawn_app_with(
        &settings(&url, "1", &[("DATABASE_URL", &db)]),
        Arc::new(FakeTranscriber::gated(gate.clone())),
    )
    .await;
    let front = spawn_app_with(
        &settings(&url, "0", &[("DATABASE_URL", &db)]),
        Arc::new(FakeTranscriber::new()),
    )
    .await;
    let speaker = front.new_speaker().await;
    let (id, _) = front
        .submit_job(clip(), &format!("?speaker={speaker}&title=dry-run"))
        .await;
    let path = format!("/jobs/{id}");
    wait_json(&worker, &path, "the job running on the worker", |j| {
        j["state"] == "running"
    })
    .await;
    // The accepting replica stops before the job is done.
    front.shutdown.cancel();
    drop(front);
    gate.add_permits(1);
    let done = wait_json(&worker, &path, "done", |j| j["state"] == "done").await;

    let list = worker
        .get_json(&format!("/speakers/{speaker}/rehearsals"))
        .await;
    let items = list["rehearsals"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(
        items[0]["id"],
        id.as_str(),
        "the rehearsal's id is the job's"
    );
    assert_eq!(items[0]["title"], "dry-run");
    let stored = worker
        .get_json(&format!("/speakers/{speaker}/rehearsals/{id}"))
        .await;
    assert_eq!(stored["id"], done["report"]["id"], "{stored}");
    assert_eq!(stored["transcript"], done["report"]["transcript"]);
}
