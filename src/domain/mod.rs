//! Pure, deterministic speech analysis. No IO, no tokio, no HTTP.
//!
//! Layout:
//! - `transcript`, `signal`: the inputs (what was said, where the voice is).
//! - `metrics`: the output types (the report's `metrics`, `advice`, `timeline`).
//! - `feedback`: the coach's feedback schema.
//! - `analysis`: [`analyze`], its [`AnalysisConfig`] and [`AnalysisInput`]: the entry point.
//! - `labels`: the closed label sets of the report (pace flags, pause classes…) as enums.
//! - `tokens`: Unicode-aware words (ё→е, hyphens, apostrophes, numbers) and syllable counts.
//! - `lexicon`: the filler lexicon (`config/fillers.toml`).
//! - `fillers`: transcript and acoustic fillers, bursts.
//! - `boundaries`: where words part: punctuation, word gaps and VAD pauses; sentences.
//! - `word_lexicon`: hedges, weak words, stop-words, doubles (`config/words.toml`).
//! - `stems`: a small Russian/English suffix stemmer.
//! - `hedges`: hedges and weak words, the worst sentence.
//! - `repetitions`: immediate repeats, false starts, over-used phrases.
//! - `vocabulary`: MATTR on stems against the language's band, most used content words.
//! - `sentences`: sentence lengths, the longest ones.
//! - `pace`: sliding pace windows against the comfortable band.
//! - `pauses`: VAD pauses, their classes, and the phrases between them.
//! - `prosody`: YIN pitch track, monotone stretches, loudness.
//! - `text`: language, plural forms, number and time formatting, bilingual text tables: what
//!   the advice and the coach's texts (rules, prompt) write through.
//! - `advice`: grounded advice in the recording's language.
//! - `progress`: tracked metrics over rehearsals: baseline, deltas, personal best, goal status.
//! - `timeline`: typed events for UIs.
//! - `stats`: NaN-free numeric helpers.
pub mod advice;
pub mod analysis;
pub mod boundaries;
pub mod feedback;
pub mod fillers;
pub mod hedges;
pub mod labels;
pub mod lexicon;
pub mod metrics;
pub mod pace;
pub mod pauses;
pub mod progress;
pub mod prosody;
pub mod repetitions;
pub mod sentences;
pub mod signal;
pub mod stats;
pub mod stems;
pub mod text;
pub mod timeline;
pub mod tokens;
pub mod transcript;
pub mod vocabulary;
pub mod word_lexicon;

pub use analysis::{Analysis, AnalysisConfig, AnalysisInput, analyze};
pub use lexicon::{Lexicon, LexiconError};
