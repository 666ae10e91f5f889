//! Precision and recall of the word detectors (hedges and weak words, repeats, false starts,
//! over-used phrases; fillers for reference) per language, on the labelled text set in
//! `tests/words/` (markup: `tests/words/README.md`). Each file is one talk: one line = one
//! recogniser segment, words 0.35 s long with 0.05 s gaps, 0.7 s pauses between lines (in the
//! speech map too). The whole analysis runs (`domain::analyze`); its events are mapped back to
//! word positions by their start times.
//!
//! Run with `--nocapture` for the tables quoted in `docs/QUALITY.md`. The tuned set
//! (`tests/words/{en,ru}.txt`, written alongside the rules) fails below 0.9. The held-out set
//! (`tests/words/heldout/`, written by someone else without seeing the rules) is scored and
//! printed in its own table. Its first score (2026-12-02) showed how the rules generalise; its
//! misses were then fixed, so it is seen text since (see its README).

use std::collections::BTreeMap;
use std::path::Path;

use speech_coach::domain::labels::{FillerSource, RepetitionKind};
use speech_coach::domain::metrics::Metrics;
use speech_coach::domain::signal::{Span, SpeechMap};
use speech_coach::domain::transcript::{Segment, Transcript, Word};
use speech_coach::domain::{AnalysisConfig, AnalysisInput, analyze};

const WORDS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/words");
const WORD_SEC: f64 = 0.35;
const GAP_SEC: f64 = 0.05;
const LINE_PAUSE_SEC: f64 = 0.7;
/// The bar the issue sets per detector and language.
const MIN_SCORE: f64 = 0.9;
/// Detectors scored and asserted; `f` (fillers) is printed for reference only.
const ASSERTED: [char; 4] = ['h', 'r', 's', 'o'];

/// A labelled talk: words as written, labels as (kind, first word, last word).
struct Talk {
    lines: Vec<Vec<String>>,
    labels: Vec<(char, usize, usize)>,
}

/// Parse the markup: `[h …]`, `[r …]`, `[s …]`, `[o …]`, `[f …]` label the words inside;
/// `<…>` marks a look-alike (documentation only); `#` starts a comment line.
fn parse(text: &str) -> Talk {
    let mut lines = Vec::new();
    let mut labels = Vec::new();
    let mut n = 0;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = Vec::new();
        let mut open: Option<(char, usize)> = None;
        for part in line.split_whitespace() {
            let mut w = part.replace(['<', '>'], "");
            if let Some(rest) = w.strip_prefix('[') {
                let mut chars = rest.chars();
                let kind = chars.next().expect("label kind");
                assert!(open.is_none(), "nested label in {line}");
                assert!("hrsof".contains(kind), "unknown label {kind} in {line}");
                open = Some((kind, n));
                w = chars.as_str().to_string();
                if w.is_empty() {
                    continue;
                }
            }
            let closes = w.contains(']');
            let w = w.replace(']', "");
            assert!(!w.is_empty(), "empty word in {line}");
            words.push(w);
            n += 1;
            if closes {
                let (kind, start) = open.take().expect("] without [");
                labels.push((kind, start, n - 1));
            }
        }
        assert!(open.is_none(), "unclosed label in {line}");
        lines.push(words);
    }
    Talk { lines, labels }
}

fn transcript(talk: &Talk, language: &str) -> (Transcript, SpeechMap, Vec<f64>) {
    let mut t = 0.5;
    let mut starts = Vec::new();
    let mut segments = Vec::new();
    let mut pauses = Vec::new();
    let mut speech = Vec::new();
    for line in &talk.lines {
        let seg_start = t;
        let words: Vec<Word> = line
            .iter()
            .map(|w| {
                let word = Word {
                    word: w.clone(),
                    start_sec: t,
                    end_sec: t + WORD_SEC,
                    probability: 0.9,
                };
                starts.push(t);
                t += WORD_SEC + GAP_SEC;
                word
            })
            .collect();
        let seg_end = t - GAP_SEC;
        speech.push(Span::new(seg_start, seg_end));
        segments.push(Segment {
            start_sec: seg_start,
            end_sec: seg_end,
            text: line.join(" "),
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            words,
        });
        pauses.push(Span::new(seg_end, seg_end + LINE_PAUSE_SEC));
        t = seg_end + LINE_PAUSE_SEC;
    }
    pauses.pop();
    let map = SpeechMap {
        duration_sec: t + 0.5,
        speech,
        pauses,
        ..Default::default()
    };
    let tr = Transcript {
        language: language.into(),
        language_probability: 1.0,
        segments,
    };
    (tr, map, starts)
}

