//! Admission control over HTTP (issue 8): a gated fake transcriber holds analyses at the ASR
//! stage, so the tests see exactly how many run, wait and are refused, and what `/stats/pipeline`
//! and `/metrics` say at each step. No test asserts a duration; waits are bounded polls.

use crate::support::app::metric;
use crate::support::{FakeTranscriber, TestApp, corpus, spawn_app_with, wait};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A valid WAV whose bytes (hence content hash) differ per `i` (1..=255): the low byte of the
/// last sample is flipped. The clip's duration, so what the fake transcriber hears, is unchanged.
fn variant(i: u8) -> Vec<u8> {
    assert!(i > 0);
    corpus::variant("clips/en_talk_2.wav", i)
}

/// A shared server whose fake transcriber holds every analysis at a closed gate, with these
/// admission settings; and the fake and its gate.
async fn gated_app(
    settings: &[(&str, &str)],
) -> (Arc<TestApp>, Arc<FakeTranscriber>, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(0));
    let fake = Arc::new(FakeTranscriber::gated(gate.clone()));
    let app = Arc::new(spawn_app_with(settings, fake.clone()).await);
    (app, fake, gate)
}

/// The counters a step is checked against.
fn counters(s: &Value) -> [u64; 6] {
    [
        "active",
        "queued",
        "completed",
        "rejected",
        "timed_out",
        "failed",
    ]
    .map(|k| {
        s[k].as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {s}"))
    })
}

