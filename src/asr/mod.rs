//! Speech recognition behind one narrow trait.
//!
//! Layout:
//! - `whisper`: in-process CTranslate2 Whisper (feature `whisper`, the default backend).
//! - `openai`: a remote OpenAI-compatible `/v1/audio/transcriptions` server.
//! - `chunking`: cutting 16 kHz samples into <= 30 s windows at silences (VAD-driven).
//! - `features`: Whisper's log-mel features (feature `whisper`).
//! - `packing`: speech joined into one timeline with long silences cut out, times mapped back.
//! - `loop_guard`: detecting and cutting repetition loops in decoded text.
//! - `memory`: the allocator setting that keeps the recogniser's peak memory down.
//! - `settings`: [`WhisperConfig`], compiled with or without the `whisper` feature.

use async_trait::async_trait;
use std::sync::Arc;

pub mod chunking;
#[cfg(feature = "whisper")]
pub mod features;
pub mod lazy;
pub mod loop_guard;
pub mod memory;
pub mod openai;
pub mod packing;
pub mod settings;
#[cfg(feature = "whisper")]
pub mod whisper;

pub use lazy::LazyTranscriber;
pub use openai::{OpenAiAsrConfig, OpenAiTranscriber};
pub use settings::{ComputeType, WhisperConfig};
#[cfg(feature = "whisper")]
pub use whisper::WhisperTranscriber;

use crate::domain::signal::Span;
pub use crate::domain::transcript::{Segment, Transcript, Word};

/// Samples at 16 kHz mono plus the VAD's speech segments, shared without copying.
#[derive(Debug, Clone)]
pub struct AsrInput {
    /// Mono f32 samples at [`ASR_SAMPLE_RATE`].
    pub samples: Arc<[f32]>,
    /// Speech segments found by the VAD (seconds); the recogniser may skip everything else.
    pub speech: Vec<Span>,
    /// Requested language: `None` = detect, `Some("ru")` = force.
    pub language: Option<String>,
    /// Told after every decoded window (progress, partial words) and asked whether to go on.
    /// `None`: nobody is listening and the transcription cannot be cancelled.
    pub watcher: Option<Arc<dyn AsrWatcher>>,
}

/// One decoded window: how far the recogniser has got, and the words it just produced.
#[derive(Debug, Clone)]
pub struct WindowDone {
    /// Seconds of the input covered so far (end of this window), ≤ `audio_sec_total`.
    pub audio_sec_done: f64,
    /// Length of the whole input, seconds.
    pub audio_sec_total: f64,
    /// The words of this window (times in seconds from the start of the input).
    pub words: Vec<Word>,
}

/// Listens to a running transcription: progress per window, partial words, cancellation.
pub trait AsrWatcher: Send + Sync + std::fmt::Debug {
    /// Called after each window is decoded, in order.
    fn window_done(&self, done: WindowDone);
    /// Checked before each window (batched backends: before each batch of windows): `true` stops
    /// the transcription with [`AsrError::Cancelled`].
    fn is_cancelled(&self) -> bool {
        false
    }
}

impl AsrInput {
    /// Reports a decoded window to the watcher, if any.
    pub fn report_window(&self, done: WindowDone) {
        if let Some(w) = &self.watcher {
            w.window_done(done);
        }
    }

    /// Whether the watcher asked to stop.
    pub fn cancelled(&self) -> bool {
        self.watcher.as_ref().is_some_and(|w| w.is_cancelled())
    }
}

/// Whisper's native rate; the audio module resamples everything to it.
pub const ASR_SAMPLE_RATE: u32 = 16_000;

/// Why a transcription failed. The pipeline maps these to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// The model files are missing or unusable (a deployment problem: 503).
    #[error("ASR model unavailable: {0}")]
    ModelUnavailable(String),
    /// A remote ASR server failed or answered garbage (502).
    #[error("remote ASR failed: {0}")]
    Upstream(String),
    /// A remote ASR server did not answer in time (504).
    #[error("remote ASR timed out after {0} s")]
    Timeout(f64),
    /// The requested language is not one the model knows (a client error: 400).
    #[error("unsupported language: {0}")]
    InvalidLanguage(String),
    /// Inference itself failed.
    #[error("transcription failed: {0}")]
    Inference(String),
    /// The watcher cancelled the transcription (a cancelled job).
    #[error("transcription cancelled")]
    Cancelled,
}

/// A speech recogniser. Implementations: Whisper in-process, remote OpenAI-compatible, test fakes.
#[async_trait]
pub trait Transcriber: Send + Sync + 'static {
    /// Transcribe the input. Must return an empty transcript (not invented text) for silence/noise.
    async fn transcribe(&self, input: AsrInput) -> Result<Transcript, AsrError>;

    /// A short stable description of the model and decoding settings, part of the cache key
    /// fingerprint (changing the model must not serve old reports). E.g. `whisper:base:int8:beam5`.
    fn fingerprint(&self) -> String;

    /// Whether the backend is ready (model loaded / remote configured), for `/health`.
    fn health(&self) -> AsrHealth {
        AsrHealth::ok(self.fingerprint())
    }
}

/// Whether a recogniser can take work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AsrStatus {
    /// Ready.
    Ok,
    /// The model files are there and being loaded.
    Loading,
    /// No usable model: analyses fail with 503 until it is fetched.
    Unavailable,
}

/// The recogniser's part of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AsrHealth {
    pub status: AsrStatus,
    /// The backend's fingerprint (model and decoding settings) once it is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// A remote (OpenAI-compatible) server does the work.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
    /// In-process decoders and how many of them are busy now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy: Option<usize>,
    /// Where the model is expected (while loading or missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_dir: Option<String>,
    /// What an operator can do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
}

impl AsrHealth {
    /// A ready backend described by its fingerprint.
    pub fn ok(backend: String) -> Self {
        Self {
            status: AsrStatus::Ok,
            backend: Some(backend),
            remote: false,
            workers: None,
            busy: None,
            model_dir: None,
            hint: None,
        }
    }

    /// No backend yet: `status` says whether it is loading or missing from `model_dir`.
    pub fn not_ready(status: AsrStatus, model_dir: String) -> Self {
        Self {
            status,
            backend: None,
            model_dir: Some(model_dir),
            hint: (status == AsrStatus::Unavailable).then_some("run scripts/fetch-model.sh"),
            ..Self::ok(String::new())
        }
    }
}