/// Detections of each kind as word ranges.
fn detections(m: &Metrics, starts: &[f64]) -> Vec<(char, usize, usize)> {
    let index = |sec: f64| -> usize {
        starts
            .iter()
            .position(|&s| (s - sec).abs() < 0.002)
            .unwrap_or_else(|| panic!("no word starts at {sec}"))
    };
    // The last word whose start is before the end.
    let last = |sec: f64| -> usize { starts.iter().rposition(|&s| s < sec).unwrap() };
    let mut out = Vec::new();
    for e in &m.hedges.events {
        out.push(('h', index(e.start_sec), last(e.end_sec)));
    }
    for e in &m.repetitions.events {
        let kind = if e.kind == RepetitionKind::Repeat {
            'r'
        } else {
            's'
        };
        out.push((kind, index(e.start_sec), last(e.end_sec)));
    }
    for p in &m.repetitions.overused_phrases {
        for o in &p.occurrences {
            out.push(('o', index(o.start_sec), last(o.end_sec)));
        }
    }
    for e in &m.fillers.events {
        if e.source == FillerSource::Transcript {
            out.push(('f', index(e.start_sec), last(e.end_sec)));
        }
    }
    out
}

struct Score {
    labels: usize,
    found: usize,
    matched_labels: usize,
    matched_found: usize,
    misses: Vec<String>,
    extras: Vec<String>,
}

fn score(
    kind: char,
    labels: &[(char, usize, usize)],
    found: &[(char, usize, usize)],
    words: &[String],
) -> Score {
    let labels: Vec<_> = labels.iter().filter(|l| l.0 == kind).collect();
    let found: Vec<_> = found.iter().filter(|l| l.0 == kind).collect();
    let overlaps = |a: &(char, usize, usize), b: &(char, usize, usize)| a.1 <= b.2 && b.1 <= a.2;
    let text = |a: usize, b: usize| {
        let lo = a.saturating_sub(3);
        let hi = (b + 3).min(words.len() - 1);
        format!(
            "{} [{}] {}",
            words[lo..a].join(" "),
            words[a..=b].join(" "),
            words[b + 1..=hi].join(" ")
        )
    };
    let mut used = vec![false; found.len()];
    let mut matched_labels = 0;
    let mut misses = Vec::new();
    for l in &labels {
        match (0..found.len()).find(|&k| !used[k] && overlaps(l, found[k])) {
            Some(k) => {
                used[k] = true;
                matched_labels += 1;
            }
            None => misses.push(text(l.1, l.2)),
        }
    }
    let mut extras = Vec::new();
    let mut matched_found = 0;
    for (k, d) in found.iter().enumerate() {
        if used[k] || labels.iter().any(|l| overlaps(l, d)) {
            matched_found += 1;
        } else {
            extras.push(text(d.1, d.2));
        }
    }
    Score {
        labels: labels.len(),
        found: found.len(),
        matched_labels,
        matched_found,
        misses,
        extras,
    }
}

