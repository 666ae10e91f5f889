//! The analysis report: the JSON `POST /analyze` returns and the cache stores.
//!
//! Field names are a public contract; bump [`ANALYSIS_VERSION`] when their meaning changes
//! (it is part of every cache key, so old entries are never served for a new version).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::audio::AudioInfo;
use crate::domain::feedback::Feedback;
use crate::domain::metrics::{Advice, Metrics, TimelineEvent};
use crate::domain::transcript::{Segment, Word};

/// Version of the analysis (algorithms + report schema). 2: hedges, repetitions, vocabulary,
/// sentences; filler context rules that use word gaps and VAD pauses.
pub const ANALYSIS_VERSION: u32 = 2;

/// The full report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// Content hash of the upload (hex BLAKE3).
    pub id: String,
    pub analysis_version: u32,
    /// Language of the recording (detected or requested), ISO 639-1.
    pub language: String,
    pub audio: AudioInfo,
    pub transcript: TranscriptView,
    pub metrics: Metrics,
    pub advice: Vec<Advice>,
    pub timeline: Vec<TimelineEvent>,
    pub feedback: Feedback,
    /// Where this answer came from; filled per response, not stored.
    pub cache: CacheInfo,
    pub warnings: Vec<String>,
    /// Milliseconds per pipeline stage: decode, vad, asr, analysis, feedback, total.
    pub timings_ms: BTreeMap<String, u64>,
}

/// The transcript as reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TranscriptView {
    pub text: String,
    /// How sure the recogniser is of the report's `language`: 1 when it was given, otherwise the
    /// detected language's share of the probability over the served languages
    /// (`WHISPER_LANGUAGES`); 0 when nothing was heard. Absent in reports cached before it existed.
    #[serde(default)]
    #[schema(required = true)]
    pub language_probability: f64,
    /// Segments; their per-word arrays are dropped with `detail=summary`.
    pub segments: Vec<Segment>,
    /// All words in time order; empty with `detail=summary`.
    pub words: Vec<Word>,
}

/// Cache provenance of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CacheInfo {
    pub hit: bool,
    /// `memory` | `redis` | `disk` on a hit, null on a fresh analysis.
    pub tier: Option<crate::cache::TierName>,
}

impl Report {
    /// The report without per-word arrays (`detail=summary`).
    pub fn summary(mut self) -> Self {
        self.transcript.words.clear();
        for s in &mut self.transcript.segments {
            s.words.clear();
        }
        self
    }
}
