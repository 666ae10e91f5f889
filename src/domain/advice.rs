//! Advice: what to work on, each item grounded in a measured number or moment, in the
//! recording's language (Russian for `ru`, English otherwise).
//!
//! Each rule below decides whether it applies and computes its numbers once; its words (title,
//! observation, recommendation, in both languages) are a [`Rule`] in the tables at the end of
//! the file, filled through [`super::text`].

use super::analysis::AnalysisConfig;
use super::labels::{AdviceCategory, PaceFlag, PauseClass, PhraseLength, Severity, VocabularyFlag};
use super::metrics::{Advice, Metrics, TimeRef};
use super::pace::flagged_stretches;
use super::pauses::phrases_with_words;
use super::progress::MetricProgress;
use super::signal::Span;
use super::stats::ms;
use super::text::{Lang, Noun, Text, mmss, span, tally};
use super::tokens::Token;

/// Filler rates (per 100 words) at which the advice turns from info to suggestion to warning.
/// Around 1–2 per 100 words passes unnoticed in conversation; above 5 listeners notice.
pub const FILLERS_SUGGESTION_PER_100: f64 = 2.0;
pub const FILLERS_WARNING_PER_100: f64 = 5.0;
/// Pace this far outside the band (as a share of the band's edge) is a warning, not a suggestion.
const PACE_WARNING_MARGIN: f64 = 0.15;
/// Below this pitch range (10th–90th percentile) the voice sounds flat, semitones.
pub const NARROW_PITCH_RANGE_ST: f64 = 4.0;
/// A talk this long with no pause of a phrase's length is rushing, seconds.
const NO_PAUSE_SPEECH_SEC: f64 = 20.0;
/// Phrases of near-equal length (duration CV below this, with enough phrases) sound mechanical.
const FLAT_RHYTHM_CV: f64 = 0.2;
const FLAT_RHYTHM_MIN_PHRASES: usize = 5;
/// Evidence items listed per advice (the timeline has all of them).
const MAX_EVIDENCE: usize = 5;
/// Hedge and weak-word rates (per 100 words) at which the advice turns from info to suggestion
/// to warning: one "I think" a paragraph passes; two or three a sentence undercut every claim.
pub const HEDGES_SUGGESTION_PER_100: f64 = 1.5;
pub const HEDGES_WARNING_PER_100: f64 = 4.0;
/// Fewest hedges for any hedge advice: a single "maybe" in a short clip says nothing.
const HEDGES_MIN_COUNT: usize = 3;
/// Repeats and false starts per 100 words at which they are worth a suggestion (and at least
/// this many of them): fluent speakers make about one per 100 words.
const REPEATS_SUGGESTION_PER_100: f64 = 1.0;
const REPEATS_MIN_COUNT: usize = 2;
/// Share of long sentences above which the advice asks to split them.
const LONG_SENTENCES_SHARE: f64 = 0.15;
/// Longest quote in an advice text, characters.
const MAX_QUOTE_CHARS: usize = 140;

/// The words of one kind of advice: its category and, in both languages, its title, what was
/// measured (`{placeholders}` for the numbers) and what to do.
#[derive(Debug, Clone, Copy)]
struct Rule {
    category: AdviceCategory,
    title: Text,
    observation: Text,
    recommendation: Text,
}

impl Rule {
    fn advise(
        self,
        l: Lang,
        severity: Severity,
        args: &[(&str, String)],
        evidence: Vec<TimeRef>,
    ) -> Advice {
        Advice {
            category: self.category,
            severity,
            title: l.fill(self.title, args),
            observation: l.fill(self.observation, args),
            recommendation: l.fill(self.recommendation, args),
            evidence,
        }
    }
}

fn tref(start: f64, end: f64, label: Option<String>) -> TimeRef {
    TimeRef {
        start_sec: ms(start),
        end_sec: ms(end),
        label,
    }
}

/// Words per minute, rounded, with the Russian noun agreeing ("92 слова").
fn wpm(l: Lang, wpm: f64) -> String {
    l.count(wpm.max(0.0).round() as usize, WORD)
}

/// `text`, filled, if `when`; nothing otherwise: an optional sentence of an observation.
fn optional(l: Lang, when: bool, text: Text, args: &[(&str, String)]) -> String {
    if when {
        l.fill(text, args)
    } else {
        String::new()
    }
}

/// `" after «итак»"` when the word before a moment is known.
fn after_word(l: Lang, word: &Option<String>) -> String {
    match word {
        Some(w) => l.fill(AFTER_WORD, &[("word", l.quote(w))]),
        None => String::new(),
    }
}

