//! Repetitions: immediate repeats ("the the", "we decided we decided", "я… я думаю") and false
//! starts ("we went… we decided", "pro- project"), which are disfluencies like fillers; and,
//! separately, over-used phrases: the same 2–4 content words (stems compared, stop-words left
//! out) said again and again across the talk.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::boundaries::{punct_between, quote, silence_after};
use super::labels::RepetitionKind;
use super::metrics::{OverusedPhrase, RepetitionEvent, RepetitionMetrics, TimeRef};
use super::signal::Span;
use super::stats::{ms, ratio, round};
use super::tokens::{Token, ends_sentence};
use super::word_lexicon::WordLexicon;

/// Longest repeated phrase looked for, words.
const MAX_REPEAT_WORDS: usize = 4;
/// Longest abandoned fragment of a false start, words.
const MAX_FRAGMENT_WORDS: usize = 3;
/// A silence at least this long between two words breaks off a fragment when no punctuation
/// says so, seconds (a restart is marked by a short hitch, not a breath pause).
const RESTART_SILENCE_SEC: f64 = 0.3;
/// Longest silence at a full stop that may still hide a repeat or a false start the recogniser
/// wrote as two sentences, seconds (a sentence really ending is followed by a breath).
const STOP_HITCH_SEC: f64 = 0.6;
/// Content words of an over-used phrase may have at most this many stop-words between them
/// ("рамках нашего проекта" is one phrase, "проект … через неделю … команда" is not).
const MAX_STOPWORDS_BETWEEN: usize = 2;
/// Most over-used phrases reported.
const MAX_OVERUSED: usize = 10;

/// Punctuation that marks a cut-off: ellipsis or a dash.
fn cut_mark(p: &str) -> bool {
    p.contains('…') || p.contains("..") || p.contains('—') || p.contains('–') || p.ends_with('-')
}

/// A sentence end that is not an ellipsis (a trailing-off "…" is where restarts happen).
fn full_stop(p: &str) -> bool {
    ends_sentence(&p.replace('…', "").replace("...", ""))
}

/// Quote marks: a word said inside a quotation and again outside it is no repeat.
fn quote_mark(p: &str) -> bool {
    p.chars()
        .any(|c| matches!(c, '"' | '«' | '»' | '“' | '”' | '„' | '\''))
}

/// Whether each token lies inside quotation marks (opened before it, not yet closed).
fn in_quotes(tokens: &[Token]) -> Vec<bool> {
    let mut depth = false;
    tokens
        .iter()
        .map(|t| {
            for c in t.punct_before.chars() {
                match c {
                    '«' | '“' | '„' => depth = true,
                    '"' => depth = !depth,
                    _ => {}
                }
            }
            let inside = depth;
            for c in t.punct_after.chars() {
                match c {
                    '»' | '”' => depth = false,
                    '"' => depth = !depth,
                    _ => {}
                }
            }
            inside
        })
        .collect()
}

fn has_letter(t: &Token) -> bool {
    t.norm.chars().any(char::is_alphabetic)
}

