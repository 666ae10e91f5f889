//! What the recogniser heard: words with times, grouped in segments.
//!
//! Produced by any [`crate::asr::Transcriber`], consumed by the analysis. Times are seconds on the
//! timeline of the original recording (not of a chunk).

use serde::{Deserialize, Serialize};

/// One recognised word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Word {
    /// The word as the recogniser wrote it, trimmed of surrounding whitespace (punctuation kept).
    pub word: String,
    /// Start of the word, seconds from the start of the recording.
    pub start_sec: f64,
    /// End of the word, seconds from the start of the recording (>= `start_sec`).
    pub end_sec: f64,
    /// The recogniser's confidence in this word, 0..=1.
    pub probability: f64,
}

/// A run of words the recogniser emitted together (roughly a sentence or a clause).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    pub start_sec: f64,
    pub end_sec: f64,
    pub text: String,
    /// Mean token log-probability of the segment (Whisper's `avg_logprob`); 0 when unknown.
    #[serde(default)]
    #[schema(required = true)]
    pub avg_logprob: f64,
    /// Probability that the window held no speech; 0 when unknown.
    #[serde(default)]
    #[schema(required = true)]
    pub no_speech_prob: f64,
    /// The segment's words, in time order.
    pub words: Vec<Word>,
}

/// A whole transcript.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// ISO 639-1 code of the spoken language (detected or forced), e.g. `ru`, `en`.
    pub language: String,
    /// Probability of the detected language (1.0 when forced).
    pub language_probability: f64,
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// All words of all segments in time order.
    pub fn words(&self) -> impl Iterator<Item = &Word> {
        self.segments.iter().flat_map(|s| s.words.iter())
    }

    /// The full text: segment texts joined by single spaces.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .segments
            .iter()
            .map(|s| s.text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        parts.join(" ")
    }
}
