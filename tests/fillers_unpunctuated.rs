//! Filler recall and precision when the recogniser writes no punctuation and no capitals, and
//! returns the whole clip as one window (what Whisper sometimes does): the corpus texts with
//! punctuation stripped and lower-cased, as one segment, words timed from the manifest.
//!
//! Word times: each manifest segment's speech time (its length less the silences inside it) is
//! shared among its words by letter count; the measured silences inside a segment are the
//! synthesizer's pauses at punctuation, so when a segment has as many inner marks as silences the
//! k-th silence follows the k-th mark, otherwise each goes to the word boundary nearest to where
//! it was measured. The punctuation itself is then stripped: the detector sees only the gaps. Like Whisper, the word before a silence runs on into it (by half the silence, at
//! most 0.15 s) and the next word starts 0.05 s early, so the word gaps shrink and the VAD pauses
//! (the manifest's silences) are the main cue.
//!
//! Run with `--nocapture` for the per-clip table quoted in `docs/QUALITY.md`.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use speech_coach::domain::AnalysisConfig;
use speech_coach::domain::signal::{Span, SpeechMap};
use speech_coach::domain::transcript::{Segment, Transcript, Word};
use support::corpus;
use support::manifest::{analyze_words, expected_fillers, found_fillers, num, speech_between};

/// The manifest's silence detection minimum: every silence it lists is at least this long.
const MIN_SILENCE_S: f64 = 0.2;
/// Bars the issue sets for transcript fillers without punctuation.
const MIN_RECALL: f64 = 0.9;
const MIN_PRECISION: f64 = 0.9;

