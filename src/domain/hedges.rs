//! Hedges ("I think", "maybe", "наверное", "мне кажется") and weak words ("very", "очень"):
//! matched from the word lexicon with its context rules, never where the filler detector already
//! counted the same words ("как бы", "kind of").

use std::collections::BTreeMap;
use std::ops::Range;

use super::boundaries::{punct_between, quote, silence_after};
use super::labels::WordKind;
use super::metrics::{HedgeCount, HedgeEvent, HedgeMetrics, Quote};
use super::signal::Span;
use super::stats::{ms, ratio, round};
use super::tokens::{Token, ends_sentence};
use super::word_lexicon::{HedgeEntry, WordLexicon};

/// Fewest hedges in one sentence for it to be quoted as the worst one.
const WORST_SENTENCE_MIN: usize = 2;

/// One match: the entry and the token range it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgeMatch<'a> {
    pub entry: &'a HedgeEntry,
    pub range: Range<usize>,
}

/// Whether `word` ends with `suffix` with at least two letters before it (the suffix "ли" matches
/// "были", not "шли").
fn has_suffix(word: &str, suffix: &str) -> bool {
    word.chars().count() > suffix.chars().count() + 1 && word.ends_with(suffix)
}

/// Whether the entry's context rules allow it at `tokens[i..i + n]`.
fn context_allows(
    tokens: &[Token],
    i: usize,
    entry: &HedgeEntry,
    pauses: &[Span],
    pause_sec: f64,
    tol: f64,
) -> bool {
    let n = entry.words.len();
    let last = i + n - 1;
    // Said in one breath: no punctuation inside.
    if (i..last).any(|k| punct_between(tokens, k)) {
        return false;
    }
    let prev = i.checked_sub(1);
    let bound_before = prev.is_none_or(|p| {
        punct_between(tokens, p)
            || tokens[i].segment_start
            || silence_after(tokens, p, pauses, tol) >= pause_sec
    });
    if let Some(p) = prev
        && !punct_between(tokens, p)
        && entry.not_after.contains(&tokens[p].norm)
    {
        return false;
    }
    let next = tokens.get(last + 1);
    let sentence_end = next.is_none() || ends_sentence(&tokens[last].punct_after);
    // The next word with no punctuation between (punctuation lifts a veto) and, stricter, in the
    // same segment too (said in one breath with it).
    let adjacent = next.filter(|_| !punct_between(tokens, last));
    let joined = adjacent.filter(|nx| !nx.segment_start);
    if let Some(nx) = adjacent
        && (entry.not_before.contains(&nx.norm)
            || entry
                .not_before_suffix
                .iter()
                .any(|s| has_suffix(&nx.norm, s)))
    {
        return false;
    }
    if !entry.only_before_suffix.is_empty()
        && !adjacent.is_some_and(|nx| {
            entry
                .only_before_suffix
                .iter()
                .any(|s| has_suffix(&nx.norm, s))
        })
    {
        return false;
    }
    if entry.needs_next && sentence_end {
        return false;
    }
    if entry.modifies_next && joined.is_none() {
        return false;
    }
    if entry.set_apart && !bound_before {
        return false;
    }
    if entry.set_apart_after {
        let bound_after = joined.is_none_or(|nx| {
            silence_after(tokens, last, pauses, tol) >= pause_sec
                || entry.clause_words.contains(&nx.norm)
        });
        if !bound_after {
            return false;
        }
    }
    true
}

/// Hedge matches in time order. `taken[k]` marks tokens already counted as fillers.
pub fn find<'a>(
    tokens: &[Token],
    taken: &[bool],
    lexicon: &'a WordLexicon,
    pauses: &[Span],
    pause_sec: f64,
    tol: f64,
) -> Vec<HedgeMatch<'a>> {
    // All languages at once (mixed speech); longest entries first.
    let mut entries: Vec<&HedgeEntry> = lexicon
        .languages
        .values()
        .flat_map(|t| t.hedges.iter())
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.words.len()));
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let found = entries.iter().find(|e| {
            let n = e.words.len();
            tokens.get(i..i + n).is_some_and(|span| {
                span.iter().zip(&e.words).all(|(t, w)| t.norm == *w)
                    && !taken[i..i + n].iter().any(|&x| x)
                    && context_allows(tokens, i, e, pauses, pause_sec, tol)
            })
        });
        match found {
            Some(e) => {
                out.push(HedgeMatch {
                    entry: e,
                    range: i..i + e.words.len(),
                });
                i += e.words.len();
            }
            None => i += 1,
        }
    }
    out
}

