//! Rehearsal history through the HTTP API, on a real SQLite file and on a real PostgreSQL
//! server this test starts on a free port (`tests/support/postgres_server.rs`).
//!
//! The expected numbers are computed here from the tracked metrics each analysis returned
//! (its `rehearsal.metrics`), with this file's own median and goal rules, and compared with
//! what the server says in `progress`, `compare` and the goal statuses.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::json_of;
use crate::support::postgres_server::PostgresServer;
use crate::support::{TestApp, corpus, spawn_app};

/// Five different clips: five rehearsals with different numbers.
const CLIPS: [&str; 5] = [
    "clips/en_talk_1.wav",
    "clips/ru_talk_1.wav",
    "clips/en_talk_2.wav",
    "clips/ru_talk_2.wav",
    "clips/ru_talk_1_fest.wav",
];
/// Baseline of 3 (not the default 5) so that "previous N" is really exercised with 5 rehearsals.
const N: usize = 3;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("history.db").display())
}

async fn app_on(url: &str, extra: &[(&str, &str)]) -> TestApp {
    let n = N.to_string();
    let mut pairs: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", url),
        ("HISTORY_BASELINE_REHEARSALS", &n),
        ("DATABASE_CONNECT_TIMEOUT_MS", "500"),
        // Generous: the test machine's disk is shared with parallel builds.
        ("DATABASE_QUERY_TIMEOUT_MS", "10000"),
        ("HISTORY_RETRY_INTERVAL_MS", "100"),
    ];
    pairs.extend_from_slice(extra);
    spawn_app(&pairs).await
}