/// All silences of an entry as (start, length), in time order.
fn silences(entry: &Value) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = entry["pauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (num(p, "start_s"), num(p, "length_s")))
        .chain(
            entry["other_silences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (num(s, "start_s"), num(s, "length_s"))),
        )
        .filter(|s| s.1 >= MIN_SILENCE_S - 1e-9)
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

fn speech_map(entry: &Value) -> SpeechMap {
    let gaps: Vec<Span> = silences(entry)
        .into_iter()
        .map(|(s, l)| Span::new(s, s + l))
        .collect();
    let segs = entry["segments"].as_array().unwrap();
    let (first, last) = (num(&segs[0], "start_s"), num(segs.last().unwrap(), "end_s"));
    let speech = speech_between(first, last, &gaps);
    support::manifest::speech_map(entry, speech, gaps)
}

/// Lower case, letters, digits, inner hyphens and apostrophes only.
fn bare(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// The clip as one unpunctuated, lower-case window with signal-timed words.
fn unpunctuated(entry: &Value) -> Transcript {
    let all_silences = silences(entry);
    let mut words = Vec::new();
    for seg in entry["segments"].as_array().unwrap() {
        let (start, end) = (num(seg, "start_s"), num(seg, "end_s"));
        let inner: Vec<(f64, f64)> = all_silences
            .iter()
            .copied()
            .filter(|(s, l)| *s >= start && s + l <= end)
            .collect();
        let parts: Vec<String> = seg["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(bare)
            .filter(|w| !w.is_empty())
            .collect();
        let weights: Vec<f64> = parts
            .iter()
            .map(|w| w.chars().count() as f64 + 1.0)
            .collect();
        let total_w: f64 = weights.iter().sum();
        let speech_time = (end - start) - inner.iter().map(|s| s.1).sum::<f64>();
        // Boundaries in speech-only time, then each silence at the nearest one.
        let mut bounds = vec![0.0];
        for w in &weights {
            bounds.push(bounds.last().unwrap() + w / total_w * speech_time);
        }
        let mut silence_after: BTreeMap<usize, f64> = BTreeMap::new();
        // The synthesizer pauses at punctuation: when the segment has as many inner marks as
        // measured silences, the k-th silence follows the k-th mark (where Whisper would put
        // the gap); otherwise each silence goes to the word boundary nearest to its time.
        let written: Vec<&str> = seg["text"].as_str().unwrap().split_whitespace().collect();
        let marks: Vec<usize> = written
            .iter()
            .enumerate()
            .filter(|(i, w)| *i + 1 < written.len() && w.ends_with([',', ';', ':', '—']))
            .map(|(i, _)| i + 1)
            .collect();
        if marks.len() == inner.len() && written.len() == parts.len() {
            for (k, (_, l)) in marks.iter().zip(&inner) {
                *silence_after.entry(*k).or_default() += l;
            }
        } else {
            let mut removed = 0.0;
            for (s, l) in &inner {
                let pos = s - start - removed;
                removed += l;
                let k = (1..parts.len())
                    .min_by(|&a, &b| (bounds[a] - pos).abs().total_cmp(&(bounds[b] - pos).abs()))
                    .unwrap_or(0);
                *silence_after.entry(k).or_default() += l;
            }
        }
        let mut t = start;
        for (i, w) in parts.iter().enumerate() {
            let d = bounds[i + 1] - bounds[i];
            words.push(Word {
                word: w.clone(),
                start_sec: t,
                end_sec: t + d,
                probability: 0.9,
            });
            t += d;
            if let Some(l) = silence_after.get(&(i + 1)) {
                // Whisper's drift: the word runs into the silence, the next starts early.
                let last = words.last_mut().unwrap();
                last.end_sec += (l / 2.0).min(0.15);
                t += l - 0.05;
            }
        }
    }
    let text = words
        .iter()
        .map(|w| w.word.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Transcript {
        language: entry["language"].as_str().unwrap().into(),
        language_probability: 1.0,
        segments: vec![Segment {
            start_sec: words.first().map_or(0.0, |w| w.start_sec),
            end_sec: words.last().map_or(0.0, |w| w.end_sec),
            text,
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            words,
        }],
    }
}

#[test]
fn fillers_found_without_punctuation_on_the_corpus() {
    let manifest = corpus::manifest();
    let cfg = AnalysisConfig::default();
    let (mut tp, mut fp, mut expected_total) = (0, 0, 0);
    let (mut clip_tp, mut clip_fp, mut clip_expected) = (0, 0, 0);
    println!("| file | fillers | TP | FP | FN | missed / extra |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for entry in manifest["files"].as_array().unwrap() {
        if entry["kind"] != "speech" {
            continue;
        }
        let file = entry["file"].as_str().unwrap();
        let t = unpunctuated(entry);
        let map = speech_map(entry);
        let a = analyze_words(&t, &map, entry["language"].as_str().unwrap(), &cfg);
        let expected = expected_fillers(entry);
        let found = found_fillers(&a.metrics);
        let (mut t_p, mut f_p, mut diff) = (0, 0, Vec::new());
        for (w, &n) in &expected {
            let got = found.get(w).copied().unwrap_or(0);
            t_p += got.min(n);
            if got < n {
                diff.push(format!("-{w}×{}", n - got));
            }
        }
        for (w, &got) in &found {
            let n = expected.get(w).copied().unwrap_or(0);
            if got > n {
                f_p += got - n;
                diff.push(format!("+{w}×{}", got - n));
            }
        }
        let n: usize = expected.values().sum();
        println!(
            "| `{file}` | {n} | {t_p} | {f_p} | {} | {} |",
            n - t_p,
            diff.join(" ")
        );
        tp += t_p;
        fp += f_p;
        expected_total += n;
        if file.starts_with("clips/") {
            clip_tp += t_p;
            clip_fp += f_p;
            clip_expected += n;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, expected_total));
    println!(
        "all speech files: TP {tp} FP {fp} of {expected_total}: precision {precision:.3} recall {recall:.3}"
    );
    println!(
        "the six clips: TP {clip_tp} FP {clip_fp} of {clip_expected}: precision {:.3} recall {:.3}",
        ratio(clip_tp, clip_tp + clip_fp),
        ratio(clip_tp, clip_expected)
    );
    assert!(expected_total >= 100, "the corpus has its 21 speech files");
    assert!(
        recall >= MIN_RECALL,
        "recall {recall:.3} below {MIN_RECALL}"
    );
    assert!(
        precision >= MIN_PRECISION,
        "precision {precision:.3} below {MIN_PRECISION}"
    );
    assert!(ratio(clip_tp, clip_expected) >= MIN_RECALL);
    assert!(ratio(clip_tp, clip_tp + clip_fp) >= MIN_PRECISION);
}