/// A quote cut to [`MAX_QUOTE_CHARS`] with an ellipsis.
fn short(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTE_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_QUOTE_CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// `"3.1 s"` labels of pause evidence.
fn seconds_label(l: Lang, sec: f64) -> Option<String> {
    Some(format!("{} s", l.num(sec, 1)))
}

fn no_speech(m: &Metrics, duration_sec: f64, l: Lang) -> Advice {
    let args = vec![
        ("voiced", l.num(m.voiced_time_sec, 1)),
        ("duration", l.num(duration_sec, 1)),
    ];
    let rule = if m.voiced_time_sec > 0.0 {
        NO_SPEECH_BUT_VOICE
    } else {
        NO_SPEECH
    };
    rule.advise(
        l,
        Severity::Warning,
        &args,
        vec![tref(0.0, duration_sec, None)],
    )
}

fn pace_advice(m: &Metrics, l: Lang) -> Vec<Advice> {
    let band = m.pace_band_wpm;
    let pace = m.words_per_minute;
    let stretches = flagged_stretches(&m.pace_windows);
    let refs = |flag| stretch_refs(&stretches, flag);
    let args = vec![
        ("wpm", l.num(pace, 0)),
        ("wpm_words", wpm(l, pace)),
        (
            "band",
            format!("{}–{}", l.num(band.min_wpm, 0), l.num(band.max_wpm, 0)),
        ),
        ("min", l.num(band.min_wpm, 0)),
        ("max", l.num(band.max_wpm, 0)),
        ("pauses_sec", l.num(m.pauses.total_sec, 1)),
        ("speaking_sec", l.num(m.speaking_time_sec, 1)),
    ];
    if pace > band.max_wpm {
        let severity = if pace > band.max_wpm * (1.0 + PACE_WARNING_MARGIN) {
            Severity::Warning
        } else {
            Severity::Suggestion
        };
        vec![PACE_FAST.advise(l, severity, &args, refs(Some(PaceFlag::TooFast)))]
    } else if pace < band.min_wpm && pace > 0.0 {
        let severity = if pace < band.min_wpm * (1.0 - PACE_WARNING_MARGIN) {
            Severity::Warning
        } else {
            Severity::Suggestion
        };
        vec![PACE_SLOW.advise(l, severity, &args, refs(Some(PaceFlag::TooSlow)))]
    } else if pace > 0.0 {
        let mut out = vec![PACE_OK.advise(l, Severity::Info, &args, Vec::new())];
        out.extend(pace_drift(&stretches, l));
        out
    } else {
        Vec::new()
    }
}

/// The average is fine, but parts of the talk are not: the first stretch off the band.
fn pace_drift(stretches: &[(f64, f64, PaceFlag, f64)], l: Lang) -> Option<Advice> {
    let s = stretches.first()?;
    let direction = if s.2 == PaceFlag::TooFast {
        FASTER
    } else {
        SLOWER
    };
    let args = [
        ("span", span(s.0, s.1)),
        ("wpm", l.num(s.3, 0)),
        ("wpm_words", wpm(l, s.3)),
        ("direction", l.text(direction).to_owned()),
    ];
    Some(PACE_DRIFT.advise(
        l,
        Severity::Suggestion,
        &args,
        stretch_refs(stretches, None),
    ))
}

/// Evidence of the stretches off the band (those of `flag` only, when given).
fn stretch_refs(stretches: &[(f64, f64, PaceFlag, f64)], flag: Option<PaceFlag>) -> Vec<TimeRef> {
    stretches
        .iter()
        .filter(|s| flag.is_none_or(|f| s.2 == f))
        .take(MAX_EVIDENCE)
        .map(|s| tref(s.0, s.1, Some(format!("{} wpm", s.3))))
        .collect()
}

fn filler_advice(m: &Metrics, l: Lang) -> Vec<Advice> {
    let f = &m.fillers;
    if f.total == 0 {
        let args = vec![("words", m.words_total.to_string())];
        return vec![NO_FILLERS.advise(l, Severity::Info, &args, Vec::new())];
    }
    let severity = if f.per_100_words >= FILLERS_WARNING_PER_100 {
        Severity::Warning
    } else if f.per_100_words >= FILLERS_SUGGESTION_PER_100 {
        Severity::Suggestion
    } else {
        Severity::Info
    };
    let top = tally(
        f.items.iter().take(3).map(|i| (i.word.as_str(), i.count)),
        |w| l.quote(w),
    );
    let mut args = vec![
        ("fillers", l.count(f.total, FILLER)),
        ("per100", l.num(f.per_100_words, 1)),
        ("per_minute", l.num(f.per_minute, 1)),
        ("acoustic", f.acoustic.to_string()),
        ("top", top),
    ];
    let rule = match f.items.first() {
        Some(word) => {
            args.push(("top_word", l.quote(&word.word)));
            FILLERS
        }
        None => Rule {
            recommendation: FILLERS_NO_WORD_REC,
            ..FILLERS
        },
    };
    let evidence = f
        .events
        .iter()
        .filter(|e| e.confidence >= 0.6)
        .take(MAX_EVIDENCE)
        .map(|e| tref(e.start_sec, e.end_sec, e.text.clone()))
        .collect();
    let mut advice = rule.advise(l, severity, &args, evidence);
    advice.observation += &optional(l, !f.items.is_empty(), FILLERS_TOP, &args);
    advice.observation += &optional(l, f.acoustic > 0, FILLERS_ACOUSTIC, &args);
    let mut out = vec![advice];
    if let Some(b) = f.bursts.iter().max_by_key(|b| b.count) {
        let args = vec![
            ("clusters", l.count(f.bursts.len(), CLUSTER)),
            ("fillers", l.count(b.count, FILLER)),
            ("sec", l.num(b.end_sec - b.start_sec, 1)),
            ("span", span(b.start_sec, b.end_sec)),
        ];
        let evidence = f
            .bursts
            .iter()
            .take(MAX_EVIDENCE)
            .map(|b| tref(b.start_sec, b.end_sec, Some(b.count.to_string())))
            .collect();
        out.push(FILLER_BURSTS.advise(l, Severity::Suggestion, &args, evidence));
    }
    out
}

fn pause_advice(m: &Metrics, l: Lang, cfg: &AnalysisConfig) -> Vec<Advice> {
    let p = &m.pauses;
    let mut out = Vec::new();
    let of_class =
        |class: PauseClass| -> Vec<_> { p.events.iter().filter(|e| e.class == class).collect() };
    let evidence = |events: &[&super::metrics::PauseEvent]| -> Vec<TimeRef> {
        events
            .iter()
            .take(MAX_EVIDENCE)
            .map(|e| tref(e.start_sec, e.end_sec, seconds_label(l, e.duration_sec)))
            .collect()
    };
    let limits = [
        ("long_max", l.num(cfg.pause_long_max_sec, 0)),
        ("deliberate_max", l.num(cfg.pause_deliberate_max_sec, 1)),
    ];
    let awkward = of_class(PauseClass::Awkward);
    if let Some(worst) = awkward
        .iter()
        .max_by(|a, b| a.duration_sec.total_cmp(&b.duration_sec))
    {
        let mut args = vec![
            ("pauses", l.count(awkward.len(), PAUSE)),
            ("worst_sec", l.num(worst.duration_sec, 1)),
            ("worst_at", mmss(worst.start_sec)),
            ("context", after_word(l, &worst.word_before)),
        ];
        args.extend(limits.clone());
        out.push(AWKWARD_PAUSES.advise(l, Severity::Warning, &args, evidence(&awkward)));
    }
    let long = of_class(PauseClass::Long);
    if !long.is_empty() {
        let times: Vec<String> = long.iter().take(3).map(|e| mmss(e.start_sec)).collect();
        let mut args = vec![
            ("pauses", l.count(long.len(), PAUSE)),
            ("times", times.join(", ")),
        ];
        args.extend(limits.clone());
        out.push(LONG_PAUSES.advise(l, Severity::Info, &args, evidence(&long)));
    }
    let phrase_pauses = p
        .events
        .iter()
        .filter(|e| e.duration_sec >= cfg.min_phrase_pause_sec)
        .count();
    if phrase_pauses == 0 && m.speaking_time_sec >= NO_PAUSE_SPEECH_SEC {
        let args = vec![
            ("speaking", l.num(m.speaking_time_sec, 0)),
            ("min_pause", l.num(cfg.min_phrase_pause_sec, 1)),
        ];
        out.push(NO_PAUSES.advise(l, Severity::Suggestion, &args, Vec::new()));
    }
    out
}

/// The longest phrases (over the "long" length), longest first, as evidence.
fn longest_phrases(spans: &[Span], tokens: &[Token], cfg: &AnalysisConfig) -> Vec<TimeRef> {
    let phrases = phrases_with_words(spans, tokens, cfg);
    let mut v: Vec<&(Span, usize)> = phrases
        .iter()
        .filter(|(_, w)| *w as f64 > cfg.phrase_long_words)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.1));
    v.into_iter()
        .take(MAX_EVIDENCE)
        .map(|(s, w)| tref(s.start_sec, s.end_sec, Some(w.to_string())))
        .collect()
}

