//! Helpers of the recogniser tests and the ASR benchmark: corpus clips as samples, a simple
//! energy VAD standing in for the audio module's, word error rate and alignment.
//!
//! Part of `tests/support` (`support::asr`); `benches/asr_rtf.rs` includes it on its own (it
//! brings its own `corpus`).
#![allow(dead_code)]

// Its own copy, so benches and examples can include this file alone; inside `support` the
// same file is also `support::corpus` (same items, no state).
#[allow(clippy::duplicate_mod)]
#[path = "corpus.rs"]
mod corpus;

use std::path::Path;

use speech_coach::domain::signal::Span;

/// The manifest entry of a corpus file (`clips/en_talk_1.wav`).
pub fn manifest_entry(file: &str) -> serde_json::Value {
    corpus::entry(file).clone()
}

/// Samples of a 16-bit PCM WAV, mono or averaged to mono, as f32 in [-1, 1]. Returns the rate.
pub fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[0..4], b"RIFF", "{} is not RIFF", path.display());
    let mut pos = 12;
    let (mut channels, mut rate, mut bits) = (0u16, 0u32, 0u16);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            bits = u16::from_le_bytes([body[14], body[15]]);
        } else if id == b"data" {
            assert_eq!(bits, 16, "only 16-bit PCM in these helpers");
            let ch = channels.max(1) as usize;
            let samples = body
                .chunks_exact(2 * ch)
                .map(|frame| {
                    let sum: f32 = frame
                        .chunks_exact(2)
                        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                        .sum();
                    sum / ch as f32
                })
                .collect();
            return (samples, rate);
        }
        pos += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// A corpus clip at 16 kHz (all `clips/` and `edge/` files are).
pub fn read_clip(file: &str) -> Vec<f32> {
    let (s, rate) = read_wav(&corpus::path(file));
    assert_eq!(rate, 16_000, "{file}");
    s
}

/// Energy VAD: 20 ms frames above `threshold_db` dBFS are speech; gaps shorter than 0.3 s are
/// bridged and blips shorter than 0.1 s dropped. Deliberately naive (white noise at -36 dBFS
/// counts as "speech"), so the recogniser's own no-speech handling is exercised.
pub fn energy_speech_spans(samples: &[f32], rate: u32, threshold_db: f32) -> Vec<Span> {
    let frame = (rate / 50) as usize;
    let frame_sec = frame as f64 / f64::from(rate);
    let mut spans: Vec<Span> = Vec::new();
    for (i, chunk) in samples.chunks(frame).enumerate() {
        let rms = (chunk.iter().map(|x| x * x).sum::<f32>() / chunk.len() as f32).sqrt();
        let db = 20.0 * rms.max(1e-10).log10();
        if db < threshold_db {
            continue;
        }
        let (a, b) = (i as f64 * frame_sec, (i + 1) as f64 * frame_sec);
        match spans.last_mut() {
            Some(last) if a - last.end_sec < 0.3 => last.end_sec = b,
            _ => spans.push(Span::new(a, b)),
        }
    }
    spans.retain(|s| s.duration_sec() >= 0.1);
    spans
}

/// Lowercase, ё→е, punctuation dropped, hyphens split ("э-э" is two words): the corpus README's
/// normalisation for word error rates.
pub fn normalise_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('ё', "е")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Word-level Levenshtein distance / reference length.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = normalise_words(reference);
    let h = normalise_words(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len() as f64
}

/// How many of the manifest's fillers appear in the hypothesis, matched as word sequences in
/// order of the reference (each occurrence found at most once). Returns (found, total).
pub fn filler_recall(fillers: &serde_json::Value, hypothesis: &str) -> (usize, usize) {
    let hyp = normalise_words(hypothesis);
    let mut used = vec![false; hyp.len()];
    let (mut found, mut total) = (0, 0);
    for (filler, count) in fillers.as_object().into_iter().flatten() {
        let fw = normalise_words(filler);
        let n = count.as_u64().unwrap_or(0) as usize;
        total += n;
        for _ in 0..n {
            // "э-э" is also accepted when written "э-э-э" or "ээ" by the recogniser.
            let hit = (0..hyp.len()).find(|&i| {
                !used[i]
                    && if fw.iter().all(|w| w == "э") {
                        hyp[i].chars().all(|c| c == 'э')
                    } else {
                        i + fw.len() <= hyp.len() && hyp[i..i + fw.len()] == fw[..]
                    }
            });
            if let Some(i) = hit {
                let len = if fw.iter().all(|w| w == "э") {
                    // consume the whole run of "э" tokens
                    hyp[i..]
                        .iter()
                        .take_while(|w| w.chars().all(|c| c == 'э'))
                        .count()
                } else {
                    fw.len()
                };
                for u in &mut used[i..i + len] {
                    *u = true;
                }
                found += 1;
            }
        }
    }
    (found, total)
}

/// Word-level edit alignment of a hypothesis against a reference (both already normalised).
#[derive(Debug, Clone, Default)]
pub struct Alignment {
    /// For each reference word: whether the hypothesis has it at the aligned place.
    pub matched: Vec<bool>,
    pub substitutions: usize,
    pub deletions: usize,
    pub insertions: usize,
}

impl Alignment {
    /// Reference words the hypothesis lacks entirely, over the reference length.
    pub fn deletion_rate(&self) -> f64 {
        self.deletions as f64 / self.matched.len().max(1) as f64
    }
    /// (S + D + I) / N.
    pub fn wer(&self) -> f64 {
        (self.substitutions + self.deletions + self.insertions) as f64
            / self.matched.len().max(1) as f64
    }
}

/// Levenshtein alignment with a backtrace (ties prefer a match, then a substitution).
pub fn align(reference: &[String], hypothesis: &[String]) -> Alignment {
    let (n, m) = (reference.len(), hypothesis.len());
    let mut d = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in 0..=n {
        d[at(i, 0)] = i as u32;
    }
    for j in 0..=m {
        d[at(0, j)] = j as u32;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[at(i - 1, j - 1)] + u32::from(reference[i - 1] != hypothesis[j - 1]);
            d[at(i, j)] = sub.min(d[at(i - 1, j)] + 1).min(d[at(i, j - 1)] + 1);
        }
    }
    let mut a = Alignment {
        matched: vec![false; n],
        ..Alignment::default()
    };
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 {
            let same = reference[i - 1] == hypothesis[j - 1];
            if d[at(i, j)] == d[at(i - 1, j - 1)] + u32::from(!same) {
                if same {
                    a.matched[i - 1] = true;
                } else {
                    a.substitutions += 1;
                }
                i -= 1;
                j -= 1;
                continue;
            }
        }
        if i > 0 && d[at(i, j)] == d[at(i - 1, j)] + 1 {
            a.deletions += 1;
            i -= 1;
        } else {
            a.insertions += 1;
            j -= 1;
        }
    }
    a
}