async fn rehearse(app: &TestApp, speaker: &str, clip: &str, title: &str) -> Value {
    let resp = app
        .analyze_corpus(clip, &format!("?speaker={speaker}&title={title}"))
        .await;
    let (status, body) = json_of(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Goal status by the documented rule: met → achieved; else distance to the goal against the
/// baseline's distance, ±5 % → improving / regressed, otherwise stalled.
fn expected_status(
    min: Option<f64>,
    max: Option<f64>,
    latest: f64,
    base: Option<f64>,
) -> &'static str {
    let dist = |v: f64| {
        let below = min.map_or(0.0, |lo| lo - v);
        let above = max.map_or(0.0, |hi| v - hi);
        below.max(above).max(0.0)
    };
    let now = dist(latest);
    if now == 0.0 {
        return "achieved";
    }
    let Some(then) = base.map(dist) else {
        return "stalled";
    };
    if then == 0.0 {
        return "regressed";
    }
    let change = (then - now) / then;
    if change >= 0.05 {
        "improving"
    } else if change <= -0.05 {
        "regressed"
    } else {
        "stalled"
    }
}

/// Five rehearsals → exact series, baseline (median of the previous N), delta, best, goal
/// statuses, paging, compare; the sixth (same bytes) is a cache hit that still records.
async fn five_rehearsals(url: &str) {
    let app = app_on(url, &[]).await;
    let speaker = app.new_speaker().await;

    let mut values: Vec<BTreeMap<String, f64>> = Vec::new();
    let mut ids = Vec::new();
    for (i, clip) in CLIPS.iter().enumerate() {
        let body = rehearse(&app, &speaker, clip, &format!("take-{}", i + 1)).await;
        let r = &body["rehearsal"];
        assert_eq!(r["status"], "recorded", "{r}");
        assert_eq!(r["speaker"], speaker.as_str());
        assert_eq!(r["title"], format!("take-{}", i + 1));
        assert_eq!(r["earlier_rehearsals"], i);
        let progress_advice = body["advice"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["category"] == "progress")
            .count();
        if i == 0 {
            assert_eq!(
                progress_advice, 0,
                "nothing to compare the first rehearsal with"
            );
        } else {
            assert!(
                progress_advice > 0,
                "advice cites the history: {}",
                body["advice"]
            );
        }
        values.push(serde_json::from_value(r["metrics"].clone()).unwrap());
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    // The fifth's advice names the speaker's median in words.
    let last_fillers = values[4]["fillers_per_minute"];
    let prev: Vec<f64> = values[1..4]
        .iter()
        .map(|v| v["fillers_per_minute"])
        .collect();
    let base = median(&prev).unwrap();
    assert_ne!(last_fillers, base, "clips chosen to differ");

    // Goals: one per kind of outcome the data allows, judged by this file's rule.
    let goals = json!({"goals": [
        {"metric": "fillers_per_minute", "max": last_fillers + 1.0},
        {"metric": "pace_wpm", "min": 120.0, "max": 160.0},
        {"metric": "longest_pause_sec", "max": 0.1},
    ]});
    let (status, put) = json_of(
        app.client
            .put(app.url(&format!("/speakers/{speaker}/goals")))
            .json(&goals)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["goals"][0]["status"], "achieved");

    let (status, p) = app
        .get_with_status(&format!("/speakers/{speaker}/progress"))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["rehearsal_count"], 5);
    assert_eq!(p["baseline_of"], N);
    for m in p["metrics"].as_array().unwrap() {
        let name = m["metric"].as_str().unwrap();
        let series: Vec<f64> = values.iter().filter_map(|v| v.get(name).copied()).collect();
        let got: Vec<f64> = m["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pt| pt["value"].as_f64().unwrap())
            .collect();
        assert_eq!(got, series, "{name} series");
        if series.len() < 2 {
            continue;
        }
        let latest = *series.last().unwrap();
        let previous = &series[..series.len() - 1];
        let base = median(&previous[previous.len().saturating_sub(N)..]).unwrap();
        assert_eq!(m["latest"].as_f64(), Some(latest), "{name} latest");
        assert_eq!(m["baseline"].as_f64(), Some(base), "{name} baseline");
        assert_eq!(m["baseline_rehearsals"], N.min(previous.len()), "{name}");
        assert_eq!(m["delta"].as_f64(), Some(latest - base), "{name} delta");
        let best = match m["better"].as_str().unwrap() {
            "lower" => series.iter().copied().fold(f64::INFINITY, f64::min),
            "higher" => series.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            _ => continue,
        };
        assert_eq!(m["best"]["value"].as_f64(), Some(best), "{name} best");
        let first_best = series.iter().position(|&v| v == best).unwrap();
        assert_eq!(
            m["best"]["rehearsal_id"],
            ids[first_best].as_str(),
            "{name}"
        );
    }
    // Goal statuses of the latest, and of every rehearsal in the listing.
    let goal_list = goals["goals"].as_array().unwrap();
    let expect_for = |index: usize| -> Vec<&'static str> {
        goal_list
            .iter()
            .map(|g| {
                let metric = g["metric"].as_str().unwrap();
                let prev: Vec<f64> = values[..index].iter().map(|v| v[metric]).collect();
                let base = median(&prev[prev.len().saturating_sub(N)..]);
                expected_status(
                    g["min"].as_f64(),
                    g["max"].as_f64(),
                    values[index][metric],
                    base,
                )
            })
            .collect()
    };
    let statuses = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|g| g["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(statuses(&p["goals"]), expect_for(4));
    assert_eq!(statuses(&p["goals"])[0], "achieved");
    assert_ne!(
        statuses(&p["goals"])[2],
        "achieved",
        "a 0.1 s longest pause is not met"
    );

    // The last two side by side.
    let cmp = &p["comparison"];
    assert_eq!(cmp["a"]["id"], ids[3].as_str());
    assert_eq!(cmp["b"]["id"], ids[4].as_str());

    // Paged listing, newest first, with each rehearsal's own goal statuses.
    let (status, page) = app
        .get_with_status(&format!("/speakers/{speaker}/rehearsals?limit=2&offset=1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 5);
    let listed: Vec<&str> = page["rehearsals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[3].as_str(), ids[2].as_str()]);
    assert_eq!(page["rehearsals"][0]["title"], "take-4");
    assert_eq!(statuses(&page["rehearsals"][0]["goals"]), expect_for(3));
    assert_eq!(statuses(&page["rehearsals"][1]["goals"]), expect_for(2));

    // Compare the first with the last: b - a, and the direction per metric.
    let (status, c) = app
        .get_with_status(&format!(
            "/speakers/{speaker}/compare?a={}&b={}",
            ids[0], ids[4]
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let f = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "fillers_per_minute")
        .unwrap();
    let (a, b) = (
        values[0]["fillers_per_minute"],
        values[4]["fillers_per_minute"],
    );
    assert_eq!(f["delta"].as_f64(), Some(b - a));
    let moved = (a - b) / a;
    let expected = if moved.abs() < 0.05 {
        Value::Null
    } else {
        Value::Bool(b < a)
    };
    assert_eq!(f["improved"], expected);

    // The same bytes again: a cache hit (no second transcription), still a new rehearsal.
    let resp = app
        .analyze_corpus(CLIPS[4], &format!("?speaker={speaker}"))
        .await;
    assert_eq!(resp.headers()["x-cache"], "hit-memory");
    let (_, again) = json_of(resp).await;
    assert_eq!(again["rehearsal"]["status"], "recorded");
    assert_eq!(again["rehearsal"]["earlier_rehearsals"], 5);
    let (_, page) = app
        .get_with_status(&format!("/speakers/{speaker}/rehearsals"))
        .await;
    assert_eq!(page["total"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_rehearsals_give_exact_progress_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    five_rehearsals(&sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_rehearsals_give_exact_progress_on_postgres() {
    let pg = PostgresServer::start();
    five_rehearsals(&pg.url()).await;
}

/// Restart (new process state, new empty cache dir) and a cleared cache keep the history;
/// DELETE erases it, and its reports are no longer readable through the speaker.
async fn survives_restart_then_deletes(url: &str) {
    let admin = [("ADMIN_TOKEN", "t0ken")];
    let app = app_on(url, &admin).await;
    let speaker = app.new_speaker().await;
    let one = rehearse(&app, &speaker, CLIPS[0], "first").await;
    let two = rehearse(&app, &speaker, CLIPS[1], "second").await;
    let rid = one["rehearsal"]["id"].as_str().unwrap().to_string();
    let cleared = app.clear_cache("t0ken").await;
    assert!(cleared.status().is_success(), "{}", cleared.status());
    let (status, stored) = app
        .get_with_status(&format!("/speakers/{speaker}/rehearsals/{rid}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(
        stored["id"], one["id"],
        "the report as answered, not from the cache"
    );
    assert_eq!(stored["metrics"], one["metrics"]);
    app.shutdown.cancel();
    drop(app);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A new server: nothing in memory, a fresh (empty) cache dir, the same database.
    let app = app_on(url, &admin).await;
    let (status, p) = app
        .get_with_status(&format!("/speakers/{speaker}/progress"))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["rehearsal_count"], 2);
    let (status, stored) = app
        .get_with_status(&format!("/speakers/{speaker}/rehearsals/{rid}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["transcript"], one["transcript"]);
    assert_eq!(stored["rehearsal"]["title"], "first");

    let (status, del) = json_of(app.delete(&format!("/speakers/{speaker}")).await).await;
    assert_eq!(status, StatusCode::OK, "{del}");
    assert_eq!(del["rehearsals_deleted"], 2);
    let rid2 = two["rehearsal"]["id"].as_str().unwrap();
    for path in [
        format!("/speakers/{speaker}/rehearsals/{rid}"),
        format!("/speakers/{speaker}/rehearsals/{rid2}"),
        format!("/speakers/{speaker}/progress"),
        format!("/speakers/{speaker}/rehearsals"),
    ] {
        let (status, body) = app.get_with_status(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"], "not_found");
    }
    let resp = app
        .analyze_corpus(CLIPS[2], &format!("?speaker={speaker}"))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let (status, _) = json_of(app.delete(&format!("/speakers/{speaker}")).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_restart_and_cache_clear_then_delete_erases_it_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    survives_restart_then_deletes(&sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_restart_and_cache_clear_then_delete_erases_it_on_postgres() {
    let pg = PostgresServer::start();
    survives_restart_then_deletes(&pg.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_are_400_and_unknown_ones_404_all_json() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_on(&sqlite_url(&dir), &[]).await;
    let unknown = "0123456789abcdef0123456789abcdef";
    let speaker = app.new_speaker().await;
    let cases = [
        (
            "GET",
            "/speakers/nope/progress".to_string(),
            400,
            "invalid_speaker",
        ),
        (
            "GET",
            "/speakers/nope/rehearsals".to_string(),
            400,
            "invalid_speaker",
        ),
        (
            "DELETE",
            "/speakers/zzzz".to_string(),
            400,
            "invalid_speaker",
        ),
        (
            "GET",
            format!("/speakers/{unknown}/progress"),
            404,
            "not_found",
        ),
        (
            "GET",
            format!("/speakers/{unknown}/rehearsals"),
            404,
            "not_found",
        ),
        (
            "GET",
            format!("/speakers/{unknown}/goals"),
            404,
            "not_found",
        ),
        ("DELETE", format!("/speakers/{unknown}"), 404, "not_found"),
        (
            "GET",
            format!("/speakers/{speaker}/rehearsals/{unknown}"),
            404,
            "not_found",
        ),
        (
            "GET",
            format!("/speakers/{speaker}/rehearsals/bad"),
            400,
            "invalid_parameter",
        ),
        (
            "GET",
            format!("/speakers/{speaker}/compare?a=x"),
            400,
            "invalid_parameter",
        ),
        (
            "GET",
            format!("/speakers/{speaker}/compare?a={unknown}&b={unknown}"),
            404,
            "not_found",
        ),
        (
            "GET",
            format!("/speakers/{speaker}/rehearsals?limit=0"),
            400,
            "invalid_parameter",
        ),
    ];
    for (method, path, want, code) in cases {
        let resp = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(resp).await;
        assert_eq!(status.as_u16(), want, "{method} {path}: {body}");
        assert_eq!(body["error"], code, "{method} {path}");
        assert!(body["request_id"].is_string() && body["message"].is_string());
    }
    let bad_goals = [
        json!({"goals": [{"metric": "charisma", "max": 3}]}),
        json!({"goals": [{"metric": "pace_wpm"}]}),
        json!({"goals": [{"metric": "pace_wpm", "min": 160, "max": 120}]}),
        json!({"nope": 1}),
    ];
    for g in bad_goals {
        let resp = app
            .client
            .put(app.url(&format!("/speakers/{speaker}/goals")))
            .json(&g)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{g}: {body}");
    }
    // /analyze refuses bad speaker parameters before analysing anything.
    let bytes = corpus::read(CLIPS[2]);
    for (query, want) in [
        ("?speaker=123".to_string(), 400),
        (format!("?speaker={unknown}"), 404),
        ("?title=alone".to_string(), 400),
        (format!("?speaker={speaker}&title=%07bell"), 400),
    ] {
        let resp = app.analyze_multipart(bytes.clone(), CLIPS[2], &query).await;
        let (status, body) = json_of(resp).await;
        assert_eq!(status.as_u16(), want, "{query}: {body}");
        assert!(body["error"].is_string());
    }
    // A client-generated id can be registered, once.
    let own = "fedcba9876543210fedcba9876543210";
    let first = app.put(&format!("/speakers/{own}")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = app.put(&format!("/speakers/{own}")).await;
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_see_the_same_history() {
    let pg = PostgresServer::start();
    let url = pg.url();
    let (a, b) = tokio::join!(app_on(&url, &[]), app_on(&url, &[]));
    let speaker = a.new_speaker().await;
    let one = rehearse(&a, &speaker, CLIPS[0], "on-a").await;
    let two = rehearse(&b, &speaker, CLIPS[1], "on-b").await;
    assert_eq!(
        two["rehearsal"]["earlier_rehearsals"], 1,
        "b sees a's rehearsal"
    );
    let (_, pa) = a
        .get_with_status(&format!("/speakers/{speaker}/progress"))
        .await;
    let (_, pb) = b
        .get_with_status(&format!("/speakers/{speaker}/progress"))
        .await;
    assert_eq!(pa["rehearsal_count"], 2);
    assert_eq!(pa, pb);
    let ids: Vec<&str> = pa["rehearsals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            one["rehearsal"]["id"].as_str().unwrap(),
            two["rehearsal"]["id"].as_str().unwrap()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_stopped_mid_run_analyses_still_answer_and_the_rehearsal_lands_later() {
    let mut pg = PostgresServer::start();
    let app = app_on(&pg.url(), &[]).await;
    let speaker = app.new_speaker().await;
    rehearse(&app, &speaker, CLIPS[0], "before").await;

    pg.stop();
    let during = rehearse(&app, &speaker, CLIPS[1], "during").await;
    let r = &during["rehearsal"];
    assert_eq!(r["status"], "pending", "{r}");
    assert!(r["message"].as_str().unwrap().contains("unavailable"));
    let (_, health) = app.get_with_status("/health").await;
    assert_eq!(
        health["components"]["history"]["status"], "degraded",
        "{health}"
    );
    assert_eq!(health["components"]["history"]["pending_writes"], 1);
    // Reads the client asked for directly say so (503), they do not hang or 500.
    let (status, body) = app
        .get_with_status(&format!("/speakers/{speaker}/progress"))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    pg.start_again();
    let pending_id = r["id"].as_str().unwrap();
    let start = Instant::now();
    loop {
        let (status, page) = app
            .get_with_status(&format!("/speakers/{speaker}/rehearsals"))
            .await;
        // The row is in the database a moment before the outbox lets go of it, so the page may
        // briefly show it both listed and pending: wait for the settled state.
        if status == StatusCode::OK && page["total"] == 2 && page["pending_writes"] == 0 {
            assert_eq!(page["rehearsals"][0]["id"], pending_id);
            assert_eq!(page["rehearsals"][0]["title"], "during");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never landed: {status} {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, health) = app.get_with_status("/health").await;
    assert_eq!(health["components"]["history"]["status"], "ok", "{health}");
    assert_eq!(health["components"]["history"]["landed_after_retry"], 1);
}

/// A rehearsal written while the database is down waits in the outbox's directory: the process
/// stopping (and a new one starting, the database still down) does not lose it, and it lands
/// once the database is back, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_rehearsal_survives_a_restart_while_the_database_is_down() {
    let mut pg = PostgresServer::start();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let keep_data = [("DATA_DIR", data_dir.as_str())];
    let app = app_on(&pg.url(), &keep_data).await;
    let speaker = app.new_speaker().await;
    rehearse(&app, &speaker, CLIPS[0], "before").await;
    pg.stop();
    let during = rehearse(&app, &speaker, CLIPS[1], "during").await;
    assert_eq!(during["rehearsal"]["status"], "pending", "{during}");
    let pending_id = during["rehearsal"]["id"].as_str().unwrap().to_string();
    app.shutdown.cancel();
    drop(app);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let app = app_on(&pg.url(), &keep_data).await;
    let history = &app.health().await["components"]["history"];
    assert_eq!(history["pending_writes"], 1, "found again: {history}");
    pg.start_again();
    let start = Instant::now();
    loop {
        let (status, page) = app
            .get_with_status(&format!("/speakers/{speaker}/rehearsals"))
            .await;
        if status == StatusCode::OK && page["pending_writes"] == 0 {
            assert_eq!(page["total"], 2, "{page}");
            assert_eq!(page["rehearsals"][0]["id"], pending_id.as_str());
            assert_eq!(page["rehearsals"][0]["title"], "during");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never landed: {status} {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outbox: Vec<_> = std::fs::read_dir(data.path().join("history-outbox"))
        .unwrap()
        .collect();
    assert!(
        outbox.is_empty(),
        "the landed write's file is gone: {outbox:?}"
    );
}

/// `POST /jobs?speaker=…` records the job's report as a rehearsal (under the job's id) when it
/// is done, and the job's report carries the history-aware advice `/analyze` would answer.
#[tokio::test]
async fn a_job_with_a_speaker_is_recorded_once_under_its_id_with_history_advice() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_on(&sqlite_url(&dir), &[]).await;
    let speaker = app.new_speaker().await;
    rehearse(&app, &speaker, CLIPS[0], "first").await;
    let (id, _) = app
        .submit_job(
            corpus::read(CLIPS[2]),
            &format!("?speaker={speaker}&title=second"),
        )
        .await;
    let done = app
        .wait_for_job(&id, "done", |j| j["state"] == "done")
        .await;
    let advice = done["report"]["advice"].as_array().unwrap();
    assert!(
        advice.iter().any(|a| a["category"] == "progress"),
        "the second rehearsal's advice cites the first: {advice:?}"
    );
    let list = app
        .get_json(&format!("/speakers/{speaker}/rehearsals"))
        .await;
    assert_eq!(list["total"], 2, "{list}");
    assert_eq!(
        list["rehearsals"][0]["id"],
        id.as_str(),
        "newest first: {list}"
    );
    assert_eq!(list["rehearsals"][0]["title"], "second");
    let (status, stored) = app
        .get_with_status(&format!("/speakers/{speaker}/rehearsals/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(
        stored["advice"], done["report"]["advice"],
        "the report as the job stored it"
    );
}