fn phrase_advice(
    m: &Metrics,
    spans: &[Span],
    tokens: &[Token],
    l: Lang,
    cfg: &AnalysisConfig,
) -> Vec<Advice> {
    let ph = &m.phrases;
    let mut out = Vec::new();
    if ph.count == 0 || m.words_total == 0 {
        return out;
    }
    let args = vec![
        ("avg_words", l.num(ph.avg_words, 1)),
        ("max_words", ph.max_words.to_string()),
        ("min_sec", l.num(ph.min_duration_sec, 1)),
        ("max_sec", l.num(ph.max_duration_sec, 1)),
        ("phrases", l.count(ph.count, PHRASE)),
        ("phrases_n", ph.count.to_string()),
        ("variation", l.num(ph.rhythm_variation, 2)),
    ];
    if ph.length_class == Some(PhraseLength::Long) {
        let evidence = longest_phrases(spans, tokens, cfg);
        out.push(LONG_PHRASES.advise(l, Severity::Suggestion, &args, evidence));
    } else if ph.length_class == Some(PhraseLength::Short) && ph.count >= 3 {
        out.push(SHORT_PHRASES.advise(l, Severity::Suggestion, &args, Vec::new()));
    }
    if ph.count >= FLAT_RHYTHM_MIN_PHRASES && ph.rhythm_variation < FLAT_RHYTHM_CV {
        out.push(FLAT_RHYTHM.advise(l, Severity::Suggestion, &args, Vec::new()));
    }
    out
}

fn voice_advice(m: &Metrics, l: Lang, cfg: &AnalysisConfig) -> Vec<Advice> {
    let v = &m.voice;
    let (Some(median_hz), Some(range)) = (v.pitch_median_hz, v.pitch_range_semitones) else {
        return Vec::new();
    };
    let mut args = vec![("range", l.num(range, 1)), ("median", l.num(median_hz, 0))];
    if let Some(first) = v.monotone_stretches.first() {
        let total: f64 = v
            .monotone_stretches
            .iter()
            .map(|s| s.end_sec - s.start_sec)
            .sum();
        args.extend([
            ("stretches", l.count(v.monotone_stretches.len(), STRETCH)),
            ("total", l.num(total, 0)),
            ("std", l.num(cfg.monotone_std_semitones, 1)),
            ("first", span(first.start_sec, first.end_sec)),
        ]);
        let evidence = v
            .monotone_stretches
            .iter()
            .take(MAX_EVIDENCE)
            .map(|s| {
                let label = format!("{} st", l.num(s.pitch_std_semitones, 1));
                tref(s.start_sec, s.end_sec, Some(label))
            })
            .collect();
        vec![MONOTONE.advise(l, Severity::Suggestion, &args, evidence)]
    } else if range < NARROW_PITCH_RANGE_ST {
        vec![NARROW_PITCH.advise(l, Severity::Suggestion, &args, Vec::new())]
    } else {
        vec![LIVELY_VOICE.advise(l, Severity::Info, &args, Vec::new())]
    }
}

fn hedge_advice(m: &Metrics, l: Lang) -> Vec<Advice> {
    let h = &m.hedges;
    if h.total < HEDGES_MIN_COUNT || h.per_100_words < HEDGES_SUGGESTION_PER_100 {
        return Vec::new();
    }
    let severity = if h.per_100_words >= HEDGES_WARNING_PER_100 {
        Severity::Warning
    } else {
        Severity::Suggestion
    };
    let top = tally(
        h.items.iter().take(3).map(|i| (i.text.as_str(), i.count)),
        |w| l.quote(w),
    );
    let mut args = vec![
        ("total", h.total.to_string()),
        ("per100", l.num(h.per_100_words, 1)),
        ("per_minute", l.num(h.per_minute, 1)),
        ("top", top),
        ("worst_count", h.worst_sentence_count.to_string()),
    ];
    let mut evidence = Vec::new();
    if let Some(w) = &h.worst_sentence {
        args.push(("worst_at", mmss(w.start_sec)));
        args.push(("worst", l.quote(&short(&w.text))));
        evidence.push(tref(w.start_sec, w.end_sec, Some(short(&w.text))));
    }
    evidence.extend(
        h.events
            .iter()
            .take(MAX_EVIDENCE - evidence.len())
            .map(|e| tref(e.start_sec, e.end_sec, Some(e.text.clone()))),
    );
    let mut advice = HEDGES.advise(l, severity, &args, evidence);
    advice.observation += &optional(l, h.worst_sentence.is_some(), HEDGES_WORST, &args);
    vec![advice]
}