/// Immediate repeats and false starts, in time order, as (kind, token range).
pub fn find(
    tokens: &[Token],
    taken: &[bool],
    lexicon: &WordLexicon,
    pauses: &[Span],
    tol: f64,
) -> Vec<(RepetitionKind, Range<usize>)> {
    let same = |a: usize, b: usize| tokens[a].norm == tokens[b].norm;
    // Two words may join a repeat: neither a filler, no sentence end or quotation between.
    let joinable = |k: usize| {
        !full_stop(&tokens[k].punct_after)
            && !quote_mark(&tokens[k].punct_after)
            && !quote_mark(&tokens[k + 1].punct_before)
    };
    let quoted = in_quotes(tokens);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // Quoted speech repeats on purpose («мы, мы и только мы»).
        if taken[i] || quoted[i] || !has_letter(&tokens[i]) {
            i += 1;
            continue;
        }
        // Immediate repeat of n words, longest first; copies chain ("we we we").
        let mut hit = None;
        for n in (1..=MAX_REPEAT_WORDS).rev() {
            let end = i + 2 * n;
            if end > tokens.len() {
                continue;
            }
            let copy = (0..n).all(|k| same(i + k, i + n + k));
            let clean = (i..end - 1).all(joinable) && !taken[i..end].iter().any(|&x| x);
            if !(copy && clean) {
                continue;
            }
            if n == 1 && lexicon.is_double(&tokens[i].norm) {
                break;
            }
            let mut stop = end;
            while stop + n <= tokens.len()
                && (0..n).all(|k| same(i + k, stop + k))
                && (stop - 1..stop + n - 1).all(joinable)
                && !taken[stop..stop + n].iter().any(|&x| x)
            {
                stop += n;
            }
            hit = Some((RepetitionKind::Repeat, i..stop));
            break;
        }
        if hit.is_none() {
            hit = restart_at(tokens, taken, lexicon, pauses, tol, i);
        }
        if hit.is_none() {
            hit = split_by_a_stop(tokens, taken, pauses, tol, i);
        }
        match hit {
            Some((kind, r)) => {
                // The last copy (or the new start) is the fluent word: resume on it.
                i = r.end - 1;
                out.push((kind, r));
            }
            None => i += 1,
        }
    }
    out
}

/// A false start beginning at `tokens[i]`: a cut-off word, or a fragment of up to three words
/// broken off and started again with the same first word.
fn restart_at(
    tokens: &[Token],
    taken: &[bool],
    lexicon: &WordLexicon,
    pauses: &[Span],
    tol: f64,
    i: usize,
) -> Option<(RepetitionKind, Range<usize>)> {
    let t = &tokens[i];
    let next = tokens.get(i + 1)?;
    // Cut-off word: "pro- project", "дек… декабре".
    let t_len = t.norm.chars().count();
    if t_len >= 2
        && next.norm.chars().count() > t_len
        && next.norm.starts_with(&t.norm)
        && !taken[i + 1]
        && !full_stop(&t.punct_after)
    {
        let marked = cut_mark(&t.punct_after);
        let silent = !punct_between(tokens, i)
            && !lexicon.is_stopword(&t.norm)
            && silence_after(tokens, i, pauses, tol) >= RESTART_SILENCE_SEC;
        if marked || silent {
            return Some((RepetitionKind::Restart, i..i + 2));
        }
    }
    // A clause of a parallel series that began before this one ("we came — [we saw — we won]").
    let series_before = i > 0
        && !full_stop(&tokens[i - 1].punct_after)
        && (cut_mark(&tokens[i - 1].punct_after) || punct_between(tokens, i - 1))
        && (i.saturating_sub(MAX_FRAGMENT_WORDS + 1)..i - 1).any(|m| tokens[m].norm == t.norm);
    if series_before {
        return None;
    }
    // Fragment tokens[i..j] broken off, then tokens[j] == tokens[i] starts again.
    for len in 1..=MAX_FRAGMENT_WORDS {
        let j = i + len;
        if j + 1 >= tokens.len() {
            break;
        }
        let k = j - 1; // the last word of the fragment
        if taken[i..=j].iter().any(|&x| x) {
            break;
        }
        if full_stop(&tokens[k].punct_after) {
            break;
        }
        // Inside the fragment the words run on.
        if (i..k).any(|m| punct_between(tokens, m)) {
            break;
        }
        let broken = cut_mark(&tokens[k].punct_after)
            || (!punct_between(tokens, k)
                && silence_after(tokens, k, pauses, tol) >= RESTART_SILENCE_SEC);
        if !broken || tokens[j].norm != tokens[i].norm {
            continue;
        }
        // An identical fragment is a repeat, found before this; a one-word fragment restarted
        // ("я… я думаю") too.
        let continuation_same = (0..len).all(|m| {
            tokens
                .get(j + m)
                .is_some_and(|c| c.norm == tokens[i + m].norm)
        });
        if continuation_same {
            return None;
        }
        // The new start must go on, and not be one clause of a parallel series ("we came… we
        // saw… we won"): the same word opening a third clause after another break.
        let sentence_end = (j..tokens.len())
            .find(|&m| full_stop(&tokens[m].punct_after))
            .unwrap_or(tokens.len() - 1);
        if sentence_end < j + 1 {
            return None;
        }
        // (Breaks inside this sentence only: the next sentence may well start with "we".)
        let series = (j + 1..sentence_end.min(j + MAX_FRAGMENT_WORDS + 2)).any(|m| {
            m + 1 < tokens.len()
                && tokens[m + 1].norm == tokens[i].norm
                && (cut_mark(&tokens[m].punct_after) || punct_between(tokens, m))
        });
        if series {
            return None;
        }
        return Some((RepetitionKind::Restart, i..j + 1));
    }
    None
}

