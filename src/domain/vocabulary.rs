//! Vocabulary range: the moving-average type-token ratio (MATTR) over stems, compared with the
//! language's usual band, and the most used content words.
//!
//! MATTR (Covington & McFall 2010) averages the type-token ratio of every window of `w`
//! consecutive words, so unlike the plain ratio it does not fall just because a talk is longer.

use std::collections::{BTreeMap, HashMap};

use super::labels::VocabularyFlag;
use super::metrics::{VocabularyMetrics, WordCount};
use super::stats::round;
use super::stems::stem;
use super::tokens::Token;
use super::word_lexicon::WordLexicon;

/// Most used content words reported.
const TOP_WORDS: usize = 10;

/// MATTR of `items` over windows of `window` (the plain type-token ratio when shorter); 0 for
/// no items. Linear time: one count map slides along.
pub fn mattr(items: &[String], window: usize) -> f64 {
    let window = window.max(1);
    if items.is_empty() {
        return 0.0;
    }
    if items.len() <= window {
        let distinct = items.iter().collect::<std::collections::HashSet<_>>().len();
        return distinct as f64 / items.len() as f64;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for it in &items[..window] {
        *counts.entry(it.as_str()).or_default() += 1;
    }
    let mut sum = counts.len() as f64;
    for k in window..items.len() {
        let out = items[k - window].as_str();
        if let Some(c) = counts.get_mut(out) {
            *c -= 1;
            if *c == 0 {
                counts.remove(out);
            }
        }
        *counts.entry(items[k].as_str()).or_default() += 1;
        sum += counts.len() as f64;
    }
    sum / ((items.len() - window + 1) as f64 * window as f64)
}

/// Per stem: count, first position, and each written form's (count, first position).
type StemCount<'a> = (usize, usize, BTreeMap<&'a str, (usize, usize)>);

/// Vocabulary metrics of the words not counted as fillers (`taken`).
pub fn vocabulary_metrics(
    tokens: &[Token],
    taken: &[bool],
    lexicon: &WordLexicon,
    language: &str,
    window: usize,
) -> VocabularyMetrics {
    let words: Vec<&Token> = tokens
        .iter()
        .zip(taken)
        .filter(|(t, taken)| !**taken && t.norm.chars().any(char::is_alphabetic))
        .map(|(t, _)| t)
        .collect();
    let stems: Vec<String> = words.iter().map(|t| stem(&t.norm)).collect();
    let value = mattr(&stems, window);
    let (low, high) = lexicon.table(language).mattr_band;
    let flag = if stems.len() < window {
        VocabularyFlag::TooShort
    } else if value < low {
        VocabularyFlag::Low
    } else if value > high {
        VocabularyFlag::High
    } else {
        VocabularyFlag::Ok
    };
    // Content words by stem: count, and the most frequent written form (first among equals).
    let mut by_stem: BTreeMap<&str, StemCount> = BTreeMap::new();
    for (order, (t, s)) in words.iter().zip(&stems).enumerate() {
        if lexicon.is_stopword(&t.norm) {
            continue;
        }
        let e = by_stem
            .entry(s.as_str())
            .or_insert((0, order, BTreeMap::new()));
        e.0 += 1;
        let f = e.2.entry(t.norm.as_str()).or_insert((0, order));
        f.0 += 1;
    }
    let distinct_stems = stems.iter().collect::<std::collections::HashSet<_>>().len();
    let mut top: Vec<(usize, usize, &str)> = by_stem
        .values()
        .filter(|(count, _, _)| *count >= 2)
        .map(|(count, first, forms)| {
            let form = forms
                .iter()
                .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.1.1.cmp(&a.1.1)))
                .map_or("", |(f, _)| *f);
            (*count, *first, form)
        })
        .collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    VocabularyMetrics {
        mattr: round(value, 3),
        mattr_window: window,
        reference_band: [low, high],
        flag,
        distinct_stems,
        top_words: top
            .into_iter()
            .take(TOP_WORDS)
            .map(|(count, _, word)| WordCount {
                word: word.to_string(),
                count,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn mattr_by_hand() {
        assert_eq!(mattr(&[], 50), 0.0);
        assert_eq!(mattr(&v("a b a b"), 50), 0.5, "short: plain ratio");
        // Windows of 2 over a a b b: {a}, {a,b}, {b} → (1 + 2 + 1) / (3 × 2).
        assert!((mattr(&v("a a b b"), 2) - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(mattr(&v("a b c d e f"), 3), 1.0);
        assert!((mattr(&v("a a a a a a"), 3) - 1.0 / 3.0).abs() < 1e-12);
    }
}
