//! Streaming conversion of mono audio at any rate to [`TARGET_SAMPLE_RATE`](super::TARGET_SAMPLE_RATE).
//!
//! Samples are pushed as the decoder produces them, so the whole file never exists at its
//! source rate (a 10-minute 48 kHz recording would be 3× the size of its 16 kHz result).
//! Rubato's synchronous FFT resampler is used when the two rates share a usable common
//! divisor (every real-world rate does); an asynchronous sinc resampler covers odd rates.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Indexing, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

/// Frames fed to rubato per call. Large enough to amortise the FFT, small enough to keep the
/// pending buffer (and the first-output latency) tiny.
const CHUNK: usize = 1024;

/// Largest `rate / gcd(rate, 16000)` accepted for the FFT resampler: its FFT length is a multiple
/// of this, so a coprime rate such as 44 101 Hz would need a 44 101-point FFT per chunk.
const MAX_FFT_BLOCK: usize = 2048;

/// Mono stream resampler: `push` samples at `from_rate`, `finish` to get them at `to_rate`.
pub struct StreamResampler {
    inner: Option<Box<dyn Resampler<f32>>>,
    ratio: f64,
    /// Input waiting for a full chunk.
    pending: Vec<f32>,
    /// Resampled output so far (startup delay already trimmed).
    out: Vec<f32>,
    /// Output frames still to drop: the resampler's startup delay.
    skip: usize,
    /// Total input frames pushed, to size the output exactly at the end.
    input_frames: u64,
    scratch: Vec<f32>,
}

impl StreamResampler {
    /// A resampler from `from_rate` to `to_rate` (both > 0). Equal rates pass samples through.
    pub fn new(from_rate: u32, to_rate: u32) -> Result<Self, String> {
        let ratio = f64::from(to_rate) / f64::from(from_rate);
        let inner: Option<Box<dyn Resampler<f32>>> = if from_rate == to_rate {
            None
        } else {
            let (from, to) = (from_rate as usize, to_rate as usize);
            let block = from / gcd(from, to);
            let r: Box<dyn Resampler<f32>> = if block <= MAX_FFT_BLOCK {
                Box::new(
                    Fft::<f32>::new(from, to, CHUNK, 1, FixedSync::Input)
                        .map_err(|e| format!("resampler: {e}"))?,
                )
            } else {
                let params = SincInterpolationParameters {
                    sinc_len: 128,
                    f_cutoff: None,
                    oversampling_factor: 128,
                    interpolation: SincInterpolationType::Cubic,
                    window: WindowFunction::BlackmanHarris2,
                };
                Box::new(
                    Async::<f32>::new_sinc(ratio, 1.0, &params, CHUNK, 1, FixedAsync::Input)
                        .map_err(|e| format!("resampler: {e}"))?,
                )
            };
            Some(r)
        };
        let skip = inner.as_ref().map_or(0, |r| r.output_delay());
        let scratch_len = inner.as_ref().map_or(0, |r| r.output_frames_max());
        Ok(Self {
            inner,
            ratio,
            pending: Vec::with_capacity(CHUNK),
            out: Vec::new(),
            skip,
            input_frames: 0,
            scratch: vec![0.0; scratch_len],
        })
    }

