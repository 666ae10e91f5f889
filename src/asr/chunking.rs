//! Cutting a recording into Whisper windows (<= 30 s) at silences found by the VAD.
//!
//! Whisper reads 30 s at a time. Cutting blindly every 30 s splits words and feeds the model
//! long stretches of silence, where it invents text. Instead each window starts and ends inside
//! a silence (or, for one unbroken stretch of speech longer than a window, at its quietest
//! 20 ms), packs as many whole speech spans as fit, and skips audio with no speech at all. The
//! window's start is the offset that maps Whisper's times back to the recording.

use crate::domain::signal::Span;

/// One stretch of samples to transcribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First sample (inclusive) on the recording's timeline.
    pub start: usize,
    /// Last sample (exclusive).
    pub end: usize,
}

impl Window {
    /// Start time in seconds, the offset added to every time Whisper reports for this window.
    pub fn start_sec(&self, sample_rate: u32) -> f64 {
        self.start as f64 / f64::from(sample_rate)
    }
    /// Length in seconds.
    pub fn duration_sec(&self, sample_rate: u32) -> f64 {
        (self.end - self.start) as f64 / f64::from(sample_rate)
    }
}

/// How windows are cut.
#[derive(Debug, Clone)]
pub struct ChunkingConfig {
    /// Longest window, seconds. Whisper's input is 30 s; default 30.
    pub max_window_sec: f64,
    /// Silence kept around speech, seconds (onsets and decays the VAD may clip). Default 0.2.
    pub pad_sec: f64,
    /// Speech spans shorter than this are dropped as clicks, seconds. Default 0.1.
    pub min_speech_sec: f64,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        Self {
            max_window_sec: 30.0,
            pad_sec: 0.2,
            min_speech_sec: 0.1,
        }
    }
}

/// Windows covering every speech span, in time order, non-overlapping, each at most
/// `max_window_sec` long. No speech → no windows.
pub fn plan_windows(
    samples: &[f32],
    sample_rate: u32,
    speech: &[Span],
    cfg: &ChunkingConfig,
) -> Vec<Window> {
    let sr = f64::from(sample_rate);
    let total = samples.len();
    let max_len = (cfg.max_window_sec * sr) as usize;
    let pad = (cfg.pad_sec * sr) as usize;
    // Room for speech inside one window once both pads are added.
    let max_speech = max_len.saturating_sub(2 * pad).max(1);
    let merged = speech_samples(total, sample_rate, speech, cfg.min_speech_sec);

    // Unbroken speech longer than a window: cut at the quietest moment of its second half.
    let mut pieces = Vec::with_capacity(merged.len());
    for (mut a, b) in merged {
        while b - a > max_speech {
            let cut = quietest_point(samples, a + max_speech / 2, a + max_speech, sample_rate);
            pieces.push((a, cut));
            a = cut;
        }
        pieces.push((a, b));
    }

    // Greedy packing of whole pieces; padding never reaches past the middle of a gap.
    let mut windows = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let first = pieces[i];
        let mut last = i;
        while last + 1 < pieces.len() && pieces[last + 1].1 - first.0 <= max_speech {
            last += 1;
        }
        let prev_limit = if i == 0 {
            0
        } else {
            (pieces[i - 1].1 + first.0).div_ceil(2)
        };
        let next_limit = if last + 1 < pieces.len() {
            (pieces[last].1 + pieces[last + 1].0) / 2
        } else {
            total
        };
        let start = first.0.saturating_sub(pad).max(prev_limit);
        let end = (pieces[last].1 + pad).min(next_limit).min(total);
        windows.push(Window { start, end });
        i = last + 1;
    }
    windows
}

