//! Words as the analysis sees them: Unicode-aware tokens with their timing and punctuation cues.
//!
//! Whisper writes punctuation attached to words ("Ну,", "так,", "everyone."); it is stripped
//! from the word and kept beside it, because it is the best cue to whether an ambiguous word is
//! used as a filler.

use super::transcript::Transcript;

/// One word of the transcript, normalised for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The word as written, punctuation stripped from its edges (case kept).
    pub raw: String,
    /// Lower case, ё→е, curly apostrophes and hyphens made ASCII: the form used for matching.
    pub norm: String,
    /// Start of the word, seconds.
    pub start_sec: f64,
    /// End of the word, seconds (>= start).
    pub end_sec: f64,
    /// Punctuation written before the word (its own leading punctuation).
    pub punct_before: String,
    /// Punctuation written after the word, including punctuation-only "words" that followed it.
    pub punct_after: String,
    /// Whether the word opens a recogniser segment.
    pub segment_start: bool,
}

impl Token {
    /// Midpoint of the word, seconds.
    pub fn mid_sec(&self) -> f64 {
        (self.start_sec + self.end_sec) / 2.0
    }
}

#[cfg(test)]
impl Token {
    /// A word for unit tests: `word` (normalised by lower-casing) from `start` to `end`, with no
    /// punctuation, not at a segment start.
    pub(crate) fn test_word(word: &str, start: f64, end: f64) -> Self {
        Token {
            raw: word.into(),
            norm: word.to_lowercase(),
            start_sec: start,
            end_sec: end,
            punct_before: String::new(),
            punct_after: String::new(),
            segment_start: false,
        }
    }
}

/// Normalise a word for matching: lower case, ё→е, typographic apostrophes and hyphens made ASCII.
pub fn normalize(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ё' => 'е',
            '’' | 'ʼ' | '‘' | '`' | '´' => '\'',
            '‐' | '‑' => '-',
            other => other,
        })
        .collect()
}

/// Characters that may sit inside a word: hyphens ("всё-таки", "э-э"), apostrophes ("don't"),
/// and decimal separators between digits ("3.5", "3,5").
fn is_inner_joiner(c: char) -> bool {
    matches!(c, '-' | '‐' | '‑' | '\'' | '’' | 'ʼ' | '.' | ',')
}

/// Split a written word into (leading punctuation, core, trailing punctuation). The core runs from
/// the first to the last alphanumeric character; joiners inside it are kept only where they join
/// two alphanumerics (so "3.5" stays one word but "end." loses its full stop).
fn split_word(text: &str) -> (String, String, String) {
    let chars: Vec<char> = text.chars().collect();
    let first = chars.iter().position(|c| c.is_alphanumeric());
    let last = chars.iter().rposition(|c| c.is_alphanumeric());
    let (Some(first), Some(last)) = (first, last) else {
        return (text.to_string(), String::new(), String::new());
    };
    let lead: String = chars[..first].iter().collect();
    let trail: String = chars[last + 1..].iter().collect();
    let mut core = String::new();
    for (i, &c) in chars[first..=last].iter().enumerate() {
        let i = i + first;
        if c.is_alphanumeric() {
            core.push(c);
        } else if is_inner_joiner(c) {
            let digits_only = matches!(c, '.' | ',');
            let prev = chars[i - 1];
            let next = chars[i + 1];
            let joins = if digits_only {
                prev.is_ascii_digit() && next.is_ascii_digit()
            } else {
                prev.is_alphanumeric() && next.is_alphanumeric()
            };
            if joins {
                core.push(c);
            } else {
                // A stray separator inside the "word" (e.g. "слово,слово"): keep it out of the
                // core; the two halves become one token anyway, which is what the recogniser meant.
                core.push(' ');
            }
        } else {
            core.push(' ');
        }
    }
    let core = core.split_whitespace().collect::<Vec<_>>().join(" ");
    (lead, core, trail)
}

/// Turn a transcript into tokens, in time order. Punctuation-only words are folded into the
/// previous token's trailing punctuation; words holding several space-separated parts are split
/// with their time shared evenly. Non-finite or reversed times are repaired (never NaN out).
pub fn tokenize(transcript: &Transcript) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    for segment in &transcript.segments {
        let mut first_in_segment = true;
        for word in &segment.words {
            let (lead, core, trail) = split_word(word.word.trim());
            if core.is_empty() {
                // Punctuation only ("—", "..."): a cue for the word before it.
                if let Some(prev) = tokens.last_mut() {
                    prev.punct_after.push_str(&lead);
                }
                continue;
            }
            let start = finite_or(word.start_sec, tokens.last().map_or(0.0, |t| t.end_sec));
            let end = finite_or(word.end_sec, start).max(start);
            let parts: Vec<&str> = core.split(' ').collect();
            let step = (end - start) / parts.len() as f64;
            for (k, part) in parts.iter().enumerate() {
                let is_first = k == 0;
                let is_last = k + 1 == parts.len();
                tokens.push(Token {
                    raw: (*part).to_string(),
                    norm: normalize(part),
                    start_sec: start + step * k as f64,
                    end_sec: if is_last {
                        end
                    } else {
                        start + step * (k + 1) as f64
                    },
                    punct_before: if is_first {
                        lead.clone()
                    } else {
                        String::new()
                    },
                    punct_after: if is_last {
                        trail.clone()
                    } else {
                        String::new()
                    },
                    segment_start: first_in_segment && is_first,
                });
            }
            first_in_segment = false;
        }
    }
    tokens
}

fn finite_or(x: f64, fallback: f64) -> f64 {
    if x.is_finite() { x } else { fallback }
}

