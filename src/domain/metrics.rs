//! The measured numbers of a talk: the `metrics` object of the report.
//!
//! Field names are a public contract (clients, the web page and tests rely on them): add freely,
//! rename nothing without bumping `ANALYSIS_VERSION`.

use super::labels::{
    AdviceCategory, FillerSource, PaceFlag, PauseClass, PhraseLength, RepetitionKind, Severity,
    TimelineKind, VocabularyFlag, WordKind,
};
use serde::{Deserialize, Serialize};

/// All metrics of one recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metrics {
    /// Words in the transcript (fillers included).
    pub words_total: usize,
    /// Distinct words (case-folded, ё→е).
    pub unique_words: usize,
    /// Headline pace: words per minute of speaking time.
    pub words_per_minute: f64,
    /// Words per minute of the whole recording.
    pub words_per_minute_total: f64,
    /// Words per minute of pure articulation (speech segments only, pauses excluded).
    pub articulation_rate_wpm: f64,
    /// Syllables per second of speaking time.
    pub syllables_per_sec: f64,
    /// Time from the first to the last speech segment, pauses inside it included, seconds.
    pub speaking_time_sec: f64,
    /// Time the VAD marked as voice, seconds.
    pub voiced_time_sec: f64,
    /// `voiced_time_sec / duration`, 0..=1.
    pub speaking_ratio: f64,
    /// The comfortable pace band used for judgements (from config, per language).
    pub pace_band_wpm: PaceBand,
    pub pace_windows: Vec<PaceWindow>,
    pub fillers: FillerMetrics,
    pub pauses: PauseMetrics,
    pub phrases: PhraseMetrics,
    pub voice: VoiceMetrics,
    /// Hedges ("I think", "наверное") and weak words ("very", "очень").
    #[serde(default)]
    #[schema(required = true)]
    pub hedges: HedgeMetrics,
    /// Immediate repeats, false starts and over-used phrases.
    #[serde(default)]
    #[schema(required = true)]
    pub repetitions: RepetitionMetrics,
    /// Vocabulary range (MATTR) and the most used content words.
    #[serde(default)]
    #[schema(required = true)]
    pub vocabulary: VocabularyMetrics,
    /// Sentence lengths.
    #[serde(default)]
    #[schema(required = true)]
    pub sentences: SentenceMetrics,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaceBand {
    pub min_wpm: f64,
    pub max_wpm: f64,
}

/// Pace in one sliding window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaceWindow {
    pub start_sec: f64,
    pub end_sec: f64,
    pub wpm: f64,
    /// Against the band.
    pub flag: PaceFlag,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FillerMetrics {
    /// Transcript + acoustic fillers.
    pub total: usize,
    pub from_transcript: usize,
    pub acoustic: usize,
    pub per_100_words: f64,
    pub per_minute: f64,
    /// Per-filler counts (transcript fillers), most frequent first.
    pub items: Vec<FillerCount>,
    pub events: Vec<FillerEvent>,
    pub bursts: Vec<FillerBurst>,
    /// Disfluencies: fillers (`total`) plus immediate repeats and false starts
    /// (`repetitions.repeats + repetitions.restarts`).
    #[serde(default)]
    #[schema(required = true)]
    pub disfluencies: usize,
    /// `disfluencies` per 100 words.
    #[serde(default)]
    #[schema(required = true)]
    pub disfluencies_per_100_words: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FillerCount {
    pub word: String,
    pub count: usize,
}

/// One filler occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FillerEvent {
    /// The filler as heard (lexicon form, e.g. `как бы`); `null` for acoustic fillers.
    pub text: Option<String>,
    pub start_sec: f64,
    pub end_sec: f64,
    pub source: FillerSource,
    /// 0..=1: certain for hesitation sounds, lower for ambiguous discourse words.
    pub confidence: f64,
}

