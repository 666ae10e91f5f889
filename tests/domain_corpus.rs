//! The domain analysis against the corpus manifest, with the recogniser taken out of the loop:
//! the transcript is the manifest's text (words spread evenly over each segment's time span) and
//! the speech map is built from the manifest's measured silences. What is left to test is the
//! analysis itself: filler detection (look-alikes not counted), pause counts and classes, phrase
//! and speaking times. The reference clips' samples are read too, so pitch and loudness run on
//! real (synthetic) speech.
//!
//! Run with `--nocapture` to print the per-clip table that `docs/QUALITY.md` quotes.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use speech_coach::domain::signal::{Span, SpeechMap};
use speech_coach::domain::transcript::{Segment, Transcript, Word};
use speech_coach::domain::{AnalysisConfig, AnalysisInput, analyze};
use support::corpus;
use support::manifest::{analyze_words, expected_fillers, found_fillers, num, speech_between};

/// Shortest silence in the manifest (ffmpeg silencedetect d=0.2): the map's minimum pause.
const MIN_SILENCE_S: f64 = 0.2;
/// Times in the manifest are rounded to 1 ms; sums of a dozen of them may be off by a few.
const TIME_TOLERANCE_S: f64 = 0.005;

/// All silences of an entry (inserted pauses and the synthesizer's own gaps) as spans.
fn silences(entry: &Value) -> Vec<Span> {
    let mut out: Vec<Span> = entry["pauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Span::new(num(p, "start_s"), num(p, "end_s")))
        .chain(entry["other_silences"].as_array().unwrap().iter().map(|s| {
            let start = num(s, "start_s");
            Span::new(start, start + num(s, "length_s"))
        }))
        .filter(|s| s.duration_sec() >= MIN_SILENCE_S - 1e-9)
        .collect();
    out.sort_by(|a, b| a.start_sec.total_cmp(&b.start_sec));
    out
}

/// The speech map a perfect VAD would give: segments with their inner silences cut out.
fn speech_map(entry: &Value) -> SpeechMap {
    let gaps = silences(entry);
    let speech = entry["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|seg| speech_between(num(seg, "start_s"), num(seg, "end_s"), &gaps))
        .collect();
    support::manifest::speech_map(entry, speech, gaps)
}

/// The manifest's text as a transcript: each segment's words spread evenly over its span.
fn transcript(entry: &Value) -> Transcript {
    let segments = entry["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seg| {
            let text = seg["text"].as_str().unwrap();
            let (start, end) = (num(seg, "start_s"), num(seg, "end_s"));
            let parts: Vec<&str> = text.split_whitespace().collect();
            let step = (end - start) / parts.len() as f64;
            Segment {
                start_sec: start,
                end_sec: end,
                text: text.into(),
                avg_logprob: 0.0,
                no_speech_prob: 0.0,
                words: parts
                    .iter()
                    .enumerate()
                    .map(|(i, w)| Word {
                        word: (*w).into(),
                        start_sec: start + step * i as f64,
                        end_sec: start + step * (i + 1) as f64,
                        probability: 1.0,
                    })
                    .collect(),
            }
        })
        .collect();
    Transcript {
        language: entry["language"].as_str().unwrap().into(),
        language_probability: 1.0,
        segments,
    }
}

/// Samples of a 16-bit PCM WAV (the reference clips), or None for anything else.
fn wav_samples(path: &PathBuf) -> Option<(Vec<f32>, u32)> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let (mut pos, mut rate, mut bits, mut channels) = (12, 0u32, 0u16, 0u16);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        if id == b"fmt " && body.len() >= 16 {
            channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            bits = u16::from_le_bytes([body[14], body[15]]);
        }
        if id == b"data" {
            if bits != 16 || channels != 1 {
                return None;
            }
            let samples = body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0)
                .collect();
            return Some((samples, rate));
        }
        pos += 8 + len + (len & 1);
    }
    None
}

#[derive(Default)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
}