/// The window that starts at sample `from` (a seek point: where the model's last complete
/// timestamp left the previous window, or that window's end) and packs the speech after it up
/// to `to`, cut the way [`plan_windows`] cuts. `None` when no speech is left before `to`.
///
/// Only the speech within two window lengths of the first speech after `from` is looked at:
/// it decides the first window, and a long talk is not planned again at every seek.
pub fn next_window(
    samples: &[f32],
    sample_rate: u32,
    speech: &[Span],
    from: usize,
    to: usize,
    cfg: &ChunkingConfig,
) -> Option<Window> {
    let sr = f64::from(sample_rate);
    let to = to.min(samples.len());
    if from >= to {
        return None;
    }
    let (from_sec, to_sec) = (from as f64 / sr, to as f64 / sr);
    let first = speech
        .iter()
        .find(|s| s.end_sec > from_sec && s.start_sec < to_sec)?;
    let horizon_sec = to_sec.min(first.start_sec.max(from_sec) + 2.0 * cfg.max_window_sec);
    let clipped: Vec<Span> = speech
        .iter()
        .filter(|s| s.end_sec > from_sec && s.start_sec < horizon_sec)
        .map(|s| Span::new(s.start_sec.max(from_sec), s.end_sec.min(horizon_sec)))
        .collect();
    let horizon = ((horizon_sec * sr).round() as usize).clamp(from, to);
    let w = *plan_windows(&samples[..horizon], sample_rate, &clipped, cfg).first()?;
    let start = w.start.max(from);
    (w.end > start).then_some(Window { start, end: w.end })
}

/// The VAD's `speech` spans (seconds) as sample ranges of a recording of `total` samples:
/// clamped to it, sorted, overlapping ones merged, and those shorter than `min_speech_sec`
/// (clicks) dropped. What both the windows and the packed timeline ([`super::packing`]) are
/// cut from.
pub(crate) fn speech_samples(
    total: usize,
    sample_rate: u32,
    speech: &[Span],
    min_speech_sec: f64,
) -> Vec<(usize, usize)> {
    let sr = f64::from(sample_rate);
    let to_sample = |sec: f64| ((sec * sr).round().max(0.0) as usize).min(total);
    let mut spans: Vec<(usize, usize)> = speech
        .iter()
        .map(|s| (to_sample(s.start_sec), to_sample(s.end_sec)))
        .filter(|(a, b)| b > a)
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let min_len = (min_speech_sec * sr) as usize;
    merged.retain(|(a, b)| b - a >= min_len);
    merged
}

