//! Sentence lengths: words per sentence (sentences from punctuation, or from pauses where the
//! recogniser wrote none, see [`super::boundaries::sentences`]), the longest ones quoted with
//! their times, and the share of very long ones.

use std::ops::Range;

use super::boundaries::quote;
use super::metrics::{Quote, SentenceMetrics};
use super::stats::{ms, ratio, round};
use super::tokens::Token;

/// Longest sentences quoted.
const LONGEST_QUOTED: usize = 5;

/// Sentence metrics; sentences of more than `long_words` words are long.
pub fn sentence_metrics(
    tokens: &[Token],
    sentences: &[Range<usize>],
    long_words: usize,
) -> SentenceMetrics {
    if sentences.is_empty() {
        return SentenceMetrics {
            long_words,
            ..Default::default()
        };
    }
    let lengths: Vec<usize> = sentences.iter().map(|r| r.len()).collect();
    let long_count = lengths.iter().filter(|&&n| n > long_words).count();
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    // Longest first, earlier first among equals.
    order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then_with(|| a.cmp(&b)));
    SentenceMetrics {
        count: sentences.len(),
        avg_words: round(
            ratio(lengths.iter().sum::<usize>() as f64, sentences.len() as f64),
            1,
        ),
        max_words: lengths.iter().copied().max().unwrap_or(0),
        long_words,
        long_count,
        long_share: round(ratio(long_count as f64, sentences.len() as f64), 3),
        longest: order
            .into_iter()
            .take(LONGEST_QUOTED)
            .map(|k| {
                let r = sentences[k].clone();
                Quote {
                    text: quote(tokens, r.clone()),
                    start_sec: ms(tokens[r.start].start_sec),
                    end_sec: ms(tokens[r.end - 1].end_sec),
                    words: r.len(),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::boundaries::sentences;
    use crate::domain::tokens::tokenize;
    use crate::domain::transcript::{Segment, Transcript, Word};

    #[test]
    fn counts_long_sentences_and_quotes_the_longest() {
        let text = "One two three. One two three four five six. Seven.";
        let words = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                word: w.into(),
                start_sec: i as f64,
                end_sec: i as f64 + 0.5,
                probability: 1.0,
            })
            .collect();
        let t = tokenize(&Transcript {
            segments: vec![Segment {
                start_sec: 0.0,
                end_sec: 10.0,
                text: text.into(),
                avg_logprob: 0.0,
                no_speech_prob: 0.0,
                words,
            }],
            ..Default::default()
        });
        let s = sentences(&t, &[], 0.5, 0.2);
        let m = sentence_metrics(&t, &s, 5);
        assert_eq!((m.count, m.max_words, m.long_count), (3, 6, 1));
        assert_eq!(m.avg_words, 3.3);
        assert_eq!(m.long_share, 0.333);
        assert_eq!(m.longest[0].text, "One two three four five six.");
        assert_eq!((m.longest[0].start_sec, m.longest[0].end_sec), (3.0, 8.5));
        assert_eq!(sentence_metrics(&t, &[], 5).count, 0);
    }
}
