//! Where one word stops belonging to the next: punctuation when the recogniser wrote it, and the
//! silence between two words when it did not — the gap between their timestamps or a VAD pause
//! lying between them. Whisper sometimes returns a whole window lower-case and unpunctuated;
//! the detectors then lean on these pauses.

use std::ops::Range;

use super::signal::Span;
use super::tokens::{Token, ends_sentence, is_break};

/// A silence between two words at least this long is a boundary (a comma the recogniser did not
/// write), seconds: a breath or hitch, longer than the gaps inside a phrase said in one go.
pub const CUE_SILENCE_SEC: f64 = 0.2;

/// Silence between `tokens[i]` and `tokens[i + 1]`, seconds: the longer of their timestamp gap
/// and any VAD pause lying between them (within `tol` of their edges). 0 for the last token.
pub fn silence_after(tokens: &[Token], i: usize, pauses: &[Span], tol: f64) -> f64 {
    let (Some(a), Some(b)) = (tokens.get(i), tokens.get(i + 1)) else {
        return 0.0;
    };
    let gap = (b.start_sec - a.end_sec).max(0.0);
    // A pause between them: it overlaps the gap (widened by the tolerance, Whisper's word times
    // drift into silences) and its middle lies between the words' middles. Pauses are sorted.
    let (lo, hi) = (a.end_sec - tol, b.start_sec + tol);
    let from = pauses.partition_point(|p| p.end_sec <= lo);
    let vad = pauses[from..]
        .iter()
        .take_while(|p| p.start_sec < hi)
        .filter(|p| {
            let mid = (p.start_sec + p.end_sec) / 2.0;
            mid >= a.mid_sec() && mid <= b.mid_sec()
        })
        .map(Span::duration_sec)
        .fold(0.0, f64::max);
    gap.max(vad)
}

/// Whether punctuation separates `tokens[i]` from the token after it.
pub fn punct_between(tokens: &[Token], i: usize) -> bool {
    match (tokens.get(i), tokens.get(i + 1)) {
        (Some(a), Some(b)) => is_break(&a.punct_after) || is_break(&b.punct_before),
        _ => true,
    }
}

/// Whether the recogniser wrote any sentence punctuation in the segment `tokens[range]`: a
/// window written without it is split at pauses instead.
fn punctuated(tokens: &[Token]) -> bool {
    tokens.iter().any(|t| ends_sentence(&t.punct_after))
}

/// Sentences as token ranges, in order, covering every token. A sentence ends at a full stop,
/// question or exclamation mark, ellipsis or semicolon; inside a recogniser segment written
/// without any of them, at a silence of at least `pause_sec` between two words.
pub fn sentences(tokens: &[Token], pauses: &[Span], pause_sec: f64, tol: f64) -> Vec<Range<usize>> {
    // Segments by their first tokens.
    let mut seg_starts: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| *i == 0 || t.segment_start)
        .map(|(i, _)| i)
        .collect();
    seg_starts.push(tokens.len());
    let mut out = Vec::new();
    let mut start = 0;
    for seg in seg_starts.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let by_pause = !punctuated(&tokens[a..b]);
        for i in a..b {
            let end_here = ends_sentence(&tokens[i].punct_after)
                || (by_pause && i + 1 < b && silence_after(tokens, i, pauses, tol) >= pause_sec)
                // Unpunctuated segment: its end is a sentence end when a pause follows.
                || (by_pause
                    && i + 1 == b
                    && (b == tokens.len() || silence_after(tokens, i, pauses, tol) >= pause_sec));
            if end_here && i + 1 > start {
                out.push(start..i + 1);
                start = i + 1;
            }
        }
    }
    if start < tokens.len() {
        out.push(start..tokens.len());
    }
    out
}

/// The sentence index of every token (same length as `tokens`).
pub fn sentence_of(ranges: &[Range<usize>], n_tokens: usize) -> Vec<usize> {
    let mut out = vec![0; n_tokens];
    for (k, r) in ranges.iter().enumerate() {
        for slot in &mut out[r.clone()] {
            *slot = k;
        }
    }
    out
}

/// The words of `tokens[range]` as written (punctuation kept), for quoting.
pub fn quote(tokens: &[Token], range: Range<usize>) -> String {
    let mut s = String::new();
    for t in &tokens[range] {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&t.punct_before);
        s.push_str(&t.raw);
        s.push_str(&t.punct_after);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(word: &str, start: f64, end: f64, after: &str, seg_start: bool) -> Token {
        Token {
            punct_after: after.into(),
            segment_start: seg_start,
            ..Token::test_word(word, start, end)
        }
    }

    #[test]
    fn silence_is_the_gap_or_the_vad_pause() {
        let t = [tok("a", 0.0, 0.5, "", true), tok("b", 0.6, 1.0, "", false)];
        assert!((silence_after(&t, 0, &[], 0.2) - 0.1).abs() < 1e-9);
        // Whisper stretched "a" over the pause the VAD heard.
        let p = [Span::new(0.3, 0.9)];
        assert!((silence_after(&t, 0, &p, 0.2) - 0.6).abs() < 1e-9);
        assert_eq!(silence_after(&t, 1, &p, 0.2), 0.0);
        // A pause far away does not count.
        assert!((silence_after(&t, 0, &[Span::new(5.0, 6.0)], 0.2) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn sentences_from_punctuation_or_pauses() {
        let t = [
            tok("one", 0.0, 0.3, "", true),
            tok("two", 0.3, 0.6, ".", false),
            tok("three", 1.5, 1.8, "", false),
            tok("four", 1.8, 2.1, "", false),
        ];
        assert_eq!(sentences(&t, &[], 0.5, 0.2), vec![0..2, 2..4]);
        // Unpunctuated: the 0.9 s gap ends the first sentence.
        let mut bare = t.clone();
        bare[1].punct_after.clear();
        assert_eq!(sentences(&bare, &[], 0.5, 0.2), vec![0..2, 2..4]);
        // Punctuated segments are not split at pauses.
        let mut one = t.clone();
        one[1].punct_after = ",".into();
        one[3].punct_after = ".".into();
        assert_eq!(sentences(&one, &[], 0.5, 0.2), vec![0..4]);
        assert!(sentences(&[], &[], 0.5, 0.2).is_empty());
        assert_eq!(quote(&one, 0..2), "one two,");
    }
}
