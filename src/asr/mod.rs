//! Speech recognition behind one narrow trait.
//!
//! Layout:
//! - `whisper`: in-process CTranslate2 Whisper (feature `whisper`, the default backend).
//! - `openai`: a remote OpenAI-compatible `/v1/audio/transcriptions` server.
//! - `chunking`: cutting 16 kHz samples into <= 30 s windows at silences (VAD-driven).
//! - `features`: Whisper's log-mel features (feature `whisper`).
//! - `loop_guard`: detecting and cutting repetition loops in decoded text.
//! - `settings`: [`WhisperConfig`], compiled with or without the `whisper` feature.

use async_trait::async_trait;
use std::sync::Arc;

pub mod chunking;
#[cfg(feature = "whisper")]
pub mod features;
pub mod lazy;
pub mod loop_guard;
pub mod openai;
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
    fn health(&self) -> serde_json::Value {
        serde_json::json!({"status": "ok", "backend": self.fingerprint()})
    }
}
