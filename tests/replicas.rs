//! Jobs across replicas (issue 15): a real `redis-server`, two or three real `speech-coach`
//! processes (the binary, each on its own port), and one fake OpenAI-compatible recogniser in
//! this test process that every replica calls — so it counts analyses across processes, can
//! hold them (to kill a replica mid-run) and can fail one upload (a poison job).
//!
//! Every wait is a bounded poll; the one fixed pause (`OBSERVE`) only gives a wrong
//! implementation the time to show itself (a second analysis), it asserts nothing by itself.

mod support;

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::app::{BinaryApp, file_form, send_json, spawn_binary};
use support::redis_server::RedisServer;
use support::sse::{SseEvent, SseReader};
use support::{corpus, wait};
use tokio::sync::watch;

/// Long enough for a second analysis to reach the recogniser if nothing stopped it.
const OBSERVE: Duration = Duration::from_millis(1500);
const TEXT: &str = "so today I want to talk about practice and how it makes a speaker calm";
const CLIP: &str = "clips/en_talk_2.wav";

fn clip() -> Vec<u8> {
    corpus::read(CLIP)
}

/// The clip with one sample changed: another upload, the same duration.
fn variant(i: u8) -> Vec<u8> {
    corpus::variant(CLIP, i)
}

// ---------------------------------------------------------------------------------------------
// The fake recogniser, shared by every replica.

#[derive(Default)]
struct AsrState {
    calls: usize,
    /// Calls by audio duration (tenths of a second): which upload was analysed how often.
    by_duration: HashMap<u64, usize>,
}

#[derive(Clone)]
struct Asr {
    state: Arc<Mutex<AsrState>>,
    /// While false, calls wait (a held analysis).
    open: watch::Receiver<bool>,
    /// Uploads of this duration (tenths of a second) get a 500.
    poison: Option<u64>,
}

struct FakeAsr {
    url: String,
    state: Arc<Mutex<AsrState>>,
    gate: watch::Sender<bool>,
}

impl FakeAsr {
    async fn start(open: bool, poison_sec: Option<f64>) -> Self {
        let state = Arc::new(Mutex::new(AsrState::default()));
        let (gate, rx) = watch::channel(open);
        let asr = Asr {
            state: state.clone(),
            open: rx,
            poison: poison_sec.map(|s| (s * 10.0).round() as u64),
        };
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcribe))
            .layer(DefaultBodyLimit::disable())
            .with_state(asr);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state, gate }
    }

    fn calls(&self) -> usize {
        self.state.lock().unwrap().calls
    }

    fn calls_for(&self, duration_sec: f64) -> usize {
        let k = (duration_sec * 10.0).round() as u64;
        *self.state.lock().unwrap().by_duration.get(&k).unwrap_or(&0)
    }

    fn open(&self) {
        self.gate.send_replace(true);
    }
}

async fn transcribe(
    State(asr): State<Asr>,
    mut form: Multipart,
) -> Result<Json<Value>, StatusCode> {
    let mut wav = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        if field.name() == Some("file") {
            wav = field.bytes().await.unwrap().to_vec();
        }
    }
    let pcm = support::fake_asr::pcm16(&wav);
    let duration = pcm.len() as f64 / 16_000.0;
    let key = (duration * 10.0).round() as u64;
    {
        let mut s = asr.state.lock().unwrap();
        s.calls += 1;
        *s.by_duration.entry(key).or_default() += 1;
    }
    let mut open = asr.open.clone();
    let _ = open.wait_for(|o| *o).await;
    if asr.poison == Some(key) {
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    }
    let tokens: Vec<&str> = TEXT.split_whitespace().collect();
    let per = duration / tokens.len() as f64;
    let words: Vec<Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let start = i as f64 * per;
            json!({"word": w, "start": start, "end": start + per * 0.8, "probability": 0.9})
        })
        .collect();
    Ok(Json(json!({
        "language": "en",
        "duration": duration,
        "text": TEXT,
        "segments": [{"start": 0.0, "end": duration, "text": TEXT, "avg_logprob": -0.2,
                      "no_speech_prob": 0.0, "words": words}],
        "words": words,
    })))
}

// ---------------------------------------------------------------------------------------------
// Replicas: the real binary (`BinaryApp`), each on its own port.