#[tokio::test]
async fn two_slots_four_places_ten_uploads_four_refused_hits_pass_the_full_pipeline() {
    let (app, fake, gate) = gated_app(&[
        ("MAX_CONCURRENT_ANALYSES", "2"),
        ("MAX_QUEUED_ANALYSES", "4"),
        ("QUEUE_TIMEOUT_SEC", "600"),
    ])
    .await;

    // Step 0: one analysis, so a later request can hit the cache (and Retry-After has data).
    gate.add_permits(1);
    let warm = variant(200);
    let r = app.analyze_multipart(warm.clone(), "warm.wav", "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "miss");
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [0, 0, 1, 0, 0, 0], "{s}");
    assert_eq!(s["max_parallel"], 2);
    assert_eq!(s["max_queued"], 4);
    assert_eq!(s["queue_length"], s["queued"]);
    assert!(s["avg_duration_ms"].as_f64().unwrap() > 0.0, "{s}");
    for stage in ["decode", "vad", "asr", "analysis", "feedback"] {
        assert!(s["stage_avg_ms"][stage].is_number(), "{stage}: {s}");
    }
    assert_eq!(gate.available_permits(), 0);

    // Step 1: ten distinct uploads at once, the gate closed.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 1..=10u8 {
        let (app, tx) = (app.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let r = app
                .analyze_multipart(variant(i), &format!("v{i}.wav"), "")
                .await;
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let cache = r
                .headers()
                .get("x-cache")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = r.json().await.unwrap();
            tx.send((i, status, retry_after, cache, body)).unwrap();
        }));
    }
    drop(tx);

    // Exactly 2 run (both at the gate), 4 wait, 4 are refused at once with 503 + Retry-After.
    let s = app
        .wait_for_pipeline("2 active, 4 queued, 4 rejected", |s| {
            s["active"] == 2 && s["queued"] == 4 && s["rejected"] == 4
        })
        .await;
    assert_eq!(counters(&s), [2, 4, 1, 4, 0, 0], "{s}");
    wait::until("both running analyses at the gate", || fake.calls() == 3).await;
    let mut refused = Vec::new();
    for _ in 0..4 {
        refused.push(rx.recv().await.expect("a refused request answers"));
    }
    for (i, status, retry_after, _, body) in &refused {
        assert_eq!(*status, 503, "upload {i}: {body}");
        assert_eq!(body["error"], "overloaded", "{body}");
        assert!(body["message"].as_str().unwrap().contains("queue is full"));
        assert!(body["request_id"].is_string());
        let secs: u64 = retry_after
            .as_deref()
            .expect("Retry-After on a 503")
            .parse()
            .expect("Retry-After in whole seconds");
        assert!((1..=600).contains(&secs), "Retry-After {secs}");
    }
    assert!(rx.try_recv().is_err(), "only the refused ones answered");

    // /metrics reports the same state while saturated (it never waits for a slot either).
    let m = app.scrape().await;
    assert_eq!(metric(&m, "speech_coach_pipeline_active"), 2.0);
    assert_eq!(metric(&m, "speech_coach_pipeline_queued"), 4.0);
    assert_eq!(metric(&m, "speech_coach_pipeline_max_parallel"), 2.0);
    assert_eq!(metric(&m, "speech_coach_pipeline_rejected_total"), 4.0);
    assert_eq!(metric(&m, "speech_coach_pipeline_completed_total"), 1.0);
    assert_eq!(
        metric(
            &m,
            r#"speech_coach_http_requests_total{method="POST",route="/analyze",status="503"}"#
        ),
        4.0
    );
    assert_eq!(
        metric(
            &m,
            r#"speech_coach_http_requests_total{method="POST",route="/analyze",status="200"}"#
        ),
        1.0
    );
    assert!(
        m.keys()
            .any(|k| k.starts_with("speech_coach_http_request_duration_seconds_bucket")),
        "latency histogram"
    );
    assert_eq!(metric(&m, "speech_coach_cache_l1_memory_hits_total"), 0.0);
    assert_eq!(metric(&m, "speech_coach_coach_breaker_state"), -1.0);

    // Step 2: a cache hit while every slot is busy answers at once — the gate is still closed
    // and nothing behind it moved.
    // (Bounded so a hit stuck behind the gate fails instead of hanging.)
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        app.analyze_multipart(warm.clone(), "warm.wav", ""),
    )
    .await
    .expect("the cache hit is not held behind the busy slots");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "hit-memory");
    assert_eq!(gate.available_permits(), 0, "the gate was never opened");
    assert_eq!(fake.calls(), 3);
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [2, 4, 1, 4, 0, 0], "a hit takes no slot: {s}");
    assert!(rx.try_recv().is_err(), "no queued upload finished");
    let m = app.scrape().await;
    assert_eq!(metric(&m, "speech_coach_cache_l1_memory_hits_total"), 1.0);

    // Step 3: one analysis may finish; its slot goes to a queued upload.
    gate.add_permits(1);
    let first_done = rx.recv().await.unwrap();
    assert_eq!(first_done.1, 200, "{}", first_done.4);
    let s = app
        .wait_for_pipeline("a queued upload took the freed slot", |s| {
            s["completed"] == 2 && s["queued"] == 3
        })
        .await;
    assert_eq!(counters(&s), [2, 3, 2, 4, 0, 0], "{s}");
    wait::until("the dequeued analysis at the gate", || fake.calls() == 4).await;

    // Step 4: open the gate: the remaining five complete with 200, all fresh analyses.
    gate.add_permits(5);
    let mut done = vec![first_done];
    while let Some(x) = rx.recv().await {
        done.push(x);
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(done.len(), 6);
    for (i, status, retry_after, cache, body) in &done {
        assert_eq!(*status, 200, "upload {i}: {body}");
        assert_eq!(cache.as_deref(), Some("miss"));
        assert!(retry_after.is_none());
        assert!(
            body["metrics"]["words_total"].as_u64().unwrap() > 0,
            "{body}"
        );
    }
    let mut ids: Vec<u8> = done.iter().chain(&refused).map(|d| d.0).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    assert_eq!(fake.calls(), 1 + 6);
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [0, 0, 7, 4, 0, 0], "{s}");
    let m = app.scrape().await;
    assert_eq!(metric(&m, "speech_coach_pipeline_completed_total"), 7.0);
    assert_eq!(metric(&m, "speech_coach_pipeline_active"), 0.0);
    assert_eq!(
        metric(
            &m,
            r#"speech_coach_http_requests_total{method="POST",route="/analyze",status="200"}"#
        ),
        8.0
    );

    // The refused uploads succeed when retried now.
    gate.add_permits(4);
    for (i, ..) in refused {
        let r = app.analyze_multipart(variant(i), "retry.wav", "").await;
        assert_eq!(r.status(), 200, "retry of {i}");
    }
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [0, 0, 11, 4, 0, 0], "{s}");
}

