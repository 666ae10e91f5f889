//! Voice activity detection: frame decisions smoothed into speech segments and pauses.
//!
//! The detector is energy-based with an adaptive noise floor, plus a spectral check:
//!
//! 1. **Frame level.** RMS of each `frame_ms` frame, in dBFS.
//! 2. **Noise floor.** Minimum statistics: the lowest 50 ms-smoothed level within a sliding
//!    window of `noise_window_sec`. Stationary background (fan, hiss, the white noise of
//!    `edge/noise_5s.wav`) sits *at* the floor, so it never clears it by `snr_db`, whatever its
//!    absolute level — a fixed energy threshold would call −36 dBFS noise speech.
//! 3. **Threshold** per frame: the highest of floor + `snr_db`, speech level − `speech_range_db`
//!    (so a near-silent digital floor does not turn breaths and fades into speech), and
//!    `absolute_floor_dbfs`.
//! 4. **Smoothing.** Runs of speech frames are extended by `hangover_sec`, gaps shorter than
//!    `min_pause_sec` are closed, and segments shorter than `min_speech_sec` or without any
//!    tonal (voiced) frames — judged by spectral flatness — are dropped: a door slam or a burst
//!    of noise is loud but flat-spectrum; every spoken phrase has voiced, harmonic frames.
//!
//! Pauses are the gaps between speech segments; silence before the first and after the last
//! word is not a pause. The thresholds were tuned on the corpus (see `tests/audio_corpus.rs`):
//! inserted pauses are found within ±120 ms in every format and voice.

use crate::domain::signal::{Span, SpeechMap};
use realfft::RealFftPlanner;

/// Settings of the detector. The lead maps the named environment variables onto it.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Frame hop and RMS window, milliseconds; also the resolution of every boundary.
    /// Env `VAD_FRAME_MS`, default 10.
    pub frame_ms: u32,
    /// Shortest silence between two speech segments reported as a pause, seconds; shorter gaps
    /// are treated as part of the speech (stop consonants, breaths between words).
    /// Env `MIN_PAUSE_SEC`, default 0.25.
    pub min_pause_sec: f64,
    /// Shortest speech segment kept, seconds; shorter blips (clicks, pops) are dropped.
    /// Env `VAD_MIN_SPEECH_SEC`, default 0.08.
    pub min_speech_sec: f64,
    /// Speech is extended by this much after its last loud frame, seconds, to cover word endings
    /// that dip under the threshold. Env `VAD_HANGOVER_SEC`, default 0: the threshold already
    /// follows fades down to `speech_range_db` below the voice, and on the corpus every 10 ms of
    /// hangover moved detected pause starts 10 ms later than measured.
    pub hangover_sec: f64,
    /// How far above the noise floor a frame must be to count as speech, dB. Stationary noise
    /// stays within ~2 dB of its own minimum; 10 dB lost quiet word endings under −40 dBFS noise
    /// (pause starts 130 ms early on `en_talk_1`), 6 dB keeps them within 45 ms.
    /// Env `VAD_SNR_DB`, default 6.
    pub snr_db: f32,
    /// Frames more than this below the speech level (95th percentile of speech frames) are not
    /// speech even on a digitally silent floor, dB. Env `VAD_SPEECH_RANGE_DB`, default 40.
    pub speech_range_db: f32,
    /// Frames quieter than this are never speech, dBFS: a guard against dither and codec noise
    /// on digital silence. Kept low so a quiet recording (speech at −40 dBFS) keeps its fades:
    /// −60 moved pause boundaries by 105 ms on a clip attenuated by 26 dB.
    /// Env `VAD_ABSOLUTE_FLOOR_DBFS`, default −75.
    pub absolute_floor_dbfs: f32,
    /// Window of the minimum-statistics noise floor, seconds: long enough to always contain a
    /// gap between words, short enough to follow a background that changes.
    /// Env `VAD_NOISE_WINDOW_SEC`, default 8.
    pub noise_window_sec: f64,
    /// Spectral flatness (0 = pure tone, ≈0.56 = white noise) below which a frame counts as
    /// voiced. Env `VAD_VOICED_FLATNESS`, default 0.3.
    pub voiced_flatness: f32,
    /// Voiced time a segment needs to be kept as speech, seconds.
    /// Env `VAD_MIN_VOICED_SEC`, default 0.03.
    pub min_voiced_sec: f64,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            frame_ms: 10,
            min_pause_sec: 0.25,
            min_speech_sec: 0.08,
            hangover_sec: 0.0,
            snr_db: 6.0,
            speech_range_db: 40.0,
            absolute_floor_dbfs: -75.0,
            noise_window_sec: 8.0,
            voiced_flatness: 0.3,
            min_voiced_sec: 0.03,
        }
    }
}