/// A repeat or false start the recogniser wrote as two sentences ("The results. The results
/// were good.", "We wanted. We decided to ship it."): a whole sentence of at most
/// `MAX_FRAGMENT_WORDS` words ending in a plain full stop with no real pause after it, and the
/// next sentence opening with its first word and going on longer. Whisper punctuates a spoken
/// "the results, the results were good" this way; a true short sentence is followed by a breath,
/// and one the next sentence merely echoes in full ("Thank you. Thank you.") is no restart.
fn split_by_a_stop(
    tokens: &[Token],
    taken: &[bool],
    pauses: &[Span],
    tol: f64,
    i: usize,
) -> Option<(RepetitionKind, Range<usize>)> {
    if i > 0 && !ends_sentence(&tokens[i - 1].punct_after) {
        return None;
    }
    for len in 1..=MAX_FRAGMENT_WORDS {
        let k = i + len - 1;
        let j = k + 1;
        if j >= tokens.len() || taken[i..=j].iter().any(|&x| x) {
            return None;
        }
        let after = tokens[k].punct_after.trim();
        if after.is_empty() && tokens[j].punct_before.trim().is_empty() {
            continue;
        }
        if after != "." || silence_after(tokens, k, pauses, tol) >= STOP_HITCH_SEC {
            return None;
        }
        if tokens[j].norm != tokens[i].norm {
            return None;
        }
        let next_end = (j..tokens.len())
            .find(|&m| ends_sentence(&tokens[m].punct_after))
            .unwrap_or(tokens.len() - 1);
        if next_end + 1 - j <= len {
            return None;
        }
        let same = (0..len).all(|m| tokens[j + m].norm == tokens[i + m].norm);
        return Some(if same {
            (RepetitionKind::Repeat, i..j + len)
        } else {
            (RepetitionKind::Restart, i..j + 1)
        });
    }
    None
}

/// An n-gram: its length, its stems joined, its occurrences as (first token, last token).
type Gram = (usize, String, Vec<(usize, usize)>);

/// Over-used phrases: stem n-grams (2–4 content words) occurring at least `min_count` times.
pub fn overused(
    tokens: &[Token],
    taken: &[bool],
    sentence_of: &[usize],
    lexicon: &WordLexicon,
    min_count: usize,
) -> Vec<OverusedPhrase> {
    let content = content_words(tokens, taken, sentence_of, lexicon);
    let mut kept = repeated_grams(&content, min_count.max(2));
    // A shorter phrase whose every occurrence lies inside a kept longer one says nothing new.
    let longer: Vec<(String, usize)> = kept
        .iter()
        .map(|(_, key, occ)| (format!(" {key} "), occ.len()))
        .collect();
    kept.retain(|(_, key, occ)| {
        let padded = format!(" {key} ");
        !longer
            .iter()
            .any(|(l, c)| l.len() > padded.len() && l.contains(&padded) && *c >= occ.len())
    });
    kept.sort_by(|a, b| {
        b.2.len()
            .cmp(&a.2.len())
            .then_with(|| b.0.cmp(&a.0))
            .then_with(|| a.2[0].0.cmp(&b.2[0].0))
    });
    kept.into_iter()
        .take(MAX_OVERUSED)
        .map(|(_, _, occ)| overused_phrase(tokens, &occ))
        .collect()
}