#[tokio::test]
async fn a_request_that_waits_past_the_queue_timeout_gets_503_with_retry_after() {
    let (app, fake, gate) = gated_app(&[
        ("MAX_CONCURRENT_ANALYSES", "1"),
        ("MAX_QUEUED_ANALYSES", "1"),
        ("QUEUE_TIMEOUT_SEC", "0.5"),
        ("ANALYSIS_TIMEOUT_SEC", "600"),
    ])
    .await;
    let running = {
        let app = app.clone();
        tokio::spawn(async move {
            app.analyze_multipart(variant(1), "a.wav", "")
                .await
                .status()
        })
    };
    wait::until("the first analysis at the gate", || fake.calls() == 1).await;

    // Queued behind it, never given the slot.
    let r = app.analyze_multipart(variant(2), "b.wav", "").await;
    assert_eq!(r.status(), 503);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "overloaded");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no analysis slot"),
        "{body}"
    );
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [1, 0, 0, 1, 1, 0], "{s}");
    assert_eq!(fake.calls(), 1, "the timed-out upload never reached ASR");

    gate.add_permits(1);
    assert_eq!(running.await.unwrap(), 200);
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [0, 0, 1, 1, 1, 0], "{s}");
}

#[tokio::test]
async fn a_client_that_disconnects_while_queued_frees_its_place_and_a_running_one_is_cached() {
    let (app, fake, gate) = gated_app(&[
        ("MAX_CONCURRENT_ANALYSES", "1"),
        ("MAX_QUEUED_ANALYSES", "1"),
        ("QUEUE_TIMEOUT_SEC", "600"),
    ])
    .await;
    // The running analysis: its client goes away too, later.
    let running = {
        let app = app.clone();
        tokio::spawn(async move { app.analyze_multipart(variant(1), "a.wav", "").await })
    };
    wait::until("the first analysis at the gate", || fake.calls() == 1).await;

    let queued = {
        let app = app.clone();
        tokio::spawn(async move { app.analyze_multipart(variant(2), "b.wav", "").await })
    };
    app.wait_for_pipeline("one queued", |s| s["queued"] == 1)
        .await;
    // The only queue place is taken.
    let r = app.analyze_multipart(variant(3), "c.wav", "").await;
    assert_eq!(r.status(), 503);

    // Disconnect the queued client: dropping its request future closes the connection.
    queued.abort();
    assert!(queued.await.unwrap_err().is_cancelled());
    let s = app
        .wait_for_pipeline("the abandoned place freed", |s| s["queued"] == 0)
        .await;
    assert_eq!(counters(&s), [1, 0, 0, 1, 0, 0], "{s}");

    // The freed place is usable: another upload queues (and is served once the gate opens).
    let requeued = {
        let app = app.clone();
        tokio::spawn(async move { app.analyze_multipart(variant(3), "c.wav", "").await })
    };
    app.wait_for_pipeline("the place taken again", |s| s["queued"] == 1)
        .await;

    // Now the running analysis' client goes away: the analysis still finishes and is cached.
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    gate.add_permits(2);
    let r = requeued.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "miss");
    let s = app
        .wait_for_pipeline("both analyses completed", |s| s["completed"] == 2)
        .await;
    assert_eq!(counters(&s), [0, 0, 2, 1, 0, 0], "{s}");
    assert_eq!(fake.calls(), 2, "the abandoned queued upload never ran");
    let r = app.analyze_multipart(variant(1), "a.wav", "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-cache"],
        "hit-memory",
        "the abandoned running analysis was cached"
    );
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn an_analysis_past_its_deadline_gets_504_and_frees_its_slot() {
    let gate = Arc::new(Semaphore::new(0));
    let fake = Arc::new(FakeTranscriber::gated(gate.clone()));
    let app = spawn_app_with(
        &[
            ("MAX_CONCURRENT_ANALYSES", "1"),
            ("MAX_QUEUED_ANALYSES", "1"),
            ("ANALYSIS_TIMEOUT_SEC", "0.5"),
        ],
        fake.clone(),
    )
    .await;
    let r = app.analyze_multipart(variant(1), "a.wav", "").await;
    assert_eq!(r.status(), 504);
    assert!(r.headers().get("retry-after").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "timeout", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("ANALYSIS_TIMEOUT_SEC")
    );
    assert!(body["request_id"].is_string());
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [0, 0, 0, 0, 1, 1], "{s}");
    // The slot is free again and the failure was not cached: the same upload gets the slot,
    // reaches the recogniser anew (the gate stays closed, so it times out the same way).
    let r = app.analyze_multipart(variant(1), "a.wav", "").await;
    assert_eq!(r.status(), 504);
    assert_eq!(fake.calls(), 2);
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [0, 0, 0, 0, 2, 2], "{s}");
}