/// The new metrics blocks carry every field the OpenAPI document (generated from the types)
/// lists as required.
fn documented_fields_present(m: &Metrics) {
    let doc = serde_json::to_value(speech_coach::http::openapi::document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let schema = &schemas["Metrics"];
    let value = serde_json::to_value(m).unwrap();
    for key in ["hedges", "repetitions", "vocabulary", "sentences"] {
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == key),
            "metrics.{key} is documented as required"
        );
        let target = schema["properties"][key]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or_else(|| panic!("metrics.{key} refers to its schema"));
        for field in schemas[target]["required"].as_array().unwrap() {
            let field = field.as_str().unwrap();
            assert!(
                value[key].get(field).is_some(),
                "metrics.{key}.{field} documented but missing"
            );
        }
    }
    for field in ["disfluencies", "disfluencies_per_100_words"] {
        assert!(value["fillers"].get(field).is_some(), "fillers.{field}");
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// One scored row: language, detector, precision, recall, labels.
struct Row {
    language: &'static str,
    kind: char,
    precision: f64,
    recall: f64,
    labels: usize,
}

/// Score every language of the set in `dir` (each file at least `min_lines` sentences) and
/// print its table under `title` in one block, so that the two tests' tables do not interleave.
fn run_set(title: &str, dir: &Path, min_lines: usize) -> Vec<Row> {
    let cfg = AnalysisConfig::default();
    let names = BTreeMap::from([
        ('h', "hedges + weak words"),
        ('r', "repeats"),
        ('s', "false starts"),
        ('o', "over-used phrases"),
        ('f', "fillers (reference)"),
    ]);
    let mut rows = Vec::new();
    let mut table = format!(
        "\n{title}\n| language | sentences | detector | labelled | found | precision | recall |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for language in ["en", "ru"] {
        let path = dir.join(format!("{language}.txt"));
        let talk = parse(&std::fs::read_to_string(&path).unwrap());
        assert!(
            talk.lines.len() >= min_lines,
            "{}: {} sentences, the set needs at least {min_lines}",
            path.display(),
            talk.lines.len()
        );
        let words: Vec<String> = talk.lines.iter().flatten().cloned().collect();
        let (t, map, starts) = transcript(&talk, language);
        let a = analyze(
            &AnalysisInput {
                transcript: &t,
                speech: &map,
                samples: &[],
                sample_rate: 16_000,
                language,
            },
            &cfg,
        );
        let found = detections(&a.metrics, &starts);
        if std::env::var_os("WORDS_DEBUG").is_some() {
            for e in &a.metrics.repetitions.events {
                eprintln!(
                    "  {title} {language} repetition event: {} {:?} at {}",
                    e.kind, e.text, e.start_sec
                );
            }
        }
        for (kind, name) in &names {
            let s = score(*kind, &talk.labels, &found, &words);
            let (precision, recall) = (
                ratio(s.matched_found, s.found),
                ratio(s.matched_labels, s.labels),
            );
            table.push_str(&format!(
                "| {language} | {} | {name} | {} | {} | {precision:.3} | {recall:.3} |\n",
                talk.lines.len(),
                s.labels,
                s.found
            ));
            for m in &s.misses {
                eprintln!("  {title} {language} {name} missed: {m}");
            }
            for e in &s.extras {
                eprintln!("  {title} {language} {name} extra: {e}");
            }
            rows.push(Row {
                language,
                kind: *kind,
                precision,
                recall,
                labels: s.labels,
            });
        }
        documented_fields_present(&a.metrics);
        let v = &a.metrics.vocabulary;
        table.push_str(&format!(
            "| {language} | | vocabulary | MATTR {:.3} (band {:?}, {}) | sentences avg {:.1} max {} | | |\n",
            v.mattr,
            v.reference_band,
            v.flag,
            a.metrics.sentences.avg_words,
            a.metrics.sentences.max_words
        ));
    }
    println!("{table}");
    rows
}

/// Rows of the asserted detectors below the bar (or with fewer than `min_labels` labels).
fn below_bar(rows: &[Row], min_labels: usize) -> Vec<String> {
    rows.iter()
        .filter(|r| ASSERTED.contains(&r.kind))
        .filter(|r| r.precision < MIN_SCORE || r.recall < MIN_SCORE || r.labels < min_labels)
        .map(|r| {
            format!(
                "{} {}: precision {:.3} recall {:.3} ({} labelled)",
                r.language, r.kind, r.precision, r.recall, r.labels
            )
        })
        .collect()
}

/// The tuned set (written alongside the rules): every asserted detector at 0.9 or better.
#[test]
fn word_detectors_meet_the_bar_on_the_labelled_set() {
    let rows = run_set(
        "Tuned set (tests/words/{en,ru}.txt)",
        Path::new(WORDS_DIR),
        150,
    );
    let failures = below_bar(&rows, 10);
    assert!(failures.is_empty(), "below {MIN_SCORE}: {failures:#?}");
}

/// The held-out set (`tests/words/heldout/`, written by someone else without seeing the rules).
/// Printed as its own table. Its first score measured how the rules generalise; its misses have
/// been fixed since (2026-12-02), so it is no longer unseen: its table now shows only that the
/// fixes hold (the unseen score is kept in `docs/QUALITY.md`).
///
/// The scores are deliberately not asserted: on the first run (2026-12-02) Russian hedges scored
/// recall 0.871, below the 0.9 bar, and the point of the set was to report that honestly, not to
/// make it pass by a lower floor. After the fixes it stays unasserted, because a pass on seen
/// text would read as a generalisation result. Only the size of the set is checked: enough
/// sentences, and at least 8 labels for each asserted detector.
#[test]
fn word_detectors_on_the_held_out_set() {
    let rows = run_set(
        "HELD-OUT set (tests/words/heldout/{en,ru}.txt; seen since its misses were fixed on \
         2026-12-02; not asserted)",
        &Path::new(WORDS_DIR).join("heldout"),
        80,
    );
    for r in rows.iter().filter(|r| ASSERTED.contains(&r.kind)) {
        assert!(
            r.labels >= 8,
            "held-out {} {}: only {} labels",
            r.language,
            r.kind,
            r.labels
        );
    }
    for f in below_bar(&rows, 8) {
        eprintln!("  held-out below {MIN_SCORE} (reported, not asserted): {f}");
    }
}
