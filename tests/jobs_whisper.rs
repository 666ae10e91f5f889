//! A 10-minute talk as a job, with the real Whisper base model in process (issue 14).
//!
//! The talk is made in the test setup from the corpus clips (`support/long_talk.rs`). Checked:
//! the first progress event arrives within 2 s of the upload finishing; the first partial words
//! arrive within one window's time: with the first window's progress event, as soon as that
//! window is decoded (the talk opens with speech), not at the end; the report equals a fresh `/analyze` of the
//! same file on the same server (cache cleared in between), apart from how it was served and
//! the stage timings.
//!
//! Skips (loudly) only when the model is absent and `SPEECH_COACH_REQUIRE_MODEL` is unset; fetch
//! it with `scripts/fetch-model.sh`. Meant for the release build
//! (`cargo test --release --test jobs_whisper`).
#![cfg(feature = "whisper")]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::app::{Services, spawn_app_services};
use support::sse::SseReader;
use support::{long_talk, wait};

fn without_serving(mut report: Value) -> Value {
    let o = report.as_object_mut().unwrap();
    o.remove("cache");
    o.remove("timings_ms");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_minute_talk_as_a_job_streams_progress_and_words_and_matches_analyze() {
    let Some(model) = support::model::whisper_or_skip("the Whisper job test") else {
        return;
    };
    let model = model.display().to_string();
    let app = spawn_app_services(
        &[
            ("ASR_BACKEND", "whisper"),
            ("WHISPER_MODEL_DIR", &model),
            ("ADMIN_TOKEN", "jobs-test-token"),
            ("MAX_CONCURRENT_ANALYSES", "1"),
            // A loaded test machine may be slow: the deadline is not what is tested here.
            ("ANALYSIS_TIMEOUT_SEC", "3000"),
        ],
        Services::default(),
    )
    .await;

    // The model loads in the background: wait for it (not part of what is measured).
    wait::value(
        Duration::from_secs(120),
        "the model to load",
        || app.health(),
        |h| h["components"]["asr"]["status"] == "ok",
    )
    .await;

    let talk = long_talk::build(10.0, "en");
    let wav = talk.write_wav(&app.dir.path().join("talk-10min.wav"));
    let bytes = std::fs::read(&wav).unwrap();

    let resp = app
        .post_job_raw(bytes.clone(), "audio/wav", "?language=en")
        .await;
    // The server answers once the whole body is received and the job accepted.
    let uploaded = Instant::now();
    assert_eq!(resp.status(), 202);
    let job: Value = resp.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();

    let mut events = SseReader::new(app.job_events_response(&id, None).await);
    let (mut first_progress, mut asr_started, mut first_words) = (None, None, None);
    let mut first_window = None;
    let mut windows = 0usize;
    while let Some(e) = events.next().await {
        let (kind, data) = (e.event.as_str(), &e.data);
        let at = uploaded.elapsed();
        if kind == "stage" && data["stage"] != "queued" && first_progress.is_none() {
            first_progress = Some(at);
        }
        if kind == "stage" && data["stage"] == "asr" {
            asr_started = Some(at);
        }
        if kind == "progress" && data.get("snapshot").is_none() {
            windows += 1;
            first_window.get_or_insert(at);
            if first_words.is_none() && !data["words"].as_array().unwrap().is_empty() {
                first_words = Some(at);
            }
        }
        if ["done", "failed", "cancelled"].contains(&kind) {
            assert_eq!(kind, "done", "{data}");
            break;
        }
    }
    let total = uploaded.elapsed();
    let first_progress = first_progress.expect("a stage event");
    let asr_started = asr_started.expect("the asr stage");
    let first_words = first_words.expect("a window with words");
    eprintln!(
        "10-min talk job: first progress {:.2} s, ASR start {:.2} s, first words {:.2} s, \
         total {:.1} s, {windows} windows",
        first_progress.as_secs_f64(),
        asr_started.as_secs_f64(),
        first_words.as_secs_f64(),
        total.as_secs_f64()
    );
    assert!(
        first_progress <= Duration::from_secs(2),
        "first progress after {first_progress:?}"
    );
    // Within one window's time: the first window's words are published when that window is
    // done (with its progress event), not held back for later windows.
    assert_eq!(
        Some(first_words),
        first_window,
        "the first window's words come with the first window"
    );
    assert!(
        windows >= 10,
        "a 10-minute talk is many windows, got {windows}"
    );
    assert!(
        first_words < total / 2,
        "words streamed, not delivered at the end"
    );

    let job = app.job(&id).await;
    assert_eq!(job["state"], "done");
    assert_eq!(job["progress"]["fraction"], 1.0);

    // The same file through /analyze, analysed afresh.
    let cleared = app.clear_cache("jobs-test-token").await;
    assert!(cleared.status().is_success());
    let sync = app.analyze_raw(bytes, "audio/wav", "?language=en").await;
    assert_eq!(sync.status(), 200);
    assert_eq!(sync.headers()["x-cache"], "miss");
    let sync: Value = sync.json().await.unwrap();
    assert_eq!(
        without_serving(job["report"].clone()),
        without_serving(sync),
        "the job's report is /analyze's"
    );
}
