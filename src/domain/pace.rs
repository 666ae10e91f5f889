//! Pace over time: sliding windows of words per minute, each judged against the comfortable band.

use super::analysis::AnalysisConfig;
use super::labels::PaceFlag;
use super::metrics::{PaceBand, PaceWindow};
use super::signal::Span;
use super::stats::{is_positive, ms, ratio, round};
use super::tokens::Token;

/// Window bounds over `[start, end]`: full windows every `step` from `start`, plus a last window
/// aligned to `end` so the tail is covered by a full-length window too. A talk shorter than one
/// window gets a single window over all of it.
fn window_bounds(start: f64, end: f64, window: f64, step: f64) -> Vec<(f64, f64)> {
    if end <= start || !end.is_finite() || !is_positive(window) || !is_positive(step) {
        return Vec::new();
    }
    if end - start <= window {
        return vec![(start, end)];
    }
    let mut out = Vec::new();
    let mut k = 0usize;
    loop {
        let s = start + step * k as f64;
        if s + window >= end {
            break;
        }
        out.push((s, s + window));
        k += 1;
    }
    let last = (end - window, end);
    if out.last().is_none_or(|&(s, _)| last.0 - s > 1e-9) {
        out.push(last);
    }
    out
}

/// Pace windows over the speech (first speech start → last speech end). A word belongs to the
/// window holding its midpoint; a window's pace is its words over its whole length (pauses in it
/// slow it down, as a listener hears it).
pub fn pace_windows(
    tokens: &[Token],
    spans: &[Span],
    band: PaceBand,
    cfg: &AnalysisConfig,
) -> Vec<PaceWindow> {
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
        return Vec::new();
    };
    window_bounds(
        first.start_sec,
        last.end_sec,
        cfg.pace_window_sec,
        cfg.pace_step_sec,
    )
    .into_iter()
    .map(|(s, e)| {
        let words = tokens
            .iter()
            .filter(|t| {
                let m = t.mid_sec();
                // The last window is closed at its end so a word ending exactly there counts.
                m >= s && (m < e || (m <= e && e >= last.end_sec))
            })
            .count();
        let wpm = round(ratio(words as f64, (e - s) / 60.0), 1);
        let flag = if wpm > band.max_wpm {
            PaceFlag::TooFast
        } else if wpm < band.min_wpm {
            PaceFlag::TooSlow
        } else {
            PaceFlag::Ok
        };
        PaceWindow {
            start_sec: ms(s),
            end_sec: ms(e),
            wpm,
            flag,
        }
    })
    .collect()
}

/// Runs of consecutive windows with the same non-`ok` flag, merged into stretches
/// `(start, end, flag, mean wpm)`: what the advice points at.
pub fn flagged_stretches(windows: &[PaceWindow]) -> Vec<(f64, f64, PaceFlag, f64)> {
    let mut out: Vec<(f64, f64, PaceFlag, Vec<f64>)> = Vec::new();
    for w in windows.iter().filter(|w| w.flag != PaceFlag::Ok) {
        match out.last_mut() {
            Some((_, end, flag, wpms)) if *flag == w.flag && w.start_sec <= *end => {
                *end = end.max(w.end_sec);
                wpms.push(w.wpm);
            }
            _ => out.push((w.start_sec, w.end_sec, w.flag, vec![w.wpm])),
        }
    }
    out.into_iter()
        .map(|(s, e, f, w)| (s, e, f, round(super::stats::mean(&w), 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(start: f64, end: f64) -> Token {
        Token::test_word("w", start, end)
    }

    #[test]
    fn bounds_cover_the_tail_with_full_windows() {
        assert_eq!(window_bounds(0.0, 10.0, 30.0, 15.0), [(0.0, 10.0)]);
        assert_eq!(window_bounds(0.0, 30.0, 30.0, 15.0), [(0.0, 30.0)]);
        assert_eq!(
            window_bounds(0.0, 50.0, 30.0, 15.0),
            [(0.0, 30.0), (15.0, 45.0), (20.0, 50.0)]
        );
        assert_eq!(
            window_bounds(0.0, 45.0, 30.0, 15.0),
            [(0.0, 30.0), (15.0, 45.0)]
        );
        assert!(window_bounds(5.0, 5.0, 30.0, 15.0).is_empty());
    }

    #[test]
    fn words_per_window_and_flags() {
        let cfg = AnalysisConfig::default();
        let band = cfg.pace_band("ru");
        // 0–30 s: 100 words in the first 20 s (fast), then a 25 s pause straddling the window
        // border, then 10 words in 45–60 s.
        let mut tokens: Vec<Token> = (0..100)
            .map(|i| token(i as f64 * 0.2, i as f64 * 0.2 + 0.2))
            .collect();
        tokens.extend((0..10).map(|i| token(45.0 + i as f64 * 1.5, 45.0 + i as f64 * 1.5 + 1.0)));
        let spans = [Span::new(0.0, 20.0), Span::new(45.0, 60.0)];
        let w = pace_windows(&tokens, &spans, band, &cfg);
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].start_sec, w[0].end_sec, w[0].wpm, w[0].flag.as_str()),
            (0.0, 30.0, 200.0, "too_fast")
        );
        // 15–45: words with midpoints 15.1..19.9 = 25 words → 50 wpm.
        assert_eq!((w[1].wpm, w[1].flag.as_str()), (50.0, "too_slow"));
        // 30–60: the 10 late words → 20 wpm; the last word (mid 59.0) counts.
        assert_eq!(w[2].wpm, 20.0);
        let stretches = flagged_stretches(&w);
        assert_eq!(stretches.len(), 2);
        assert_eq!(
            (stretches[1].0, stretches[1].1, stretches[1].2.as_str()),
            (15.0, 60.0, "too_slow")
        );
    }

    #[test]
    fn empty_input_gives_no_windows() {
        let cfg = AnalysisConfig::default();
        assert!(pace_windows(&[], &[], cfg.pace_band("en"), &cfg).is_empty());
    }
}