fn repetition_advice(m: &Metrics, l: Lang) -> Vec<Advice> {
    let r = &m.repetitions;
    let n = r.repeats + r.restarts;
    if n < REPEATS_MIN_COUNT || r.per_100_words < REPEATS_SUGGESTION_PER_100 {
        return Vec::new();
    }
    let first = &r.events[0];
    let f = &m.fillers;
    let args = vec![
        ("repeats", l.count(r.repeats, REPEAT)),
        ("repeats_n", r.repeats.to_string()),
        ("restarts", l.count(r.restarts, RESTART)),
        ("restarts_n", r.restarts.to_string()),
        ("per100", l.num(r.per_100_words, 1)),
        ("first", l.quote(&first.text)),
        ("first_at", mmss(first.start_sec)),
        ("disfluencies", l.count(f.disfluencies, DISFLUENCY)),
        ("disfluencies_n", f.disfluencies.to_string()),
        (
            "disfluencies_per100",
            l.num(f.disfluencies_per_100_words, 1),
        ),
    ];
    let evidence = r
        .events
        .iter()
        .take(MAX_EVIDENCE)
        .map(|e| tref(e.start_sec, e.end_sec, Some(e.text.clone())))
        .collect();
    vec![REPETITIONS.advise(l, Severity::Suggestion, &args, evidence)]
}

fn overused_advice(m: &Metrics, l: Lang) -> Vec<Advice> {
    let phrases = &m.repetitions.overused_phrases;
    let Some(top) = phrases.first() else {
        return Vec::new();
    };
    let occurrences = top.occurrences.iter().take(MAX_EVIDENCE);
    let times: Vec<String> = occurrences.clone().map(|o| mmss(o.start_sec)).collect();
    let others = tally(
        phrases
            .iter()
            .skip(1)
            .take(2)
            .map(|p| (p.text.as_str(), p.count)),
        |w| l.quote(w),
    );
    let args = vec![
        ("phrase", l.quote(&top.text)),
        ("count", top.count.to_string()),
        ("times", times.join(", ")),
        ("others", others),
    ];
    let evidence = occurrences
        .map(|o| tref(o.start_sec, o.end_sec, Some(top.text.clone())))
        .collect();
    let mut advice = OVERUSED.advise(l, Severity::Suggestion, &args, evidence);
    advice.observation += &optional(l, phrases.len() > 1, OVERUSED_OTHERS, &args);
    vec![advice]
}

fn vocabulary_advice(m: &Metrics, l: Lang) -> Vec<Advice> {
    let v = &m.vocabulary;
    if v.flag != VocabularyFlag::Low {
        return Vec::new();
    }
    let top = tally(
        v.top_words
            .iter()
            .take(5)
            .map(|w| (w.word.as_str(), w.count)),
        |w| l.quote(w),
    );
    let args = vec![
        ("window", v.mattr_window.to_string()),
        ("mattr", l.num(v.mattr, 2)),
        ("band_lo", l.num(v.reference_band[0], 2)),
        ("band_hi", l.num(v.reference_band[1], 2)),
        ("top", top),
    ];
    vec![NARROW_VOCABULARY.advise(l, Severity::Suggestion, &args, Vec::new())]
}

fn sentence_advice(m: &Metrics, l: Lang) -> Vec<Advice> {
    let s = &m.sentences;
    if s.long_count == 0 || (s.long_share < LONG_SENTENCES_SHARE && s.long_count < 2) {
        return Vec::new();
    }
    let longest = &s.longest[0];
    let args = vec![
        ("long_count", s.long_count.to_string()),
        ("sentences", l.count(s.count, SENTENCES_OF)),
        ("sentences_n", s.count.to_string()),
        ("long_words", s.long_words.to_string()),
        ("longest_words", longest.words.to_string()),
        ("longest_at", mmss(longest.start_sec)),
        ("longest", l.quote(&short(&longest.text))),
    ];
    let evidence = s
        .longest
        .iter()
        .filter(|q| q.words > s.long_words)
        .take(MAX_EVIDENCE)
        .map(|q| tref(q.start_sec, q.end_sec, Some(format!("{}", q.words))))
        .collect();
    vec![LONG_SENTENCES.advise(l, Severity::Suggestion, &args, evidence)]
}

/// All advice, most severe first.
pub fn advise(
    m: &Metrics,
    spans: &[Span],
    tokens: &[Token],
    duration_sec: f64,
    language: &str,
    cfg: &AnalysisConfig,
) -> Vec<Advice> {
    let l = Lang::of(language);
    if m.words_total == 0 {
        return vec![no_speech(m, duration_sec, l)];
    }
    let mut out = Vec::new();
    out.extend(pace_advice(m, l));
    out.extend(filler_advice(m, l));
    out.extend(pause_advice(m, l, cfg));
    out.extend(phrase_advice(m, spans, tokens, l, cfg));
    out.extend(voice_advice(m, l, cfg));
    out.extend(hedge_advice(m, l));
    out.extend(repetition_advice(m, l));
    out.extend(overused_advice(m, l));
    out.extend(vocabulary_advice(m, l));
    out.extend(sentence_advice(m, l));
    out.sort_by_key(|a| a.severity);
    out
}

/// How a tracked metric is named and printed in advice that cites the history.
struct HistoryLabel {
    label: Text,
    unit: Text,
    decimals: usize,
}

fn history_label(metric: &str) -> Option<HistoryLabel> {
    let (label, unit, decimals) = match metric {
        "fillers_per_minute" => (
            Text::new("Слова-паразиты", "Fillers"),
            Text::new(" в минуту", "/min"),
            1,
        ),
        "pace_wpm" => (Text::new("Темп", "Pace"), Text::new(" сл/мин", " wpm"), 0),
        "longest_pause_sec" => (
            Text::new("Самая длинная пауза", "Longest pause"),
            Text::new(" с", " s"),
            1,
        ),
        "filler_clusters" => (
            Text::new("Скопления паразитов", "Filler clusters"),
            NO_UNIT,
            0,
        ),
        "awkward_pauses" => (Text::new("Неловкие паузы", "Awkward pauses"), NO_UNIT, 0),
        "pitch_spread_semitones" => (
            Text::new("Диапазон голоса", "Pitch range"),
            Text::new(" пт", " semitones"),
            1,
        ),
        "monotone_stretches" => (
            Text::new("Монотонные участки", "Monotone stretches"),
            NO_UNIT,
            0,
        ),
        _ => return None,
    };
    Some(HistoryLabel {
        label,
        unit,
        decimals,
    })
}

