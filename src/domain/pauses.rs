//! Pauses (from the VAD, never from gaps between recognised words: Whisper's word times drift
//! around silences) and the phrases between them.

use super::analysis::AnalysisConfig;
use super::labels::{PauseClass, PhraseLength};
use super::metrics::{PauseClasses, PauseEvent, PauseMetrics, PhraseMetrics};
use super::signal::{Span, SpeechMap};
use super::stats::{mean, median, ms, ratio, round, std_dev};
use super::tokens::Token;

/// Words quoted on each side of a long pause.
const CONTEXT_WORDS: usize = 3;

/// Class of a pause by its length.
pub fn classify(duration_sec: f64, cfg: &AnalysisConfig) -> PauseClass {
    if duration_sec < cfg.pause_natural_max_sec {
        PauseClass::Natural
    } else if duration_sec < cfg.pause_deliberate_max_sec {
        PauseClass::Deliberate
    } else if duration_sec < cfg.pause_long_max_sec {
        PauseClass::Long
    } else {
        PauseClass::Awkward
    }
}

/// Pauses of the VAD map, sanitised (finite, positive, in time order).
pub fn clean_pauses(map: &SpeechMap) -> Vec<Span> {
    let mut p: Vec<Span> = map
        .pauses
        .iter()
        .filter(|s| s.start_sec.is_finite() && s.end_sec.is_finite() && s.end_sec > s.start_sec)
        .copied()
        .collect();
    p.sort_by(|a, b| a.start_sec.total_cmp(&b.start_sec));
    p
}

fn words_before(tokens: &[Token], t: f64, tol: f64) -> Option<String> {
    let end = tokens.iter().rposition(|w| w.mid_sec() <= t + tol)?;
    let start = end.saturating_sub(CONTEXT_WORDS - 1);
    Some(join(&tokens[start..=end]))
}

fn words_after(tokens: &[Token], t: f64, tol: f64) -> Option<String> {
    let start = tokens.iter().position(|w| w.mid_sec() >= t - tol)?;
    let end = (start + CONTEXT_WORDS).min(tokens.len());
    Some(join(&tokens[start..end]))
}

fn join(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.raw.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Pause statistics and events. Long and awkward pauses carry the words around them.
pub fn pause_metrics(map: &SpeechMap, tokens: &[Token], cfg: &AnalysisConfig) -> PauseMetrics {
    let pauses = clean_pauses(map);
    let durations: Vec<f64> = pauses.iter().map(Span::duration_sec).collect();
    let mut classes = PauseClasses::default();
    let tol = cfg.word_timing_tolerance_sec;
    let events = pauses
        .iter()
        .map(|p| {
            let class = classify(p.duration_sec(), cfg);
            match class {
                PauseClass::Natural => classes.natural += 1,
                PauseClass::Deliberate => classes.deliberate += 1,
                PauseClass::Long => classes.long += 1,
                PauseClass::Awkward => classes.awkward += 1,
            }
            let quote = matches!(class, PauseClass::Long | PauseClass::Awkward);
            PauseEvent {
                start_sec: ms(p.start_sec),
                end_sec: ms(p.end_sec),
                duration_sec: ms(p.duration_sec()),
                class,
                word_before: quote
                    .then(|| words_before(tokens, p.start_sec, tol))
                    .flatten(),
                word_after: quote.then(|| words_after(tokens, p.end_sec, tol)).flatten(),
            }
        })
        .collect();
    PauseMetrics {
        count: pauses.len(),
        avg_sec: ms(mean(&durations)),
        median_sec: ms(median(&durations)),
        max_sec: ms(durations.iter().copied().fold(0.0, f64::max)),
        total_sec: ms(durations.iter().sum()),
        classes,
        events,
    }
}

/// Phrases: speech spans joined across gaps shorter than `min_phrase_pause_sec`.
pub fn phrase_spans(spans: &[Span], min_pause_sec: f64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start_sec - last.end_sec < min_pause_sec => {
                last.end_sec = last.end_sec.max(s.end_sec);
            }
            _ => out.push(*s),
        }
    }
    out
}

/// Phrases with the number of words in each. Each word goes to the phrase holding its midpoint,
/// or the nearest one (word times drift a little past the VAD's edges).
pub fn phrases_with_words(
    spans: &[Span],
    tokens: &[Token],
    cfg: &AnalysisConfig,
) -> Vec<(Span, usize)> {
    let phrases = phrase_spans(spans, cfg.min_phrase_pause_sec);
    let mut words = vec![0usize; phrases.len()];
    if phrases.is_empty() {
        return Vec::new();
    }
    for t in tokens {
        let m = t.mid_sec();
        let distance = |p: &Span| {
            if m < p.start_sec {
                p.start_sec - m
            } else if m > p.end_sec {
                m - p.end_sec
            } else {
                0.0
            }
        };
        let nearest = (0..phrases.len())
            .min_by(|&a, &b| distance(&phrases[a]).total_cmp(&distance(&phrases[b])))
            .unwrap_or(0);
        words[nearest] += 1;
    }
    phrases.into_iter().zip(words).collect()
}

