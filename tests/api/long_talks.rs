//! Talks of the length users bring (10 and 60 minutes, 19–60 MB), built at test time from the
//! corpus clips, through both upload shapes: multipart (as browsers and `curl -F` send it) and a
//! raw body. Each upload goes to its own server, so none is a cache hit of another. The fake
//! transcriber "hears" the talk's known text; everything else (upload, decode, VAD, analysis,
//! advice) is the real service.

use crate::support::long_talk::{self, LongTalk};
use crate::support::{FakeTranscriber, spawn_app_with};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A multipart form with the file streamed from disk (never read whole by the client).
async fn multipart_form(path: &Path) -> reqwest::multipart::Form {
    let file = tokio::fs::File::open(path).await.unwrap();
    let len = file.metadata().await.unwrap().len();
    let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), len)
        .file_name(path.file_name().unwrap().to_string_lossy().into_owned());
    reqwest::multipart::Form::new().part("file", part)
}

/// Uploads `path` as multipart or raw to a fresh server hearing `talk`; returns the report.
async fn analyse(talk: &LongTalk, path: &Path, multipart: bool) -> serde_json::Value {
    let fake = Arc::new(FakeTranscriber::speaking(&talk.text(), "en"));
    let app = spawn_app_with(&[("MAX_FILE_SIZE_MB", "100")], fake.clone()).await;
    let req = app
        .client
        .post(app.url("/analyze?language=en&detail=summary"))
        .timeout(Duration::from_secs(600));
    let req = if multipart {
        req.multipart(multipart_form(path).await)
    } else {
        let file = tokio::fs::File::open(path).await.unwrap();
        req.header("content-type", "application/octet-stream")
            .body(reqwest::Body::from(file))
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{}: {body}", path.display());
    assert_eq!(fake.calls(), 1);
    body
}

fn assert_whole_talk(report: &serde_json::Value, talk: &LongTalk, what: &str) {
    let duration = report["audio"]["duration_sec"].as_f64().unwrap();
    assert!(
        (duration - talk.duration_sec()).abs() < 0.1,
        "{what}: report says {duration} s, the talk is {} s",
        talk.duration_sec()
    );
    let spoken = talk.text().split_whitespace().count() as u64;
    let words = report["metrics"]["words_total"].as_u64().unwrap();
    assert!(
        words.abs_diff(spoken) <= spoken / 50,
        "{what}: {words} words in the report, {spoken} spoken"
    );
    // The pace is measured over the speaking time: the silences between clips are pauses.
    let pace = report["metrics"]["words_per_minute"].as_f64().unwrap();
    assert!((80.0..220.0).contains(&pace), "{what}: pace {pace}");
    assert!(
        report["advice"].as_array().is_some_and(|a| !a.is_empty()),
        "{what}: no advice"
    );
}

#[tokio::test]
async fn a_ten_minute_talk_of_19_mb_goes_through_multipart_and_raw() {
    let dir = tempfile::tempdir().unwrap();
    let talk = long_talk::build(10.0, "en");
    let wav = talk.write_wav(&dir.path().join("talk10.wav"));
    let size = std::fs::metadata(&wav).unwrap().len();
    assert!(size > 19_000_000, "{size} bytes");
    for multipart in [true, false] {
        let report = analyse(&talk, &wav, multipart).await;
        assert_whole_talk(&report, &talk, if multipart { "multipart" } else { "raw" });
    }
}

#[tokio::test]
async fn a_sixty_minute_talk_goes_through_multipart_and_raw() {
    let dir = tempfile::tempdir().unwrap();
    let talk = long_talk::build(60.0, "en");
    // 60 minutes of 16 kHz WAV is 115 MB, over the limit: users send it compressed.
    let wav = talk.write_wav(&dir.path().join("talk60.wav"));
    let flac = long_talk::encode(&wav, "flac");
    std::fs::remove_file(&wav).unwrap();
    let size = std::fs::metadata(&flac).unwrap().len();
    println!("60-minute FLAC: {size} bytes");
    for multipart in [true, false] {
        let report = analyse(&talk, &flac, multipart).await;
        assert_whole_talk(&report, &talk, if multipart { "multipart" } else { "raw" });
    }
}

/// A recorder's WAV (48 kHz stereo, 23 MB for 2 minutes): multipart and the same bytes raw both
/// give the full duration (axum's 2 MiB multipart default refused this before).
#[tokio::test]
async fn a_23_mb_recorder_wav_multipart_and_raw_give_the_full_duration() {
    let dir = tempfile::tempdir().unwrap();
    let talk = long_talk::build(2.0, "en");
    let wav = long_talk::write_wav_48k_stereo(&talk, &dir.path().join("recorder.wav"));
    let size = std::fs::metadata(&wav).unwrap().len();
    assert!(size >= 20 * 1024 * 1024, "{size} bytes");
    let a = analyse(&talk, &wav, true).await;
    let b = analyse(&talk, &wav, false).await;
    assert_whole_talk(&a, &talk, "multipart");
    assert_whole_talk(&b, &talk, "raw");
    assert_eq!(a["audio"]["duration_sec"], b["audio"]["duration_sec"]);
    assert_eq!(a["audio"]["sample_rate"], b["audio"]["sample_rate"]);
}