/// Content words in order: (token index, stem, chain id). A chain breaks at a sentence end,
/// a filler, or more than MAX_STOPWORDS_BETWEEN stop-words.
fn content_words(
    tokens: &[Token],
    taken: &[bool],
    sentence_of: &[usize],
    lexicon: &WordLexicon,
) -> Vec<(usize, String, usize)> {
    use super::stems::stem;
    let mut content: Vec<(usize, String, usize)> = Vec::new();
    let mut chain = 0;
    let mut stops = 0;
    let mut last_sentence = usize::MAX;
    for (k, t) in tokens.iter().enumerate() {
        if taken[k] {
            chain += 1;
            continue;
        }
        if sentence_of[k] != last_sentence {
            chain += 1;
            last_sentence = sentence_of[k];
        }
        if !has_letter(t) || lexicon.is_stopword(&t.norm) {
            stops += 1;
            if stops > MAX_STOPWORDS_BETWEEN {
                chain += 1;
                stops = 0;
            }
            continue;
        }
        stops = 0;
        content.push((k, stem(&t.norm), chain));
    }
    content
}

/// The 2–4 stem n-grams within one chain occurring at least `min_count` times.
fn repeated_grams(content: &[(usize, String, usize)], min_count: usize) -> Vec<Gram> {
    // n-gram key → occurrences as (first token, last token).
    let mut grams: HashMap<(usize, String), Vec<(usize, usize)>> = HashMap::new();
    for n in 2..=4 {
        for w in content.windows(n) {
            if w[0].2 != w[n - 1].2 {
                continue;
            }
            if w.iter().all(|c| c.1 == w[0].1) {
                continue;
            }
            let key: Vec<&str> = w.iter().map(|c| c.1.as_str()).collect();
            let occ = grams.entry((n, key.join(" "))).or_default();
            // Overlapping occurrences ("data data data") count once.
            if occ.last().is_none_or(|&(_, end)| end < w[0].0) {
                occ.push((w[0].0, w[n - 1].0));
            }
        }
    }
    grams
        .into_iter()
        .filter(|(_, occ)| occ.len() >= min_count)
        .map(|((n, key), occ)| (n, key, occ))
        .collect()
}

/// The phrase of `occ` in its most frequent written form (first seen among equals).
fn overused_phrase(tokens: &[Token], occ: &[(usize, usize)]) -> OverusedPhrase {
    let mut forms: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (order, &(a, b)) in occ.iter().enumerate() {
        let text = tokens[a..=b]
            .iter()
            .map(|t| t.norm.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let e = forms.entry(text).or_insert((0, order));
        e.0 += 1;
    }
    let text = forms
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.1.1.cmp(&a.1.1)))
        .map(|(t, _)| t)
        .unwrap_or_default();
    OverusedPhrase {
        text,
        count: occ.len(),
        occurrences: occ
            .iter()
            .map(|&(a, b)| TimeRef {
                start_sec: ms(tokens[a].start_sec),
                end_sec: ms(tokens[b].end_sec),
                label: None,
            })
            .collect(),
    }
}

