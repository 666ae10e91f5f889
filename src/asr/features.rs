//! Whisper's log-mel input features, computed exactly as OpenAI's reference (`whisper/audio.py`).
//!
//! ct2rs ships its own extractor, but it normalises every 10 ms frame by that frame's own maximum
//! (instead of the whole window's) and pads short windows with zeros *after* normalisation, which
//! makes padding look like speech-level energy: both push the decoder towards invented text and
//! loops. This module pads the audio to 30 s first, uses a centred, reflect-padded STFT with a
//! periodic Hann window, Slaney-normalised mel filters, `log10(max(x, 1e-10))`, a global
//! `max - 8` floor and `(x + 4) / 4`.

use rustfft::{FftPlanner, num_complex::Complex32};

/// FFT length of Whisper's STFT (25 ms at 16 kHz).
pub const N_FFT: usize = 400;
/// Hop between frames (10 ms at 16 kHz).
pub const HOP_LENGTH: usize = 160;
/// Mel bins of the base/tiny/small/medium models (large-v3 uses 128).
pub const N_MELS: usize = 80;
/// Samples in one 30 s window at 16 kHz.
pub const N_SAMPLES: usize = 480_000;
/// Frames in one 30 s window.
pub const N_FRAMES: usize = N_SAMPLES / HOP_LENGTH;

const SAMPLE_RATE: f32 = 16_000.0;

/// Precomputed window and filters; cheap to share between threads.
pub struct MelExtractor {
    n_mels: usize,
    window: Vec<f32>,
    /// `n_mels` rows of `N_FFT / 2 + 1` weights, row-major.
    filters: Vec<f32>,
    /// Per band, the range of FFT bins with non-zero weight: the filters are triangles a few
    /// bins wide, so the dense 80 x 201 product would be ~95 % multiplications by zero.
    support: Vec<std::ops::Range<usize>>,
}

impl MelExtractor {
    /// An extractor for `n_mels` bins (80 for every model this service ships).
    pub fn new(n_mels: usize) -> Self {
        let window = (0..N_FFT)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N_FFT as f32).cos())
            .collect();
        let filters = slaney_mel_filters(n_mels);
        let n_bins = N_FFT / 2 + 1;
        let support = (0..n_mels)
            .map(|m| {
                let row = &filters[m * n_bins..(m + 1) * n_bins];
                let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w > 0.0).map_or(0, |i| i + 1);
                first..last.max(first)
            })
            .collect();
        Self {
            n_mels,
            window,
            filters,
            support,
        }
    }

    /// Log-mel features of at most 30 s of audio, zero-padded to 30 s: `n_mels * N_FRAMES` values,
    /// row-major `[mel][frame]` (the layout of a `[1, n_mels, 3000]` tensor).
    pub fn window_features(&self, samples: &[f32]) -> Vec<f32> {
        let mut audio = vec![0.0f32; N_SAMPLES];
        let n = samples.len().min(N_SAMPLES);
        audio[..n].copy_from_slice(&samples[..n]);

        // torch.stft(center=True, pad_mode="reflect"): N_FFT/2 mirrored samples on each side.
        let pad = N_FFT / 2;
        let mut padded = Vec::with_capacity(N_SAMPLES + 2 * pad);
        padded.extend((1..=pad).rev().map(|i| audio[i]));
        padded.extend_from_slice(&audio);
        padded.extend((0..pad).map(|i| audio[N_SAMPLES - 2 - i]));

        let fft = FftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let n_bins = N_FFT / 2 + 1;
        let mut buf = vec![Complex32::new(0.0, 0.0); N_FFT];
        let mut scratch = vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        let mut power = vec![0.0f32; n_bins];
        let mut out = vec![0.0f32; self.n_mels * N_FRAMES];
        // The reference drops the last STFT frame (`stft[..., :-1]`): N_FRAMES frames remain.
        for frame in 0..N_FRAMES {
            let start = frame * HOP_LENGTH;
            for (k, c) in buf.iter_mut().enumerate() {
                *c = Complex32::new(padded[start + k] * self.window[k], 0.0);
            }
            fft.process_with_scratch(&mut buf, &mut scratch);
            for (p, c) in power.iter_mut().zip(&buf[..n_bins]) {
                *p = c.norm_sqr();
            }
            for (m, bins) in self.support.iter().enumerate() {
                let row = &self.filters[m * n_bins..(m + 1) * n_bins];
                let e: f32 = row[bins.clone()]
                    .iter()
                    .zip(&power[bins.clone()])
                    .map(|(w, p)| w * p)
                    .sum();
                out[m * N_FRAMES + frame] = e.max(1e-10).log10();
            }
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - 8.0;
        for v in &mut out {
            *v = (v.max(floor) + 4.0) / 4.0;
        }
        out
    }
}