/// Advice that cites the change against the speaker's own baseline ("down from 7.3/min, your
/// median of 5 rehearsals"), one item per headline metric that has a baseline. Empty on a
/// first rehearsal.
pub fn history_advice(trends: &[MetricProgress], language: &str) -> Vec<Advice> {
    let l = Lang::of(language);
    trends
        .iter()
        .filter_map(|t| {
            let name = history_label(t.metric)?;
            let (latest, base) = (t.latest?, t.baseline?);
            let value = |x: f64| format!("{}{}", l.num(x, name.decimals), l.text(name.unit));
            let n = t.baseline_rehearsals;
            let source = l.fill(
                HISTORY_SOURCE,
                &[("n", n.to_string()), ("rehearsals", l.count(n, REHEARSAL))],
            );
            let way = if latest < base {
                DOWN_FROM
            } else if latest > base {
                UP_FROM
            } else {
                SAME_AS
            };
            let (severity, recommendation) = match t.improved {
                Some(true) => (Severity::Info, HISTORY_BETTER),
                Some(false) => (Severity::Suggestion, HISTORY_WORSE),
                None => (Severity::Info, HISTORY_NO_CHANGE),
            };
            let label = l.text(name.label);
            Some(Advice {
                category: AdviceCategory::Progress,
                severity,
                title: l.fill(HISTORY_TITLE, &[("label", label.to_owned())]),
                observation: format!(
                    "{label}: {}, {} {} ({source}).",
                    value(latest),
                    l.text(way),
                    value(base)
                ),
                recommendation: l.text(recommendation).to_owned(),
                evidence: vec![],
            })
        })
        .collect()
}

// The words of the advice, one entry per rule. Placeholders are filled by the rule above;
// `{x_n}` is a bare number where `{x}` is the number with its noun.

const WORD: Noun = Noun::new(["слово", "слова", "слов"], ["word", "words"]);
const FILLER: Noun = Noun::new(
    ["слово-паразит", "слова-паразита", "слов-паразитов"],
    ["filler", "fillers"],
);
const CLUSTER: Noun = Noun::new(
    ["скопление", "скопления", "скоплений"],
    ["cluster", "clusters"],
);
const PAUSE: Noun = Noun::new(["пауза", "паузы", "пауз"], ["pause", "pauses"]);
const PHRASE: Noun = Noun::new(["фраза", "фразы", "фраз"], ["phrase", "phrases"]);
const STRETCH: Noun = Noun::new(["участок", "участка", "участков"], ["stretch", "stretches"]);
const REPEAT: Noun = Noun::new(["повтор", "повтора", "повторов"], ["repeat", "repeats"]);
const RESTART: Noun = Noun::new(
    ["фальстарт", "фальстарта", "фальстартов"],
    ["false start", "false starts"],
);
const DISFLUENCY: Noun = Noun::new(
    ["запинка", "запинки", "запинок"],
    ["disfluency", "disfluencies"],
);
/// After «из»: «из 1 предложения», «из 5 предложений».
const SENTENCES_OF: Noun = Noun::new(
    ["предложения", "предложений", "предложений"],
    ["sentence", "sentences"],
);
const REHEARSAL: Noun = Noun::new(
    ["репетиция", "репетиции", "репетиций"],
    ["rehearsal", "rehearsals"],
);

const AFTER_WORD: Text = Text::new(" после {word}", " after {word}");
const FASTER: Text = Text::new("быстрее", "faster");
const SLOWER: Text = Text::new("медленнее", "slower");

const NO_SPEECH: Rule = Rule {
    category: AdviceCategory::General,
    title: Text::new("Речь не найдена", "No speech found"),
    observation: Text::new(
        "В записи длиной {duration} с не найдено речи.",
        "No speech was found in the {duration} s recording.",
    ),
    recommendation: Text::new(
        "Проверьте, что выбран нужный микрофон и что запись содержит выступление; говорите ближе к микрофону и загрузите запись ещё раз.",
        "Check that the right microphone is selected and the recording holds the talk; speak closer to the microphone and upload it again.",
    ),
};

const NO_SPEECH_BUT_VOICE: Rule = Rule {
    observation: Text::new(
        "Голос или шум слышен {voiced} с из {duration} с записи, но не распознано ни одного слова.",
        "Voice or noise is heard for {voiced} s of the {duration} s recording, but not a single word was recognised.",
    ),
    ..NO_SPEECH
};

const PACE_FAST: Rule = Rule {
    category: AdviceCategory::Pace,
    title: Text::new("Слишком быстрый темп", "Speaking too fast"),
    observation: Text::new(
        "Темп {wpm_words} в минуту при комфортных {band}.",
        "You speak at {wpm} words per minute; the comfortable range is {band}.",
    ),
    recommendation: Text::new(
        "Замедлитесь примерно до {max} слов в минуту: делайте паузу 0,5–1 с после каждой мысли и проговаривайте окончания.",
        "Slow down to about {max} words per minute: pause for 0.5–1 s after each idea and finish every word.",
    ),
};

const PACE_SLOW: Rule = Rule {
    category: AdviceCategory::Pace,
    title: Text::new("Слишком медленный темп", "Speaking too slowly"),
    observation: Text::new(
        "Темп {wpm_words} в минуту при комфортных {band}; паузы занимают {pauses_sec} с из {speaking_sec} с речи.",
        "You speak at {wpm} words per minute; the comfortable range is {band}. Pauses take {pauses_sec} s of {speaking_sec} s of speech.",
    ),
    recommendation: Text::new(
        "Поднимите темп до {min} слов в минуту и выше: сократите паузы внутри мыслей и отрепетируйте текст, чтобы не подбирать слова.",
        "Bring the pace up to at least {min} words per minute: shorten pauses inside an idea and rehearse so you don't search for words.",
    ),
};

const PACE_OK: Rule = Rule {
    category: AdviceCategory::Pace,
    title: Text::new("Комфортный темп", "Comfortable pace"),
    observation: Text::new(
        "Темп {wpm_words} в минуту — в пределах {band}.",
        "You speak at {wpm} words per minute, within the {band} range.",
    ),
    recommendation: Text::new(
        "Сохраняйте этот темп и замедляйтесь только на ключевых мыслях, чтобы выделить их.",
        "Keep this pace, and slow down only on key points to make them stand out.",
    ),
};

