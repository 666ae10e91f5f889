//! Issue 6 end to end over HTTP: the three-tier cache seen by a client of `POST /analyze`,
//! `GET /stats/cache`, `GET /health` and `DELETE /cache`, with a real `redis-server` (started on
//! a free port by the harness, killed and restarted to test outages) and real directories
//! (restarts, corrupt entries, an unusable cache dir).
//!
//! Every request also checks that the report's `cache` field and the `x-cache` header agree.

use crate::support::redis_server::RedisServer;
use crate::support::{FakeTranscriber, TestApp, spawn_app_with, wait};
use serde_json::Value;
use speech_coach::cache::disk::envelope;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Upper bound for anything the tests wait for (background writes, the Redis probe): far above
/// what it takes on an idle machine, so only a real hang fails a test.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

const X: &str = "clips/en_talk_1.wav";
const Y: &str = "clips/en_talk_2.wav";
const Z: &str = "clips/ru_talk_2.wav";
const W: &str = "clips/ru_talk_1.wav";
const V: &str = "clips/ru_talk_1_fest.wav";

/// One `/analyze` answer: status, `x-cache` header, body.
struct Answer {
    status: u16,
    x_cache: String,
    body: Value,
}

async fn post(app: &TestApp, rel: &str) -> Answer {
    let r = app.analyze_corpus(rel, "").await;
    let status = r.status().as_u16();
    let x_cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = r.json().await.unwrap();
    if status == 200 {
        // The body says the same as the header.
        let expected_tier = x_cache.strip_prefix("hit-");
        assert_eq!(
            body["cache"]["hit"],
            expected_tier.is_some(),
            "{rel}: x-cache {x_cache} vs {}",
            body["cache"]
        );
        match expected_tier {
            Some(tier) => assert_eq!(body["cache"]["tier"], tier, "{rel}"),
            None => assert!(body["cache"]["tier"].is_null(), "{rel}: {}", body["cache"]),
        }
    }
    Answer {
        status,
        x_cache,
        body,
    }
}

/// Posts and asserts a 200 with the given `x-cache`; returns the report.
async fn expect(app: &TestApp, rel: &str, x_cache: &str) -> Value {
    let a = post(app, rel).await;
    assert_eq!(a.status, 200, "{rel}: {}", a.body);
    assert_eq!(a.x_cache, x_cache, "{rel}");
    a.body
}

/// Polls `/stats/cache` until `pred` holds (bounded by [`WAIT_LIMIT`]); returns the stats.
async fn wait_for_stats(app: &TestApp, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    app.wait_for_json("/stats/cache", WAIT_LIMIT, what, pred)
        .await
}

/// Waits until the background writes (Redis, disk) started so far have landed.
async fn settle(app: &TestApp) -> Value {
    wait_for_stats(app, "background cache writes", |s| {
        s["pending_writes"] == 0 && s["in_flight"] == 0
    })
    .await
}

async fn spawn(env: &[(&str, String)], fake: &Arc<FakeTranscriber>) -> TestApp {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(&pairs, fake.clone()).await
}

/// Settings of an app using `redis` as L2. Generous command deadlines: on this shared machine
/// a 50 ms stall is possible, and a spurious timeout would turn an expected `hit-redis` into a
/// miss. A dead Redis refuses connections at once, so outages are still detected fast.
fn redis_env(redis: &RedisServer) -> Vec<(&'static str, String)> {
    vec![
        ("REDIS_URL", redis.url()),
        ("REDIS_CONNECT_TIMEOUT_MS", "2000".into()),
        ("REDIS_RESPONSE_TIMEOUT_MS", "2000".into()),
        ("REDIS_PROBE_INTERVAL_MS", "100".into()),
    ]
}

fn redis_dbsize(redis: &RedisServer) -> u64 {
    let reply = redis.command("DBSIZE");
    reply
        .trim()
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected DBSIZE reply {reply:?}"))
}

fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "entry"))
        .collect();
    files.sort();
    files
}

/// The only entry file under `dir`.
fn the_entry(dir: &Path) -> PathBuf {
    let files = entry_files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_then_memory_then_disk_after_a_restart_then_memory_again() {
    let cache_dir = tempfile::tempdir().unwrap();
    let env = [("CACHE_DIR", cache_dir.path().display().to_string())];

    let first_fake = Arc::new(FakeTranscriber::new());
    let first = spawn(&env, &first_fake).await;
    let fresh = expect(&first, X, "miss").await;
    let again = expect(&first, X, "hit-memory").await;
    assert_eq!(again["id"], fresh["id"]);
    assert_eq!(again["metrics"], fresh["metrics"]);
    let s = settle(&first).await;
    assert_eq!(s["disk"]["entries"], 1, "{s}");
    assert_eq!(first_fake.calls(), 1);
    drop(first); // shuts the first server down; the entry stays on disk

    let second_fake = Arc::new(FakeTranscriber::new());
    let second = spawn(&env, &second_fake).await;
    let s = second.stats_cache().await;
    assert_eq!(s["disk"]["entries"], 1, "indexed at start: {s}");
    assert_eq!(s["memory"]["entries"], 0, "{s}");
    let from_disk = expect(&second, X, "hit-disk").await;
    assert_eq!(from_disk["id"], fresh["id"]);
    assert_eq!(from_disk["metrics"], fresh["metrics"]);
    assert_eq!(from_disk["transcript"], fresh["transcript"]);
    // Promoted: the next lookup is answered by memory.
    expect(&second, X, "hit-memory").await;
    assert_eq!(
        second_fake.calls(),
        0,
        "never analysed again after the restart"
    );
    let s = second.stats_cache().await;
    assert_eq!(
        (
            &s["l1_memory_hits"],
            &s["l3_disk_hits"],
            &s["misses"],
            &s["total"]
        ),
        (
            &Value::from(1),
            &Value::from(1),
            &Value::from(0),
            &Value::from(2)
        ),
        "{s}"
    );
    assert_eq!(s["memory"]["entries"], 1, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_analysed_on_one_replica_is_a_redis_hit_on_the_other() {
    let redis = RedisServer::start();
    let env = redis_env(&redis);
    let (fake_a, fake_b) = (
        Arc::new(FakeTranscriber::new()),
        Arc::new(FakeTranscriber::new()),
    );
    // Same Redis, separate disk directories (each TestApp has its own temp dir).
    let a = spawn(&env, &fake_a).await;
    let b = spawn(&env, &fake_b).await;
    for app in [&a, &b] {
        let h = app.get_ok_json("/health").await;
        assert_eq!(h["status"], "ok", "{h}");
        assert_eq!(
            h["components"]["cache"],
            serde_json::json!({"status": "ok", "tiers": {"memory": "ok", "redis": "ok", "disk": "ok"}}),
            "{h}"
        );
        assert_eq!(app.stats_cache().await["redis_available"], true);
    }

    let on_a = expect(&a, X, "miss").await;
    settle(&a).await;
    assert_eq!(redis_dbsize(&redis), 1);
    let on_b = expect(&b, X, "hit-redis").await;
    assert_eq!(on_b["id"], on_a["id"]);
    assert_eq!(on_b["metrics"], on_a["metrics"]);
    expect(&b, X, "hit-memory").await;
    assert_eq!(fake_b.calls(), 0, "B never analysed X");

    // And the other way round.
    expect(&b, Y, "miss").await;
    settle(&b).await;
    expect(&a, Y, "hit-redis").await;
    assert_eq!((fake_a.calls(), fake_b.calls()), (1, 1));
    assert_eq!(redis_dbsize(&redis), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_the_service_serves_and_recovers_without_a_restart() {
    let mut redis = RedisServer::start();
    let env = redis_env(&redis);
    let (fake_a, fake_b) = (
        Arc::new(FakeTranscriber::new()),
        Arc::new(FakeTranscriber::new()),
    );
    let a = spawn(&env, &fake_a).await;
    let b = spawn(&env, &fake_b).await;
    expect(&a, X, "miss").await;
    settle(&a).await;
    expect(&b, X, "hit-redis").await;
    assert_eq!(a.stats_cache().await["errors"]["redis"], 0);

    redis.stop();
    // Known reports are still served from memory, new uploads are analysed: all 200.
    expect(&a, X, "hit-memory").await;
    expect(&b, X, "hit-memory").await;
    expect(&a, W, "miss").await;
    let s = wait_for_stats(&a, "redis marked unavailable", |s| {
        s["redis_available"] == false
    })
    .await;
    assert!(s["errors"]["redis"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["tiers"]["redis"], "unavailable", "{s}");
    let h = a.get_ok_json("/health").await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["components"]["cache"]["status"], "degraded", "{h}");
    assert_eq!(
        h["components"]["cache"]["tiers"]["redis"], "unavailable",
        "{h}"
    );
    assert_eq!(h["components"]["cache"]["tiers"]["memory"], "ok", "{h}");
    // While it is down every lookup that reaches L2 is a fast miss counted as an error.
    let before = s["errors"]["redis"].as_u64().unwrap();
    expect(&a, Z, "miss").await;
    settle(&a).await;
    let s = a.stats_cache().await;
    assert!(
        s["errors"]["redis"].as_u64().unwrap() > before,
        "a lookup and a write skipped Redis: {s}"
    );
    // B learns of the outage from its probe alone.
    wait_for_stats(&b, "redis unavailable on B", |s| {
        s["redis_available"] == false
    })
    .await;

    // Back on the same port (empty: no persistence); both apps reconnect by themselves.
    redis.start_again();
    for app in [&a, &b] {
        wait_for_stats(app, "redis available again", |s| {
            s["redis_available"] == true
        })
        .await;
        let h = app.get_ok_json("/health").await;
        assert_eq!(h["status"], "ok", "{h}");
    }
    expect(&a, V, "miss").await;
    settle(&a).await;
    assert_eq!(redis_dbsize(&redis), 1);
    expect(&b, V, "hit-redis").await;
    assert_eq!(
        fake_b.calls(),
        0,
        "B analysed nothing, before, during or after the outage"
    );
    assert_eq!(fake_a.calls(), 4, "X, W, Z, V once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_exact_after_a_scripted_sequence() {
    let redis = RedisServer::start();
    let shared_dir = tempfile::tempdir().unwrap();
    let mut env = redis_env(&redis);
    env.push(("CACHE_DIR", shared_dir.path().display().to_string()));
    env.push(("CACHE_TTL_SEC", "3600".into()));
    env.push(("CACHE_MEMORY_MAX_MB", "64".into()));
    env.push(("CACHE_DISK_MAX_MB", "32".into()));

    // A writes Y (then Redis forgets it) and X: Redis holds X, the shared directory X and Y.
    let fake_a = Arc::new(FakeTranscriber::new());
    let a = spawn(&env, &fake_a).await;
    expect(&a, Y, "miss").await;
    settle(&a).await;
    assert!(redis.command("FLUSHALL").starts_with("+OK"));
    expect(&a, X, "miss").await;
    settle(&a).await;
    assert_eq!(redis_dbsize(&redis), 1);
    let s = a.stats_cache().await;
    assert_eq!(
        (&s["misses"], &s["total"]),
        (&Value::from(2), &Value::from(2))
    );
    assert_eq!(
        (s["hit_rate"].as_f64(), &s["hit_rate_percent"]),
        (Some(0.0), &Value::from("0.0%"))
    );

    // B shares Redis and the directory; its analyses are held at a gate.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake_b = Arc::new(FakeTranscriber::gated(gate.clone()));
    let b = Arc::new(spawn(&env, &fake_b).await);
    expect(&b, X, "hit-redis").await;
    expect(&b, X, "hit-memory").await;
    expect(&b, Y, "hit-disk").await;
    expect(&b, Y, "hit-memory").await;
    // Two identical uploads of Z: one analysis, the second waits for it.
    let leader = {
        let b = b.clone();
        tokio::spawn(async move { post(&b, Z).await })
    };
    wait::until_within(WAIT_LIMIT, "Z to reach the transcriber", || {
        fake_b.calls() > 0
    })
    .await;
    let follower = {
        let b = b.clone();
        tokio::spawn(async move { post(&b, Z).await })
    };
    let s = wait_for_stats(&b, "the second Z to join the flight", |s| {
        s["coalesced"] == 1
    })
    .await;
    assert_eq!(s["in_flight"], 1, "{s}");
    gate.add_permits(1);
    let (leader, follower) = (leader.await.unwrap(), follower.await.unwrap());
    assert_eq!((leader.status, follower.status), (200, 200));
    assert_eq!(
        (leader.x_cache.as_str(), follower.x_cache.as_str()),
        ("miss", "coalesced")
    );
    assert_eq!(leader.body["id"], follower.body["id"]);
    assert_eq!(fake_b.calls(), 1);

    let s = settle(&b).await;
    let expected = serde_json::json!({
        "l1_memory_hits": 2,
        "l2_redis_hits": 1,
        "l3_disk_hits": 1,
        "misses": 1,
        "coalesced": 1,
        "total": 6,
        "hit_rate_percent": "66.7%",
        "errors": {"memory": 0, "redis": 0, "disk": 0},
        "redis_available": true,
        "ttl_sec": 3600,
        "computations": 1,
        "compute_errors": 0,
        "invalid_removed": 0,
        "pending_writes": 0,
        "in_flight": 0,
        "tiers": {"memory": "ok", "redis": "ok", "disk": "ok"},
    });
    for (field, want) in expected.as_object().unwrap() {
        assert_eq!(&s[field], want, "{field}: {s}");
    }
    assert!(
        (s["hit_rate"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-9,
        "{s}"
    );
    // X, Y, Z in memory; X and Y (found at start) and Z on disk; X, Y (promoted), Z in Redis.
    assert_eq!(s["memory"]["entries"], 3, "{s}");
    assert_eq!(s["memory"]["max_bytes"], 64 * 1024 * 1024, "{s}");
    assert!(s["memory"]["bytes"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["disk"]["entries"], 3, "{s}");
    assert_eq!(s["disk"]["max_bytes"], 32 * 1024 * 1024, "{s}");
    let on_disk: u64 = entry_files(shared_dir.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert_eq!(s["disk"]["bytes"], on_disk, "{s}");
    assert_eq!(redis_dbsize(&redis), 3);
}

/// Rewrites the entry file at `path` through `f(namespace, key, payload) -> new file bytes`.
fn rewrite_entry(path: &Path, f: impl FnOnce(&str, &str, &[u8]) -> Vec<u8>) {
    let buf = std::fs::read(path).unwrap();
    let h = envelope::parse_header(&buf).unwrap();
    let ns_end = envelope::HEADER_LEN + h.namespace_len;
    let key_end = ns_end + h.key_len;
    let namespace = std::str::from_utf8(&buf[envelope::HEADER_LEN..ns_end]).unwrap();
    let key = std::str::from_utf8(&buf[ns_end..key_end]).unwrap();
    let payload = &buf[key_end..key_end + h.payload_len as usize];
    std::fs::write(path, f(namespace, key, payload)).unwrap();
}

fn far_future_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now + Duration::from_secs(3600)).as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_foreign_disk_entries_are_misses_recomputed_never_errors() {
    let cache_dir = tempfile::tempdir().unwrap();
    // No L1 (0 MB): every repeat goes to the disk tier.
    let env = [
        ("CACHE_DIR", cache_dir.path().display().to_string()),
        ("CACHE_MEMORY_MAX_MB", "0".into()),
    ];
    let fake = Arc::new(FakeTranscriber::new());
    let app = spawn(&env, &fake).await;
    let original = expect(&app, Y, "miss").await;
    settle(&app).await;
    expect(&app, Y, "hit-disk").await;
    let entry = the_entry(cache_dir.path());
    let good = std::fs::read(&entry).unwrap();

    type Damage = Box<dyn Fn(&Path)>;
    let half = good.len() / 2;
    let cases: Vec<(&str, Damage)> = vec![
        (
            "truncated",
            Box::new(move |p: &Path| {
                let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                f.set_len(half as u64).unwrap();
            }),
        ),
        (
            "garbage",
            Box::new(|p: &Path| {
                std::fs::write(p, b"\x00\xffnot a cache entry at all\n".repeat(64)).unwrap()
            }),
        ),
        (
            "one flipped byte",
            Box::new(|p: &Path| {
                let mut b = std::fs::read(p).unwrap();
                let mid = b.len() / 2;
                b[mid] ^= 0x55;
                std::fs::write(p, b).unwrap();
            }),
        ),
        (
            "an older cache namespace",
            Box::new(|p: &Path| {
                rewrite_entry(p, |_, key, payload| {
                    envelope::encode("v0", key, far_future_ms(), payload)
                })
            }),
        ),
        (
            "a report of an older analysis version",
            Box::new(|p: &Path| {
                rewrite_entry(p, |ns, key, payload| {
                    let mut report: Value = serde_json::from_slice(payload).unwrap();
                    report["analysis_version"] = Value::from(0);
                    let payload = serde_json::to_vec(&report).unwrap();
                    envelope::encode(ns, key, far_future_ms(), &payload)
                })
            }),
        ),
        (
            "an empty file",
            Box::new(|p: &Path| std::fs::write(p, b"").unwrap()),
        ),
    ];
    for (i, (what, damage)) in cases.iter().enumerate() {
        damage(&entry);
        let a = post(&app, Y).await;
        assert_eq!(a.status, 200, "{what}: {}", a.body);
        assert_eq!(a.x_cache, "miss", "{what}");
        assert_eq!(a.body["metrics"], original["metrics"], "{what}");
        assert_eq!(fake.calls(), i + 2, "{what}: recomputed");
        settle(&app).await;
        // Replaced by a good entry, served again.
        assert_eq!(the_entry(cache_dir.path()), entry, "{what}");
        expect(&app, Y, "hit-disk").await;
    }
    let s = app.stats_cache().await;
    assert_eq!(s["misses"], cases.len() + 1, "{s}");
    assert_eq!(s["l3_disk_hits"], cases.len() + 1, "{s}");
    // The version check is the validator's (the envelope is intact): counted as such.
    assert_eq!(s["invalid_removed"], 1, "{s}");
    assert_eq!(
        s["errors"]["disk"], 0,
        "damaged entries are misses, not IO errors: {s}"
    );
    assert_eq!(s["tiers"]["disk"], "ok", "{s}");
    assert_eq!(s["memory"]["max_bytes"], 0, "L1 off: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_cache_dir_degrades_the_disk_tier_and_the_service_still_serves() {
    // Root ignores permissions, so make the directory impossible: it would live under a file.
    let base = tempfile::tempdir().unwrap();
    let file = base.path().join("a-regular-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let env = [("CACHE_DIR", file.join("cache").display().to_string())];
    let fake = Arc::new(FakeTranscriber::new());
    let app = spawn(&env, &fake).await;

    let h = app.get_ok_json("/health").await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(
        h["components"]["cache"],
        serde_json::json!({"status": "degraded", "tiers": {"memory": "ok", "redis": "disabled", "disk": "degraded"}}),
        "{h}"
    );
    let fresh = expect(&app, X, "miss").await;
    let again = expect(&app, X, "hit-memory").await;
    assert_eq!(again["id"], fresh["id"]);
    let s = settle(&app).await;
    assert!(
        s["errors"]["disk"].as_u64().unwrap() >= 1,
        "failed write counted: {s}"
    );
    assert_eq!(s["tiers"]["disk"], "degraded", "{s}");
    assert_eq!(s["disk"]["entries"], 0, "{s}");
    assert_eq!(s["redis_available"], false, "{s}");
    assert!(
        std::fs::metadata(&file).unwrap().is_file(),
        "the file is left alone"
    );
    assert_eq!(fake.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cache_needs_the_admin_token_and_empties_every_tier() {
    // No token configured: the endpoint does not exist.
    let fake = Arc::new(FakeTranscriber::new());
    let plain = spawn(&[], &fake).await;
    let r = plain.delete("/cache").await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
    drop(plain);

    let redis = RedisServer::start();
    let cache_dir = tempfile::tempdir().unwrap();
    let mut env = redis_env(&redis);
    env.push(("ADMIN_TOKEN", "correct-horse-battery".into()));
    env.push(("CACHE_DIR", cache_dir.path().display().to_string()));
    let fake = Arc::new(FakeTranscriber::new());
    let app = spawn(&env, &fake).await;
    expect(&app, X, "miss").await;
    let s = settle(&app).await;
    assert_eq!(
        (&s["memory"]["entries"], &s["disk"]["entries"]),
        (&Value::from(1), &Value::from(1))
    );
    assert_eq!(redis_dbsize(&redis), 1);

    for auth in [
        None,
        Some("Bearer wrong"),
        Some("correct-horse-battery"),
        Some("Bearer correct-horse-batter"),
    ] {
        let mut req = app.client.delete(app.url("/cache"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized", "{body}");
    }
    // Nothing was cleared by the refused attempts.
    expect(&app, X, "hit-memory").await;

    let r = app.clear_cache("correct-horse-battery").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"cleared": ["memory", "redis", "disk"], "failed": []})
    );
    let s = app.stats_cache().await;
    assert_eq!(
        (&s["memory"]["entries"], &s["disk"]["entries"]),
        (&Value::from(0), &Value::from(0)),
        "{s}"
    );
    assert_eq!(redis_dbsize(&redis), 0);
    assert!(entry_files(cache_dir.path()).is_empty());
    expect(&app, X, "miss").await;
    assert_eq!(fake.calls(), 2, "analysed again after the clear");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_uploads_are_one_miss_and_the_rest_coalesced_in_the_stats() {
    const N: usize = 24;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = Arc::new(FakeTranscriber::gated(gate.clone()));
    let app = Arc::new(spawn(&[], &fake).await);
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                post(&app, Y).await
            })
        })
        .collect();
    // The gate stays shut until every request is waiting on the one analysis.
    wait_for_stats(&app, "every request to join the flight", |s| {
        s["coalesced"] == N - 1
    })
    .await;
    gate.add_permits(N);
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(fake.calls(), 1, "exactly one analysis");
    let misses = answers.iter().filter(|a| a.x_cache == "miss").count();
    let coalesced = answers.iter().filter(|a| a.x_cache == "coalesced").count();
    assert_eq!((misses, coalesced), (1, N - 1));
    for a in &answers {
        assert_eq!(a.status, 200);
        assert_eq!(a.body["id"], answers[0].body["id"]);
        assert_eq!(a.body["metrics"], answers[0].body["metrics"]);
    }
    let s = settle(&app).await;
    assert_eq!(
        (
            &s["misses"],
            &s["coalesced"],
            &s["total"],
            &s["computations"]
        ),
        (
            &Value::from(1),
            &Value::from(N - 1),
            &Value::from(N),
            &Value::from(1)
        ),
        "{s}"
    );
    expect(&app, Y, "hit-memory").await;
}