// librosa's Slaney mel scale: linear below 1 kHz, logarithmic above.
const F_SP: f32 = 200.0 / 3.0;
const MIN_LOG_HZ: f32 = 1000.0;
const MIN_LOG_MEL: f32 = MIN_LOG_HZ / F_SP;

/// The log step of the scale above 1 kHz (`ln` is not const).
fn log_step() -> f32 {
    6.4f32.ln() / 27.0
}

fn hz_to_mel(f: f32) -> f32 {
    if f >= MIN_LOG_HZ {
        MIN_LOG_MEL + (f / MIN_LOG_HZ).ln() / log_step()
    } else {
        f / F_SP
    }
}

fn mel_to_hz(m: f32) -> f32 {
    if m >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (m - MIN_LOG_MEL)).exp()
    } else {
        m * F_SP
    }
}

/// `librosa.filters.mel(sr=16000, n_fft=400, n_mels, htk=False, norm="slaney")`, the filters
/// Whisper was trained with.
fn slaney_mel_filters(n_mels: usize) -> Vec<f32> {
    let n_bins = N_FFT / 2 + 1;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2.0));
    let hz: Vec<f32> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f32 / (n_mels + 1) as f32))
        .collect();
    let mut filters = vec![0.0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let enorm = 2.0 / (hz[m + 2] - hz[m]);
        for k in 0..n_bins {
            let f = k as f32 * SAMPLE_RATE / N_FFT as f32;
            let lower = (f - hz[m]) / (hz[m + 1] - hz[m]);
            let upper = (hz[m + 2] - f) / (hz[m + 2] - hz[m + 1]);
            filters[m * n_bins + k] = lower.min(upper).max(0.0) * enorm;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_round_trips_and_is_linear_below_1k() {
        for f in [0.0, 200.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 0.05, "{f}");
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-4);
    }

    #[test]
    fn filters_match_librosa_shape() {
        let f = slaney_mel_filters(N_MELS);
        let n_bins = N_FFT / 2 + 1;
        // Every band has some weight, and librosa's first band peaks at bin 1 with 0.0247.
        for m in 0..N_MELS {
            assert!(
                f[m * n_bins..(m + 1) * n_bins].iter().any(|&w| w > 0.0),
                "band {m} empty"
            );
        }
        assert!((f[1] - 0.024_73).abs() < 5e-4, "{}", f[1]);
    }

    #[test]
    fn tone_energy_lands_in_the_right_band_and_silence_is_floored() {
        let ex = MelExtractor::new(N_MELS);
        // 1 s of a 1 kHz tone, then padding silence.
        let tone: Vec<f32> = (0..16_000)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let feats = ex.window_features(&tone);
        assert_eq!(feats.len(), N_MELS * N_FRAMES);
        let frame = 50;
        let loudest = (0..N_MELS)
            .max_by(|&a, &b| feats[a * N_FRAMES + frame].total_cmp(&feats[b * N_FRAMES + frame]))
            .unwrap();
        let centre = mel_to_hz(hz_to_mel(0.0) + (hz_to_mel(8000.0)) * (loudest + 1) as f32 / 81.0);
        assert!((800.0..1250.0).contains(&centre), "band centre {centre} Hz");
        // Padding frames sit exactly at the floor: (max - 8 + 4) / 4.
        let max = feats.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - 2.0;
        assert!((feats[10 * N_FRAMES + 2500] - floor).abs() < 1e-5);
    }
}
