//! Packing a recording's speech into one shorter timeline for Whisper, and mapping times back.
//!
//! Whisper reads 30 s windows whatever they hold: a window that is half silence costs as much
//! as a full one. Long silences (a slide change, a sip of water) are therefore cut out and the
//! speech around them joined, with a short stretch of the real silence kept on each side so the
//! model still hears a pause there. Short pauses (breaths, commas) are kept whole: they are part
//! of how the sentence sounds. Every time Whisper reports on the packed timeline maps back to the
//! recording through [`PackedAudio::to_original_sec`]; no time maps into a cut-out silence.

use super::chunking::speech_samples;
use crate::domain::signal::Span;

/// How speech is packed.
#[derive(Debug, Clone, PartialEq)]
pub struct PackingConfig {
    /// Silences longer than this are cut out (down to `keep_sec` on each side), seconds.
    /// Default 1.0.
    pub max_silence_sec: f64,
    /// Silence kept on each side of a cut, and around speech at the recording's ends, seconds.
    /// Default 0.2.
    pub keep_sec: f64,
    /// Speech spans shorter than this are dropped as clicks, seconds. Default 0.1.
    pub min_speech_sec: f64,
}

impl Default for PackingConfig {
    fn default() -> Self {
        Self {
            max_silence_sec: 1.0,
            keep_sec: 0.2,
            min_speech_sec: 0.1,
        }
    }
}

/// One stretch of the recording copied whole into the packed timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// First sample on the recording's timeline.
    pub original_start: usize,
    /// First sample on the packed timeline.
    pub packed_start: usize,
    /// Samples in the piece.
    pub len: usize,
}

/// The recording's speech on one gap-free timeline, with the map back.
#[derive(Debug, Clone)]
pub struct PackedAudio {
    /// The packed samples (pieces back to back).
    pub samples: Vec<f32>,
    /// Pieces in time order; `packed_start` of each is the sum of the previous lengths.
    pub pieces: Vec<Piece>,
    /// The VAD's speech spans on the packed timeline, seconds.
    pub speech: Vec<Span>,
    sample_rate: u32,
}

impl PackedAudio {
    /// Packs `samples` around the VAD's `speech` spans (seconds on the recording). No speech →
    /// nothing packed.
    pub fn pack(samples: &[f32], sample_rate: u32, speech: &[Span], cfg: &PackingConfig) -> Self {
        let sr = f64::from(sample_rate);
        let total = samples.len();
        let merged = speech_samples(total, sample_rate, speech, cfg.min_speech_sec);
        let keep = (cfg.keep_sec.max(0.0) * sr) as usize;
        let max_silence = (cfg.max_silence_sec.max(0.0) * sr) as usize;
        // Stretches of the recording to copy: speech plus `keep` each side; silences up to
        // `max_silence` stay whole (the stretches then join).
        let mut stretches: Vec<(usize, usize)> = Vec::new();
        for (a, b) in merged {
            let a = a.saturating_sub(keep);
            let b = (b + keep).min(total);
            match stretches.last_mut() {
                Some(last) if a <= last.1 + max_silence.saturating_sub(2 * keep) => {
                    last.1 = last.1.max(b)
                }
                _ => stretches.push((a, b)),
            }
        }
        let mut packed = Vec::with_capacity(stretches.iter().map(|(a, b)| b - a).sum());
        let mut pieces = Vec::with_capacity(stretches.len());
        for (a, b) in stretches {
            pieces.push(Piece {
                original_start: a,
                packed_start: packed.len(),
                len: b - a,
            });
            packed.extend_from_slice(&samples[a..b]);
        }
        let mut this = Self {
            samples: packed,
            pieces,
            speech: Vec::new(),
            sample_rate,
        };
        // The speech spans again, on the packed timeline (each lies inside one piece).
        this.speech = speech
            .iter()
            .filter_map(|s| {
                let a = this.to_packed_sec(s.start_sec)?;
                let b = this.to_packed_sec(s.end_sec)?;
                (b > a).then(|| Span::new(a, b))
            })
            .collect();
        this
    }

