//! Pure, deterministic speech analysis. No IO, no tokio, no HTTP.
//!
//! Layout:
//! - `transcript`, `signal`: the inputs (what was said, where the voice is).
//! - `metrics`: the output types (the report's `metrics`, `advice`, `timeline`).
//! - `feedback`: the coach's feedback schema.
//! - `analysis`: [`analyze`], its [`AnalysisConfig`] and [`AnalysisInput`]: the entry point.
//! - `tokens`: Unicode-aware words (ё→е, hyphens, apostrophes, numbers) and syllable counts.
//! - `lexicon`: the filler lexicon (`config/fillers.toml`).
//! - `fillers`: transcript and acoustic fillers, bursts.
//! - `pace`: sliding pace windows against the comfortable band.
//! - `pauses`: VAD pauses, their classes, and the phrases between them.
//! - `prosody`: YIN pitch track, monotone stretches, loudness.
//! - `advice`: grounded advice in the recording's language.
//! - `progress`: tracked metrics over rehearsals: baseline, deltas, personal best, goal status.
//! - `timeline`: typed events for UIs.
//! - `stats`: NaN-free numeric helpers.
pub mod advice;
pub mod analysis;
pub mod feedback;
pub mod fillers;
pub mod lexicon;
pub mod metrics;
pub mod pace;
pub mod pauses;
pub mod progress;
pub mod prosody;
pub mod signal;
pub mod stats;
pub mod timeline;
pub mod tokens;
pub mod transcript;

pub use analysis::{Analysis, AnalysisConfig, AnalysisInput, analyze};
pub use lexicon::{Lexicon, LexiconError};