#[test]
fn corpus_fillers_pauses_and_times_match_the_manifest() {
    let manifest = corpus::manifest();
    let cfg = AnalysisConfig::default();
    let mut total = Score::default();
    let mut rows = Vec::new();
    let mut bare_rows = Vec::new();
    let mut checked = 0;
    for entry in manifest["files"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        match entry["kind"].as_str().unwrap() {
            "speech" => {}
            "silence" | "noise" => {
                let map = SpeechMap {
                    duration_sec: num(entry, "duration_s"),
                    ..Default::default()
                };
                let t = Transcript::default();
                let a = analyze_words(&t, &map, "en", &cfg);
                assert_eq!(a.metrics.fillers.total, 0, "{file}");
                assert_eq!(a.advice.len(), 1, "{file}: one no-speech advice");
                assert_eq!(a.advice[0].title, "No speech found");
                continue;
            }
            _ => continue,
        }
        checked += 1;
        let map = speech_map(entry);
        let t = transcript(entry);
        let language = entry["language"].as_str().unwrap();
        let audio = wav_samples(&corpus::path(file));
        let (samples, rate) = audio.clone().unwrap_or((Vec::new(), 16_000));
        let a = analyze(
            &AnalysisInput {
                transcript: &t,
                speech: &map,
                samples: &samples,
                sample_rate: rate,
                language,
            },
            &cfg,
        );
        let m = &a.metrics;

        // Words: the manifest counts whitespace tokens with a letter or digit, as we do.
        assert_eq!(
            m.words_total as u64,
            entry["word_count"].as_u64().unwrap(),
            "{file}: words"
        );

        // Fillers, per word.
        let expected = expected_fillers(entry);
        let found = found_fillers(m);
        let mut score = Score::default();
        for (w, &n) in &expected {
            let got = found.get(w).copied().unwrap_or(0);
            score.tp += got.min(n);
            score.fn_ += n.saturating_sub(got);
        }
        for (w, &got) in &found {
            score.fp += got.saturating_sub(expected.get(w).copied().unwrap_or(0));
        }
        assert_eq!(
            found, expected,
            "{file}: transcript fillers (look-alikes {})",
            entry["filler_lookalikes"]
        );
        assert_eq!(
            m.fillers.acoustic, 0,
            "{file}: words cover every voiced span, no acoustic fillers"
        );

        // Pauses: every silence of the manifest, counted per threshold like `pause_counts`.
        let counts = &entry["pause_counts"];
        let at_least = |s: f64| {
            m.pauses
                .events
                .iter()
                .filter(|e| e.duration_sec >= s - 1e-9)
                .count() as u64
        };
        assert_eq!(m.pauses.count, map.pauses.len(), "{file}");
        for (key, s) in [
            ("min_0.25_s", 0.25),
            ("min_0.5_s", 0.5),
            ("min_1.0_s", 1.0),
            ("min_2.0_s", 2.0),
        ] {
            assert_eq!(
                at_least(s),
                counts[key].as_u64().unwrap(),
                "{file}: pauses {key}"
            );
        }
        let c = &m.pauses.classes;
        assert_eq!(
            (c.deliberate + c.long + c.awkward) as u64,
            counts["min_1.0_s"].as_u64().unwrap(),
            "{file}"
        );

        // Phrases: split at every pause of at least MIN_PHRASE_PAUSE_SEC (0.5 s).
        assert_eq!(
            m.phrases.count as u64,
            counts["min_0.5_s"].as_u64().unwrap() + 1,
            "{file}: phrases"
        );

        // Times. speaking_time_sec = first speech start → last speech end, pauses included.
        let segs = entry["segments"].as_array().unwrap();
        let span = num(segs.last().unwrap(), "end_s") - num(&segs[0], "start_s");
        assert!(
            (m.speaking_time_sec - span).abs() <= TIME_TOLERANCE_S,
            "{file}: speaking {} vs {span}",
            m.speaking_time_sec
        );
        let voiced = num(entry, "voiced_time_s");
        assert!(
            (m.voiced_time_sec - voiced).abs() <= TIME_TOLERANCE_S,
            "{file}: voiced {} vs {voiced}",
            m.voiced_time_sec
        );
        // The phrase time differs from the manifest's expected speaking time by exactly the
        // inserted pauses shorter than 0.5 s (speech to us) and the synthesizer's own gaps of
        // 0.5 s or more (pauses to us).
        let short_inserted: f64 = entry["pauses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| num(p, "length_s"))
            .filter(|&l| l < cfg.min_phrase_pause_sec)
            .sum();
        let long_gaps: f64 = entry["other_silences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| num(s, "length_s"))
            .filter(|&l| l >= cfg.min_phrase_pause_sec)
            .sum();
        let expected_phrase_time =
            num(entry, "expected_speaking_time_s") + short_inserted - long_gaps;
        assert!(
            (m.phrases.total_duration_sec - expected_phrase_time).abs() <= TIME_TOLERANCE_S,
            "{file}: phrase time {} vs {expected_phrase_time}",
            m.phrases.total_duration_sec
        );

        if audio.is_some() {
            assert!(
                m.voice.pitch_median_hz.is_some(),
                "{file}: speech has a pitch"
            );
        }

        // Advice: in the recording's language, each grounded in a number.
        assert!(!a.advice.is_empty(), "{file}");
        for item in &a.advice {
            let cyrillic = item
                .observation
                .chars()
                .any(|c| matches!(c, 'а'..='я' | 'А'..='Я'));
            assert_eq!(
                cyrillic,
                language == "ru",
                "{file}: advice language: {}",
                item.observation
            );
            assert!(
                item.observation.chars().any(|c| c.is_ascii_digit()),
                "{file}: ungrounded advice {item:?}"
            );
        }
        if file.starts_with("clips/") {
            println!("{file}:");
            for item in &a.advice {
                println!(
                    "  [{}/{}] {} — {} → {}",
                    item.category, item.severity, item.title, item.observation, item.recommendation
                );
            }
        }
        rows.push(format!(
            "| `{file}` | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {:.1} | {} |",
            expected.values().sum::<usize>(),
            score.tp,
            score.fp,
            score.fn_,
            ratio(score.tp, score.tp + score.fp),
            ratio(score.tp, score.tp + score.fn_),
            m.pauses.count,
            m.phrases.count,
            m.words_per_minute,
            match (m.voice.pitch_median_hz, m.voice.pitch_range_semitones) {
                (Some(hz), Some(r)) => format!(
                    "{hz:.0} Hz, {r:.1} st, {} monotone",
                    m.voice.monotone_stretches.len()
                ),
                _ => "–".into(),
            }
        ));
        // Ablation: the same transcript without any punctuation (a recogniser that writes none).
        // Ambiguous words then rely on segment starts and VAD pauses alone: recall drops, but a
        // look-alike must still never count.
        let mut bare = t.clone();
        for seg in &mut bare.segments {
            for w in &mut seg.words {
                w.word = w
                    .word
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '\'')
                    .collect();
            }
        }
        let b = analyze(
            &AnalysisInput {
                transcript: &bare,
                speech: &map,
                samples: &[],
                sample_rate: rate,
                language,
            },
            &cfg,
        );
        let mut bare_tp = 0;
        let mut bare_fp = 0;
        for i in &b.metrics.fillers.items {
            let n = expected.get(&i.word).copied().unwrap_or(0);
            bare_tp += i.count.min(n);
            bare_fp += i.count.saturating_sub(n);
        }
        assert_eq!(
            bare_fp, 0,
            "{file}: without punctuation a look-alike was counted: {:?}",
            b.metrics.fillers.items
        );
        bare_rows.push(format!(
            "| `{file}` | {} | {bare_tp} | {bare_fp} | {:.2} | {:.2} |",
            expected.values().sum::<usize>(),
            ratio(bare_tp, bare_tp + bare_fp),
            ratio(bare_tp, expected.values().sum::<usize>())
        ));
        total.tp += score.tp;
        total.fp += score.fp;
        total.fn_ += score.fn_;
    }
    assert!(
        checked >= 6,
        "the corpus has at least the six reference talks, found {checked}"
    );
    println!(
        "| file | fillers | TP | FP | FN | precision | recall | pauses | phrases | wpm | voice |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nwithout punctuation:\n| file | fillers | TP | FP | precision | recall |\n| --- | --- | --- | --- | --- | --- |"
    );
    for r in bare_rows {
        println!("{r}");
    }
    println!(
        "total: TP {} FP {} FN {} precision {:.3} recall {:.3}",
        total.tp,
        total.fp,
        total.fn_,
        ratio(total.tp, total.tp + total.fp),
        ratio(total.tp, total.tp + total.fn_)
    );
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}
