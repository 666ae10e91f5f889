//! Voice: a YIN pitch track over the speech, its spread in semitones, monotone stretches, and
//! loudness variation.
//!
//! Cost: the signal is decimated to about 8 kHz (pitch lives below 400 Hz), and YIN runs only
//! inside speech spans with a window of one longest period and lags 60–400 Hz: about
//! `frames × window × lags` ≈ 100 × 133 × 114 multiply-adds per second of speech, linear in the
//! length of the recording.

use super::analysis::AnalysisConfig;
use super::metrics::{MonotoneStretch, VoiceMetrics};
use super::signal::Span;
use super::stats::{is_positive, mean, median, ms, percentile, round, std_dev};

/// Hop between pitch frames, seconds.
pub const PITCH_HOP_SEC: f64 = 0.01;
/// YIN's absolute threshold on the cumulative-mean-normalised difference: below it a frame is
/// voiced. 0.15 is the value of de Cheveigné & Kawahara (2002) for speech.
const YIN_THRESHOLD: f64 = 0.15;
/// Frames quieter than this are not analysed (no pitch in near-silence), dBFS.
const PITCH_MIN_LEVEL_DBFS: f64 = -50.0;
/// Target rate of the decimated signal, Hz.
const PITCH_RATE_HZ: u32 = 8000;
/// Pitch values further than this from the median are octave errors, semitones.
const OCTAVE_ERROR_SEMITONES: f64 = 12.0;
/// A monotone window must have at least this share of its frames voiced (else it is mostly
/// silence or unvoiced sounds, and says nothing about intonation).
const MONOTONE_MIN_VOICED_SHARE: f64 = 0.25;
/// Loudness frame length, seconds.
const LOUDNESS_FRAME_SEC: f64 = 0.05;
/// Frames below this are gaps inside speech, not speech, dBFS.
const LOUDNESS_FLOOR_DBFS: f64 = -60.0;

/// One voiced frame of the pitch track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchFrame {
    /// Centre of the frame, seconds.
    pub time_sec: f64,
    /// Fundamental frequency, Hz (finite, within the searched range).
    pub hz: f64,
}

/// Decimate by an integer factor after a triangular low-pass (two box filters of `factor`
/// taps: a zero at the new Nyquist frequency, cheap and good enough for pitch).
fn decimate(samples: &[f32], factor: usize) -> Vec<f32> {
    if factor <= 1 {
        return samples.to_vec();
    }
    let n = samples.len();
    let taps = 2 * factor - 1;
    let weights: Vec<f32> = (0..taps)
        .map(|k| (factor - (k as isize - (factor as isize - 1)).unsigned_abs()) as f32)
        .collect();
    let norm: f32 = weights.iter().sum();
    (0..n / factor)
        .map(|i| {
            let centre = i * factor;
            let mut acc = 0.0f32;
            for (k, w) in weights.iter().enumerate() {
                let idx = centre as isize + k as isize - (factor as isize - 1);
                if idx >= 0 && (idx as usize) < n {
                    acc += w * samples[idx as usize];
                }
            }
            acc / norm
        })
        .collect()
}

/// YIN on one frame: the period in samples (fractional), or `None` when unvoiced.
/// `frame` must hold `window + max_lag` samples; `diff` is scratch space.
fn yin_period(
    frame: &[f32],
    window: usize,
    min_lag: usize,
    max_lag: usize,
    diff: &mut [f64],
) -> Option<f64> {
    // Difference function d(τ) for τ in 1..=max_lag.
    diff[0] = 0.0;
    for tau in 1..=max_lag {
        let mut acc = 0.0f64;
        for j in 0..window {
            let d = (frame[j] - frame[j + tau]) as f64;
            acc += d * d;
        }
        diff[tau] = acc;
    }
    // Cumulative mean normalisation: d'(τ) = d(τ) · τ / Σ_{k<=τ} d(k).
    let mut running = 0.0;
    for (tau, d) in diff.iter_mut().enumerate().take(max_lag + 1).skip(1) {
        running += *d;
        *d = if running > 0.0 {
            *d * tau as f64 / running
        } else {
            1.0
        };
    }
    // First dip under the threshold, then down to its local minimum.
    let mut tau = min_lag.max(2);
    while tau < max_lag {
        if diff[tau] < YIN_THRESHOLD {
            while tau + 1 < max_lag && diff[tau + 1] < diff[tau] {
                tau += 1;
            }
            // Parabolic interpolation around the minimum.
            let (a, b, c) = (diff[tau - 1], diff[tau], diff[tau + 1]);
            let denom = a - 2.0 * b + c;
            let shift = if denom.abs() > 1e-12 {
                (0.5 * (a - c) / denom).clamp(-1.0, 1.0)
            } else {
                0.0
            };
            return Some(tau as f64 + shift);
        }
        tau += 1;
    }
    None
}