/// The repetition metrics from the found repeats/restarts and over-used phrases.
pub fn repetition_metrics(
    tokens: &[Token],
    found: &[(RepetitionKind, Range<usize>)],
    overused_phrases: Vec<OverusedPhrase>,
    min_count: usize,
) -> RepetitionMetrics {
    let repeats = found
        .iter()
        .filter(|(k, _)| *k == RepetitionKind::Repeat)
        .count();
    let restarts = found.len() - repeats;
    RepetitionMetrics {
        repeats,
        restarts,
        per_100_words: round(ratio(found.len() as f64 * 100.0, tokens.len() as f64), 2),
        events: found
            .iter()
            .map(|(kind, r)| RepetitionEvent {
                kind: *kind,
                text: quote(tokens, r.clone()),
                start_sec: ms(tokens[r.start].start_sec),
                end_sec: ms(tokens[r.end - 1].end_sec),
            })
            .collect(),
        overused_phrases,
        overused_min_count: min_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tokens::test_tokens;

    fn tokens(text: &str) -> Vec<Token> {
        test_tokens(text, "en", 0.35)
    }

    fn found(text: &str) -> Vec<(RepetitionKind, String)> {
        let lex = WordLexicon::builtin();
        let t = tokens(text);
        find(&t, &vec![false; t.len()], &lex, &[], 0.2)
            .into_iter()
            .map(|(k, r)| (k, quote(&t, r)))
            .collect()
    }

    #[test]
    fn repeats() {
        assert_eq!(
            found("the the answer"),
            [(RepetitionKind::Repeat, "the the".into())]
        );
        assert_eq!(
            found("we we we decided"),
            [(RepetitionKind::Repeat, "we we we".into())]
        );
        assert_eq!(
            found("we decided we decided to go"),
            [(RepetitionKind::Repeat, "we decided we decided".into())]
        );
        assert_eq!(
            found("Я… я думаю"),
            [(RepetitionKind::Repeat, "Я… я".into())]
        );
        assert!(found("She had had enough.").is_empty());
        assert!(found("Да да, конечно").is_empty());
        assert!(found("It ended. Ended!").is_empty());
        assert!(found("He wrote «мы» мы сами").is_empty());
        assert!(found("Лозунг «мы, мы и только мы» висел").is_empty());
    }

    #[test]
    fn phrase_repeat_across_a_comma() {
        assert_eq!(
            found("the best project we did. The results, the results were good."),
            [(RepetitionKind::Repeat, "The results, the results".into())]
        );
    }

    #[test]
    fn repeats_the_recogniser_split_with_a_full_stop() {
        assert_eq!(
            found("The results. The results were good."),
            vec![(RepetitionKind::Repeat, "The results. The results".into())]
        );
        assert_eq!(
            found("We wanted. We decided to ship it early."),
            vec![(RepetitionKind::Restart, "We wanted. We".into())]
        );
        // A short sentence echoed whole, a question, a longer first sentence: none of them.
        assert!(found("Thank you. Thank you.").is_empty());
        assert!(found("Why? Why did we wait so long?").is_empty());
        assert!(found("We shipped it last year. We decided to wait.").is_empty());
    }

    #[test]
    fn restarts() {
        assert_eq!(
            found("we went… we decided to stay"),
            [(RepetitionKind::Restart, "we went… we".into())]
        );
        assert_eq!(
            found("the pro- project"),
            [(RepetitionKind::Restart, "pro- project".into())]
        );
        assert!(found("we came, we saw, we won").is_empty());
        assert!(found("we came — we saw — we won").is_empty());
        assert!(found("the theory is fine").is_empty());
        assert_eq!(
            found(
                "не успеем. Мы начали… мы закончили быстрее, чем думали. Мы работали, мы учились."
            ),
            [(RepetitionKind::Restart, "Мы начали… мы".into())]
        );
    }

    #[test]
    fn overused_phrases_merge_inflections() {
        let lex = WordLexicon::builtin();
        let t = tokens(
            "Этот проект важен. Для нашего нового проекта нужна команда. Новому проекту \
             мы рады. Нового проекта ждут все.",
        );
        let taken = vec![false; t.len()];
        let s = crate::domain::boundaries::sentences(&t, &[], 0.5, 0.2);
        let of = crate::domain::boundaries::sentence_of(&s, t.len());
        let o = overused(&t, &taken, &of, &lex, 3);
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(o[0].count, 3);
        assert_eq!(o[0].text, "нового проекта");
        assert!(overused(&t, &taken, &of, &lex, 4).is_empty());
    }
}