/// Level reported for a frame of digital silence, dBFS (log of zero is not a number).
pub const SILENCE_DBFS: f32 = -120.0;

/// Detect speech in mono `samples` at `sample_rate` Hz.
pub fn detect(samples: &[f32], sample_rate: u32, cfg: &VadConfig) -> SpeechMap {
    let duration_sec = if sample_rate == 0 {
        0.0
    } else {
        samples.len() as f64 / f64::from(sample_rate)
    };
    let hop = ((u64::from(sample_rate) * u64::from(cfg.frame_ms.max(1))) / 1000).max(1) as usize;
    let frame_sec = hop as f64 / f64::from(sample_rate.max(1));
    if samples.is_empty() || sample_rate == 0 {
        return SpeechMap {
            duration_sec,
            frame_sec,
            ..SpeechMap::default()
        };
    }

    let frame_rms_db: Vec<f32> = samples.chunks(hop).map(rms_db).collect();
    let n = frame_rms_db.len();
    let frames_for = |sec: f64| (sec / frame_sec).round().max(0.0) as usize;

    // Noise floor: sliding minimum of a 50 ms moving average (in dB; the average keeps single
    // near-zero frames between phonemes from dragging the floor down).
    let smoothed = moving_average(&frame_rms_db, frames_for(0.05).max(1));
    let floor = sliding_min(&smoothed, frames_for(cfg.noise_window_sec).max(1));

    let above_floor: Vec<f32> = frame_rms_db
        .iter()
        .zip(&floor)
        .filter(|(level, fl)| **level > **fl + cfg.snr_db && **level > cfg.absolute_floor_dbfs)
        .map(|(level, _)| *level)
        .collect();
    let speech_level = percentile(&above_floor, 0.95);

    let frame_is_speech: Vec<bool> = match speech_level {
        None => vec![false; n],
        Some(level) => frame_rms_db
            .iter()
            .zip(&floor)
            .map(|(&db, &fl)| {
                let threshold = (fl + cfg.snr_db)
                    .max(level - cfg.speech_range_db)
                    .max(cfg.absolute_floor_dbfs);
                db > threshold
            })
            .collect(),
    };

    // Runs of speech frames → hangover → close short gaps → drop blips and unvoiced segments.
    let mut runs = runs_of(&frame_is_speech);
    let hang = frames_for(cfg.hangover_sec);
    for r in &mut runs {
        r.1 = (r.1 + hang).min(n);
    }
    let runs = close_gaps(runs, frames_for(cfg.min_pause_sec));
    let mut voicing = Voicing::new(samples, sample_rate, hop, cfg.voiced_flatness);
    let min_voiced = frames_for(cfg.min_voiced_sec).max(1);
    let runs: Vec<(usize, usize)> = runs
        .into_iter()
        .filter(|&(s, e)| e - s >= frames_for(cfg.min_speech_sec).max(1))
        .filter(|&(s, e)| voicing.has_voiced_frames(s, e, &frame_is_speech, min_voiced))
        .collect();

    let to_span = |(s, e): (usize, usize)| {
        Span::new(
            s as f64 * frame_sec,
            (e as f64 * frame_sec).min(duration_sec),
        )
    };
    let speech: Vec<Span> = runs.iter().copied().map(to_span).collect();
    let pauses = speech
        .windows(2)
        .map(|w| Span::new(w[0].end_sec, w[1].start_sec))
        .collect();

    SpeechMap {
        duration_sec,
        speech,
        pauses,
        frame_sec,
        frame_rms_db,
        frame_is_speech,
    }
}

fn rms_db(frame: &[f32]) -> f32 {
    let power = frame
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / frame.len().max(1) as f64;
    if power <= 1e-12 {
        SILENCE_DBFS
    } else {
        (10.0 * power.log10()) as f32
    }
}

fn moving_average(x: &[f32], width: usize) -> Vec<f32> {
    let half = width / 2;
    let mut prefix = Vec::with_capacity(x.len() + 1);
    prefix.push(0.0f64);
    for &v in x {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + f64::from(v));
    }
    (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(x.len());
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}