/// The pitch track over the speech spans: voiced frames only, in time order.
pub fn pitch_track(
    samples: &[f32],
    sample_rate: u32,
    spans: &[Span],
    cfg: &AnalysisConfig,
) -> Vec<PitchFrame> {
    if sample_rate == 0
        || samples.is_empty()
        || !is_positive(cfg.pitch_min_hz)
        || !cfg.pitch_max_hz.is_finite()
        || cfg.pitch_max_hz <= cfg.pitch_min_hz
    {
        return Vec::new();
    }
    let factor = (sample_rate / PITCH_RATE_HZ).max(1) as usize;
    let rate = sample_rate as f64 / factor as f64;
    let max_lag = (rate / cfg.pitch_min_hz).ceil() as usize;
    let min_lag = ((rate / cfg.pitch_max_hz).floor() as usize).max(2);
    if max_lag <= min_lag + 2 {
        return Vec::new();
    }
    let window = max_lag;
    let frame_len = window + max_lag + 1;
    let hop = ((PITCH_HOP_SEC * rate).round() as usize).max(1);
    let min_rms = 10f64.powf(PITCH_MIN_LEVEL_DBFS / 20.0);
    let mut diff = vec![0.0f64; max_lag + 2];
    let mut out = Vec::new();
    for span in spans {
        // Decimate span by span: silence between spans is never touched.
        let s0 = ((span.start_sec.max(0.0) * sample_rate as f64) as usize).min(samples.len());
        let s1 = ((span.end_sec.max(0.0) * sample_rate as f64).ceil() as usize).min(samples.len());
        if s1 <= s0 {
            continue;
        }
        let x = decimate(&samples[s0..s1], factor);
        let offset_sec = s0 as f64 / sample_rate as f64;
        let mut start = 0;
        while start + frame_len <= x.len() {
            let frame = &x[start..start + frame_len];
            let rms = (frame[..window]
                .iter()
                .map(|&v| (v as f64).powi(2))
                .sum::<f64>()
                / window as f64)
                .sqrt();
            if rms >= min_rms
                && let Some(period) = yin_period(frame, window, min_lag, max_lag, &mut diff)
            {
                let hz = rate / period;
                if hz.is_finite() && hz >= cfg.pitch_min_hz * 0.95 && hz <= cfg.pitch_max_hz * 1.05
                {
                    out.push(PitchFrame {
                        time_sec: offset_sec + (start as f64 + window as f64 / 2.0) / rate,
                        hz,
                    });
                }
            }
            start += hop;
        }
    }
    out
}

/// Semitones of each frame relative to the median pitch, octave errors dropped.
fn semitones(frames: &[PitchFrame], median_hz: f64) -> Vec<(f64, f64)> {
    frames
        .iter()
        .map(|f| (f.time_sec, 12.0 * (f.hz / median_hz).log2()))
        .filter(|(_, st)| st.is_finite() && st.abs() <= OCTAVE_ERROR_SEMITONES)
        .collect()
}