const PACE_DRIFT: Rule = Rule {
    category: AdviceCategory::Pace,
    title: Text::new("Темп местами сбивается", "The pace drifts in places"),
    observation: Text::new(
        "На {span} темп {wpm_words} в минуту — {direction} комфортного.",
        "At {span} the pace is {wpm} words per minute, {direction} than comfortable.",
    ),
    recommendation: Text::new(
        "Переслушайте эти места: ускорение обычно выдаёт волнение, замедление — неуверенность в тексте. Отрепетируйте их отдельно.",
        "Listen to these parts again: speeding up usually shows nerves, slowing down shows uncertainty about the text. Rehearse them separately.",
    ),
};

const NO_FILLERS: Rule = Rule {
    category: AdviceCategory::Fillers,
    title: Text::new("Без слов-паразитов", "No filler words"),
    observation: Text::new(
        "На {words} слов — ни одного слова-паразита и ни одного «э-э».",
        "Not a single filler or hesitation sound in {words} words.",
    ),
    recommendation: Text::new(
        "Так держать: паузы вместо «э-э» звучат уверенно.",
        "Keep it up: silent pauses instead of \"um\" sound confident.",
    ),
};

const FILLERS: Rule = Rule {
    category: AdviceCategory::Fillers,
    title: Text::new("Слова-паразиты", "Filler words"),
    observation: Text::new(
        "{fillers}: {per100} на 100 слов, {per_minute} в минуту.",
        "{fillers}: {per100} per 100 words, {per_minute} per minute.",
    ),
    recommendation: Text::new(
        "Попросите коллегу хлопать на каждое {top_word} или переслушайте запись с этим счётом; там, где тянет сказать его, сделайте паузу: полсекунды тишины звучат увереннее.",
        "Have a friend tap the table at every {top_word}, or count them while replaying this recording; where you feel the urge to say it, pause instead: half a second of silence sounds more confident.",
    ),
};
const FILLERS_TOP: Text = Text::new(" Чаще всего: {top}.", " Most frequent: {top}.");
const FILLERS_ACOUSTIC: Text = Text::new(
    " Ещё в {acoustic} местах голос звучит без слов — вероятно, «э-э» или «м-м».",
    " In {acoustic} more places the voice sounds without words, probably \"um\" or \"uh\".",
);
const FILLERS_NO_WORD_REC: Text = Text::new(
    "Там, где вы тянете звук, попробуйте просто замолчать на полсекунды и закончить мысль.",
    "Where you draw out a sound, try a half-second silent pause and finish the thought.",
);

const FILLER_BURSTS: Rule = Rule {
    category: AdviceCategory::Fillers,
    title: Text::new("Скопления слов-паразитов", "Clusters of fillers"),
    observation: Text::new(
        "{clusters}; самое плотное — {fillers} за {sec} с на {span}.",
        "{clusters}; the densest has {fillers} within {sec} s at {span}.",
    ),
    recommendation: Text::new(
        "Скопления выдают место, где вы потеряли нить. Переслушайте его и подготовьте для него первую фразу заранее.",
        "A cluster marks the moment you lost the thread. Replay it and prepare its opening sentence in advance.",
    ),
};

const AWKWARD_PAUSES: Rule = Rule {
    category: AdviceCategory::Pauses,
    title: Text::new("Затянутые паузы", "Awkwardly long pauses"),
    observation: Text::new(
        "{pauses} дольше {long_max} с; самая длинная — {worst_sec} с на {worst_at}{context}.",
        "{pauses} longer than {long_max} s; the longest is {worst_sec} s at {worst_at}{context}.",
    ),
    recommendation: Text::new(
        "Паузу дольше 5 с зал воспринимает как сбой. Подготовьте план выступления с опорными словами, чтобы быстро находить следующую мысль.",
        "An audience reads a pause over 5 s as a breakdown. Keep an outline with cue words at hand so the next idea comes quickly.",
    ),
};

const LONG_PAUSES: Rule = Rule {
    category: AdviceCategory::Pauses,
    title: Text::new("Длинные паузы", "Long pauses"),
    observation: Text::new(
        "{pauses} от {deliberate_max} до {long_max} с (на {times}).",
        "{pauses} of {deliberate_max} to {long_max} s (at {times}).",
    ),
    recommendation: Text::new(
        "Такая пауза усиливает главную мысль, если стоит сразу после неё. Проверьте, что эти паузы стоят именно там, а не посреди фразы.",
        "A pause this long strengthens a key point when it comes right after it. Check that these pauses follow key points rather than cut a sentence.",
    ),
};

const NO_PAUSES: Rule = Rule {
    category: AdviceCategory::Pauses,
    title: Text::new("Речь без пауз", "Speech without pauses"),
    observation: Text::new(
        "За {speaking} с речи нет ни одной паузы длиннее {min_pause} с.",
        "{speaking} s of speech without a single pause of {min_pause} s or more.",
    ),
    recommendation: Text::new(
        "Делайте паузу 0,5–1 с в конце каждой мысли: слушателям нужно время, чтобы её понять.",
        "Pause for 0.5–1 s at the end of each idea: listeners need the time to take it in.",
    ),
};

const LONG_PHRASES: Rule = Rule {
    category: AdviceCategory::Phrasing,
    title: Text::new("Длинные фразы без пауз", "Long stretches without a pause"),
    observation: Text::new(
        "В среднем {avg_words} слов между паузами; самая длинная фраза — {max_words} слов, {max_sec} с.",
        "On average {avg_words} words between pauses; the longest phrase has {max_words} words over {max_sec} s.",
    ),
    recommendation: Text::new(
        "Одна мысль — одна фраза, затем пауза. Разбейте эти фрагменты на 2–3 коротких предложения.",
        "One idea, one sentence, then a pause. Split these parts into two or three short sentences.",
    ),
};

const SHORT_PHRASES: Rule = Rule {
    category: AdviceCategory::Phrasing,
    title: Text::new("Рубленая речь", "Choppy phrasing"),
    observation: Text::new(
        "В среднем {avg_words} слов между паузами ({phrases_n} фраз).",
        "On average {avg_words} words between pauses ({phrases_n} phrases).",
    ),
    recommendation: Text::new(
        "Договаривайте мысль до конца на одном дыхании; пауза нужна после мысли, а не через каждые 2–3 слова.",
        "Carry each thought through in one breath; pause after an idea, not every two or three words.",
    ),
};

