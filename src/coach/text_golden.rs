//! Golden test of every text the service writes: the advice (with its history items), the
//! rule-based feedback and the chat prompt, in Russian and English, for a set of reports that
//! together reach every rule. The expected output is checked in (`tests/golden/text.txt`), so
//! a refactoring of the text builders that changes one byte of what a speaker reads fails here.
//!
//! After an intended wording change: `UPDATE_GOLDEN=1 cargo test --lib text_golden`, then
//! review the diff of `tests/golden/text.txt` like code.

use std::fmt::Write as _;

use super::prompt::{chat_request, history_facts};
use super::test_support::sample_report;
use super::{FallbackReason, Report, rule_based_feedback};
use crate::domain::AnalysisConfig;
use crate::domain::advice::{advise, history_advice};
use crate::domain::metrics::*;
use crate::domain::progress::{MetricValues, Sample, progress};
use crate::domain::signal::Span;
use crate::domain::text::Lang;
use crate::domain::tokens::Token;
use crate::domain::transcript::Segment;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/text.txt");

/// One report to render: its metrics and what `advise` needs besides them.
struct Scenario {
    name: &'static str,
    metrics: Metrics,
    spans: Vec<Span>,
    tokens: Vec<Token>,
    duration_sec: f64,
}

/// A report label from its JSON name (the test data reads as the report does).
fn label<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(serde_json::Value::from(name)).expect("a known label")
}

fn token(norm: &str, start: f64) -> Token {
    Token {
        norm: norm.into(),
        ..Token::test_word(norm, start, start + 0.3)
    }
}

fn tref(start_sec: f64, end_sec: f64) -> TimeRef {
    TimeRef {
        start_sec,
        end_sec,
        label: None,
    }
}