/// Settings every replica gets: the fake recogniser, short heartbeats and leases, one slot.
fn base_env<'a>(redis: &'a str, asr: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("REDIS_URL", redis),
        ("ASR_BACKEND", "openai"),
        ("ASR_URL", asr),
        ("GIGACHAT_ENABLED", "false"),
        ("MAX_CONCURRENT_ANALYSES", "1"),
        ("WORKERS_PER_REPLICA", "1"),
        ("JOB_HEARTBEAT_MS", "200"),
        ("REDIS_LEASE_MS", "1000"),
        ("REDIS_CONNECT_TIMEOUT_MS", "500"),
        ("REDIS_RESPONSE_TIMEOUT_MS", "500"),
        ("JOB_REDIS_TIMEOUT_MS", "500"),
        ("JOB_MAX_ATTEMPTS", "3"),
        ("CACHE_MEMORY_MAX_MB", "0"),
        ("CACHE_DISK_MAX_MB", "0"),
        ("LOG_FILE", ""),
        ("LOG_LEVEL", "info"),
    ]
}

async fn spawn_replica(env: &[(&str, &str)]) -> BinaryApp {
    let mut env = env.to_vec();
    if std::env::var_os("REPLICA_LOGS").is_some() {
        env.push(("LOG_FILE", "replica.log"));
    }
    spawn_binary(&env).await
}

fn kill9(r: &mut BinaryApp) {
    let _ = r.child.kill();
    let _ = r.child.wait();
}

async fn post_job(client: &reqwest::Client, r: &BinaryApp, bytes: Vec<u8>) -> reqwest::Response {
    client
        .post(r.url("/jobs"))
        .multipart(file_form(bytes, "talk.wav"))
        .send()
        .await
        .unwrap()
}