const FLAT_RHYTHM: Rule = Rule {
    category: AdviceCategory::Phrasing,
    title: Text::new("Однообразный ритм", "Monotonous rhythm"),
    observation: Text::new(
        "{phrases} почти одной длины: {min_sec}–{max_sec} с (вариация {variation}).",
        "{phrases_n} phrases of nearly equal length: {min_sec}–{max_sec} s (variation {variation}).",
    ),
    recommendation: Text::new(
        "Чередуйте короткие акцентные фразы с развёрнутыми: короткая фраза после длинной звучит как вывод.",
        "Mix short punchy sentences with longer ones: a short sentence after a long one lands as a conclusion.",
    ),
};

const MONOTONE: Rule = Rule {
    category: AdviceCategory::Voice,
    title: Text::new("Монотонные участки", "Monotone stretches"),
    observation: Text::new(
        "{stretches} общей длиной {total} с, где высота голоса почти не меняется (разброс меньше {std} полутона); первый — {first}.",
        "{stretches}, {total} s in all, where your pitch barely moves (spread under {std} semitones); the first at {first}.",
    ),
    recommendation: Text::new(
        "Выделяйте голосом ключевые слова: повышайте тон на важном и понижайте в конце мысли. Отметьте в тексте по одному ударному слову на фразу.",
        "Mark one key word per sentence and lift your pitch on it; let the pitch fall at the end of each idea.",
    ),
};

const NARROW_PITCH: Rule = Rule {
    category: AdviceCategory::Voice,
    title: Text::new("Узкий диапазон голоса", "Narrow pitch range"),
    observation: Text::new(
        "Высота голоса меняется в пределах {range} полутонов (медиана {median} Гц).",
        "Your pitch moves within {range} semitones (median {median} Hz).",
    ),
    recommendation: Text::new(
        "Живая речь обычно занимает 5–10 полутонов. Попробуйте прочитать вступление так, будто рассказываете историю другу.",
        "Lively speech usually spans 5–10 semitones. Try reading your opening as if telling a story to a friend.",
    ),
};

const LIVELY_VOICE: Rule = Rule {
    category: AdviceCategory::Voice,
    title: Text::new("Живая интонация", "Lively intonation"),
    observation: Text::new(
        "Высота голоса меняется в пределах {range} полутонов (медиана {median} Гц), монотонных участков нет.",
        "Your pitch spans {range} semitones (median {median} Hz) with no monotone stretch.",
    ),
    recommendation: Text::new(
        "Сохраняйте эту интонацию: она удерживает внимание.",
        "Keep this intonation: it holds attention.",
    ),
};

const HEDGES: Rule = Rule {
    category: AdviceCategory::Words,
    title: Text::new("Оговорки и пустые слова", "Hedges and weak words"),
    observation: Text::new(
        "Оговорки и пустые усилители: {total} — {per100} на 100 слов, {per_minute} в минуту. Чаще всего: {top}.",
        "{total} hedges and weak words: {per100} per 100 words, {per_minute} per minute. Most frequent: {top}.",
    ),
    recommendation: Text::new(
        "Говорите утверждениями: вместо «мне кажется, это, наверное, сработает» — «это сработает, потому что…». Оставьте оговорку только там, где вы действительно не уверены, и назовите причину.",
        "State claims plainly: instead of \"I think this could maybe work\" say \"this works because…\". Keep a hedge only where you really are unsure, and say why.",
    ),
};
const HEDGES_WORST: Text = Text::new(
    " Больше всего — {worst_count} в одном предложении на {worst_at}: {worst}.",
    " The most, {worst_count}, in one sentence at {worst_at}: {worst}.",
);

/// English says the bare numbers ("1 repeats"), as it always has.
const REPETITIONS: Rule = Rule {
    category: AdviceCategory::Fillers,
    title: Text::new("Повторы и фальстарты", "Repeats and false starts"),
    observation: Text::new(
        "{repeats} и {restarts} ({per100} на 100 слов); первый — {first} на {first_at}. Вместе со словами-паразитами — {disfluencies}, {disfluencies_per100} на 100 слов.",
        "{repeats_n} repeats and {restarts_n} false starts ({per100} per 100 words); the first is {first} at {first_at}. With the fillers that is {disfluencies_n} disfluencies, {disfluencies_per100} per 100 words.",
    ),
    recommendation: Text::new(
        "Повтор и фальстарт — это мысль, которая ещё не готова. Перед фразой сделайте паузу и начните её сразу с главного слова; эти места стоит отрепетировать вслух.",
        "A repeat or false start is a thought that is not ready yet. Pause before the sentence and start it with its key word; rehearse these spots aloud.",
    ),
};

const OVERUSED: Rule = Rule {
    category: AdviceCategory::Words,
    title: Text::new("Заезженные фразы", "Over-used phrases"),
    observation: Text::new(
        "Фраза {phrase} звучит {count} раз (на {times}).",
        "The phrase {phrase} comes up {count} times (at {times}).",
    ),
    recommendation: Text::new(
        "Назовите это один раз полностью, а дальше используйте местоимение, короткое имя или синоним; повтор оставьте только для главной мысли, которую хотите закрепить.",
        "Name it in full once, then use a pronoun, a short name or a synonym; repeat a phrase on purpose only for the one idea you want people to remember.",
    ),
};
const OVERUSED_OTHERS: Text = Text::new(" Также: {others}.", " Also: {others}.");

const NARROW_VOCABULARY: Rule = Rule {
    category: AdviceCategory::Words,
    title: Text::new("Бедный словарь", "Narrow vocabulary"),
    observation: Text::new(
        "Разнообразие слов (MATTR по окну в {window} слов) — {mattr} при обычных {band_lo}–{band_hi}. Чаще всего: {top}.",
        "Word variety (MATTR over {window}-word windows) is {mattr}, below the usual {band_lo}–{band_hi}. Most used: {top}.",
    ),
    recommendation: Text::new(
        "Выпишите самые частые слова и подберите к каждому 2–3 замены или конкретный пример; на репетиции заменяйте ими повторы.",
        "List your most used words and find two or three alternatives or a concrete example for each; swap them in when you rehearse.",
    ),
};

