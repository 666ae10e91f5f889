//! `POST /analyze` through a real server with the fake transcriber: bad inputs, the report
//! contract, the cache outcomes, single-flight.

use crate::support::{FakeTranscriber, corpus, spawn_app, spawn_app_with, wait};
use serde_json::Value;
use std::sync::Arc;

#[tokio::test]
async fn every_bad_file_gets_its_documented_answer_and_the_server_stays_healthy() {
    let app = spawn_app(&[]).await;
    let cases = [
        ("bad/empty.wav", 400, Some("empty_file")),
        ("bad/random_1k.wav", 415, Some("unsupported_media_type")),
        ("bad/text.mp3", 415, Some("unsupported_media_type")),
        ("bad/zip.ogg", 415, Some("unsupported_media_type")),
        ("bad/huge_rate.wav", 422, Some("invalid_audio_header")),
        ("bad/zero_channels.wav", 422, Some("invalid_audio_header")),
        ("bad/no_samples.wav", 422, Some("no_audio")),
        // Decodable prefixes: analysed, with a warning.
        ("bad/truncated.wav", 200, None),
        ("bad/cut.mp3", 200, None),
    ];
    for (file, status, code) in cases {
        let r = app.analyze_corpus(file, "").await;
        assert_eq!(r.status(), status, "{file}");
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        match code {
            Some(code) => {
                assert_eq!(body["error"], code, "{file}: {body}");
                assert_eq!(body["request_id"], id.as_str());
                assert!(
                    body["message"].as_str().unwrap().len() > 10,
                    "{file}: {body}"
                );
            }
            None => {
                let warnings = body["warnings"].as_array().unwrap();
                assert!(
                    warnings
                        .iter()
                        .any(|w| w.as_str().unwrap().starts_with("truncated input")),
                    "{file}: {warnings:?}"
                );
            }
        }
    }
    // Still healthy, and a good file right after is analysed.
    let r = app.analyze_corpus("clips/en_talk_2.wav", "").await;
    assert_eq!(r.status(), 200);
    let h = app.health().await;
    assert_eq!(h["status"], "ok", "{h}");
}

#[tokio::test]
async fn the_report_carries_the_contract_fields_and_the_cache_says_where_it_came_from() {
    let app = spawn_app(&[]).await;
    let r = app
        .analyze_corpus("clips/en_talk_1.wav", "?language=en")
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "miss");
    let report: Value = r.json().await.unwrap();
    for path in [
        "/id",
        "/analysis_version",
        "/language",
        "/audio/duration_sec",
        "/transcript/text",
        "/transcript/words/0/word",
        "/transcript/words/0/start_sec",
        "/transcript/words/0/probability",
        "/metrics/words_total",
        "/metrics/words_per_minute",
        "/metrics/speaking_time_sec",
        "/metrics/speaking_ratio",
        "/metrics/fillers/total",
        "/metrics/fillers/per_100_words",
        "/metrics/fillers/per_minute",
        "/metrics/fillers/items",
        "/metrics/fillers/events",
        "/metrics/pauses/count",
        "/metrics/pauses/avg_sec",
        "/metrics/pauses/max_sec",
        "/metrics/pauses/events",
        "/metrics/phrases/count",
        "/metrics/pace_windows",
        "/advice",
        "/timeline",
        "/feedback/source",
        "/feedback/overall_assessment",
        "/cache/hit",
        "/warnings",
        "/timings_ms/asr",
    ] {
        assert!(report.pointer(path).is_some(), "{path} missing");
    }
    assert_eq!(report["cache"]["hit"], false);
    assert!(report["cache"]["tier"].is_null());
    assert_eq!(report["feedback"]["source"], "rules");
    assert_eq!(report["feedback"]["reason"], "disabled");
    assert_eq!(report["metrics"]["words_total"], 56);
    // 7 fillers spoken; the fake "hears" the exact text.
    let fillers = report["metrics"]["fillers"]["total"].as_u64().unwrap();
    assert!(fillers >= 7, "{fillers}");
    let duration = report["audio"]["duration_sec"].as_f64().unwrap();
    assert!((duration - 31.164).abs() < 0.02, "{duration}");

    // The same bytes again: a memory hit with the same report.
    let r = app
        .analyze_corpus("clips/en_talk_1.wav", "?language=en")
        .await;
    assert_eq!(r.headers()["x-cache"], "hit-memory");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["cache"]["hit"], true);
    assert_eq!(again["cache"]["tier"], "memory");
    assert_eq!(again["metrics"], report["metrics"]);
    assert_eq!(again["id"], report["id"]);

    // Summary drops per-word arrays.
    let r = app
        .analyze_corpus("clips/en_talk_1.wav", "?language=en&detail=summary")
        .await;
    let summary: Value = r.json().await.unwrap();
    assert_eq!(summary["transcript"]["words"].as_array().unwrap().len(), 0);
    assert_eq!(summary["metrics"], report["metrics"]);
}