async fn submit(client: &reqwest::Client, r: &BinaryApp, bytes: Vec<u8>) -> String {
    let resp = post_job(client, r, bytes).await;
    assert_eq!(resp.status(), 202, "POST /jobs");
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// `GET /jobs/{id}` on `r`; `Value::Null` while the job store answers 503 (Redis restarting:
/// the client is told to retry), any other status fails.
async fn get_job(client: &reqwest::Client, r: &BinaryApp, id: &str) -> Value {
    let resp = client
        .get(r.url(&format!("/jobs/{id}")))
        .send()
        .await
        .unwrap();
    if resp.status() == 503 {
        return Value::Null;
    }
    assert_eq!(resp.status(), 200, "GET /jobs/{id} on {}", r.addr);
    resp.json().await.unwrap()
}

async fn wait_job(
    client: &reqwest::Client,
    r: &BinaryApp,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    wait::value(wait::LIMIT, what, || get_job(client, r, id), pred).await
}

async fn stats_pipeline(client: &reqwest::Client, r: &BinaryApp) -> Value {
    let resp = client.get(r.url("/stats/pipeline")).send().await.unwrap();
    resp.json().await.unwrap()
}

/// The pid in a worker id (`<host>-<pid>-<random>/<n>`).
fn worker_pid(job: &Value) -> Option<u32> {
    let w = job["worker"].as_str()?;
    let consumer = w.split('/').next()?;
    let mut parts = consumer.rsplitn(3, '-');
    let _random = parts.next()?;
    parts.next()?.parse().ok()
}

/// Every event of a job's log, read over SSE from `r` until its terminal event.
async fn event_log(client: &reqwest::Client, r: &BinaryApp, id: &str) -> Vec<SseEvent> {
    let resp = client
        .get(r.url(&format!("/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    SseReader::new(resp)
        .with_chunk_timeout(wait::LIMIT)
        .until(&["done", "failed", "cancelled"])
        .await
        .into_iter()
        .filter(|e| e.id.is_some())
        .collect()
}

fn count(log: &[SseEvent], event: &str) -> usize {
    log.iter().filter(|e| e.event == event).count()
}

fn without_cache(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("cache");
    report
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_job_posted_to_a_busy_replica_runs_on_another_and_a_third_follows_it() {
    let redis = RedisServer::start();
    let asr = FakeAsr::start(false, None).await;
    let (ru, au) = (redis.url(), asr.url.clone());
    let env = base_env(&ru, &au);
    let a = spawn_replica(&env).await;
    let mut c_env = env.clone();
    c_env.push(("WORKERS_PER_REPLICA", "0"));
    let c = spawn_replica(&c_env).await;
    let client = reqwest::Client::new();

    // A is the only replica with a worker: it takes the first job, and its one slot is busy.
    let first = submit(&client, &a, variant(1)).await;
    let j = wait_job(&client, &c, &first, "the first job on A", |j| {
        j["worker"].is_string()
    })
    .await;
    assert_eq!(worker_pid(&j), Some(a.pid()), "{j}");
    wait::until("A's analysis at the recogniser", || asr.calls() == 1).await;

    // B joins; a job posted to (busy) A runs on B.
    let b = spawn_replica(&env).await;
    let second = submit(&client, &a, variant(2)).await;
    let j = wait_job(&client, &c, &second, "the second job taken", |j| {
        j["worker"].is_string()
    })
    .await;
    assert_eq!(worker_pid(&j), Some(b.pid()), "A had no free slot: {j}");
    wait::until("B's analysis at the recogniser", || asr.calls() == 2).await;

    // C (no workers) follows the job B runs, over SSE, to the end.
    let follow = {
        let (client, id) = (client.clone(), second.clone());
        let reader = client
            .get(c.url(&format!("/jobs/{id}/events")))
            .send()
            .await
            .unwrap();
        assert_eq!(reader.status(), 200);
        tokio::spawn(async move {
            SseReader::new(reader)
                .with_chunk_timeout(wait::LIMIT)
                .until(&["done", "failed", "cancelled"])
                .await
                .into_iter()
                .filter(|e| e.id.is_some())
                .collect::<Vec<_>>()
        })
    };
    asr.open();
    let log = follow.await.unwrap();
    let ids: Vec<u64> = log.iter().filter_map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "no gaps: {log:?}"
    );
    assert_eq!(log.last().unwrap().event, "done", "{log:?}");
    assert_eq!(count(&log, "done"), 1);
    for r in [&a, &b, &c] {
        let j = get_job(&client, r, &second).await;
        assert_eq!(j["state"], "done", "on {}: {j}", r.addr);
        assert_eq!(j["report"]["transcript"]["text"], TEXT);
    }
    let j = wait_job(&client, &b, &first, "the first job done", |j| {
        j["state"] == "done"
    })
    .await;
    assert_eq!(j["attempt"], 1);
    assert_eq!(asr.calls(), 2, "one analysis per job");
}

#[tokio::test]
async fn identical_uploads_on_two_replicas_run_one_analysis() {
    let redis = RedisServer::start();
    let asr = FakeAsr::start(false, None).await;
    let (ru, au) = (redis.url(), asr.url.clone());
    let env = base_env(&ru, &au);
    let a = spawn_replica(&env).await;
    let b = spawn_replica(&env).await;
    let client = reqwest::Client::new();

    let on_a = submit(&client, &a, clip()).await;
    let on_b = submit(&client, &b, clip()).await;
    // Each replica has one slot, so the two jobs run on different replicas.
    let ja = wait_job(&client, &a, &on_a, "claimed", |j| j["worker"].is_string()).await;
    let jb = wait_job(&client, &a, &on_b, "claimed", |j| j["worker"].is_string()).await;
    assert_ne!(worker_pid(&ja), worker_pid(&jb), "{ja} {jb}");
    wait::until("one analysis at the recogniser", || asr.calls() == 1).await;
    tokio::time::sleep(OBSERVE).await;
    assert_eq!(
        asr.calls(),
        1,
        "the other replica waits for the lease holder"
    );
    asr.open();
    let da = wait_job(&client, &b, &on_a, "done", |j| j["state"] == "done").await;
    let db = wait_job(&client, &a, &on_b, "done", |j| j["state"] == "done").await;
    assert_eq!(
        without_cache(da["report"].clone()),
        without_cache(db["report"].clone())
    );
    assert_eq!(asr.calls(), 1, "identical uploads on A and B: one analysis");
}

#[tokio::test]
async fn kill_9_of_the_replica_running_a_job_lets_another_finish_it() {
    let redis = RedisServer::start();
    let asr = FakeAsr::start(false, None).await;
    let (ru, au) = (redis.url(), asr.url.clone());
    let env = base_env(&ru, &au);
    let mut a = spawn_replica(&env).await;
    let mut b = spawn_replica(&env).await;
    let client = reqwest::Client::new();

    let id = submit(&client, &a, clip()).await;
    let j = wait_job(&client, &a, &id, "claimed", |j| j["worker"].is_string()).await;
    wait::until("the analysis at the recogniser", || asr.calls() == 1).await;
    let runner = worker_pid(&j).unwrap();
    let (dead, alive) = if runner == a.pid() {
        (&mut a, &b)
    } else {
        assert_eq!(runner, b.pid());
        (&mut b, &a)
    };
    kill9(dead);
    // The survivor reclaims it (after 5 missed heartbeats) and, once the dead holder's lease
    // expired, analyses it again.
    wait::until("the reclaimed analysis at the recogniser", || {
        asr.calls() == 2
    })
    .await;
    asr.open();
    let done = wait_job(&client, alive, &id, "done", |j| j["state"] == "done").await;
    assert_eq!(worker_pid(&done), Some(alive.pid()), "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["report"]["transcript"]["text"], TEXT);
    assert!(done["error"].is_null());
    let log = event_log(&client, alive, &id).await;
    assert_eq!(count(&log, "done"), 1, "{log:?}");
    let retry = log
        .iter()
        .find(|e| e.data["attempt"] == 2)
        .expect("the second attempt is in the log");
    assert!(
        retry.data["retry_reason"]
            .as_str()
            .unwrap()
            .contains("stopped"),
        "{retry:?}"
    );
    // The same report an /analyze of the upload gets now (from the shared cache).
    let direct = send_json(
        client
            .post(alive.url("/analyze"))
            .multipart(file_form(clip(), "talk.wav")),
    )
    .await;
    assert_eq!(without_cache(direct), without_cache(done["report"].clone()));
    assert_eq!(asr.calls(), 2);
}

#[tokio::test]
async fn a_poison_job_ends_failed_after_max_attempts() {
    let redis = RedisServer::start();
    // ru_talk_2 is 21.8 s: the recogniser fails on it every time.
    let asr = FakeAsr::start(true, Some(21.8)).await;
    let (ru, au) = (redis.url(), asr.url.clone());
    let env = base_env(&ru, &au);
    let a = spawn_replica(&env).await;
    let b = spawn_replica(&env).await;
    let client = reqwest::Client::new();
    let poison = corpus::read("clips/ru_talk_2.wav");
    let id = submit(&client, &a, poison).await;
    let healthy = submit(&client, &b, clip()).await;
    let failed = wait_job(&client, &b, &id, "failed", |j| j["state"] == "failed").await;
    assert_eq!(failed["attempt"], 3, "{failed}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains("3 times"), "{message}");
    assert_eq!(failed["error"]["error"], "upstream_error", "{failed}");
    assert_eq!(asr.calls_for(21.8), 3, "JOB_MAX_ATTEMPTS analyses, no more");
    let ok = wait_job(&client, &a, &healthy, "done", |j| j["state"] == "done").await;
    assert_eq!(ok["attempt"], 1);
    // Nothing left open in the stream.
    let stats = stats_pipeline(&client, &a).await;
    assert_eq!(stats["jobs"]["queued"], 0, "{stats}");
    assert_eq!(stats["jobs"]["running"], 0, "{stats}");
    assert_eq!(stats["jobs"]["failed"], 1, "{stats}");
    assert_eq!(stats["jobs"]["done"], 1, "{stats}");
    assert_eq!(redis.command("XLEN speech-coach:jobs:stream").trim(), ":0");
}

#[tokio::test]
async fn redis_restarted_mid_run_loses_no_job_and_finishes_none_twice() {
    let mut redis = RedisServer::start_persistent();
    let asr = FakeAsr::start(false, None).await;
    let (ru, au) = (redis.url(), asr.url.clone());
    let mut env = base_env(&ru, &au);
    // Reclaim after 2 s: longer than the outage, so nothing is taken over.
    env.push(("JOB_HEARTBEAT_MS", "400"));
    env.push(("REDIS_LEASE_MS", "5000"));
    let a = spawn_replica(&env).await;
    let b = spawn_replica(&env).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..4u8 {
        let r = if i % 2 == 0 { &a } else { &b };
        ids.push(submit(&client, r, variant(10 + i)).await);
    }
    // Two run (one per replica), held at the recogniser; two wait in the stream.
    wait::until("two analyses running", || asr.calls() == 2).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = post_job(&client, &a, variant(99)).await;
    assert_eq!(refused.status(), 503, "no job accepted while Redis is down");
    assert!(refused.headers().contains_key("retry-after"));
    redis.start_again();
    asr.open();
    for id in &ids {
        let j = wait_job(&client, &a, id, "done after the restart", |j| {
            j["state"] == "done"
        })
        .await;
        assert_eq!(j["report"]["transcript"]["text"], TEXT);
        let log = event_log(&client, &b, id).await;
        assert_eq!(count(&log, "done"), 1, "{log:?}");
    }
    assert_eq!(asr.calls(), 4, "every job analysed once");
    let mut completed = 0;
    for r in [&a, &b] {
        let s = stats_pipeline(&client, r).await;
        completed += s["completed"].as_u64().unwrap();
    }
    assert_eq!(completed, 4, "no analysis ran twice to completion");
}