/// The hedge metrics of a talk.
pub fn hedge_metrics(
    tokens: &[Token],
    matches: &[HedgeMatch],
    sentences: &[Range<usize>],
    speaking_time_sec: f64,
) -> HedgeMetrics {
    let mut counts: BTreeMap<(String, WordKind), usize> = BTreeMap::new();
    let mut events = Vec::with_capacity(matches.len());
    for m in matches {
        *counts.entry((m.entry.text(), m.entry.kind)).or_default() += 1;
        events.push(HedgeEvent {
            text: m.entry.text(),
            kind: m.entry.kind,
            start_sec: ms(tokens[m.range.start].start_sec),
            end_sec: ms(tokens[m.range.end - 1].end_sec),
        });
    }
    let mut items: Vec<HedgeCount> = counts
        .into_iter()
        .map(|((text, kind), count)| HedgeCount { text, kind, count })
        .collect();
    items.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));

    // Per sentence: the first sentence with the highest count wins.
    let mut worst: Option<(usize, &Range<usize>)> = None;
    let mut k = 0;
    for s in sentences {
        let mut c = 0;
        while k < matches.len() && matches[k].range.start < s.end {
            if matches[k].range.start >= s.start {
                c += 1;
            }
            k += 1;
        }
        if c >= WORST_SENTENCE_MIN && worst.is_none_or(|(best, _)| c > best) {
            worst = Some((c, s));
        }
    }
    let weak = matches
        .iter()
        .filter(|m| m.entry.kind == WordKind::Weak)
        .count();
    let total = matches.len();
    HedgeMetrics {
        total,
        hedges: total - weak,
        weak_words: weak,
        per_minute: round(ratio(total as f64, speaking_time_sec / 60.0), 2),
        per_100_words: round(ratio(total as f64 * 100.0, tokens.len() as f64), 2),
        items,
        events,
        worst_sentence: worst.map(|(_, r)| Quote {
            text: quote(tokens, r.clone()),
            start_sec: ms(tokens[r.start].start_sec),
            end_sec: ms(tokens[r.end - 1].end_sec),
            words: r.len(),
        }),
        worst_sentence_count: worst.map_or(0, |(c, _)| c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tokens::test_tokens;

    fn tokens(text: &str) -> Vec<Token> {
        test_tokens(text, "en", 0.35)
    }

    fn found(text: &str) -> Vec<String> {
        let lex = WordLexicon::builtin();
        let t = tokens(text);
        find(&t, &vec![false; t.len()], &lex, &[], 0.5, 0.2)
            .into_iter()
            .map(|m| m.entry.text())
            .collect()
    }

    #[test]
    fn english_hedges_and_lookalikes() {
        assert_eq!(found("I think maybe we could try"), ["i think", "maybe"]);
        assert_eq!(found("It is just a small idea."), ["just"]);
        assert!(found("We arrived just in time.").is_empty());
        assert!(found("I have just finished it.").is_empty());
        assert!(found("I think about it every day.").is_empty());
        assert_eq!(found("It was very good, really good."), ["very", "really"]);
        assert!(found("Is that true? Really?").is_empty());
        assert!(found("What a pretty garden").is_empty());
        assert_eq!(found("it is pretty hard"), ["pretty"]);
        assert!(found("She looked pretty, tall and calm.").is_empty());
    }

    #[test]
    fn english_just_is_recently_only_with_a_cue() {
        // Minimising "just" before a past form: no cue of the recent past.
        assert_eq!(found("We just started with a broom."), ["just"]);
        assert_eq!(found("I just wanted to say thanks."), ["just"]);
        assert_eq!(found("I just need five minutes."), ["just"]);
        // The recent past: a perfect auxiliary, a verb of completion or arrival, a time word.
        assert!(found("We have just started the work.").is_empty());
        assert!(found("They just arrived from Leeds.").is_empty());
        assert!(found("We just launched the app.").is_empty());
        assert!(found("We met just last week.").is_empty());
    }

    #[test]
    fn english_softeners_and_degree_words() {
        assert_eq!(found("we were a little naive"), ["a little"]);
        assert_eq!(found("it was a little bit slow"), ["a little bit"]);
        assert!(found("We had a little time left.").is_empty());
        assert!(found("A little boy waved at us.").is_empty());
        assert!(found("It needs a little attention.").is_empty());
        assert!(found("We talked a little, then left.").is_empty());
        assert_eq!(found("It sold fairly well."), ["fairly"]);
        assert!(found("They treated us fairly and kindly.").is_empty());
        assert!(found("We were treated fairly.").is_empty());
        assert_eq!(found("It was rather slow."), ["rather"]);
        assert!(found("I would rather wait.").is_empty());
        assert!(found("We walked rather than drove.").is_empty());
        assert!(found("Rather, we waited.").is_empty());
        assert_eq!(found("prices went up slightly faster"), ["slightly"]);
    }

    #[test]
    fn sincerity_markers_only_set_apart() {
        assert_eq!(found("Honestly, nobody knew."), ["honestly"]);
        assert_eq!(found("It was, frankly, a mess."), ["frankly"]);
        assert_eq!(found("To be honest, it failed."), ["to be honest"]);
        assert!(found("He answered honestly about it.").is_empty());
        assert!(found("We have to be honest with them.").is_empty());
        assert_eq!(found("Честно говоря, я не знал."), ["честно говоря"]);
        assert_eq!(found("Если честно, я устал."), ["если честно"]);
        assert!(found("Он честно работал весь год.").is_empty());
        assert!(found("Если честно работать, всё получится.").is_empty());
    }

    #[test]
    fn russian_hedges_and_lookalikes() {
        assert_eq!(found("Наверное, мы попробуем"), ["наверное"]);
        assert_eq!(
            found("Мне кажется, это просто идея"),
            ["мне кажется", "просто"]
        );
        assert!(found("я просто сказал правду").is_empty());
        assert_eq!(found("Может, стоит попробовать"), ["может"]);
        assert!(found("он может прийти завтра").is_empty());
        assert!(found("это может быть полезно").is_empty());
        assert!(found("я думаю о проекте").is_empty());
    }

    #[test]
    fn russian_opinion_markers_and_lookalikes() {
        assert_eq!(found("Кажется, это было в августе."), ["кажется"]);
        assert_eq!(found("Задача, кажется, простая."), ["кажется"]);
        assert_eq!(found("Кажется, что всё готово."), ["кажется"]);
        assert!(found("Велосипед кажется тяжёлым.").is_empty());
        assert!(found("Кажется странным, что никто не пришёл.").is_empty());
        assert_eq!(found("Нам кажется, это правильно."), ["нам кажется"]);
        assert!(found("Ему кажется, что он прав.").is_empty());
        assert_eq!(found("Я считаю, мы решили верно."), ["я считаю"]);
        assert_eq!(found("я считаю что это верно"), ["я считаю"]);
        assert!(found("Каждое утро я считаю лыжи.").is_empty());
        assert!(found("Я считаю до десяти.").is_empty());
        assert_eq!(found("Я полагаю, это верно."), ["я полагаю"]);
    }

    #[test]
    fn russian_degree_words_and_lookalikes() {
        assert_eq!(found("Мы слегка подняли цены."), ["слегка"]);
        assert_eq!(found("мы решили её весьма остроумно"), ["весьма"]);
        assert_eq!(found("Это было несколько неожиданно."), ["несколько"]);
        assert_eq!(found("Он несколько странный."), ["несколько"]);
        assert_eq!(found("Стало несколько лучше."), ["несколько"]);
        assert_eq!(found("Отзывы были несколько странными."), ["несколько"]);
        assert!(found("Пришли несколько человек.").is_empty());
        assert!(found("Мы ждали несколько дней.").is_empty());
        assert!(found("В несколько раз больше.").is_empty());
        assert!(found("Я знаю несколько его друзей.").is_empty());
        assert!(found("Это было просто: никто не пришёл.").is_empty());
        assert_eq!(found("Это просто идея."), ["просто"]);
        assert!(found("Довольно, сказала жена.").is_empty());
        assert!(found("Довольно!").is_empty());
        assert!(found("Довольно спорить.").is_empty());
        assert_eq!(found("Дороги довольно плохие."), ["довольно"]);
        assert!(found("Этого достаточно, чтобы начать.").is_empty());
        assert_eq!(found("Прошло достаточно гладко."), ["достаточно"]);
        assert!(found("Подождём немного, а потом начнём.").is_empty());
        assert_eq!(found("Стало немного лучше."), ["немного"]);
    }

    #[test]
    fn fillers_are_not_counted_again() {
        let lex = WordLexicon::builtin();
        let t = tokens("ну вроде бы нормально");
        let mut taken = vec![false; t.len()];
        assert_eq!(find(&t, &taken, &lex, &[], 0.5, 0.2).len(), 1);
        taken[1] = true;
        assert!(find(&t, &taken, &lex, &[], 0.5, 0.2).is_empty());
    }

    #[test]
    fn metrics_quote_the_worst_sentence() {
        let lex = WordLexicon::builtin();
        let t = tokens("I think it works. Maybe it is probably fine, I guess. Done.");
        let m = find(&t, &vec![false; t.len()], &lex, &[], 0.5, 0.2);
        let s = crate::domain::boundaries::sentences(&t, &[], 0.5, 0.2);
        let h = hedge_metrics(&t, &m, &s, 60.0);
        assert_eq!(h.total, 4);
        assert_eq!(h.per_minute, 4.0);
        let w = h.worst_sentence.unwrap();
        assert_eq!(w.text, "Maybe it is probably fine, I guess.");
        assert_eq!(h.worst_sentence_count, 3);
        assert_eq!(w.start_sec, 1.6);
    }
}
