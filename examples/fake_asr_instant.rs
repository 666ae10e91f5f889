//! A tiny OpenAI-compatible ASR server that answers at once, for benchmarks of everything but
//! the recogniser (e.g. `bench/hit_load.sh`: the cold upload must be analysed once, fast).
//!
//! `POST /v1/audio/transcriptions` (multipart, as `ASR_BACKEND=openai` sends it): reads the
//! 16-bit WAV the service uploads, and answers `verbose_json` with a fixed English sentence
//! (with fillers) repeated over the audio's duration, one word every 0.4 s, in 10 s segments.
//! It never inspects the sound: words the service's VAD finds outside speech are dropped by the
//! service itself, as with any remote recogniser.
//!
//! Usage: `cargo run --release --no-default-features --example fake_asr_instant -- 127.0.0.1:18000`
//! (prints `listening on <addr>` once bound; port 0 picks a free one). Counts the requests it
//! served on `GET /count`.

#[path = "shared/upload.rs"]
mod upload;

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the fake "hears", cycled over the duration of the audio.
const SENTENCE: &str = "so um today I want to talk about uh how we practice public speaking \
                        and you know why pauses matter more than we think";
/// Seconds per word (150 words per minute).
const WORD_SEC: f64 = 0.4;
/// Length of one segment, seconds.
const SEGMENT_SEC: f64 = 10.0;
/// The service uploads 16 kHz mono 16-bit WAV.
const BYTES_PER_SEC: f64 = 16_000.0 * 2.0;
const WAV_HEADER_BYTES: usize = 44;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let served = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/v1/audio/transcriptions", post(transcribe))
        .route("/count", get(count))
        // The service uploads the decoded audio: allow an hour of it.
        .layer(axum::extract::DefaultBodyLimit::max(512 * 1024 * 1024))
        .with_state(served);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn count(State(served): State<Arc<AtomicU64>>) -> Json<Value> {
    Json(json!({"served": served.load(Ordering::Relaxed)}))
}

async fn transcribe(
    State(served): State<Arc<AtomicU64>>,
    form: Multipart,
) -> Result<Json<Value>, (StatusCode, String)> {
    let upload::Upload {
        file_len: bytes,
        language,
    } = upload::read(form).await?;
    served.fetch_add(1, Ordering::Relaxed);
    let duration = bytes.saturating_sub(WAV_HEADER_BYTES) as f64 / BYTES_PER_SEC;
    Ok(Json(verbose_json(
        duration,
        language.as_deref().unwrap_or("en"),
    )))
}

/// The fixed sentence spread over `duration_sec`, in OpenAI's `verbose_json` shape.
fn verbose_json(duration_sec: f64, language: &str) -> Value {
    let vocabulary: Vec<&str> = SENTENCE.split_whitespace().collect();
    let mut segments = Vec::new();
    let mut words = Vec::new();
    let mut seg_start = 0.0;
    let mut seg_words: Vec<&str> = Vec::new();
    let mut t = 0.0;
    let mut i = 0;
    while t + WORD_SEC <= duration_sec {
        let w = vocabulary[i % vocabulary.len()];
        words.push(json!({"word": w, "start": t, "end": t + WORD_SEC * 0.9}));
        seg_words.push(w);
        t += WORD_SEC;
        i += 1;
        if t - seg_start >= SEGMENT_SEC {
            segments.push(segment(segments.len(), seg_start, t, &seg_words));
            seg_start = t;
            seg_words.clear();
        }
    }
    if !seg_words.is_empty() {
        segments.push(segment(segments.len(), seg_start, t, &seg_words));
    }
    let text = segments
        .iter()
        .filter_map(|s| s["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "task": "transcribe",
        "language": language,
        "duration": duration_sec,
        "text": text,
        "segments": segments,
        "words": words,
    })
}

fn segment(id: usize, start: f64, end: f64, words: &[&str]) -> Value {
    json!({
        "id": id,
        "start": start,
        "end": end,
        "text": words.join(" "),
        "avg_logprob": -0.2,
        "no_speech_prob": 0.01,
    })
}
