//! A stand-in for an OpenAI-compatible speech recogniser, for load tests on loopback: answers
//! `POST /v1/audio/transcriptions` with a `verbose_json` transcript after a fixed delay, so cold
//! analyses spend real time in the ASR stage without Whisper's CPU cost.
//!
//!   cargo run --release --no-default-features --example fake_asr -- 127.0.0.1:9100 500
//!
//! Arguments: listen address (loopback only), delay in milliseconds, and optionally a CPU cost
//! in milliseconds (a busy loop on the blocking pool, per call: `bench/chaos_jobs.sh` uses it so
//! the recogniser's work competes for the cores as Whisper's would). The words are a fixed
//! English passage spread evenly over the uploaded WAV's duration (16-bit PCM, as speech-coach
//! sends it). It prints `listening <addr>` once bound.

#[path = "shared/upload.rs"]
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Multipart, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

const PASSAGE: &str = "so um today I want to talk about how we can basically make our \
    presentations clearer and you know more engaging for the people who listen to them";

#[derive(Clone)]
struct Fake {
    delay: Duration,
    cpu: Duration,
    calls: Arc<AtomicU64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:9100").parse()?;
    anyhow::ensure!(addr.ip().is_loopback(), "fake_asr listens on loopback only");
    let delay_ms: u64 = args.next().as_deref().unwrap_or("500").parse()?;
    let cpu_ms: u64 = args.next().as_deref().unwrap_or("0").parse()?;
    let fake = Fake {
        delay: Duration::from_millis(delay_ms),
        cpu: Duration::from_millis(cpu_ms),
        calls: Arc::default(),
    };
    let app = Router::new()
        .route("/v1/audio/transcriptions", post(transcribe))
        .route("/calls", get(calls))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn calls(State(fake): State<Fake>) -> Json<Value> {
    Json(json!({"calls": fake.calls.load(Ordering::Relaxed)}))
}

async fn transcribe(
    State(fake): State<Fake>,
    form: Multipart,
) -> Result<Json<Value>, (axum::http::StatusCode, String)> {
    let upload::Upload {
        file_len: wav_len,
        language,
    } = upload::read(form).await?;
    fake.calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(fake.delay).await;
    if !fake.cpu.is_zero() {
        let cpu = fake.cpu;
        let _ = tokio::task::spawn_blocking(move || {
            // CPU time of this thread, not wall time: the cost stays fixed when cores are shared.
            let start = thread_cpu();
            let mut x = 0u64;
            while thread_cpu() - start < cpu {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        })
        .await;
    }

    // 16 kHz mono PCM16 after a 44-byte header.
    let duration = wav_len.saturating_sub(44) as f64 / 32_000.0;
    let tokens: Vec<&str> = PASSAGE.split_whitespace().collect();
    let step = duration / tokens.len() as f64;
    let words: Vec<Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, w)| {
            json!({"word": w, "start": i as f64 * step, "end": (i as f64 + 0.8) * step,
                   "probability": 0.9})
        })
        .collect();
    Ok(Json(json!({
        "language": language.unwrap_or_else(|| "en".into()),
        "duration": duration,
        "text": PASSAGE,
        "segments": [{"start": 0.0, "end": duration, "text": PASSAGE, "avg_logprob": -0.2,
                      "no_speech_prob": 0.0, "words": words}],
        "words": words,
    })))
}

/// CPU time consumed by the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the OS knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
