//! Jobs benchmark (docs/bench/jobs.md): a 10- and a 60-minute talk (built from the corpus clips,
//! `tests/support/long_talk.rs`) posted to `POST /jobs` on a server in this process; times from
//! the end of the upload (the 202) to the first progress event, to the first partial words, and
//! to `done`, read from the job's SSE stream.
//!
//!   cargo run --release --no-default-features --example jobs_bench -- fake 10 60
//!   cargo run --release --example jobs_bench -- whisper 10
//!
//! `fake`: a recogniser at the `Transcriber` seam that walks the input in 30 s windows as Whisper
//! does and "hears" the talk's known text, optionally spending `FAKE_WINDOW_MS` per window
//! (default 0): it measures everything but speech recognition (upload, hashing, decode, VAD,
//! job plumbing, analysis). `whisper`: the real in-process model (`WHISPER_MODEL_DIR`, default
//! `models/whisper-base`). Prints one JSON line per talk.

#[path = "../tests/support/long_talk.rs"]
mod long_talk;
#[path = "../tests/support/sse.rs"]
mod sse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use speech_coach::app::{Application, Services};
use speech_coach::asr::{AsrError, AsrInput, Segment, Transcriber, Transcript, WindowDone, Word};
use speech_coach::config::{Config, Source};

const WINDOW_SEC: f64 = 30.0;

/// Hears the talk's text: each part's words spread evenly over the part, window by window.
struct ScriptedTranscriber {
    words: Vec<Word>,
    per_window: Duration,
}

impl ScriptedTranscriber {
    fn new(talk: &long_talk::LongTalk, per_window: Duration) -> Self {
        let mut words = Vec::new();
        for p in &talk.parts {
            let toks: Vec<&str> = p.text.split_whitespace().collect();
            let step = (p.end_sec - p.start_sec) / toks.len().max(1) as f64;
            for (i, t) in toks.iter().enumerate() {
                let s = p.start_sec + i as f64 * step;
                words.push(Word {
                    word: t.to_string(),
                    start_sec: s,
                    end_sec: s + step * 0.9,
                    probability: 0.9,
                });
            }
        }
        Self { words, per_window }
    }
}

#[async_trait]
impl Transcriber for ScriptedTranscriber {
    async fn transcribe(&self, input: AsrInput) -> Result<Transcript, AsrError> {
        let total = input.samples.len() as f64 / 16_000.0;
        let mut start = 0.0;
        while start < total {
            if input.cancelled() {
                return Err(AsrError::Cancelled);
            }
            if !self.per_window.is_zero() {
                tokio::time::sleep(self.per_window).await;
            }
            let end = (start + WINDOW_SEC).min(total);
            input.report_window(WindowDone {
                audio_sec_done: end,
                audio_sec_total: total,
                words: self
                    .words
                    .iter()
                    .filter(|w| w.start_sec >= start && w.start_sec < end)
                    .cloned()
                    .collect(),
            });
            start = end;
        }
        let text = self
            .words
            .iter()
            .map(|w| w.word.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            language: "en".into(),
            language_probability: 1.0,
            segments: vec![Segment {
                start_sec: 0.0,
                end_sec: total,
                text,
                avg_logprob: -0.2,
                no_speech_prob: 0.0,
                words: self.words.clone(),
            }],
        })
    }

    fn fingerprint(&self) -> String {
        "scripted-bench:v1".into()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let asr = args.first().cloned().unwrap_or_else(|| "fake".into());
    let minutes: Vec<f64> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let minutes = if minutes.is_empty() {
        vec![10.0, 60.0]
    } else {
        minutes
    };
    let per_window = Duration::from_millis(
        std::env::var("FAKE_WINDOW_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    for m in minutes {
        let talk = long_talk::build(m, "en");
        let row = run(&asr, &talk, per_window).await;
        println!("{row}");
    }
}

async fn run(asr: &str, talk: &long_talk::LongTalk, per_window: Duration) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut pairs: Vec<(String, String)> = vec![
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("LOG_FILE".into(), String::new()),
        ("LOG_LEVEL".into(), "warn".into()),
        ("GIGACHAT_ENABLED".into(), "false".into()),
        (
            "UPLOAD_DIR".into(),
            dir.path().join("up").display().to_string(),
        ),
        (
            "CACHE_DIR".into(),
            dir.path().join("cache").display().to_string(),
        ),
        ("ANALYSIS_TIMEOUT_SEC".into(), "7200".into()),
        // A 60-minute 16 kHz WAV is ~115 MB and a little over an hour long.
        ("MAX_FILE_SIZE_MB".into(), "400".into()),
        ("MAX_AUDIO_DURATION_SEC".into(), "7200".into()),
    ];
    let mut services = Services::default();
    if asr == "whisper" {
        let model = std::env::var("WHISPER_MODEL_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/models/whisper-base").into());
        pairs.push(("ASR_BACKEND".into(), "whisper".into()));
        pairs.push(("WHISPER_MODEL_DIR".into(), model));
    } else {
        services.transcriber = Some(Arc::new(ScriptedTranscriber::new(talk, per_window)));
    }
    let config = Config::from_source(&Source::from_pairs(pairs)).expect("config");
    let app = Application::build_with(config, services)
        .await
        .expect("app");
    let addr = app.local_addr().to_string();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://{addr}{p}");
    let load = Instant::now();
    loop {
        let h: Value = client
            .get(url("/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["components"]["asr"]["status"] == "ok" {
            break;
        }
        assert!(
            load.elapsed() < Duration::from_secs(300),
            "ASR never ready: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let wav = talk.write_wav(&dir.path().join("talk.wav"));
    let bytes = std::fs::read(&wav).unwrap();
    let size = bytes.len();
    let posted = Instant::now();
    let resp = client
        .post(url("/jobs?language=en"))
        .header("content-type", "audio/wav")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let uploaded = Instant::now();
    assert_eq!(resp.status(), 202, "{:?}", resp.text().await);
    let job: Value = resp.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let events = client
        .get(url(&format!("/jobs/{id}/events")))
        .send()
        .await
        .unwrap();
    let mut events = sse::SseReader::new(events);
    let (mut first_progress, mut first_words, mut done, mut windows) = (None, None, None, 0);
    while let Some(e) = events.next().await {
        let (kind, data) = (e.event.as_str(), &e.data);
        let at = uploaded.elapsed().as_secs_f64();
        if kind == "stage" && data["stage"] != "queued" && first_progress.is_none() {
            first_progress = Some(at);
        }
        if kind == "progress" && data.get("snapshot").is_none() {
            windows += 1;
            if first_words.is_none() && data["words"].as_array().is_some_and(|w| !w.is_empty()) {
                first_words = Some(at);
            }
        }
        if kind == "done" || kind == "failed" {
            assert_eq!(kind, "done", "{data}");
            done = Some(at);
            break;
        }
    }
    shutdown.cancel();
    json!({
        "asr": asr,
        "fake_window_ms": if asr == "whisper" { None } else { Some(per_window.as_millis() as u64) },
        "talk_min": (talk.duration_sec() / 60.0 * 10.0).round() / 10.0,
        "upload_mb": (size as f64 / 1e6 * 10.0).round() / 10.0,
        "upload_s": (uploaded - posted).as_secs_f64(),
        "first_progress_s": first_progress,
        "first_words_s": first_words,
        "done_s": done,
        "windows": windows,
    })
}