    /// Number of output samples produced so far.
    pub fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Feed mono samples at the source rate.
    pub fn push(&mut self, samples: &[f32]) -> Result<(), String> {
        self.input_frames += samples.len() as u64;
        if self.inner.is_none() {
            self.out.extend_from_slice(samples);
            return Ok(());
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let need = self.inner.as_ref().map_or(CHUNK, |r| r.input_frames_next());
            let take = (need - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == need {
                self.run_chunk(None)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// Flush the tail and return all output: exactly `round(input × ratio)` samples.
    pub fn finish(mut self) -> Result<Vec<f32>, String> {
        let expected = (self.input_frames as f64 * self.ratio).round() as usize;
        if self.inner.is_some() {
            // The last partial chunk, then silence until the delayed tail is out.
            let partial = self.pending.len();
            let need = self.inner.as_ref().map_or(CHUNK, |r| r.input_frames_next());
            self.pending.resize(need, 0.0);
            self.run_chunk(Some(partial))?;
            let mut guard = 0;
            while self.out.len() < expected && guard < 64 {
                let need = self.inner.as_ref().map_or(CHUNK, |r| r.input_frames_next());
                self.pending.clear();
                self.pending.resize(need, 0.0);
                self.run_chunk(Some(0))?;
                guard += 1;
            }
        }
        self.out.truncate(expected);
        self.out.shrink_to_fit();
        Ok(self.out)
    }

    fn run_chunk(&mut self, partial: Option<usize>) -> Result<(), String> {
        let Some(r) = self.inner.as_mut() else {
            return Ok(());
        };
        let frames_in = self.pending.len();
        let input = InterleavedSlice::new(&self.pending[..], 1, frames_in)
            .map_err(|e| format!("resampler input: {e}"))?;
        let out_frames = r.output_frames_next();
        if self.scratch.len() < out_frames {
            self.scratch.resize(out_frames, 0.0);
        }
        let mut output = InterleavedSlice::new_mut(&mut self.scratch[..], 1, out_frames)
            .map_err(|e| format!("resampler output: {e}"))?;
        let indexing = partial.map(|n| Indexing::new().partial_len(n));
        let (_, written) = r
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(|e| format!("resampler: {e}"))?;
        let produced = &self.scratch[..written];
        let drop = self.skip.min(produced.len());
        self.skip -= drop;
        self.out.extend_from_slice(&produced[drop..]);
        Ok(())
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| {
                (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32 * 0.5
            })
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Resample in uneven pushes (as packets arrive) and check length, level and phase.
    fn check(from: u32) {
        let input = sine(440.0, from, 2.0);
        let mut r = StreamResampler::new(from, 16_000).unwrap();
        for chunk in input.chunks(777) {
            r.push(chunk).unwrap();
        }
        let out = r.finish().unwrap();
        assert_eq!(out.len(), 32_000, "from {from} Hz");
        let expect = sine(440.0, 16_000, 2.0);
        // Away from the edges the output matches the ideal 16 kHz sine: no gain change and no
        // delay beyond a fraction of a sample (the FFT resampler's delay is reported in whole
        // output frames; the remaining sub-sample offset, < 63 µs, is irrelevant to 10 ms frames).
        let best = (-1i64..=1)
            .map(|lag| {
                let err: Vec<f32> = (2000..30000)
                    .map(|i| out[(i as i64 + lag) as usize] - expect[i])
                    .collect();
                rms(&err)
            })
            .fold(f64::INFINITY, f64::min);
        // 0.035 is the error of a half-sample shift of this 440 Hz sine at 16 kHz.
        assert!(best < 0.035, "from {from} Hz: error rms {best}");
    }

    #[test]
    fn common_rates_resample_to_16k_without_delay() {
        for from in [8_000, 11_025, 22_050, 44_100, 48_000, 96_000] {
            check(from);
        }
    }

    #[test]
    fn odd_rate_uses_sinc_path() {
        check(44_101);
    }

    #[test]
    fn removes_content_above_new_nyquist() {
        // 12 kHz tone at 48 kHz cannot exist at 16 kHz: it must be filtered, not aliased to 4 kHz.
        let input = sine(12_000.0, 48_000, 1.0);
        let mut r = StreamResampler::new(48_000, 16_000).unwrap();
        r.push(&input).unwrap();
        let out = r.finish().unwrap();
        assert!(
            rms(&out[1000..15000]) < 0.005,
            "aliased energy {}",
            rms(&out[1000..15000])
        );
    }

    #[test]
    fn passthrough_at_target_rate() {
        let input = sine(200.0, 16_000, 0.5);
        let mut r = StreamResampler::new(16_000, 16_000).unwrap();
        r.push(&input).unwrap();
        assert_eq!(r.finish().unwrap(), input);
    }
}