fn pause(
    start: f64,
    dur: f64,
    class: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> PauseEvent {
    PauseEvent {
        start_sec: start,
        end_sec: start + dur,
        duration_sec: dur,
        class: label(class),
        word_before: before.map(Into::into),
        word_after: after.map(Into::into),
    }
}

fn window(start: f64, wpm: f64, flag: &str) -> PaceWindow {
    PaceWindow {
        start_sec: start,
        end_sec: start + 30.0,
        wpm,
        flag: label(flag),
    }
}

fn quote(text: &str, start: f64, words: usize) -> Quote {
    Quote {
        text: text.into(),
        start_sec: start,
        end_sec: start + 12.0,
        words,
    }
}

fn band() -> PaceBand {
    PaceBand {
        min_wpm: 120.0,
        max_wpm: 160.0,
    }
}

/// Everything wrong at once, with moments past the hour: fast pace (warning), many fillers with
/// bursts and acoustic ones, awkward and long pauses, long flat phrases, monotone stretches,
/// hedges (warning, with a worst sentence over the quote limit), repeats, over-used phrases,
/// a narrow vocabulary and long sentences.
fn everything_wrong() -> Scenario {
    let long_text = "Наверное, это, может быть, в принципе сработает, если мы, как бы, все вместе \
                     постараемся и, может быть, доделаем то, что, наверное, давно уже пора было \
                     доделать к этому сроку.";
    let metrics = Metrics {
        words_total: 900,
        unique_words: 400,
        words_per_minute: 200.0,
        words_per_minute_total: 190.0,
        articulation_rate_wpm: 210.4,
        speaking_time_sec: 3900.0,
        voiced_time_sec: 3950.0,
        speaking_ratio: 0.9,
        pace_band_wpm: band(),
        pace_windows: vec![
            window(100.0, 80.0, "too_slow"),
            window(1000.0, 140.0, "ok"),
            window(3690.0, 210.0, "too_fast"),
            window(3705.0, 220.0, "too_fast"),
        ],
        fillers: FillerMetrics {
            total: 60,
            from_transcript: 55,
            acoustic: 5,
            per_100_words: 6.67,
            per_minute: 0.92,
            items: vec![
                FillerCount {
                    word: "ну".into(),
                    count: 30,
                },
                FillerCount {
                    word: "как бы".into(),
                    count: 20,
                },
                FillerCount {
                    word: "э-э".into(),
                    count: 5,
                },
                FillerCount {
                    word: "типа".into(),
                    count: 5,
                },
            ],
            events: vec![
                FillerEvent {
                    text: Some("ну".into()),
                    start_sec: 3700.5,
                    end_sec: 3700.8,
                    source: label("transcript"),
                    confidence: 0.9,
                },
                FillerEvent {
                    text: None,
                    start_sec: 3702.0,
                    end_sec: 3702.6,
                    source: label("acoustic"),
                    confidence: 0.5,
                },
                FillerEvent {
                    text: None,
                    start_sec: 12.0,
                    end_sec: 12.4,
                    source: label("acoustic"),
                    confidence: 0.8,
                },
            ],
            bursts: vec![
                FillerBurst {
                    start_sec: 200.0,
                    end_sec: 204.0,
                    count: 3,
                },
                FillerBurst {
                    start_sec: 3700.0,
                    end_sec: 3706.4,
                    count: 5,
                },
            ],
            disfluencies: 73,
            disfluencies_per_100_words: 8.11,
        },
        pauses: PauseMetrics {
            count: 12,
            avg_sec: 1.43,
            median_sec: 0.8,
            max_sec: 7.3,
            total_sec: 16.8,
            classes: PauseClasses {
                natural: 6,
                deliberate: 3,
                long: 2,
                awkward: 1,
            },
            events: vec![
                pause(50.0, 1.5, "deliberate", Some("раз"), Some("два")),
                pause(1200.0, 3.1, "long", None, Some("дальше")),
                pause(3700.0, 7.3, "awkward", Some("итак"), Some("ну")),
                pause(3725.0, 4.0, "long", None, None),
            ],
        },
        phrases: PhraseMetrics {
            count: 20,
            avg_words: 18.5,
            min_words: 3,
            max_words: 60,
            avg_duration_sec: 8.0,
            min_duration_sec: 1.2,
            max_duration_sec: 25.3,
            total_duration_sec: 160.0,
            length_class: Some(label("long")),
            rhythm_variation: 0.15,
        },
        voice: VoiceMetrics {
            pitch_median_hz: Some(180.4),
            pitch_range_semitones: Some(3.0),
            pitch_std_semitones: Some(1.0),
            monotone_stretches: vec![
                MonotoneStretch {
                    start_sec: 3661.0,
                    end_sec: 3690.0,
                    pitch_std_semitones: 0.7,
                },
                MonotoneStretch {
                    start_sec: 100.0,
                    end_sec: 120.0,
                    pitch_std_semitones: 0.9,
                },
            ],
            loudness_variation_db: 5.5,
            loudness_mean_dbfs: -20.0,
        },
        hedges: HedgeMetrics {
            total: 40,
            hedges: 30,
            weak_words: 10,
            per_minute: 0.62,
            per_100_words: 4.44,
            items: vec![
                HedgeCount {
                    text: "наверное".into(),
                    kind: label("hedge"),
                    count: 12,
                },
                HedgeCount {
                    text: "как бы".into(),
                    kind: label("hedge"),
                    count: 8,
                },
                HedgeCount {
                    text: "очень".into(),
                    kind: label("weak"),
                    count: 5,
                },
                HedgeCount {
                    text: "просто".into(),
                    kind: label("weak"),
                    count: 4,
                },
            ],
            events: (0..6)
                .map(|i| HedgeEvent {
                    text: "наверное".into(),
                    kind: label("hedge"),
                    start_sec: 3600.0 + 10.0 * i as f64,
                    end_sec: 3600.5 + 10.0 * i as f64,
                })
                .collect(),
            worst_sentence: Some(quote(long_text, 3701.0, 30)),
            worst_sentence_count: 4,
        },
        repetitions: RepetitionMetrics {
            repeats: 10,
            restarts: 3,
            per_100_words: 1.44,
            events: vec![
                RepetitionEvent {
                    kind: label("repeat"),
                    text: "мы мы".into(),
                    start_sec: 3662.0,
                    end_sec: 3662.6,
                },
                RepetitionEvent {
                    kind: label("restart"),
                    text: "в общем, мы решили".into(),
                    start_sec: 30.0,
                    end_sec: 31.5,
                },
            ],
            overused_phrases: vec![
                OverusedPhrase {
                    text: "нового проекта".into(),
                    count: 6,
                    occurrences: (0..6)
                        .map(|i| tref(3665.0 + 20.0 * i as f64, 3666.0))
                        .collect(),
                },
                OverusedPhrase {
                    text: "наша команда".into(),
                    count: 4,
                    occurrences: vec![tref(10.0, 11.0)],
                },
                OverusedPhrase {
                    text: "в рамках".into(),
                    count: 3,
                    occurrences: vec![tref(20.0, 21.0)],
                },
                OverusedPhrase {
                    text: "по сути".into(),
                    count: 3,
                    occurrences: vec![tref(40.0, 41.0)],
                },
            ],
            overused_min_count: 3,
        },
        vocabulary: VocabularyMetrics {
            mattr: 0.523,
            mattr_window: 50,
            reference_band: [0.6, 0.75],
            flag: label("low"),
            distinct_stems: 210,
            top_words: ["проект", "команда", "задача", "срок", "результат", "план"]
                .iter()
                .enumerate()
                .map(|(i, w)| WordCount {
                    word: (*w).into(),
                    count: 20 - i,
                })
                .collect(),
        },
        sentences: SentenceMetrics {
            count: 41,
            avg_words: 22.3,
            max_words: 75,
            long_words: 30,
            long_count: 8,
            long_share: 0.2,
            longest: vec![
                quote(long_text, 3680.0, 75),
                quote("Короткое длинное предложение.", 500.0, 40),
                quote("Не такое длинное.", 600.0, 25),
            ],
        },
        ..Default::default()
    };
    // Phrases between pauses: a 40-word one, a 20-word one and a 3-word one.
    let spans = vec![
        Span::new(0.0, 15.0),
        Span::new(16.0, 25.0),
        Span::new(26.0, 28.0),
    ];
    let mut tokens: Vec<Token> = (0..40)
        .map(|i| token("слово", 0.2 + 0.35 * i as f64))
        .collect();
    tokens.extend((0..20).map(|i| token("слово", 16.1 + 0.4 * i as f64)));
    tokens.extend((0..3).map(|i| token("слово", 26.1 + 0.5 * i as f64)));
    Scenario {
        name: "everything_wrong",
        metrics,
        spans,
        tokens,
        duration_sec: 3950.0,
    }
}

/// Slow (warning), no fillers, long pauses only (no words around them), choppy phrases, a narrow
/// voice; hedges and repeats under their thresholds.
fn slow_and_quiet() -> Scenario {
    let metrics = Metrics {
        words_total: 151,
        unique_words: 100,
        words_per_minute: 80.0,
        articulation_rate_wpm: 101.0,
        speaking_time_sec: 113.0,
        voiced_time_sec: 100.0,
        speaking_ratio: 0.7,
        pace_band_wpm: band(),
        pace_windows: vec![window(0.0, 78.0, "too_slow")],
        pauses: PauseMetrics {
            count: 4,
            avg_sec: 2.9,
            median_sec: 3.0,
            max_sec: 3.4,
            total_sec: 11.6,
            classes: PauseClasses {
                long: 4,
                ..Default::default()
            },
            events: vec![
                pause(10.0, 3.0, "long", None, None),
                pause(30.0, 3.4, "long", None, Some("next")),
                pause(50.0, 2.6, "long", None, None),
                pause(70.0, 2.6, "long", None, None),
            ],
        },
        phrases: PhraseMetrics {
            count: 10,
            avg_words: 3.2,
            min_words: 1,
            max_words: 6,
            avg_duration_sec: 1.5,
            min_duration_sec: 0.5,
            max_duration_sec: 3.0,
            total_duration_sec: 15.0,
            length_class: Some(label("short")),
            rhythm_variation: 0.45,
        },
        voice: VoiceMetrics {
            pitch_median_hz: Some(120.0),
            pitch_range_semitones: Some(3.5),
            pitch_std_semitones: Some(0.9),
            monotone_stretches: vec![],
            loudness_variation_db: 3.0,
            loudness_mean_dbfs: -30.0,
        },
        hedges: HedgeMetrics {
            total: 2,
            hedges: 2,
            per_100_words: 1.3,
            ..Default::default()
        },
        repetitions: RepetitionMetrics {
            repeats: 1,
            per_100_words: 0.7,
            ..Default::default()
        },
        vocabulary: VocabularyMetrics {
            mattr: 0.7,
            mattr_window: 50,
            reference_band: [0.6, 0.75],
            flag: label("ok"),
            ..Default::default()
        },
        sentences: SentenceMetrics {
            count: 12,
            avg_words: 12.6,
            max_words: 20,
            long_words: 30,
            ..Default::default()
        },
        ..Default::default()
    };
    Scenario {
        name: "slow_and_quiet",
        metrics,
        spans: vec![Span::new(0.0, 100.0)],
        tokens: vec![],
        duration_sec: 120.0,
    }
}

/// A little fast (suggestion), fillers worth a suggestion but none by word (acoustic only), no
/// pause in 40 s, balanced but flat phrases, a lively voice, hedges worth a suggestion, one
/// over-used phrase, one long sentence.
fn a_little_fast() -> Scenario {
    let metrics = Metrics {
        words_total: 101,
        unique_words: 70,
        words_per_minute: 165.0,
        articulation_rate_wpm: 170.0,
        speaking_time_sec: 40.0,
        voiced_time_sec: 39.0,
        speaking_ratio: 0.95,
        pace_band_wpm: band(),
        pace_windows: vec![window(0.0, 165.0, "too_fast")],
        fillers: FillerMetrics {
            total: 3,
            acoustic: 3,
            per_100_words: 2.97,
            per_minute: 4.5,
            ..Default::default()
        },
        pauses: PauseMetrics::default(),
        phrases: PhraseMetrics {
            count: 6,
            avg_words: 9.0,
            min_words: 8,
            max_words: 10,
            avg_duration_sec: 6.0,
            min_duration_sec: 5.8,
            max_duration_sec: 6.3,
            total_duration_sec: 36.0,
            length_class: Some(label("balanced")),
            rhythm_variation: 0.04,
        },
        voice: VoiceMetrics {
            pitch_median_hz: Some(210.0),
            pitch_range_semitones: Some(9.2),
            pitch_std_semitones: Some(2.5),
            monotone_stretches: vec![],
            loudness_variation_db: 8.0,
            loudness_mean_dbfs: -18.0,
        },
        hedges: HedgeMetrics {
            total: 3,
            hedges: 1,
            weak_words: 2,
            per_minute: 4.5,
            per_100_words: 2.97,
            items: vec![HedgeCount {
                text: "I think".into(),
                kind: label("hedge"),
                count: 1,
            }],
            events: vec![],
            worst_sentence: None,
            worst_sentence_count: 0,
        },
        repetitions: RepetitionMetrics {
            overused_phrases: vec![OverusedPhrase {
                text: "the new project".into(),
                count: 3,
                occurrences: vec![tref(1.0, 2.0), tref(11.0, 12.0), tref(21.0, 22.0)],
            }],
            overused_min_count: 3,
            ..Default::default()
        },
        sentences: SentenceMetrics {
            count: 5,
            avg_words: 20.2,
            max_words: 35,
            long_words: 30,
            long_count: 1,
            long_share: 0.2,
            longest: vec![quote("One sentence that goes on and on.", 3.0, 35)],
        },
        ..Default::default()
    };
    Scenario {
        name: "a_little_fast",
        metrics,
        spans: vec![Span::new(0.0, 40.0)],
        tokens: vec![],
        duration_sec: 41.0,
    }
}

/// A little slow (suggestion), one filler by word, deliberate pauses, long phrases, no pitch.
fn a_little_slow() -> Scenario {
    let metrics = Metrics {
        words_total: 1,
        unique_words: 1,
        words_per_minute: 110.0,
        articulation_rate_wpm: 115.0,
        speaking_time_sec: 61.0,
        voiced_time_sec: 55.0,
        speaking_ratio: 0.8,
        pace_band_wpm: band(),
        fillers: FillerMetrics {
            total: 1,
            from_transcript: 1,
            per_100_words: 1.0,
            per_minute: 1.0,
            items: vec![FillerCount {
                word: "um".into(),
                count: 1,
            }],
            ..Default::default()
        },
        pauses: PauseMetrics {
            count: 3,
            avg_sec: 1.8,
            median_sec: 1.8,
            max_sec: 2.0,
            total_sec: 5.4,
            classes: PauseClasses {
                deliberate: 3,
                ..Default::default()
            },
            events: vec![pause(5.0, 1.8, "deliberate", Some("so"), None)],
        },
        phrases: PhraseMetrics {
            count: 2,
            avg_words: 21.0,
            max_words: 30,
            max_duration_sec: 12.0,
            length_class: Some(label("long")),
            rhythm_variation: 0.3,
            ..Default::default()
        },
        ..Default::default()
    };
    Scenario {
        name: "a_little_slow",
        metrics,
        spans: vec![Span::new(0.0, 30.0), Span::new(31.0, 61.0)],
        tokens: (0..42)
            .map(|i| token("word", 0.5 + 1.4 * i as f64))
            .collect(),
        duration_sec: 62.0,
    }
}

/// A comfortable average with a stretch that drifts (slow first), few fillers, deliberate pauses,
/// a lively voice: nothing to work on.
fn comfortable_with_a_drift(first_flag: &'static str, name: &'static str) -> Scenario {
    let other = if first_flag == "too_slow" {
        "too_fast"
    } else {
        "too_slow"
    };
    let metrics = Metrics {
        words_total: 302,
        unique_words: 180,
        words_per_minute: 140.0,
        articulation_rate_wpm: 150.0,
        speaking_time_sec: 129.0,
        voiced_time_sec: 120.0,
        speaking_ratio: 0.85,
        pace_band_wpm: band(),
        pace_windows: vec![
            window(0.0, 140.0, "ok"),
            window(15.0, 104.0, first_flag),
            window(30.0, 100.0, first_flag),
            window(90.0, 175.0, other),
        ],
        fillers: FillerMetrics {
            total: 2,
            from_transcript: 2,
            per_100_words: 0.66,
            per_minute: 0.9,
            items: vec![FillerCount {
                word: "well".into(),
                count: 2,
            }],
            ..Default::default()
        },
        pauses: PauseMetrics {
            count: 5,
            avg_sec: 1.2,
            median_sec: 1.1,
            max_sec: 1.9,
            total_sec: 6.0,
            classes: PauseClasses {
                natural: 3,
                deliberate: 2,
                ..Default::default()
            },
            events: vec![],
        },
        phrases: PhraseMetrics {
            count: 21,
            avg_words: 11.0,
            length_class: Some(label("balanced")),
            rhythm_variation: 0.5,
            ..Default::default()
        },
        voice: VoiceMetrics {
            pitch_median_hz: Some(150.0),
            pitch_range_semitones: Some(6.0),
            pitch_std_semitones: Some(2.0),
            monotone_stretches: vec![],
            loudness_variation_db: 7.0,
            loudness_mean_dbfs: -21.0,
        },
        ..Default::default()
    };
    Scenario {
        name,
        metrics,
        spans: vec![Span::new(0.0, 129.0)],
        tokens: vec![],
        duration_sec: 130.0,
    }
}

/// No pace band configured: the rules say nothing about pace.
fn no_band() -> Scenario {
    let mut s = comfortable_with_a_drift("too_fast", "no_band");
    s.metrics.pace_band_wpm = PaceBand::default();
    s.metrics.voice.pitch_range_semitones = Some(9.5);
    s
}

fn no_speech(voiced: f64, name: &'static str) -> Scenario {
    Scenario {
        name,
        metrics: Metrics {
            voiced_time_sec: voiced,
            ..Default::default()
        },
        spans: vec![],
        tokens: vec![],
        duration_sec: 12.34,
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        everything_wrong(),
        slow_and_quiet(),
        a_little_fast(),
        a_little_slow(),
        comfortable_with_a_drift("too_slow", "drift_slow"),
        comfortable_with_a_drift("too_fast", "drift_fast"),
        no_band(),
        no_speech(4.56, "no_words_but_voice"),
        no_speech(0.0, "silence"),
    ]
}

fn report(s: &Scenario, language: &str) -> Report {
    let mut r = sample_report(language);
    r.metrics = s.metrics.clone();
    r.audio.duration_sec = s.duration_sec;
    r.advice = advise(
        &s.metrics,
        &s.spans,
        &s.tokens,
        s.duration_sec,
        language,
        &AnalysisConfig::default(),
    );
    r.transcript.segments.push(Segment {
        start_sec: 3700.2,
        end_sec: 3705.0,
        text: "  ".into(),
        avg_logprob: 0.0,
        no_speech_prob: 0.0,
        words: vec![],
    });
    r.transcript.segments.push(Segment {
        start_sec: 3725.0,
        end_sec: 3730.0,
        text: " Итак, ну, переходим к плану.".into(),
        avg_logprob: 0.0,
        no_speech_prob: 0.0,
        words: vec![],
    });
    r
}

fn render_advice(out: &mut String, advice: &[Advice]) {
    for a in advice {
        let _ = writeln!(out, "[{}/{}] {}", a.category, a.severity, a.title);
        let _ = writeln!(out, "  observation: {}", a.observation);
        let _ = writeln!(out, "  recommendation: {}", a.recommendation);
        for e in &a.evidence {
            let _ = writeln!(
                out,
                "  evidence: {} {} {:?}",
                e.start_sec, e.end_sec, e.label
            );
        }
    }
}

fn render_list(out: &mut String, name: &str, items: &[String]) {
    for i in items {
        let _ = writeln!(out, "{name}: {i}");
    }
}

fn render_report(out: &mut String, r: &Report, reason: FallbackReason) {
    let _ = writeln!(out, "--- advice");
    render_advice(out, &r.advice);
    let f = rule_based_feedback(r, reason);
    let _ = writeln!(out, "--- feedback ({reason:?})");
    let _ = writeln!(out, "overall: {}", f.overall_assessment);
    render_list(out, "strength", &f.strengths);
    render_list(out, "area", &f.areas_for_improvement);
    render_list(out, "recommendation", &f.recommendations);
    render_list(out, "insight", &f.key_insights);
    let _ = writeln!(out, "confidence: {}", f.confidence);
    let req = chat_request(r, "GigaChat", 0.3, 900);
    let _ = writeln!(out, "--- prompt user");
    let _ = write!(out, "{}", req.messages[1].content);
}

fn sample(i: usize, values: &[(&str, f64)]) -> Sample {
    let mut v = MetricValues::new();
    for (k, x) in values {
        v.insert((*k).into(), *x);
    }
    Sample {
        rehearsal_id: format!("r{i}"),
        recorded_at_ms: i as i64,
        values: v,
    }
}

/// Rehearsal histories reaching every history rule: better, worse, unchanged, one earlier
/// rehearsal, a metric without a label.
fn histories() -> Vec<Vec<Sample>> {
    let five: Vec<Sample> = (0..5)
        .map(|i| {
            let last = i == 4;
            sample(
                i,
                &[
                    (
                        "fillers_per_minute",
                        if last { 3.1 } else { 7.0 + i as f64 * 0.2 },
                    ),
                    ("pace_wpm", if last { 190.0 } else { 150.0 }),
                    ("pace_band_min_wpm", 120.0),
                    ("pace_band_max_wpm", 160.0),
                    ("longest_pause_sec", 2.5),
                    ("filler_clusters", if last { 4.0 } else { 1.0 }),
                    ("awkward_pauses", if last { 0.0 } else { 2.0 }),
                    ("pitch_spread_semitones", if last { 7.5 } else { 5.25 }),
                    ("monotone_stretches", 1.0),
                    ("speaking_ratio", if last { 0.9 } else { 0.7 }),
                ],
            )
        })
        .collect();
    let two = vec![
        sample(
            0,
            &[("fillers_per_minute", 2.0), ("monotone_stretches", 3.0)],
        ),
        sample(
            1,
            &[("fillers_per_minute", 2.5), ("monotone_stretches", 1.0)],
        ),
    ];
    vec![five, two]
}

fn render_all() -> String {
    let mut out = String::new();
    for lang in ["ru", "en"] {
        for s in scenarios() {
            let _ = writeln!(out, "===== {} / {lang}", s.name);
            render_report(&mut out, &report(&s, lang), FallbackReason::Timeout);
        }
        let _ = writeln!(out, "===== every fallback reason / {lang}");
        let r = report(&comfortable_with_a_drift("too_fast", "reasons"), lang);
        for reason in FallbackReason::ALL {
            let _ = writeln!(
                out,
                "{}",
                rule_based_feedback(&r, reason).overall_assessment
            );
        }
        let l = if lang == "ru" { Lang::Ru } else { Lang::En };
        let req = chat_request(&r, "GigaChat", 0.3, 900);
        let _ = writeln!(out, "===== system prompt / {lang}");
        let _ = writeln!(out, "{}", req.messages[0].content);
        for (i, h) in histories().iter().enumerate() {
            let trends = progress(h, 5);
            let _ = writeln!(out, "===== history {i} / {lang}");
            render_advice(&mut out, &history_advice(&trends, lang));
            let _ = write!(out, "{}", history_facts(&trends, l));
        }
    }
    out
}

#[test]
fn every_text_matches_the_checked_in_golden_file() {
    let actual = render_all();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(GOLDEN)
        .expect("tests/golden/text.txt is missing: run with UPDATE_GOLDEN=1 to create it");
    if actual != expected {
        let (line, (a, e)) = actual
            .lines()
            .zip(expected.lines())
            .enumerate()
            .find(|(_, (a, e))| a != e)
            .unwrap_or((
                actual.lines().count().min(expected.lines().count()),
                ("<end>", "<end>"),
            ));
        panic!(
            "text differs from tests/golden/text.txt at line {}:\n  expected: {e}\n  actual:   {a}\n\
             (UPDATE_GOLDEN=1 rewrites the file after an intended change)",
            line + 1
        );
    }
}
