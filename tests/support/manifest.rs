//! The corpus manifest's times as the domain analysis takes them, for the tests that run the
//! analysis on the manifest's text instead of a recogniser's (`domain_corpus`,
//! `fillers_unpunctuated`).

use std::collections::BTreeMap;

use serde_json::Value;
use speech_coach::domain::metrics::Metrics;
use speech_coach::domain::signal::{Span, SpeechMap};
use speech_coach::domain::transcript::Transcript;
use speech_coach::domain::{Analysis, AnalysisConfig, AnalysisInput, analyze};

/// A number of a manifest object; panics naming the key when it is missing.
pub fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Speech from `start` to `end` with the `gaps` (sorted) that lie inside it cut out.
pub fn speech_between(start: f64, end: f64, gaps: &[Span]) -> Vec<Span> {
    let mut speech = Vec::new();
    let mut cursor = start;
    for g in gaps
        .iter()
        .filter(|g| g.start_sec >= start && g.end_sec <= end)
    {
        speech.push(Span::new(cursor, g.start_sec));
        cursor = g.end_sec;
    }
    speech.push(Span::new(cursor, end));
    speech
}

/// The speech map of a manifest entry: its duration, with `speech` and `pauses`.
pub fn speech_map(entry: &Value, speech: Vec<Span>, pauses: Vec<Span>) -> SpeechMap {
    SpeechMap {
        duration_sec: num(entry, "duration_s"),
        speech,
        pauses,
        ..Default::default()
    }
}

/// The domain analysis of `transcript` over `speech` without samples (no pitch, no loudness),
/// at 16 kHz.
pub fn analyze_words(
    transcript: &Transcript,
    speech: &SpeechMap,
    language: &str,
    cfg: &AnalysisConfig,
) -> Analysis {
    analyze(
        &AnalysisInput {
            transcript,
            speech,
            samples: &[],
            sample_rate: 16_000,
            language,
        },
        cfg,
    )
}

/// The fillers the manifest says an entry holds: word → count.
pub fn expected_fillers(entry: &Value) -> BTreeMap<String, usize> {
    entry["fillers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap() as usize))
        .collect()
}

/// The fillers an analysis found: word → count.
pub fn found_fillers(m: &Metrics) -> BTreeMap<String, usize> {
    m.fillers
        .items
        .iter()
        .map(|i| (i.word.clone(), i.count))
        .collect()
}