/// Start of the quietest 20 ms frame in `[from, to)`: the least bad place to cut speech.
fn quietest_point(samples: &[f32], from: usize, to: usize, sample_rate: u32) -> usize {
    let frame = (sample_rate as usize / 50).max(1);
    let to = to.min(samples.len());
    let mut best = (f32::INFINITY, to);
    let mut pos = from;
    while pos + frame <= to {
        let energy: f32 = samples[pos..pos + frame].iter().map(|x| x * x).sum();
        if energy < best.0 {
            best = (energy, pos + frame / 2);
        }
        pos += frame / 2;
    }
    best.1.max(from + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: u32 = 16_000;

    fn span(a: f64, b: f64) -> Span {
        Span::new(a, b)
    }

    #[test]
    fn no_speech_means_no_windows() {
        let samples = vec![0.0; SR as usize * 5];
        assert!(plan_windows(&samples, SR, &[], &ChunkingConfig::default()).is_empty());
        // A click shorter than the minimum is not speech either.
        let click = [span(1.0, 1.05)];
        assert!(plan_windows(&samples, SR, &click, &ChunkingConfig::default()).is_empty());
    }

    #[test]
    fn short_talk_is_one_padded_window() {
        let samples = vec![0.0; SR as usize * 12];
        let w = plan_windows(
            &samples,
            SR,
            &[span(0.5, 2.0), span(2.8, 11.5)],
            &ChunkingConfig::default(),
        );
        assert_eq!(
            w,
            vec![Window {
                start: 4_800,
                end: 187_200
            }]
        );
        assert!((w[0].start_sec(SR) - 0.3).abs() < 1e-9);
    }

    #[test]
    fn long_talk_is_cut_in_silences_and_windows_fit() {
        // Ten 8 s phrases separated by 1 s pauses: 89 s.
        let spans: Vec<Span> = (0..10)
            .map(|i| span(i as f64 * 9.0, i as f64 * 9.0 + 8.0))
            .collect();
        let samples = vec![0.0; SR as usize * 90];
        let cfg = ChunkingConfig::default();
        let w = plan_windows(&samples, SR, &spans, &cfg);
        assert!(w.len() >= 3);
        for pair in w.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{pair:?}");
        }
        for win in &w {
            assert!(win.duration_sec(SR) <= cfg.max_window_sec + 1e-9);
            // Each boundary lies in a pause (between x*9+8 and x*9+9), never inside a phrase.
            for t in [win.start_sec(SR), win.end_sec_for_test()] {
                let inside_phrase = spans
                    .iter()
                    .any(|s| t > s.start_sec + 1e-3 && t < s.end_sec - 1e-3);
                assert!(!inside_phrase, "boundary {t} cuts a phrase");
            }
        }
        // Every phrase is covered by exactly one window.
        for s in &spans {
            let covering = w
                .iter()
                .filter(|win| {
                    win.start_sec(SR) <= s.start_sec && win.end_sec_for_test() >= s.end_sec
                })
                .count();
            assert_eq!(covering, 1, "{s:?}");
        }
    }

    #[test]
    fn unbroken_speech_is_cut_at_its_quietest_moment() {
        // 70 s of "speech" (a tone) with one quiet dip at 20 s, inside the first search range.
        let n = SR as usize * 70;
        let mut samples: Vec<f32> = (0..n).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
        let dip = SR as usize * 20;
        for s in &mut samples[dip..dip + 800] {
            *s = 0.0;
        }
        let w = plan_windows(&samples, SR, &[span(0.0, 70.0)], &ChunkingConfig::default());
        assert!(w.len() >= 3, "{w:?}");
        assert!(w.iter().all(|x| x.duration_sec(SR) <= 30.0));
        let cut_at_dip = w
            .iter()
            .any(|x| (x.end as i64 - (dip + 400) as i64).abs() < 400);
        assert!(cut_at_dip, "{w:?}");
    }

    #[test]
    fn next_window_starts_at_the_seek_point_and_packs_what_follows() {
        // Ten 8 s phrases separated by 1 s pauses, as above.
        let spans: Vec<Span> = (0..10)
            .map(|i| span(i as f64 * 9.0, i as f64 * 9.0 + 8.0))
            .collect();
        let samples = vec![0.0; SR as usize * 90];
        let cfg = ChunkingConfig::default();
        let planned = plan_windows(&samples, SR, &spans, &cfg);
        // From the start of the talk: the planned first window.
        assert_eq!(
            next_window(&samples, SR, &spans, 0, samples.len(), &cfg),
            Some(planned[0])
        );
        // From a seek point inside the third phrase (20.5 s): starts exactly there, and packs
        // whole phrases after it, ending in a pause, at most a window long.
        let from = (20.5 * f64::from(SR)) as usize;
        let w = next_window(&samples, SR, &spans, from, samples.len(), &cfg).unwrap();
        assert_eq!(w.start, from);
        assert!(w.duration_sec(SR) <= cfg.max_window_sec + 1e-9, "{w:?}");
        let end = w.end_sec_for_test();
        assert!(end > 44.0, "packs the phrases after the seek point: {w:?}");
        assert!(
            !spans
                .iter()
                .any(|s| end > s.start_sec + 1e-3 && end < s.end_sec - 1e-3),
            "ends in a pause: {w:?}"
        );
        // Never past `to`, and nothing when no speech is left before it.
        let to = (60.0 * f64::from(SR)) as usize;
        let w = next_window(
            &samples,
            SR,
            &spans,
            (50.0 * f64::from(SR)) as usize,
            to,
            &cfg,
        )
        .unwrap();
        assert!(w.end <= to, "{w:?}");
        assert_eq!(
            next_window(
                &samples,
                SR,
                &spans,
                (89.5 * f64::from(SR)) as usize,
                samples.len(),
                &cfg
            ),
            None
        );
    }

    impl Window {
        fn end_sec_for_test(&self) -> f64 {
            self.end as f64 / f64::from(SR)
        }
    }
}