/// Several fillers close together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FillerBurst {
    pub start_sec: f64,
    pub end_sec: f64,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PauseMetrics {
    pub count: usize,
    pub avg_sec: f64,
    pub median_sec: f64,
    pub max_sec: f64,
    pub total_sec: f64,
    /// Counts per class: natural, deliberate, long, awkward.
    pub classes: PauseClasses,
    pub events: Vec<PauseEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PauseClasses {
    pub natural: usize,
    pub deliberate: usize,
    pub long: usize,
    pub awkward: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PauseEvent {
    pub start_sec: f64,
    pub end_sec: f64,
    pub duration_sec: f64,
    pub class: PauseClass,
    /// Up to a few words before and after (long and awkward pauses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhraseMetrics {
    pub count: usize,
    pub avg_words: f64,
    pub min_words: usize,
    pub max_words: usize,
    pub avg_duration_sec: f64,
    pub min_duration_sec: f64,
    pub max_duration_sec: f64,
    /// Sum of the phrase durations, seconds: speaking time less the pauses of at least
    /// `MIN_PHRASE_PAUSE_SEC` (what a corpus manifest calls `expected_speaking_time_s`).
    #[serde(default)]
    #[schema(required = true)]
    pub total_duration_sec: f64,
    /// Phrases on average; `None` when there are no phrases.
    #[serde(default)]
    pub length_class: Option<PhraseLength>,
    /// Coefficient of variation of phrase durations (0 = metronomic).
    pub rhythm_variation: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoiceMetrics {
    /// Median pitch of voiced frames, Hz (null when no voiced frames).
    pub pitch_median_hz: Option<f64>,
    /// Spread of pitch (e.g. 10th–90th percentile), semitones.
    pub pitch_range_semitones: Option<f64>,
    /// Standard deviation of pitch, semitones.
    pub pitch_std_semitones: Option<f64>,
    pub monotone_stretches: Vec<MonotoneStretch>,
    /// Spread of loudness over speech frames (e.g. 10th–90th percentile), dB.
    pub loudness_variation_db: f64,
    pub loudness_mean_dbfs: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonotoneStretch {
    pub start_sec: f64,
    pub end_sec: f64,
    pub pitch_std_semitones: f64,
}

/// One piece of advice, grounded in a measured number or moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Advice {
    pub category: AdviceCategory,
    pub severity: Severity,
    pub title: String,
    /// What was measured, with the number.
    pub observation: String,
    /// What to do about it.
    pub recommendation: String,
    /// Moments on the timeline this advice refers to.
    pub evidence: Vec<TimeRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeRef {
    pub start_sec: f64,
    pub end_sec: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One event for a UI timeline: `type` is `speech` | `filler` | `pause` | `pace_window` |
/// `monotone` | `filler_burst`; extra fields depend on the type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    #[serde(rename = "type")]
    pub kind: TimelineKind,
    pub start_sec: f64,
    pub end_sec: f64,
    /// Type-specific details (filler text and source, pause class, wpm…).
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// A quoted stretch of the transcript with its time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quote {
    /// The words as the recogniser wrote them.
    pub text: String,
    pub start_sec: f64,
    pub end_sec: f64,
    /// Words in the quote.
    pub words: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HedgeMetrics {
    /// Hedges and weak words together.
    pub total: usize,
    pub hedges: usize,
    pub weak_words: usize,
    /// `total` per minute of speaking time.
    pub per_minute: f64,
    pub per_100_words: f64,
    /// Per-entry counts, most frequent first.
    pub items: Vec<HedgeCount>,
    pub events: Vec<HedgeEvent>,
    /// The sentence with the most hedges and weak words (at least two), null when none has.
    pub worst_sentence: Option<Quote>,
    /// How many hedges and weak words `worst_sentence` holds.
    pub worst_sentence_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HedgeCount {
    /// Lexicon form, e.g. `i think`, `наверное`.
    pub text: String,
    pub kind: WordKind,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HedgeEvent {
    pub text: String,
    pub kind: WordKind,
    pub start_sec: f64,
    pub end_sec: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RepetitionMetrics {
    /// Immediate repeats of a word or phrase ("the the", "we decided we decided").
    pub repeats: usize,
    /// False starts: an abandoned beginning started again ("we went… we decided", "pro- project").
    pub restarts: usize,
    /// `repeats + restarts` per 100 words.
    pub per_100_words: f64,
    pub events: Vec<RepetitionEvent>,
    /// Phrases of 2–4 content words (stop-words left out, stems compared) said at least
    /// `min_count` times, most frequent first.
    pub overused_phrases: Vec<OverusedPhrase>,
    /// The repeat threshold used for `overused_phrases`.
    pub overused_min_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RepetitionEvent {
    pub kind: RepetitionKind,
    /// The words said twice or abandoned and what followed, as written.
    pub text: String,
    pub start_sec: f64,
    pub end_sec: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OverusedPhrase {
    /// The most frequent written form (lower case).
    pub text: String,
    pub count: usize,
    /// Each occurrence.
    pub occurrences: Vec<TimeRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VocabularyMetrics {
    /// Moving-average type-token ratio over stems, window `mattr_window` (the plain type-token
    /// ratio when the talk is shorter than one window); 0..=1.
    pub mattr: f64,
    pub mattr_window: usize,
    /// Usual MATTR of speech in this language, from the word lexicon.
    pub reference_band: [f64; 2],
    /// Against the band; `too_short` under one window of words.
    pub flag: VocabularyFlag,
    /// Distinct stems.
    pub distinct_stems: usize,
    /// Most used content words (stop-words and fillers left out), most frequent first.
    pub top_words: Vec<WordCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WordCount {
    /// The most frequent written form of the stem.
    pub word: String,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SentenceMetrics {
    pub count: usize,
    pub avg_words: f64,
    pub max_words: usize,
    /// Sentences of more than this many words are `long`.
    pub long_words: usize,
    pub long_count: usize,
    /// `long_count / count`, 0..=1.
    pub long_share: f64,
    /// The longest sentences, longest first (at most five).
    pub longest: Vec<Quote>,
}