#[tokio::test]
async fn raw_bodies_are_accepted_and_odd_parameters_refused() {
    let app = spawn_app(&[]).await;
    let bytes = corpus::read("formats/en_talk_2.flac");
    let r = app.analyze_raw(bytes.clone(), "audio/flac", "").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["audio"]["container"], "flac");

    for q in ["?language=klingon", "?detail=everything"] {
        let r = app.analyze_multipart(bytes.clone(), "a.flac", q).await;
        assert_eq!(r.status(), 400, "{q}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_parameter");
    }
    let r = app.analyze_raw("hello", "text/plain", "").await;
    assert_eq!(r.status(), 415);
    let form = reqwest::multipart::Form::new().text("other", "x");
    let r = app
        .client
        .post(app.url("/analyze"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "missing_file");
}

#[tokio::test]
async fn silence_and_noise_give_no_speech_not_an_error() {
    let fake = Arc::new(FakeTranscriber::new());
    let app = spawn_app_with(&[], fake.clone()).await;
    for file in ["edge/silence_5s.wav", "edge/noise_5s.wav"] {
        let r = app.analyze_corpus(file, "").await;
        assert_eq!(r.status(), 200, "{file}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["metrics"]["words_total"], 0, "{file}");
        assert_eq!(body["transcript"]["text"], "");
        assert_eq!(
            body["advice"].as_array().unwrap().len(),
            1,
            "{file}: {}",
            body["advice"]
        );
    }
    // No speech → the recogniser was never asked (it could only invent words).
    assert_eq!(fake.calls(), 0);
}

#[tokio::test]
async fn sixteen_identical_concurrent_uploads_run_one_analysis() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = Arc::new(FakeTranscriber::gated(gate.clone()));
    let app = Arc::new(spawn_app_with(&[], fake.clone()).await);
    let n = 16;
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let bytes = corpus::read("clips/en_talk_2.wav");
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (app, barrier, bytes) = (app.clone(), barrier.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = app.analyze_multipart(bytes, "en_talk_2.wav", "").await;
            let cache = r.headers()["x-cache"].to_str().unwrap().to_string();
            (r.status(), cache, r.json::<Value>().await.unwrap())
        }));
    }
    // Wait until the single analysis is at the gate, then open it.
    wait::until("the analysis at the gate", || fake.calls() > 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    gate.add_permits(100);
    let mut outcomes = Vec::new();
    let mut reports = Vec::new();
    for t in tasks {
        let (status, cache, body) = t.await.unwrap();
        assert_eq!(status, 200);
        outcomes.push(cache);
        reports.push(body);
    }
    assert_eq!(fake.calls(), 1, "exactly one analysis");
    assert_eq!(
        outcomes.iter().filter(|c| *c == "miss").count(),
        1,
        "{outcomes:?}"
    );
    for r in &reports {
        assert_eq!(r["metrics"], reports[0]["metrics"]);
    }
    let stats = app.stats_cache().await;
    let coalesced = outcomes.iter().filter(|c| *c == "coalesced").count() as u64;
    assert_eq!(stats["coalesced"].as_u64().unwrap(), coalesced, "{stats}");
}