/// Phrase statistics.
pub fn phrase_metrics(spans: &[Span], tokens: &[Token], cfg: &AnalysisConfig) -> PhraseMetrics {
    let phrases = phrases_with_words(spans, tokens, cfg);
    if phrases.is_empty() {
        return PhraseMetrics::default();
    }
    let durations: Vec<f64> = phrases.iter().map(|(p, _)| p.duration_sec()).collect();
    let word_counts: Vec<f64> = phrases.iter().map(|&(_, w)| w as f64).collect();
    let avg_words = mean(&word_counts);
    let length_class = if avg_words < cfg.phrase_short_words {
        PhraseLength::Short
    } else if avg_words > cfg.phrase_long_words {
        PhraseLength::Long
    } else {
        PhraseLength::Balanced
    };
    PhraseMetrics {
        count: phrases.len(),
        avg_words: round(avg_words, 2),
        min_words: phrases.iter().map(|&(_, w)| w).min().unwrap_or(0),
        max_words: phrases.iter().map(|&(_, w)| w).max().unwrap_or(0),
        avg_duration_sec: ms(mean(&durations)),
        min_duration_sec: ms(durations.iter().copied().fold(f64::INFINITY, f64::min)),
        max_duration_sec: ms(durations.iter().copied().fold(0.0, f64::max)),
        total_duration_sec: ms(durations.iter().sum()),
        length_class: Some(length_class),
        rhythm_variation: round(ratio(std_dev(&durations), mean(&durations)), 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(word: &str, start: f64, end: f64) -> Token {
        Token::test_word(word, start, end)
    }

    #[test]
    fn classes_and_statistics() {
        let cfg = AnalysisConfig::default();
        let map = SpeechMap {
            duration_sec: 30.0,
            pauses: vec![
                Span::new(20.0, 26.0), // awkward 6 s (out of order on purpose)
                Span::new(1.0, 1.5),   // natural 0.5
                Span::new(3.0, 4.0),   // deliberate 1.0 (boundary belongs to the upper class)
                Span::new(6.0, 9.0),   // long 3.0
                Span::new(f64::NAN, 2.0),
            ],
            ..Default::default()
        };
        let tokens = [
            token("a", 0.0, 1.0),
            token("b", 1.5, 3.0),
            token("c", 4.0, 6.0),
            token("d", 9.0, 10.0),
            token("e", 26.1, 27.0),
        ];
        let p = pause_metrics(&map, &tokens, &cfg);
        assert_eq!(p.count, 4);
        assert_eq!(
            p.classes,
            PauseClasses {
                natural: 1,
                deliberate: 1,
                long: 1,
                awkward: 1
            }
        );
        assert_eq!(p.total_sec, 10.5);
        assert_eq!(p.avg_sec, 2.625);
        assert_eq!(p.median_sec, 2.0);
        assert_eq!(p.max_sec, 6.0);
        assert_eq!(p.events[0].start_sec, 1.0, "sorted by time");
        assert_eq!(
            p.events[0].word_before, None,
            "natural pauses carry no quote"
        );
        let long = &p.events[2];
        assert_eq!(long.class, PauseClass::Long);
        assert_eq!(long.word_before.as_deref(), Some("a b c"));
        assert_eq!(long.word_after.as_deref(), Some("d e"));
    }

    #[test]
    fn no_pauses_is_all_zero() {
        let p = pause_metrics(&SpeechMap::default(), &[], &AnalysisConfig::default());
        assert_eq!(p, PauseMetrics::default());
    }

    #[test]
    fn phrases_join_short_gaps() {
        let cfg = AnalysisConfig::default(); // min phrase pause 0.5
        let spans = [
            Span::new(0.0, 2.0),
            Span::new(2.3, 4.0),
            Span::new(5.0, 6.0),
        ];
        let tokens: Vec<Token> = [0.5, 1.5, 2.5, 3.5, 5.5, 6.1]
            .iter()
            .map(|&s| token("w", s - 0.1, s + 0.1))
            .collect();
        let m = phrase_metrics(&spans, &tokens, &cfg);
        assert_eq!(m.count, 2);
        assert_eq!(
            (m.min_words, m.max_words),
            (2, 4),
            "the word just after 6.0 s joins the last phrase"
        );
        assert_eq!(m.avg_words, 3.0);
        assert_eq!(m.total_duration_sec, 5.0);
        assert_eq!(
            (m.min_duration_sec, m.max_duration_sec, m.avg_duration_sec),
            (1.0, 4.0, 2.5)
        );
        assert_eq!(m.rhythm_variation, 0.6); // std 1.5 / mean 2.5
        assert_eq!(m.length_class, Some(PhraseLength::Short));
    }

    #[test]
    fn no_speech_no_phrases() {
        assert_eq!(
            phrase_metrics(&[], &[], &AnalysisConfig::default()),
            PhraseMetrics::default()
        );
    }
}