const LONG_SENTENCES: Rule = Rule {
    category: AdviceCategory::Phrasing,
    title: Text::new("Слишком длинные предложения", "Sentences that never end"),
    observation: Text::new(
        "{long_count} из {sentences} длиннее {long_words} слов; самое длинное — {longest_words} слов на {longest_at}: {longest}.",
        "{long_count} of {sentences_n} sentences run over {long_words} words; the longest has {longest_words} words at {longest_at}: {longest}.",
    ),
    recommendation: Text::new(
        "Слушатель держит в голове 12–20 слов. Разбейте эти предложения там, где начинается новая мысль, и поставьте после каждой точку и паузу.",
        "Listeners hold about 12–20 words at a time. Split these sentences where a new idea starts, and end each with a full stop and a pause.",
    ),
};

const NO_UNIT: Text = Text::new("", "");
const HISTORY_TITLE: Text = Text::new("Динамика: {label}", "Progress: {label}");
const HISTORY_SOURCE: Text = Text::new(
    "медиана ваших прошлых репетиций: {n}",
    "your median of {rehearsals}",
);
const DOWN_FROM: Text = Text::new("меньше, чем", "down from");
const UP_FROM: Text = Text::new("больше, чем", "up from");
const SAME_AS: Text = Text::new("как и", "same as");
const HISTORY_BETTER: Text = Text::new(
    "Это сдвиг в нужную сторону: закрепите то, что вы изменили.",
    "That is the right direction: keep what you changed.",
);
const HISTORY_WORSE: Text = Text::new(
    "Стало хуже, чем обычно у вас: сравните эту запись с лучшей.",
    "Worse than your usual: compare this recording with your best one.",
);
const HISTORY_NO_CHANGE: Text = Text::new(
    "Без заметных перемен по сравнению с прошлыми репетициями.",
    "No clear change against your earlier rehearsals.",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Plural forms themselves: `text::tests::russian_plural_forms`.
    fn rates_decimal_comma_and_times() {
        let ru = Lang::Ru;
        assert_eq!(wpm(ru, 92.4), "92 слова");
        assert_eq!(ru.num(1.25, 1), "1,2");
        assert_eq!(mmss(65.4), "1:05");
        let en = Lang::En;
        assert_eq!(
            en.count(1, Noun::new(["", "", ""], ["pause", "pauses"])),
            "1 pause"
        );
        assert_eq!(wpm(en, 150.0), "150 words");
        assert_eq!(en.num(1.25, 1), "1.2");
    }
}

#[cfg(test)]
mod moment_tests {
    use super::*;
    use crate::domain::metrics::{MonotoneStretch, PauseEvent, RepetitionEvent};

    /// Past the hour a moment reads h:mm:ss, as in the coach's feedback and prompt ("1:01:40",
    /// not "61:40").
    #[test]
    fn an_hour_plus_moment_reads_as_in_the_feedback() {
        let mut m = Metrics {
            words_total: 100,
            ..Default::default()
        };
        m.repetitions.repeats = 2;
        m.repetitions.per_100_words = 2.0;
        m.repetitions.events = vec![RepetitionEvent {
            kind: crate::domain::labels::RepetitionKind::Repeat,
            text: "мы мы".into(),
            start_sec: 3700.2,
            end_sec: 3700.8,
        }];
        m.pauses.events = vec![PauseEvent {
            start_sec: 3700.0,
            end_sec: 3707.0,
            duration_sec: 7.0,
            class: PauseClass::Awkward,
            word_before: None,
            word_after: None,
        }];
        m.voice.pitch_median_hz = Some(150.0);
        m.voice.pitch_range_semitones = Some(6.0);
        m.voice.monotone_stretches = vec![MonotoneStretch {
            start_sec: 3661.0,
            end_sec: 3690.0,
            pitch_std_semitones: 0.5,
        }];
        let cfg = AnalysisConfig::default();
        let observation = |language: &str, category: AdviceCategory| -> String {
            advise(&m, &[], &[], 3800.0, language, &cfg)
                .into_iter()
                .find(|a| a.category == category && a.severity != Severity::Info)
                .map(|a| a.observation)
                .unwrap_or_default()
        };
        let repeats = observation("ru", AdviceCategory::Fillers);
        assert!(repeats.contains("«мы мы» на 1:01:40."), "{repeats}");
        let pause = observation("en", AdviceCategory::Pauses);
        assert!(pause.contains("7.0 s at 1:01:40."), "{pause}");
        let voice = observation("ru", AdviceCategory::Voice);
        assert!(voice.contains("первый — 1:01:01–1:01:30."), "{voice}");
    }
}

#[cfg(test)]
mod history_tests {
    use super::history_advice;
    use crate::domain::labels::AdviceCategory;
    use crate::domain::progress::{MetricValues, Sample, progress};

    fn sample(i: usize, fillers: f64) -> Sample {
        let mut values = MetricValues::new();
        values.insert("fillers_per_minute".into(), fillers);
        Sample {
            rehearsal_id: format!("r{i}"),
            recorded_at_ms: i as i64,
            values,
        }
    }

    #[test]
    fn cites_the_change_against_the_median() {
        let s: Vec<Sample> = [7.0, 7.3, 8.0, 7.5, 3.1]
            .iter()
            .enumerate()
            .map(|(i, &f)| sample(i, f))
            .collect();
        let trends = progress(&s, 5);
        let en = history_advice(&trends, "en");
        assert_eq!(en.len(), 1, "only metrics with a baseline: {en:?}");
        assert_eq!(en[0].category, AdviceCategory::Progress);
        assert_eq!(
            en[0].observation,
            "Fillers: 3.1/min, down from 7.4/min (your median of 4 rehearsals)."
        );
        let ru = history_advice(&trends, "ru");
        assert_eq!(
            ru[0].observation,
            "Слова-паразиты: 3,1 в минуту, меньше, чем 7,4 в минуту (медиана ваших прошлых репетиций: 4)."
        );
        assert!(history_advice(&progress(&s[..1], 5), "en").is_empty());
    }
}