/// Tokens of `text` as a recogniser gives them, for unit tests: one segment, a word every
/// 0.4 s from 0, each `word_sec` long.
#[cfg(test)]
pub(crate) fn test_tokens(text: &str, language: &str, word_sec: f64) -> Vec<Token> {
    use crate::domain::transcript::{Segment, Word};
    let words = text
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| Word {
            word: w.into(),
            start_sec: i as f64 * 0.4,
            end_sec: i as f64 * 0.4 + word_sec,
            probability: 1.0,
        })
        .collect();
    tokenize(&Transcript {
        language: language.into(),
        language_probability: 1.0,
        segments: vec![Segment {
            start_sec: 0.0,
            end_sec: 100.0,
            text: text.into(),
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            words,
        }],
    })
}

/// Whether punctuation text ends a sentence.
pub fn ends_sentence(punct: &str) -> bool {
    punct
        .chars()
        .any(|c| matches!(c, '.' | '!' | '?' | '…' | ';'))
}

/// Whether punctuation text sets a word apart (any punctuation mark at all: comma, dash, colon,
/// ellipsis, sentence end, quotes and brackets).
pub fn is_break(punct: &str) -> bool {
    punct.chars().any(|c| !c.is_whitespace())
}

/// Vowel letters that make a syllable, Russian and English.
fn is_vowel(c: char) -> bool {
    matches!(
        c,
        'а' | 'е'
            | 'ё'
            | 'и'
            | 'о'
            | 'у'
            | 'ы'
            | 'э'
            | 'ю'
            | 'я'
            | 'a'
            | 'e'
            | 'i'
            | 'o'
            | 'u'
            | 'y'
    )
}

/// Syllables of one normalised word by vowel counting: every Cyrillic vowel letter is a syllable;
/// Latin vowel groups count once and a silent final "e" is dropped ("make" = 1). Digits count
/// as one syllable per digit (a rough reading of a number). At least 1 for any word.
pub fn syllables(norm: &str) -> usize {
    let chars: Vec<char> = norm.chars().collect();
    let cyrillic = chars.iter().any(|c| matches!(*c, '\u{0400}'..='\u{04FF}'));
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    let count = if cyrillic {
        chars.iter().filter(|&&c| is_vowel(c)).count()
    } else {
        let mut groups = 0;
        let mut in_group = false;
        for &c in &chars {
            let v = is_vowel(c);
            if v && !in_group {
                groups += 1;
            }
            in_group = v;
        }
        let n = chars.len();
        // Silent final e: "make", "time" (but not "the", "be" — one group only — nor "-le").
        if groups > 1 && n >= 3 && chars[n - 1] == 'e' && !is_vowel(chars[n - 2]) {
            let le = chars[n - 2] == 'l' && !is_vowel(chars[n - 3]);
            if !le {
                groups -= 1;
            }
        }
        groups
    };
    (count + digits).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::transcript::{Segment, Word};

    fn transcript(words: &[(&str, f64, f64)]) -> Transcript {
        Transcript {
            language: "ru".into(),
            language_probability: 1.0,
            segments: vec![Segment {
                start_sec: 0.0,
                end_sec: 10.0,
                text: String::new(),
                avg_logprob: 0.0,
                no_speech_prob: 0.0,
                words: words
                    .iter()
                    .map(|&(w, s, e)| Word {
                        word: w.into(),
                        start_sec: s,
                        end_sec: e,
                        probability: 0.9,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn splits_punctuation_and_normalises() {
        let t = transcript(&[
            (" Ну,", 0.0, 0.2),
            ("всё-таки", 0.2, 0.6),
            ("Э-э-э...", 0.6, 1.0),
            ("don’t", 1.0, 1.2),
            ("3.5", 1.2, 1.4),
            ("—", 1.4, 1.4),
            ("«Ёлка»!", 1.4, 1.8),
        ]);
        let tokens = tokenize(&t);
        let norms: Vec<&str> = tokens.iter().map(|t| t.norm.as_str()).collect();
        assert_eq!(norms, ["ну", "все-таки", "э-э-э", "don't", "3.5", "елка"]);
        assert_eq!(tokens[0].punct_after, ",");
        assert_eq!(tokens[2].punct_after, "...");
        assert_eq!(
            tokens[4].punct_after, "—",
            "punctuation-only word attaches to the previous"
        );
        assert_eq!(tokens[5].punct_before, "«");
        assert_eq!(tokens[5].punct_after, "»!");
        assert!(tokens[0].segment_start && !tokens[1].segment_start);
    }

    #[test]
    fn trailing_full_stop_is_not_a_decimal_point() {
        let (lead, core, trail) = split_word("2024.");
        assert_eq!(
            (lead.as_str(), core.as_str(), trail.as_str()),
            ("", "2024", ".")
        );
    }

    #[test]
    fn multi_part_word_is_split_with_shared_time() {
        let t = transcript(&[("как бы", 1.0, 2.0)]);
        let tokens = tokenize(&t);
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].end_sec, 1.5);
        assert_eq!(tokens[1].start_sec, 1.5);
    }

    #[test]
    fn nan_times_are_repaired() {
        let t = transcript(&[("a", 0.0, 1.0), ("b", f64::NAN, f64::NAN)]);
        let tokens = tokenize(&t);
        assert_eq!(tokens[1].start_sec, 1.0);
        assert_eq!(tokens[1].end_sec, 1.0);
    }

    #[test]
    fn counts_syllables() {
        assert_eq!(syllables("молоко"), 3);
        assert_eq!(syllables("все-таки"), 3);
        assert_eq!(syllables("вдрызг"), 1, "no vowel still one syllable");
        assert_eq!(syllables("make"), 1);
        assert_eq!(syllables("table"), 2);
        assert_eq!(syllables("the"), 1);
        assert_eq!(syllables("beautiful"), 3);
        assert_eq!(syllables("42"), 2);
    }
}
