//! Audio in: decode any common recording to 16 kHz mono f32, and find speech and silence.
//!
//! Layout:
//! - `probe`: detect the container/codec from the bytes (magic numbers), never from the name;
//!   validate WAV headers before a decoder trusts them.
//! - `decode`: symphonia decoding, downmix, truncation/limit checks; [`decode_file`] is the entry.
//! - `ffmpeg`: the subprocess fallback (timeout, resource limits) for what symphonia can't read.
//! - `mp4`: AAC encoder priming from the MP4 edit list (symphonia does not apply it).
//! - `resample`: streaming rubato resampler to [`TARGET_SAMPLE_RATE`].
//! - `vad`: frame-level voice activity detection, smoothed into speech segments and pauses.
//!
//! Everything here is blocking CPU work: call it from `spawn_blocking` or a dedicated pool.
//!
//! Error → HTTP mapping (the lead's `ApiError`): `Empty` 400 `empty_file`; `Unsupported` and
//! `UnsupportedCodec` 415 `unsupported_media_type`; `Corrupt` 422 `corrupt_audio`;
//! `InvalidHeader` 422 `invalid_audio_header`; `NoSamples` 422 `no_audio`; `TooLong` 413
//! `audio_too_long`; `Timeout` 422 `decode_timeout`; `Io` 500.

pub mod decode;
pub mod ffmpeg;
mod mp4;
pub mod probe;
pub mod resample;
pub mod vad;

pub use decode::decode_file;
pub use ffmpeg::find_ffmpeg;

use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Rate of all decoded output.
pub const TARGET_SAMPLE_RATE: u32 = 16_000;

/// Facts about the input file, reported to the user as `audio` in the report.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AudioInfo {
    /// Container detected from the bytes: `wav`, `mp3`, `flac`, `ogg`, `mp4`, `mkv`, …
    pub container: String,
    /// Codec of the audio track: `pcm_s16le`, `mp3`, `aac`, `vorbis`, `opus`, `flac`, …
    pub codec: String,
    /// Sample rate of the source track, Hz.
    pub sample_rate: u32,
    /// Channel count of the source track.
    pub channels: u16,
    /// Duration of the decoded audio, seconds.
    pub duration_sec: f64,
    /// Which decoder read it: `symphonia` or `ffmpeg`.
    pub decoder: String,
}

/// Decoded audio: mono f32 at [`TARGET_SAMPLE_RATE`], plus facts and warnings.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    /// The recording, mono, at [`TARGET_SAMPLE_RATE`], in [-1, 1]. The one copy every later
    /// step (VAD, ASR, voice metrics) reads from.
    pub samples: Vec<f32>,
    /// Facts about the input file.
    pub info: AudioInfo,
    /// Non-fatal problems, e.g. `truncated input: analysed first 2.0 s`.
    pub warnings: Vec<String>,
}

/// Limits applied while decoding.
#[derive(Debug, Clone)]
pub struct DecodeLimits {
    /// Longest accepted recording, seconds (`MAX_AUDIO_DURATION_SEC`, default 3600). Decoding
    /// stops as soon as it is exceeded.
    pub max_duration_sec: f64,
    /// Wall-clock budget for decoding one file, checked between packets and enforced on the
    /// ffmpeg child by killing it (`DECODE_TIMEOUT_SEC`, default 120 s).
    pub timeout: Duration,
    /// Path of an ffmpeg binary for containers symphonia cannot read; `None` = no fallback
    /// (`FFMPEG_PATH`; default: none — [`find_ffmpeg`] looks it up on `PATH` if wanted).
    pub ffmpeg_path: Option<PathBuf>,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_duration_sec: 3600.0,
            timeout: Duration::from_secs(120),
            ffmpeg_path: None,
        }
    }
}

/// Why an input was refused. Each maps to one documented 4xx.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// Zero bytes (400 `empty_file`).
    #[error("the file is empty")]
    Empty,
    /// Not audio/video at all (415 `unsupported_media_type`); `detected` names what it looks like.
    #[error("not an audio or video file (detected: {detected})")]
    Unsupported { detected: String },
    /// A known container/codec we cannot decode here (415), e.g. Opus without ffmpeg.
    #[error("cannot decode {what}: {hint}")]
    UnsupportedCodec { what: String, hint: String },
    /// Broken beyond use (422 `corrupt_audio`).
    #[error("corrupt audio: {0}")]
    Corrupt(String),
    /// Header values that cannot be real: zero channels, absurd rate (422 `invalid_audio_header`).
    #[error("invalid audio header: {0}")]
    InvalidHeader(String),
    /// Longer than `MAX_AUDIO_DURATION_SEC` (413 `audio_too_long`).
    #[error("recording is {duration_sec:.0} s long; the limit is {max_sec:.0} s")]
    TooLong { duration_sec: f64, max_sec: f64 },
    /// Decoding took longer than its budget (422 `decode_timeout`).
    #[error("decoding took longer than {0:?}")]
    Timeout(Duration),
    /// A well-formed file with no samples (422 `no_audio`).
    #[error("the file contains no audio samples")]
    NoSamples,
    /// Local IO failure (500: our problem, not the user's).
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

impl AudioError {
    /// Stable machine-readable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::Empty => "empty_file",
            AudioError::Unsupported { .. } | AudioError::UnsupportedCodec { .. } => {
                "unsupported_media_type"
            }
            AudioError::Corrupt(_) => "corrupt_audio",
            AudioError::InvalidHeader(_) => "invalid_audio_header",
            AudioError::TooLong { .. } => "audio_too_long",
            AudioError::Timeout(_) => "decode_timeout",
            AudioError::NoSamples => "no_audio",
            AudioError::Io(_) => "internal_error",
        }
    }

    /// HTTP status the error maps to (documented in the module docs).
    pub fn http_status(&self) -> u16 {
        match self {
            AudioError::Empty => 400,
            AudioError::Unsupported { .. } | AudioError::UnsupportedCodec { .. } => 415,
            AudioError::TooLong { .. } => 413,
            AudioError::Corrupt(_)
            | AudioError::InvalidHeader(_)
            | AudioError::Timeout(_)
            | AudioError::NoSamples => 422,
            AudioError::Io(_) => 500,
        }
    }
}