    /// Length of the packed timeline, seconds.
    pub fn duration_sec(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Seconds of the recording cut out.
    pub fn removed_sec(&self, original_len: usize) -> f64 {
        original_len.saturating_sub(self.samples.len()) as f64 / f64::from(self.sample_rate)
    }

    /// The piece holding packed time `t` (the last piece for times past the end). A time on the
    /// boundary of two pieces belongs to the later one unless `end_bias`, then to the earlier:
    /// a word that ends at a cut ends before it.
    fn piece_at(&self, t_packed_sec: f64, end_bias: bool) -> Option<&Piece> {
        let pos = t_packed_sec.max(0.0) * f64::from(self.sample_rate);
        let idx = self.pieces.partition_point(|p| {
            let start = p.packed_start as f64;
            if end_bias { start < pos } else { start <= pos }
        });
        self.pieces.get(idx.saturating_sub(1))
    }

    /// Maps a time on the packed timeline to the recording (seconds), clamped into its piece.
    pub fn to_original_sec(&self, t_packed_sec: f64, end_bias: bool) -> f64 {
        let sr = f64::from(self.sample_rate);
        let Some(p) = self.piece_at(t_packed_sec, end_bias) else {
            return t_packed_sec;
        };
        let into = (t_packed_sec * sr - p.packed_start as f64).clamp(0.0, p.len as f64);
        (p.original_start as f64 + into) / sr
    }

    /// Maps a word's `[start, end]` (packed seconds) to the recording. A word straddling a cut
    /// is kept on the side holding most of it, so no word covers a cut-out silence.
    pub fn word_to_original(&self, start: f64, end: f64) -> (f64, f64) {
        let (Some(a), Some(b)) = (self.piece_at(start, false), self.piece_at(end, true)) else {
            return (start, end);
        };
        if a == b {
            return (
                self.to_original_sec(start, false),
                self.to_original_sec(end, true),
            );
        }
        let sr = f64::from(self.sample_rate);
        let a_end = (a.packed_start + a.len) as f64 / sr;
        let b_start = b.packed_start as f64 / sr;
        if a_end - start >= end - b_start {
            (
                self.to_original_sec(start, false),
                self.to_original_sec(a_end, true),
            )
        } else {
            (
                self.to_original_sec(b_start, false),
                self.to_original_sec(end, true),
            )
        }
    }

    /// Maps a recording time into the packed timeline, `None` if it was cut out.
    fn to_packed_sec(&self, t_original_sec: f64) -> Option<f64> {
        let sr = f64::from(self.sample_rate);
        let pos = (t_original_sec * sr).round().max(0.0) as usize;
        let idx = self.pieces.partition_point(|p| p.original_start <= pos);
        let p = self.pieces.get(idx.checked_sub(1)?)?;
        (pos <= p.original_start + p.len)
            .then(|| (p.packed_start + (pos - p.original_start)) as f64 / sr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: u32 = 16_000;

    fn talk() -> (Vec<f32>, Vec<Span>) {
        // 0–1 s silence, 1–4 s speech, 0.5 s pause, 4.5–6 s speech, 10 s silence, 16–18 s speech.
        let mut samples = vec![0.0f32; SR as usize * 20];
        let speech = vec![
            Span::new(1.0, 4.0),
            Span::new(4.5, 6.0),
            Span::new(16.0, 18.0),
        ];
        for s in &speech {
            for x in
                &mut samples[(s.start_sec * 16_000.0) as usize..(s.end_sec * 16_000.0) as usize]
            {
                *x = 0.5;
            }
        }
        (samples, speech)
    }

    #[test]
    fn long_silences_are_cut_short_pauses_kept() {
        let (samples, speech) = talk();
        let p = PackedAudio::pack(&samples, SR, &speech, &PackingConfig::default());
        // Pieces: 0.8–6.2 (the 0.5 s pause stays) and 15.8–18.2.
        assert_eq!(p.pieces.len(), 2, "{:?}", p.pieces);
        assert!((p.duration_sec() - (5.4 + 2.4)).abs() < 1e-3);
        assert!((p.removed_sec(samples.len()) - 12.2).abs() < 1e-3);
        // The speech itself is all there, silence only around it.
        let loud = p.samples.iter().filter(|&&x| x > 0.0).count();
        assert_eq!(loud, SR as usize * 13 / 2);
        assert_eq!(p.speech.len(), 3);
    }

    #[test]
    fn times_map_back_and_never_into_a_cut() {
        let (samples, speech) = talk();
        let p = PackedAudio::pack(&samples, SR, &speech, &PackingConfig::default());
        // Packed 0.2 s = recording 1.0 s (first piece starts at 0.8).
        assert!((p.to_original_sec(0.2, false) - 1.0).abs() < 1e-6);
        // Packed 5.4 s is the cut: as a start it is 15.8 s, as an end 6.2 s.
        assert!((p.to_original_sec(5.4, false) - 15.8).abs() < 1e-6);
        assert!((p.to_original_sec(5.4, true) - 6.2).abs() < 1e-6);
        // A word from packed 5.2 to 5.9 is mostly after the cut: it lands at 15.8–16.3.
        let (a, b) = p.word_to_original(5.2, 5.9);
        assert!(
            (a - 15.8).abs() < 1e-6 && (b - 16.3).abs() < 1e-6,
            "{a} {b}"
        );
        // Nothing maps into the 6.2–15.8 silence.
        for i in 0..=78 {
            let t = p.to_original_sec(f64::from(i) * 0.1, i % 2 == 0);
            assert!(!(6.2 + 1e-6..15.8 - 1e-6).contains(&t), "{t}");
        }
    }

    #[test]
    fn no_speech_packs_nothing() {
        let samples = vec![0.0f32; SR as usize * 3];
        let p = PackedAudio::pack(&samples, SR, &[], &PackingConfig::default());
        assert!(p.samples.is_empty() && p.pieces.is_empty() && p.speech.is_empty());
    }
}