/// Windows of `window_sec` (step: a fifth of it) whose pitch barely moves, merged into stretches.
fn monotone_stretches(
    st: &[(f64, f64)],
    spans: &[Span],
    cfg: &AnalysisConfig,
) -> Vec<MonotoneStretch> {
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
        return Vec::new();
    };
    let window = cfg.monotone_window_sec;
    let step = window / 5.0;
    let min_frames = (MONOTONE_MIN_VOICED_SHARE * window / PITCH_HOP_SEC).ceil() as usize;
    let mut flagged: Vec<(f64, f64)> = Vec::new();
    let mut s = first.start_sec;
    while s + window <= last.end_sec + 1e-9 {
        let e = s + window;
        let vals: Vec<f64> = st
            .iter()
            .filter(|(t, _)| *t >= s && *t < e)
            .map(|&(_, v)| v)
            .collect();
        if vals.len() >= min_frames && std_dev(&vals) < cfg.monotone_std_semitones {
            match flagged.last_mut() {
                Some(prev) if s <= prev.1 => prev.1 = e,
                _ => flagged.push((s, e)),
            }
        }
        s += step;
    }
    flagged
        .into_iter()
        .map(|(s, e)| {
            let vals: Vec<f64> = st
                .iter()
                .filter(|(t, _)| *t >= s && *t < e)
                .map(|&(_, v)| v)
                .collect();
            MonotoneStretch {
                start_sec: ms(s),
                end_sec: ms(e),
                pitch_std_semitones: round(std_dev(&vals), 2),
            }
        })
        .collect()
}

/// Loudness of 50 ms frames inside the speech, dBFS; near-silent frames (gaps) left out.
fn loudness_db(samples: &[f32], sample_rate: u32, spans: &[Span]) -> Vec<f64> {
    if sample_rate == 0 {
        return Vec::new();
    }
    let frame = ((LOUDNESS_FRAME_SEC * sample_rate as f64) as usize).max(1);
    let mut out = Vec::new();
    for span in spans {
        let s0 = ((span.start_sec.max(0.0) * sample_rate as f64) as usize).min(samples.len());
        let s1 = ((span.end_sec.max(0.0) * sample_rate as f64) as usize).min(samples.len());
        let mut i = s0;
        while i + frame <= s1 {
            let rms = (samples[i..i + frame]
                .iter()
                .map(|&v| (v as f64).powi(2))
                .sum::<f64>()
                / frame as f64)
                .sqrt();
            let db = 20.0 * rms.max(1e-10).log10();
            if db.is_finite() && db > LOUDNESS_FLOOR_DBFS {
                out.push(db);
            }
            i += frame;
        }
    }
    out
}

