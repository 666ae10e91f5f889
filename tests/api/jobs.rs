//! Jobs over HTTP (issue 14): a windowed fake transcriber, stepped one window at a time through a
//! gate, so the tests see every state, stage and window as it happens, over polling and SSE.
//! No test asserts a duration; waits are bounded polls.

use crate::support::app::file_form;
use crate::support::sse::SseEvent;
use crate::support::{FakeTranscriber, corpus, spawn_app_with, wait};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const CLIP: &str = "clips/en_talk_2.wav";
/// Seconds per fake window: the 12.5 s clip is 5 windows (3, 6, 9, 12, 12.5 s).
const WINDOW_SEC: f64 = 3.0;
const WINDOWS: usize = 5;

fn clip() -> Vec<u8> {
    corpus::read(CLIP)
}

/// The clip with one sample changed: another upload (content hash), the same duration and words.
fn variant(i: u8) -> Vec<u8> {
    corpus::variant(CLIP, i)
}

fn windowed_app_gate() -> (Arc<FakeTranscriber>, Arc<Semaphore>) {
    let gate = Arc::new(Semaphore::new(0));
    let fake = Arc::new(FakeTranscriber::windowed(WINDOW_SEC, Some(gate.clone())));
    (fake, gate)
}

/// Everything of a report but how it was served (`cache`), which differs between a miss and a hit.
fn without_cache(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("cache");
    report
}

