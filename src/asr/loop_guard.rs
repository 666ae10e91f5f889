//! Detecting and cutting Whisper's degenerate output: repetition loops ("иди, иди, иди, …").
//!
//! Two signals, both used by the decoder's temperature fallback and as a last-resort filter:
//! - the gzip compression ratio of the text (Whisper's own heuristic: > 2.4 means the text is
//!   mostly repeats), which misses short loops;
//! - the longest run of a repeated word n-gram, which catches them.

use std::io::Write;

/// Whisper's compression ratio: bytes of `text` / bytes of its zlib-compressed form.
/// Ordinary speech stays below ~2; loops push it far above 2.4. Empty text gives 0.
pub fn compression_ratio(text: &str) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    enc.write_all(text.as_bytes()).expect("in-memory write");
    let compressed = enc.finish().expect("in-memory write");
    text.len() as f64 / compressed.len().max(1) as f64
}

/// A run of one n-gram repeated back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatRun {
    /// Index of the first word of the run.
    pub start: usize,
    /// Words in the repeated unit (1 = a single word repeated).
    pub ngram: usize,
    /// How many times the unit occurs in a row (>= 1).
    pub repeats: usize,
}

/// Lowercase letters/digits only, so "иди," and "Иди" count as the same word.
fn norm(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The longest back-to-back repetition (by number of repeats) of any word n-gram with
/// `n <= max_ngram`. `None` for fewer than two words.
pub fn longest_repeat<S: AsRef<str>>(words: &[S], max_ngram: usize) -> Option<RepeatRun> {
    let w: Vec<String> = words.iter().map(|s| norm(s.as_ref())).collect();
    if w.len() < 2 {
        return None;
    }
    let mut best = RepeatRun {
        start: 0,
        ngram: 1,
        repeats: 1,
    };
    for n in 1..=max_ngram.max(1).min(w.len() / 2) {
        for start in 0..w.len() {
            let mut repeats = 1;
            while start + (repeats + 1) * n <= w.len()
                && w[start..start + n] == w[start + repeats * n..start + (repeats + 1) * n]
                && w[start..start + n].iter().any(|t| !t.is_empty())
            {
                repeats += 1;
            }
            if repeats > best.repeats {
                best = RepeatRun {
                    start,
                    ngram: n,
                    repeats,
                };
            }
        }
    }
    Some(best)
}

/// True when the words contain a unit repeated more than `max_repeats` times in a row.
pub fn has_loop<S: AsRef<str>>(words: &[S], max_repeats: usize) -> bool {
    longest_repeat(words, 4).is_some_and(|r| r.repeats > max_repeats)
}

/// Indices of the words to keep so that no unit repeats more than `max_repeats` times in a row:
/// the surplus repeats of every run are removed (what a listener would write down), the rest kept.
pub fn dedupe_loops<S: AsRef<str>>(words: &[S], max_repeats: usize) -> Vec<usize> {
    let max_repeats = max_repeats.max(1);
    let mut keep: Vec<usize> = (0..words.len()).collect();
    // Each pass removes the worst run; the loop ends because every pass removes >= 1 word.
    loop {
        let current: Vec<&str> = keep.iter().map(|&i| words[i].as_ref()).collect();
        match longest_repeat(&current, 4) {
            Some(r) if r.repeats > max_repeats => {
                let from = r.start + max_repeats * r.ngram;
                let to = r.start + r.repeats * r.ngram;
                keep.drain(from..to);
            }
            _ => return keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn compression_ratio_separates_speech_from_loops() {
        let speech = "Good morning, everyone. Today I want to talk about remote work and \
                      what we learned over the last two years of running a distributed team.";
        let looped = format!("Добрый день, {}", "иди, ".repeat(60));
        assert!(
            compression_ratio(speech) < 2.0,
            "{}",
            compression_ratio(speech)
        );
        assert!(
            compression_ratio(&looped) > 2.4,
            "{}",
            compression_ratio(&looped)
        );
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn finds_single_word_and_phrase_loops() {
        let r = longest_repeat(&words("Добрый день, иди, иди, Иди, иди. конец"), 4).unwrap();
        assert_eq!((r.start, r.ngram, r.repeats), (2, 1, 4));
        let r = longest_repeat(&words("a b c d b c d b c d e"), 4).unwrap();
        assert_eq!((r.start, r.ngram, r.repeats), (1, 3, 3));
        assert!(longest_repeat(&words("one"), 4).is_none());
    }

    #[test]
    fn normal_sentences_and_deliberate_doubles_are_not_loops() {
        let s = words("So, so many people, you know, really really like it. Thank you so much.");
        assert!(!has_loop(&s, 3));
        assert!(has_loop(&words("go go go go go"), 3));
    }

    #[test]
    fn dedupe_keeps_text_around_the_loop() {
        let w = words("Добрый день, иди, иди, иди, иди, иди, иди, коллеги.");
        let keep = dedupe_loops(&w, 2);
        let kept: Vec<&str> = keep.iter().map(|&i| w[i]).collect();
        assert_eq!(kept, words("Добрый день, иди, иди, коллеги."));
        let clean = words("a b c");
        assert_eq!(dedupe_loops(&clean, 2), vec![0, 1, 2]);
    }
}
