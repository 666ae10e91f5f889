//! The signal facts the analysis stands on: where the voice is, how loud each frame is.
//!
//! Filled by the pipeline from the audio module's decoder and VAD; the domain never decodes.

use serde::{Deserialize, Serialize};

/// A stretch of time, seconds from the start of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub start_sec: f64,
    pub end_sec: f64,
}

impl Span {
    pub fn new(start_sec: f64, end_sec: f64) -> Self {
        Self { start_sec, end_sec }
    }
    pub fn duration_sec(&self) -> f64 {
        (self.end_sec - self.start_sec).max(0.0)
    }
}

/// Speech/silence map of a recording plus per-frame levels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpeechMap {
    /// Length of the whole recording, seconds.
    pub duration_sec: f64,
    /// Speech segments after smoothing, in time order, non-overlapping.
    pub speech: Vec<Span>,
    /// Pauses between speech segments (leading/trailing silence excluded), each >= the minimum pause.
    pub pauses: Vec<Span>,
    /// Frame hop of `frame_rms_db` / `frame_is_speech`, seconds.
    pub frame_sec: f64,
    /// RMS level of each frame in dBFS.
    pub frame_rms_db: Vec<f32>,
    /// Raw per-frame VAD decision (before smoothing).
    pub frame_is_speech: Vec<bool>,
}