#[tokio::test]
async fn a_job_goes_through_every_state_with_monotonic_progress_and_partial_words() {
    let (fake, gate) = windowed_app_gate();
    let app = spawn_app_with(&[], fake.clone()).await;
    let (id, created) = app.submit_job(clip(), "").await;
    assert!(
        ["queued", "running"].contains(&created["state"].as_str().unwrap()),
        "{created}"
    );
    let mut sse = app.job_events(&id, None).await;

    // Step the recogniser one window at a time; poll in between.
    let mut fractions = vec![];
    let mut words_seen = vec![];
    for w in 1..=WINDOWS {
        gate.add_permits(1);
        let j = app
            .wait_for_job(&id, "the next window", |j| {
                j["state"] == "done"
                    || j["progress"]["audio_sec_done"].as_f64().unwrap()
                        >= (w as f64 * WINDOW_SEC).min(12.0)
            })
            .await;
        if j["state"] != "done" {
            assert_eq!(j["state"], "running");
            assert!(
                j["eta_sec"].as_f64().is_some(),
                "an ETA once a window is done: {j}"
            );
            words_seen.push(j["partial"]["words"].as_array().unwrap().len());
            assert!(j["report"].is_null());
        }
        fractions.push(j["progress"]["fraction"].as_f64().unwrap());
    }
    let done = app
        .wait_for_job(&id, "done", |j| j["state"] == "done")
        .await;
    assert_eq!(done["progress"]["fraction"], 1.0);
    assert_eq!(done["eta_sec"], 0.0);
    assert!(
        fractions.windows(2).all(|p| p[0] <= p[1]),
        "polled progress monotonic: {fractions:?}"
    );
    assert!(
        words_seen.iter().any(|&n| n > 0),
        "partial words before done: {words_seen:?}"
    );
    assert!(words_seen.windows(2).all(|p| p[0] <= p[1]));

    // The SSE log: ids 1, 2, 3… without gaps; states in order; stages in pipeline order;
    // progress monotonic to 1; words before done.
    let events = sse.until(&["done", "failed", "cancelled"]).await;
    let logged: Vec<&SseEvent> = events.iter().filter(|e| e.id.is_some()).collect();
    let ids: Vec<u64> = logged.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "{events:?}"
    );
    let states: Vec<&str> = logged
        .iter()
        .filter(|e| ["state", "done", "failed", "cancelled"].contains(&e.event.as_str()))
        .map(|e| e.data["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["queued", "running", "done"]);
    let stages: Vec<&str> = logged
        .iter()
        .filter(|e| e.event == "stage")
        .map(|e| e.data["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["decode", "vad", "asr", "analysis", "feedback"]);
    let progress: Vec<f64> = logged
        .iter()
        .filter(|e| e.event == "progress" || e.event == "done")
        .map(|e| e.data["progress"]["fraction"].as_f64().unwrap())
        .collect();
    assert_eq!(
        progress.len(),
        WINDOWS + 1,
        "one progress event per window, then done"
    );
    assert!(progress.windows(2).all(|p| p[0] <= p[1]), "{progress:?}");
    assert_eq!(*progress.last().unwrap(), 1.0);
    let first_words = logged
        .iter()
        .position(|e| e.event == "progress" && !e.data["words"].as_array().unwrap().is_empty())
        .expect("a progress event with words");
    assert!(first_words < logged.len() - 1, "partial words before done");
    let streamed: Vec<String> = logged
        .iter()
        .filter(|e| e.event == "progress")
        .flat_map(|e| e.data["words"].as_array().unwrap().clone())
        .map(|w| w["word"].as_str().unwrap().to_string())
        .collect();
    let report = done["report"].clone();
    let final_words: Vec<String> = report["transcript"]["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["word"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        streamed, final_words,
        "the partial words add up to the transcript"
    );
    assert!(sse.next().await.is_none(), "the stream ends after done");

    // The same report /analyze gives (now a cache hit of the job's analysis).
    let sync: Value = app
        .analyze_multipart(clip(), "talk.wav", "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sync["cache"]["hit"], true);
    assert_eq!(without_cache(sync), without_cache(report));
    assert_eq!(fake.calls(), 1);
    let s = app.stats_pipeline().await;
    assert_eq!(s["jobs"]["done"], 1, "{s}");
}

#[tokio::test]
async fn a_reconnecting_client_resumes_with_last_event_id_without_gaps() {
    let (fake, gate) = windowed_app_gate();
    let app = spawn_app_with(&[], fake).await;
    let (id, _) = app.submit_job(clip(), "").await;
    gate.add_permits(2);
    let mut first = app.job_events(&id, None).await;
    let mut seen: Vec<u64> = Vec::new();
    // Read up to the second window's progress, then drop the connection.
    let mut windows = 0;
    while windows < 2 {
        let e = first.next().await.expect("events before done");
        if let Some(id) = e.id {
            seen.push(id);
        }
        windows += usize::from(e.event == "progress" && e.id.is_some());
    }
    drop(first);
    gate.add_permits(WINDOWS);
    let last = *seen.last().unwrap();
    let mut again = app.job_events(&id, Some(last)).await;
    for e in again.until(&["done"]).await {
        if let Some(id) = e.id {
            seen.push(id);
        }
    }
    assert_eq!(
        seen,
        (1..=seen.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    let j = app.job(&id).await;
    assert_eq!(j["state"], "done");
    assert_eq!(j["last_event_id"], *seen.last().unwrap());
    // Resuming a finished job after its last event: the stream simply ends.
    let mut after = app.job_events(&id, seen.last().copied()).await;
    let extra = after.next().await;
    assert!(
        extra.is_none(),
        "nothing after a finished job's last event: {extra:?}"
    );

    // A malformed Last-Event-ID is a 400, not a restart from scratch.
    let resp = app
        .client
        .get(app.url(&format!("/jobs/{id}/events")))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn cancel_while_queued_and_while_running_frees_the_slot_and_counts_exactly() {
    let (fake, gate) = windowed_app_gate();
    let app = spawn_app_with(
        &[
            ("MAX_CONCURRENT_ANALYSES", "1"),
            ("MAX_QUEUED_ANALYSES", "4"),
        ],
        fake.clone(),
    )
    .await;
    let (running, _) = app.submit_job(variant(1), "").await;
    app.wait_for_job(&running, "the first job at ASR", |j| j["stage"] == "asr")
        .await;
    let (queued, body) = app.submit_job(variant(2), "").await;
    assert_eq!(body["state"], "queued");
    let q = app
        .wait_for_job(&queued, "a queue position", |j| j["queue_position"] == 1)
        .await;
    assert_eq!(q["stage"], "queued");
    app.wait_for_pipeline("one active, one queued", |s| {
        s["active"] == 1 && s["queued"] == 1
    })
    .await;

    // Cancel while queued: the place is freed at once, nothing was analysed.
    let c = app.delete_job(&queued).await;
    assert_eq!(c["state"], "cancelled");
    let s = app
        .wait_for_pipeline("the queue place freed", |s| s["queued"] == 0)
        .await;
    assert_eq!(s["active"], 1);

    // Cancel while running: it stops at the next window and frees the slot.
    gate.add_permits(1);
    let r = app.delete_job(&running).await;
    assert_eq!(r["state"], "cancelled");
    gate.add_permits(1); // the window in progress, if any, completes; then the run sees the cancel
    let s = app
        .wait_for_pipeline("the slot freed", |s| {
            s["active"] == 0 && s["cancelled"] == 1
        })
        .await;
    assert_eq!(s["failed"], 0, "a cancellation is not a failure: {s}");
    assert_eq!(s["completed"], 0);
    assert_eq!(s["jobs"]["cancelled"], 2, "{s}");
    assert_eq!(s["jobs"]["running"], 0);
    assert_eq!(s["jobs"]["queued"], 0);
    // Cancelling again changes nothing; the job keeps its state.
    assert_eq!(app.delete_job(&running).await["state"], "cancelled");
    assert_eq!(
        fake.calls(),
        1,
        "the queued job never reached the recogniser"
    );

    // The freed slot serves the next job to the end.
    gate.add_permits(100);
    let (next, _) = app.submit_job(variant(3), "").await;
    app.wait_for_job(&next, "done", |j| j["state"] == "done")
        .await;
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("speech_coach_jobs{state=\"cancelled\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("speech_coach_jobs{state=\"done\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("speech_coach_pipeline_cancelled_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn cancelling_one_job_keeps_the_analysis_that_others_wait_on() {
    let (fake, gate) = windowed_app_gate();
    let app = spawn_app_with(&[], fake.clone()).await;
    let (a, _) = app.submit_job(clip(), "").await;
    let (b, _) = app.submit_job(clip(), "").await;
    app.wait_for_job(&a, "ASR", |j| j["stage"] == "asr").await;
    let sync = {
        let client = app.client.clone();
        let url = app.url("/analyze");
        tokio::spawn(async move {
            let form = file_form(clip(), "talk.wav");
            client.post(url).multipart(form).send().await.unwrap()
        })
    };
    gate.add_permits(1);
    app.wait_for_job(&b, "a window", |j| {
        j["progress"]["audio_sec_done"].as_f64() > Some(0.0)
    })
    .await;
    assert_eq!(app.delete_job(&a).await["state"], "cancelled");
    gate.add_permits(100);
    let done = app
        .wait_for_job(&b, "the other job done", |j| {
            j["state"] != "running" && j["state"] != "queued"
        })
        .await;
    assert_eq!(done["state"], "done", "{done}");
    let resp = sync.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.calls(), 1, "one analysis for all three");
    let s = app.stats_pipeline().await;
    assert_eq!(
        (s["cancelled"].as_u64(), s["completed"].as_u64()),
        (Some(0), Some(1)),
        "{s}"
    );
    assert_eq!(app.job(&a).await["state"], "cancelled");
}

#[tokio::test]
async fn a_cached_upload_is_done_at_once() {
    let app = spawn_app_with(&[], Arc::new(FakeTranscriber::new())).await;
    let sync: Value = app
        .analyze_multipart(clip(), "talk.wav", "")
        .await
        .json()
        .await
        .unwrap();
    let (id, body) = app.submit_job(clip(), "").await;
    assert_eq!(body["state"], "done", "{body}");
    assert_eq!(body["progress"]["fraction"], 1.0);
    assert_eq!(body["report"]["cache"]["hit"], true);
    assert_eq!(without_cache(body["report"].clone()), without_cache(sync));
    let mut sse = app.job_events(&id, None).await;
    let kinds: Vec<String> = sse
        .until(&["done"])
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(kinds, ["state", "done"]);
}

#[tokio::test]
async fn sixteen_identical_jobs_run_one_analysis() {
    let (fake, gate) = windowed_app_gate();
    let app = spawn_app_with(&[("MAX_CONCURRENT_ANALYSES", "1")], fake.clone()).await;
    let posts = (0..16).map(|_| app.submit_job(clip(), ""));
    let ids: Vec<String> = futures::future::join_all(posts)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 16, "16 jobs, 16 ids");
    gate.add_permits(1);
    // Every job hears the shared analysis' windows, not just the one that leads it.
    for id in &ids {
        app.wait_for_job(id, "the first window", |j| {
            j["progress"]["audio_sec_done"].as_f64() >= Some(WINDOW_SEC)
        })
        .await;
    }
    gate.add_permits(100);
    let mut reports = Vec::new();
    for id in &ids {
        let j = app.wait_for_job(id, "done", |j| j["state"] == "done").await;
        reports.push(without_cache(j["report"].clone()));
    }
    assert!(reports.windows(2).all(|p| p[0] == p[1]));
    assert_eq!(fake.calls(), 1);
    let s = app.stats_pipeline().await;
    assert_eq!(
        (s["completed"].as_u64(), s["jobs"]["done"].as_u64()),
        (Some(1), Some(16))
    );
}

#[tokio::test]
async fn a_job_the_queue_cannot_take_is_refused_at_post() {
    let (fake, gate) = windowed_app_gate();
    let app = spawn_app_with(
        &[
            ("MAX_CONCURRENT_ANALYSES", "1"),
            ("MAX_QUEUED_ANALYSES", "1"),
        ],
        fake,
    )
    .await;
    let (a, _) = app.submit_job(variant(1), "").await;
    app.wait_for_job(&a, "running", |j| j["state"] == "running")
        .await;
    let (b, body) = app.submit_job(variant(2), "").await;
    assert_eq!(body["state"], "queued");
    let resp = app.post_job(variant(3), "").await;
    assert_eq!(resp.status(), 503);
    assert!(
        resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert!(resp.headers().get("location").is_none());
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "overloaded");
    assert!(err["request_id"].is_string() && err["message"].is_string());
    let s = app.stats_pipeline().await;
    assert_eq!(
        s["jobs"]["queued"].as_u64().unwrap() + s["jobs"]["running"].as_u64().unwrap(),
        2,
        "the refused job is not kept: {s}"
    );
    gate.add_permits(100);
    for id in [&a, &b] {
        app.wait_for_job(id, "done", |j| j["state"] == "done").await;
    }
}

#[tokio::test]
async fn finished_jobs_expire_after_the_ttl() {
    let app = spawn_app_with(&[("JOB_TTL_SEC", "0.5")], Arc::new(FakeTranscriber::new())).await;
    let (id, _) = app.submit_job(clip(), "").await;
    app.wait_for_job(&id, "done", |j| j["state"] == "done")
        .await;
    let start = Instant::now();
    loop {
        let resp = app.get(&format!("/jobs/{id}")).await;
        if resp.status() == 404 {
            let err: Value = resp.json().await.unwrap();
            assert_eq!(err["error"], "not_found");
            break;
        }
        assert!(start.elapsed() < wait::LIMIT, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "not before its TTL"
    );
    let s = app.stats_pipeline().await;
    assert_eq!(s["jobs"]["done"], 0, "{s}");
    let resp = app.job_events_response(&id, None).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn a_failing_upload_fails_the_job_with_the_error_analyze_gives() {
    let app = spawn_app_with(&[], Arc::new(FakeTranscriber::new())).await;
    let bad = corpus::read("bad/random_1k.wav");
    let sync = app.analyze_multipart(bad.clone(), "x.wav", "").await;
    let sync_status = sync.status().as_u16();
    let sync: Value = sync.json().await.unwrap();
    let (id, _) = app.submit_job(bad, "").await;
    let j = app
        .wait_for_job(&id, "failed", |j| j["state"] == "failed")
        .await;
    assert_eq!(j["error"]["status"], sync_status);
    assert_eq!(j["error"]["error"], sync["error"]);
    assert_eq!(j["error"]["message"], sync["message"]);
    assert!(j["error"]["request_id"].is_string());
    assert!(j["report"].is_null());
}

#[tokio::test]
async fn bad_ids_and_parameters_are_json_errors() {
    let app = spawn_app_with(&[], Arc::new(FakeTranscriber::new())).await;
    for path in [
        "/jobs/nope",
        "/jobs/00000000000000000000000000000000",
        "/jobs/00000000000000000000000000000000/events",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"], "not_found");
    }
    let resp = app.delete("/jobs/00000000000000000000000000000000").await;
    assert_eq!(resp.status(), 404);
    let resp = app.post_job(clip(), "?detail=everything").await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "invalid_parameter");
    // detail=summary is honoured like /analyze's.
    let (id, _) = {
        let resp = app.post_job(clip(), "?detail=summary&language=en").await;
        assert_eq!(resp.status(), 202);
        let body: Value = resp.json().await.unwrap();
        (body["id"].as_str().unwrap().to_string(), body)
    };
    let j = app
        .wait_for_job(&id, "done", |j| j["state"] == "done")
        .await;
    assert!(
        j["report"]["transcript"]["words"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(j["report"]["language"], "en");
}