#[tokio::test]
async fn shutdown_lets_running_and_queued_analyses_finish() {
    let (app, fake, gate) = gated_app(&[
        ("MAX_CONCURRENT_ANALYSES", "1"),
        ("MAX_QUEUED_ANALYSES", "2"),
        ("QUEUE_TIMEOUT_SEC", "600"),
        ("SHUTDOWN_TIMEOUT_SEC", "60"),
    ])
    .await;
    let mut inflight = Vec::new();
    for i in 1..=2u8 {
        let app = app.clone();
        inflight.push(tokio::spawn(async move {
            app.analyze_multipart(variant(i), "a.wav", "")
                .await
                .status()
        }));
    }
    app.wait_for_pipeline("1 running, 1 queued", |s| {
        s["active"] == 1 && s["queued"] == 1
    })
    .await;
    app.shutdown.cancel();
    // New work is not taken: the listener is closed (connection refused) or, on a connection
    // that is still open, the answer is 503.
    let late = app
        .client
        .post(app.url("/analyze"))
        .body(variant(3))
        .send()
        .await;
    if let Ok(r) = late {
        assert_eq!(r.status(), 503);
    }
    gate.add_permits(2);
    for t in inflight {
        assert_eq!(t.await.unwrap(), 200, "in-flight analysis finished");
    }
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn an_identical_upload_waits_for_the_queued_one_without_taking_a_place() {
    let (app, fake, gate) = gated_app(&[
        ("MAX_CONCURRENT_ANALYSES", "1"),
        ("MAX_QUEUED_ANALYSES", "1"),
        ("QUEUE_TIMEOUT_SEC", "600"),
    ])
    .await;
    let post = |i: u8| {
        let app = app.clone();
        tokio::spawn(async move {
            let r = app.analyze_multipart(variant(i), "x.wav", "").await;
            let cache = r
                .headers()
                .get("x-cache")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), cache)
        })
    };
    let running = post(1);
    wait::until("the first analysis at the gate", || fake.calls() == 1).await;
    let queued = post(2);
    app.wait_for_pipeline("one queued", |s| s["queued"] == 1)
        .await;

    // The same bytes as the queued upload: it waits for that analysis, holding no place, so it
    // is neither refused (the only place is taken) nor counted as queued.
    let twin = post(2);
    let twin2 = post(2);
    // A distinct upload still finds the queue full: the twins took nothing.
    let r = app.analyze_multipart(variant(3), "c.wav", "").await;
    assert_eq!(r.status(), 503);
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [1, 1, 0, 1, 0, 0], "{s}");
    assert!(!twin.is_finished() && !twin2.is_finished());

    // The queued leader's client goes away: one twin takes over its place in the queue.
    queued.abort();
    let _ = queued.await;
    let s = app
        .wait_for_pipeline("a twin queued in the leader's stead", |s| s["queued"] == 1)
        .await;
    assert_eq!(counters(&s), [1, 1, 0, 1, 0, 0], "{s}");
    assert!(!twin.is_finished() && !twin2.is_finished());

    gate.add_permits(2);
    assert_eq!(running.await.unwrap(), (200, Some("miss".into())));
    let mut outcomes = vec![twin.await.unwrap(), twin2.await.unwrap()];
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![(200, Some("coalesced".into())), (200, Some("miss".into()))]
    );
    assert_eq!(fake.calls(), 2, "one analysis per distinct upload");
    let s = app.stats_pipeline().await;
    assert_eq!(counters(&s), [0, 0, 2, 1, 0, 0], "{s}");
}
