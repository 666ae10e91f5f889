//! The remote OpenAI-compatible backend against a fake server on an ephemeral port: a good
//! answer, a 500, a server slower than the timeout, garbage, and silence (no request at all).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use speech_coach::asr::{AsrError, AsrInput, OpenAiAsrConfig, OpenAiTranscriber, Transcriber};
use speech_coach::domain::signal::Span;

#[derive(Clone, Copy)]
enum Mode {
    Ok,
    Fail,
    Slow,
    Garbage,
}

/// What the last request carried: (auth header, text fields, WAV data bytes).
type Seen = Option<(String, Vec<(String, String)>, usize)>;

#[derive(Clone)]
struct Fake {
    mode: Mode,
    calls: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Seen>>,
}

async fn handler(
    State(fake): State<Fake>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    fake.calls.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut fields = Vec::new();
    let mut wav_data = 0;
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let bytes = field.bytes().await.unwrap();
            assert_eq!(&bytes[0..4], b"RIFF");
            assert_eq!(&bytes[8..12], b"WAVE");
            wav_data = bytes.len() - 44;
        } else {
            fields.push((name, field.text().await.unwrap()));
        }
    }
    *fake.seen.lock().unwrap() = Some((auth, fields, wav_data));
    match fake.mode {
        Mode::Ok => Ok(Json(serde_json::json!({
            "task": "transcribe", "language": "english", "duration": 3.0,
            "text": "Hello there, everyone.",
            "segments": [{"id": 0, "start": 0.5, "end": 2.5, "text": " Hello there, everyone.",
                          "avg_logprob": -0.2, "no_speech_prob": 0.01}],
            "words": [{"word": "Hello", "start": 0.5, "end": 0.9},
                      {"word": "there,", "start": 0.9, "end": 1.4},
                      {"word": "everyone.", "start": 1.5, "end": 2.4}]
        }))),
        Mode::Fail => Err((StatusCode::INTERNAL_SERVER_ERROR, "model crashed".into())),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(Json(serde_json::json!({"text": "too late"})))
        }
        Mode::Garbage => Err((StatusCode::OK, "<html>not json</html>".into())),
    }
}

async fn spawn_fake(mode: Mode) -> (String, Fake) {
    let fake = Fake {
        mode,
        calls: Arc::new(AtomicUsize::new(0)),
        seen: Arc::new(std::sync::Mutex::new(None)),
    };
    let app = Router::new()
        .route("/v1/audio/transcriptions", post(handler))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), fake)
}

fn client(url: String, timeout_sec: f64) -> OpenAiTranscriber {
    OpenAiTranscriber::new(OpenAiAsrConfig {
        url,
        api_key: Some(SecretString::from("test-key")),
        model: "whisper-large-v3".into(),
        timeout_sec,
    })
    .unwrap()
}

fn speech_input(language: Option<&str>) -> AsrInput {
    // 3 s of a quiet tone standing in for speech.
    let samples: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.03).sin() * 0.1).collect();
    AsrInput {
        samples: samples.into(),
        speech: vec![Span::new(0.4, 2.6)],
        language: language.map(str::to_string),
        watcher: None,
    }
}

#[tokio::test]
async fn good_answer_becomes_a_transcript_and_the_request_is_complete() {
    let (url, fake) = spawn_fake(Mode::Ok).await;
    let asr = client(url, 10.0);
    let t = asr.transcribe(speech_input(Some("en"))).await.unwrap();
    assert_eq!(t.language, "en");
    let words: Vec<&str> = t.words().map(|w| w.word.as_str()).collect();
    assert_eq!(words, vec!["Hello", "there,", "everyone."]);
    assert!((t.segments[0].avg_logprob + 0.2).abs() < 1e-9);

    let (auth, fields, wav_data) = fake.seen.lock().unwrap().clone().unwrap();
    assert_eq!(auth, "Bearer test-key");
    assert_eq!(wav_data, 48_000 * 2, "3 s of 16-bit mono at 16 kHz");
    let get = |k: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("model"), vec!["whisper-large-v3"]);
    assert_eq!(get("response_format"), vec!["verbose_json"]);
    assert_eq!(get("language"), vec!["en"]);
    assert_eq!(get("timestamp_granularities[]"), vec!["word", "segment"]);
    assert!(asr.fingerprint().contains("whisper-large-v3"));
    assert!(!asr.fingerprint().contains("test-key"));
}

#[tokio::test]
async fn server_error_is_upstream() {
    let (url, _) = spawn_fake(Mode::Fail).await;
    let err = client(url, 10.0)
        .transcribe(speech_input(None))
        .await
        .unwrap_err();
    match err {
        AsrError::Upstream(msg) => assert!(msg.contains("500") && msg.contains("model crashed")),
        other => panic!("expected Upstream, got {other:?}"),
    }
}

#[tokio::test]
async fn slow_server_is_a_timeout() {
    let (url, _) = spawn_fake(Mode::Slow).await;
    let started = std::time::Instant::now();
    let err = client(url, 0.3)
        .transcribe(speech_input(None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AsrError::Timeout(t) if (t - 0.3).abs() < 1e-9),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "did not wait for the server"
    );
}

#[tokio::test]
async fn garbage_answer_is_upstream() {
    let (url, _) = spawn_fake(Mode::Garbage).await;
    let err = client(url, 10.0)
        .transcribe(speech_input(None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AsrError::Upstream(m) if m.contains("unparsable")),
        "{err:?}"
    );
}

#[tokio::test]
async fn unreachable_server_is_upstream() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client(format!("http://127.0.0.1:{port}"), 5.0)
        .transcribe(speech_input(None))
        .await
        .unwrap_err();
    assert!(matches!(err, AsrError::Upstream(_)), "{err:?}");
}

#[tokio::test]
async fn silence_is_not_sent() {
    let (url, fake) = spawn_fake(Mode::Ok).await;
    let input = AsrInput {
        samples: vec![0.0f32; 80_000].into(),
        speech: vec![],
        language: None,
        watcher: None,
    };
    let t = client(url, 10.0).transcribe(input).await.unwrap();
    assert_eq!(t.words().count(), 0);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn bad_url_is_refused_at_construction() {
    let cfg = OpenAiAsrConfig {
        url: "ftp://x".into(),
        ..OpenAiAsrConfig::default()
    };
    assert!(matches!(
        OpenAiTranscriber::new(cfg),
        Err(AsrError::ModelUnavailable(_))
    ));
}
