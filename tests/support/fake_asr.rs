//! A stand-in OpenAI-compatible recogniser (`POST /v1/audio/transcriptions`, `verbose_json`) on
//! an ephemeral loopback port, for tests of a separate process (the CLI, the binary) that cannot
//! take the fake `Transcriber` in-process. It "hears" a known text, spread evenly over the
//! uploaded WAV's duration, and counts its calls.
#![allow(dead_code)]

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct FakeAsr {
    pub url: String,
    calls: Arc<AtomicUsize>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeAsr {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Heard {
    text: Arc<String>,
    calls: Arc<AtomicUsize>,
}

/// Starts the fake on its own thread's runtime (usable from sync tests too).
pub fn start(text: &str) -> FakeAsr {
    let heard = Heard {
        text: Arc::new(text.to_string()),
        calls: Arc::default(),
    };
    let calls = heard.calls.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route("/v1/audio/transcriptions", post(transcribe))
                // A 60-minute talk arrives as one 115 MB WAV.
                .layer(DefaultBodyLimit::disable())
                .with_state(heard);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    FakeAsr {
        url: format!("http://{addr}"),
        calls,
        _shutdown: tx,
    }
}

/// The samples of an upload as speech-coach sends it: 16 kHz mono PCM16 after a 44-byte header.
pub fn pcm16(wav: &[u8]) -> Vec<i16> {
    wav.get(44..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

async fn transcribe(State(heard): State<Heard>, mut form: Multipart) -> Json<Value> {
    let mut wav = Vec::new();
    let mut language = "en".to_string();
    while let Some(field) = form.next_field().await.unwrap() {
        match field.name() {
            Some("file") => wav = field.bytes().await.unwrap().to_vec(),
            Some("language") => language = field.text().await.unwrap(),
            _ => {}
        }
    }
    heard.calls.fetch_add(1, Ordering::SeqCst);
    let pcm = pcm16(&wav);
    let duration = pcm.len() as f64 / 16_000.0;
    // Like a recogniser, put the words where there is sound: 10 ms frames above a quiet level.
    let voiced: Vec<f64> = pcm
        .chunks(160)
        .enumerate()
        .filter(|(_, f)| f.iter().map(|&s| i64::from(s).abs()).max().unwrap_or(0) > 300)
        .map(|(i, _)| i as f64 * 0.01)
        .collect();
    let tokens: Vec<&str> = heard.text.split_whitespace().collect();
    let per_word = voiced.len().max(1) as f64 / tokens.len().max(1) as f64;
    let words: Vec<Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let frame = ((i as f64 * per_word) as usize).min(voiced.len().saturating_sub(1));
            let start = voiced.get(frame).copied().unwrap_or(0.0);
            json!({"word": w, "start": start, "end": start + 0.01 * per_word.max(1.0) * 0.8,
                   "probability": 0.9})
        })
        .collect();
    Json(json!({
        "language": language,
        "duration": duration,
        "text": *heard.text,
        "segments": [{"start": 0.0, "end": duration, "text": *heard.text, "avg_logprob": -0.2,
                      "no_speech_prob": 0.0, "words": words}],
        "words": words,
    }))
}