/// Voice metrics from the pitch track and the samples.
pub fn voice_metrics(
    pitch: &[PitchFrame],
    samples: &[f32],
    sample_rate: u32,
    spans: &[Span],
    cfg: &AnalysisConfig,
) -> VoiceMetrics {
    let hz: Vec<f64> = pitch.iter().map(|f| f.hz).collect();
    let loud = loudness_db(samples, sample_rate, spans);
    let (pitch_median_hz, pitch_range_semitones, pitch_std_semitones, monotone) = if hz.is_empty() {
        (None, None, None, Vec::new())
    } else {
        let med = median(&hz);
        let st = semitones(pitch, med);
        let values: Vec<f64> = st.iter().map(|&(_, v)| v).collect();
        (
            Some(round(med, 1)),
            Some(round(
                percentile(&values, 90.0) - percentile(&values, 10.0),
                2,
            )),
            Some(round(std_dev(&values), 2)),
            monotone_stretches(&st, spans, cfg),
        )
    };
    VoiceMetrics {
        pitch_median_hz,
        pitch_range_semitones,
        pitch_std_semitones,
        monotone_stretches: monotone,
        loudness_variation_db: round(percentile(&loud, 90.0) - percentile(&loud, 10.0), 2),
        loudness_mean_dbfs: round(mean(&loud), 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    const SR: u32 = 16_000;

    /// A voiced-like tone: fundamental plus two harmonics, so YIN sees a speech-like waveform.
    fn tone(freq_at: impl Fn(f64) -> f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * SR as f64) as usize;
        let mut phase = 0.0f64;
        (0..n)
            .map(|i| {
                let t = i as f64 / SR as f64;
                phase += 2.0 * PI * freq_at(t) / SR as f64;
                (0.3 * phase.sin() + 0.15 * (2.0 * phase).sin() + 0.08 * (3.0 * phase).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn steady_tone_pitch_is_found() {
        let cfg = AnalysisConfig::default();
        for f0 in [80.0, 150.0, 220.0, 350.0] {
            let x = tone(|_| f0, 1.0);
            let track = pitch_track(&x, SR, &[Span::new(0.0, 1.0)], &cfg);
            assert!(track.len() > 80, "{f0} Hz: {} voiced frames", track.len());
            let med = median(&track.iter().map(|f| f.hz).collect::<Vec<_>>());
            assert!((med - f0).abs() / f0 < 0.01, "{f0} Hz measured as {med}");
        }
    }

    #[test]
    fn glide_is_followed_and_not_monotone() {
        let cfg = AnalysisConfig::default();
        // 100 → 200 Hz over 6 s: one octave, 12 semitones, linear in log frequency.
        let x = tone(|t| 100.0 * 2f64.powf(t / 6.0), 6.0);
        let spans = [Span::new(0.0, 6.0)];
        let track = pitch_track(&x, SR, &spans, &cfg);
        for f in &track {
            let expected = 100.0 * 2f64.powf(f.time_sec / 6.0);
            assert!(
                (f.hz - expected).abs() / expected < 0.03,
                "at {} s: {} vs {}",
                f.time_sec,
                f.hz,
                expected
            );
        }
        let v = voice_metrics(&track, &x, SR, &spans, &cfg);
        let range = v.pitch_range_semitones.unwrap();
        assert!(
            (range - 9.6).abs() < 0.5,
            "10th–90th percentile of a 12-st glide ≈ 9.6 st, got {range}"
        );
        assert!(v.monotone_stretches.is_empty());
    }

    #[test]
    fn flat_tone_is_monotone_and_level() {
        let cfg = AnalysisConfig::default();
        let x = tone(|_| 120.0, 7.0);
        let spans = [Span::new(0.0, 7.0)];
        let track = pitch_track(&x, SR, &spans, &cfg);
        let v = voice_metrics(&track, &x, SR, &spans, &cfg);
        assert_eq!(v.monotone_stretches.len(), 1);
        assert_eq!(
            (
                v.monotone_stretches[0].start_sec,
                v.monotone_stretches[0].end_sec
            ),
            (0.0, 7.0)
        );
        assert!(v.loudness_variation_db < 0.5);
        assert!(v.pitch_std_semitones.unwrap() < 0.1);
    }

    #[test]
    fn silence_and_noise_have_no_pitch() {
        let cfg = AnalysisConfig::default();
        let silence = vec![0.0f32; SR as usize];
        assert!(pitch_track(&silence, SR, &[Span::new(0.0, 1.0)], &cfg).is_empty());
        // Deterministic white-ish noise (xorshift).
        let mut state = 0x2545F491u32;
        let noise: Vec<f32> = (0..SR)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32 - 0.5) * 0.2
            })
            .collect();
        let track = pitch_track(&noise, SR, &[Span::new(0.0, 1.0)], &cfg);
        assert!(track.len() < 10, "noise gave {} voiced frames", track.len());
        let v = voice_metrics(&[], &[], SR, &[], &cfg);
        assert_eq!(v.pitch_median_hz, None);
        assert_eq!(v.loudness_mean_dbfs, 0.0);
    }

    #[test]
    fn other_sample_rates_work() {
        let cfg = AnalysisConfig::default();
        let n = 44_100;
        let x: Vec<f32> = (0..n)
            .map(|i| (2.0 * PI * 200.0 * i as f64 / 44_100.0).sin() as f32 * 0.3)
            .collect();
        let track = pitch_track(&x, 44_100, &[Span::new(0.0, 1.0)], &cfg);
        let med = median(&track.iter().map(|f| f.hz).collect::<Vec<_>>());
        assert!((med - 200.0).abs() < 2.0, "{med}");
    }
}