/// Minimum over a centred window of `width` frames, O(n) with a monotonic deque.
fn sliding_min(x: &[f32], width: usize) -> Vec<f32> {
    let half = width / 2;
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    let mut deque = std::collections::VecDeque::<usize>::new();
    let mut next = 0; // next index to enter the window
    for i in 0..n {
        let hi = (i + half + 1).min(n);
        while next < hi {
            while deque.back().is_some_and(|&b| x[b] >= x[next]) {
                deque.pop_back();
            }
            deque.push_back(next);
            next += 1;
        }
        let lo = i.saturating_sub(half);
        while deque.front().is_some_and(|&f| f < lo) {
            deque.pop_front();
        }
        out.push(deque.front().map_or(SILENCE_DBFS, |&f| x[f]));
    }
    out
}

fn percentile(values: &[f32], q: f64) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    let (_, nth, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    Some(*nth)
}

/// Half-open `[start, end)` frame ranges where `flags` is true.
fn runs_of(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &f) in flags.iter().enumerate() {
        match (f, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, flags.len()));
    }
    runs
}

/// Merge runs separated by fewer than `min_gap` frames (overlaps from hangover included).
fn close_gaps(runs: Vec<(usize, usize)>, min_gap: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for (s, e) in runs {
        match out.last_mut() {
            Some(last) if s < last.1 + min_gap => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Spectral flatness of frames, computed lazily (only for frames inside candidate segments).
struct Voicing<'a> {
    samples: &'a [f32],
    hop: usize,
    window: Vec<f32>,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    /// Spectrum bins of the speech band (100 Hz – 4 kHz) where voicing shows as harmonics.
    band: std::ops::Range<usize>,
    max_flatness: f32,
}

impl<'a> Voicing<'a> {
    fn new(samples: &'a [f32], sample_rate: u32, hop: usize, max_flatness: f32) -> Self {
        // ~32 ms analysis window: resolves the harmonics of voices down to ~60 Hz pitch.
        let len = ((f64::from(sample_rate) * 0.032) as usize)
            .next_power_of_two()
            .max(16);
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(len);
        let window = (0..len)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / len as f64).cos()) as f32
            })
            .collect();
        let bin_hz = f64::from(sample_rate) / len as f64;
        let lo = ((100.0 / bin_hz).ceil() as usize).max(1);
        let hi = ((4000.0 / bin_hz).floor() as usize)
            .min(len / 2)
            .max(lo + 1);
        Self {
            samples,
            hop,
            window,
            input: vec![0.0; len],
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            band: lo..hi,
            max_flatness,
        }
    }

    /// Whether at least `need` speech frames in `[start, end)` are voiced (tonal spectrum).
    fn has_voiced_frames(
        &mut self,
        start: usize,
        end: usize,
        is_speech: &[bool],
        need: usize,
    ) -> bool {
        let mut voiced = 0;
        for i in start..end {
            if !is_speech.get(i).copied().unwrap_or(false) {
                continue;
            }
            if self.flatness(i) < self.max_flatness {
                voiced += 1;
                if voiced >= need {
                    return true;
                }
            }
        }
        false
    }

    fn flatness(&mut self, frame: usize) -> f32 {
        let len = self.input.len();
        let centre = frame * self.hop + self.hop / 2;
        let first = centre as isize - (len / 2) as isize;
        for (k, slot) in self.input.iter_mut().enumerate() {
            let idx = first + k as isize;
            let x = if idx >= 0 {
                self.samples.get(idx as usize).copied().unwrap_or(0.0)
            } else {
                0.0
            };
            *slot = x * self.window[k];
        }
        if self
            .fft
            .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
            .is_err()
        {
            return 1.0;
        }
        let band = &self.spectrum[self.band.clone()];
        let powers = band.iter().map(|c| f64::from(c.norm_sqr()));
        let mean = powers.clone().sum::<f64>() / band.len() as f64;
        if mean <= 1e-20 {
            return 1.0;
        }
        // A floor relative to the mean keeps empty bins from sending the log mean to -inf.
        let eps = mean * 1e-6;
        let log_mean = powers.map(|p| (p + eps).ln()).sum::<f64>() / band.len() as f64;
        (log_mean.exp() / (mean + eps)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    /// A buzzy "vowel": harmonics of 150 Hz, amplitude `amp`.
    fn vowel(secs: f64, amp: f32) -> Vec<f32> {
        let n = (secs * f64::from(RATE)) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(RATE);
                let v: f64 = (1..=12)
                    .map(|h| (2.0 * std::f64::consts::PI * 150.0 * h as f64 * t).sin() / h as f64)
                    .sum();
                (v * 0.5) as f32 * amp
            })
            .collect()
    }

    /// Deterministic white-ish noise (xorshift), RMS ≈ `rms`.
    fn noise(secs: f64, rms: f32, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..(secs * f64::from(RATE)) as usize)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * rms * 3f32.sqrt()
            })
            .collect()
    }

    fn silence(secs: f64) -> Vec<f32> {
        vec![0.0; (secs * f64::from(RATE)) as usize]
    }

    fn cat(parts: &[Vec<f32>]) -> Vec<f32> {
        parts.concat()
    }

    #[test]
    fn finds_pause_between_two_phrases() {
        let x = cat(&[
            silence(0.5),
            vowel(1.0, 0.3),
            silence(0.8),
            vowel(1.2, 0.3),
            silence(0.5),
        ]);
        let map = detect(&x, RATE, &VadConfig::default());
        assert_eq!(map.speech.len(), 2, "{:?}", map.speech);
        assert_eq!(map.pauses.len(), 1);
        let p = map.pauses[0];
        assert!(
            (p.start_sec - 1.5).abs() < 0.03 && (p.end_sec - 2.3).abs() < 0.03,
            "{p:?}"
        );
        assert!((map.duration_sec - 4.0).abs() < 1e-9);
        assert_eq!(map.frame_rms_db.len(), 400);
    }

    #[test]
    fn short_gaps_are_not_pauses() {
        let x = cat(&[vowel(0.6, 0.3), silence(0.15), vowel(0.6, 0.3)]);
        let map = detect(&x, RATE, &VadConfig::default());
        assert_eq!(map.speech.len(), 1);
        assert!(map.pauses.is_empty());
    }

    #[test]
    fn silence_and_stationary_noise_have_no_speech() {
        assert!(
            detect(&silence(3.0), RATE, &VadConfig::default())
                .speech
                .is_empty()
        );
        let loud_noise = noise(3.0, 0.1, 7); // −20 dBFS: far above any fixed threshold
        let map = detect(&loud_noise, RATE, &VadConfig::default());
        assert!(map.speech.is_empty(), "{:?}", map.speech);
    }

    #[test]
    fn noise_burst_without_voicing_is_not_speech() {
        let x = cat(&[silence(1.0), noise(0.4, 0.2, 3), silence(1.0)]);
        let map = detect(&x, RATE, &VadConfig::default());
        assert!(map.speech.is_empty(), "{:?}", map.speech);
    }

    #[test]
    fn level_does_not_matter_and_noise_floor_adapts() {
        for amp in [0.01f32, 0.1, 0.8] {
            let mut x = cat(&[
                silence(0.5),
                vowel(1.0, amp),
                silence(1.0),
                vowel(1.0, amp),
                silence(0.5),
            ]);
            let bg = noise(4.0, amp * 0.05, 11); // 26 dB below the voice
            for (s, n) in x.iter_mut().zip(bg) {
                *s += n;
            }
            let map = detect(&x, RATE, &VadConfig::default());
            assert_eq!(map.pauses.len(), 1, "amp {amp}: {:?}", map.speech);
            let p = map.pauses[0];
            assert!(
                (p.start_sec - 1.5).abs() < 0.05 && (p.end_sec - 2.5).abs() < 0.05,
                "amp {amp}: {p:?}"
            );
        }
    }

    #[test]
    fn empty_input_is_empty_map() {
        let map = detect(&[], RATE, &VadConfig::default());
        assert_eq!(map.duration_sec, 0.0);
        assert!(map.speech.is_empty() && map.frame_rms_db.is_empty());
    }

    #[test]
    fn sliding_min_matches_naive() {
        let x: Vec<f32> = (0..50).map(|i| ((i * 37) % 17) as f32).collect();
        let fast = sliding_min(&x, 7);
        for (i, &got) in fast.iter().enumerate() {
            let lo = i.saturating_sub(3);
            let hi = (i + 4).min(x.len());
            let naive = x[lo..hi].iter().copied().fold(f32::INFINITY, f32::min);
            assert_eq!(got, naive, "at {i}");
        }
    }
}
