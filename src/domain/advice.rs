//! Advice: what to work on, each item grounded in a measured number or moment, in the
//! recording's language (Russian for `ru`, English otherwise).

use super::analysis::AnalysisConfig;
use super::labels::{PaceFlag, PauseClass, PhraseLength, VocabularyFlag};
use super::metrics::{Advice, Metrics, TimeRef};
use super::pace::flagged_stretches;
use super::pauses::phrases_with_words;
use super::progress::MetricProgress;
use super::signal::Span;
use super::stats::ms;
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

/// Text in the recording's language.
struct Lang {
    ru: bool,
}

impl Lang {
    fn pick(&self, ru: impl Into<String>, en: impl Into<String>) -> String {
        if self.ru { ru.into() } else { en.into() }
    }

    /// A number with `decimals` places, decimal comma in Russian.
    fn num(&self, x: f64, decimals: usize) -> String {
        let s = format!("{:.*}", decimals, x);
        if self.ru { s.replace('.', ",") } else { s }
    }

    /// A moment as m:ss.
    fn time(&self, sec: f64) -> String {
        let total = sec.max(0.0).round() as u64;
        format!("{}:{:02}", total / 60, total % 60)
    }

    fn range(&self, a: f64, b: f64) -> String {
        format!("{}–{}", self.time(a), self.time(b))
    }

    /// `n` with the noun in the right form: Russian has three (1 пауза, 2 паузы, 5 пауз),
    /// English two.
    fn count(&self, n: usize, ru: [&str; 3], en: [&str; 2]) -> String {
        let word = if self.ru {
            let (m10, m100) = (n % 10, n % 100);
            if m10 == 1 && m100 != 11 {
                ru[0]
            } else if (2..=4).contains(&m10) && !(12..=14).contains(&m100) {
                ru[1]
            } else {
                ru[2]
            }
        } else if n == 1 {
            en[0]
        } else {
            en[1]
        };
        format!("{n} {word}")
    }

    /// Words per minute, rounded, with the Russian noun agreeing ("92 слова в минуту").
    fn wpm(&self, wpm: f64) -> String {
        let n = wpm.max(0.0).round() as usize;
        self.count(n, ["слово", "слова", "слов"], ["word", "words"])
    }

    /// «word» in Russian, "word" in English.
    fn quote(&self, w: &str) -> String {
        if self.ru {
            format!("«{w}»")
        } else {
            format!("\u{201c}{w}\u{201d}")
        }
    }
}

fn item(
    category: &str,
    severity: &str,
    title: String,
    observation: String,
    recommendation: String,
    evidence: Vec<TimeRef>,
) -> Advice {
    Advice {
        category: category.into(),
        severity: severity.into(),
        title,
        observation,
        recommendation,
        evidence,
    }
}

fn tref(start: f64, end: f64, label: Option<String>) -> TimeRef {
    TimeRef {
        start_sec: ms(start),
        end_sec: ms(end),
        label,
    }
}

fn no_speech(m: &Metrics, duration_sec: f64, l: &Lang) -> Advice {
    let observation = if m.voiced_time_sec > 0.0 {
        l.pick(
            format!(
                "Голос или шум слышен {} с из {} с записи, но не распознано ни одного слова.",
                l.num(m.voiced_time_sec, 1),
                l.num(duration_sec, 1)
            ),
            format!(
                "Voice or noise is heard for {} s of the {} s recording, but not a single word was recognised.",
                l.num(m.voiced_time_sec, 1),
                l.num(duration_sec, 1)
            ),
        )
    } else {
        l.pick(
            format!(
                "В записи длиной {} с не найдено речи.",
                l.num(duration_sec, 1)
            ),
            format!(
                "No speech was found in the {} s recording.",
                l.num(duration_sec, 1)
            ),
        )
    };
    item(
        "general",
        "warning",
        l.pick("Речь не найдена", "No speech found"),
        observation,
        l.pick(
            "Проверьте, что выбран нужный микрофон и что запись содержит выступление; говорите ближе к микрофону и загрузите запись ещё раз.",
            "Check that the right microphone is selected and the recording holds the talk; speak closer to the microphone and upload it again.",
        ),
        vec![tref(0.0, duration_sec, None)],
    )
}

fn pace_advice(m: &Metrics, l: &Lang) -> Vec<Advice> {
    let mut out = Vec::new();
    let band = m.pace_band_wpm;
    let wpm = m.words_per_minute;
    let stretches = flagged_stretches(&m.pace_windows);
    let refs = |flag: PaceFlag| -> Vec<TimeRef> {
        stretches
            .iter()
            .filter(|s| s.2 == flag)
            .take(MAX_EVIDENCE)
            .map(|s| tref(s.0, s.1, Some(format!("{} wpm", s.3))))
            .collect()
    };
    let band_text = format!("{}–{}", l.num(band.min_wpm, 0), l.num(band.max_wpm, 0));
    if wpm > band.max_wpm {
        let severity = if wpm > band.max_wpm * (1.0 + PACE_WARNING_MARGIN) {
            "warning"
        } else {
            "suggestion"
        };
        out.push(item(
            "pace",
            severity,
            l.pick("Слишком быстрый темп", "Speaking too fast"),
            l.pick(
                format!("Темп {} в минуту при комфортных {band_text}.", l.wpm(wpm)),
                format!("You speak at {} words per minute; the comfortable range is {band_text}.", l.num(wpm, 0)),
            ),
            l.pick(
                format!(
                    "Замедлитесь примерно до {} слов в минуту: делайте паузу 0,5–1 с после каждой мысли и проговаривайте окончания.",
                    l.num(band.max_wpm, 0)
                ),
                format!(
                    "Slow down to about {} words per minute: pause for 0.5–1 s after each idea and finish every word.",
                    l.num(band.max_wpm, 0)
                ),
            ),
            refs(PaceFlag::TooFast),
        ));
    } else if wpm < band.min_wpm && wpm > 0.0 {
        let severity = if wpm < band.min_wpm * (1.0 - PACE_WARNING_MARGIN) {
            "warning"
        } else {
            "suggestion"
        };
        out.push(item(
            "pace",
            severity,
            l.pick("Слишком медленный темп", "Speaking too slowly"),
            l.pick(
                format!(
                    "Темп {} в минуту при комфортных {band_text}; паузы занимают {} с из {} с речи.",
                    l.wpm(wpm),
                    l.num(m.pauses.total_sec, 1),
                    l.num(m.speaking_time_sec, 1)
                ),
                format!(
                    "You speak at {} words per minute; the comfortable range is {band_text}. Pauses take {} s of {} s of speech.",
                    l.num(wpm, 0),
                    l.num(m.pauses.total_sec, 1),
                    l.num(m.speaking_time_sec, 1)
                ),
            ),
            l.pick(
                format!(
                    "Поднимите темп до {} слов в минуту и выше: сократите паузы внутри мыслей и отрепетируйте текст, чтобы не подбирать слова.",
                    l.num(band.min_wpm, 0)
                ),
                format!(
                    "Bring the pace up to at least {} words per minute: shorten pauses inside an idea and rehearse so you don't search for words.",
                    l.num(band.min_wpm, 0)
                ),
            ),
            refs(PaceFlag::TooSlow),
        ));
    } else if wpm > 0.0 {
        out.push(item(
            "pace",
            "info",
            l.pick("Комфортный темп", "Comfortable pace"),
            l.pick(
                format!("Темп {} в минуту — в пределах {band_text}.", l.wpm(wpm)),
                format!(
                    "You speak at {} words per minute, within the {band_text} range.",
                    l.num(wpm, 0)
                ),
            ),
            l.pick(
                "Сохраняйте этот темп и замедляйтесь только на ключевых мыслях, чтобы выделить их.",
                "Keep this pace, and slow down only on key points to make them stand out.",
            ),
            Vec::new(),
        ));
        // The average is fine, but parts of the talk are not.
        if let Some(s) = stretches.first() {
            let fast = s.2 == PaceFlag::TooFast;
            let all: Vec<TimeRef> = stretches
                .iter()
                .take(MAX_EVIDENCE)
                .map(|s| tref(s.0, s.1, Some(format!("{} wpm", s.3))))
                .collect();
            out.push(item(
                "pace",
                "suggestion",
                l.pick("Темп местами сбивается", "The pace drifts in places"),
                l.pick(
                    format!(
                        "На {} темп {} в минуту — {} комфортного.",
                        l.range(s.0, s.1),
                        l.wpm(s.3),
                        if fast { "быстрее" } else { "медленнее" }
                    ),
                    format!(
                        "At {} the pace is {} words per minute, {} than comfortable.",
                        l.range(s.0, s.1),
                        l.num(s.3, 0),
                        if fast { "faster" } else { "slower" }
                    ),
                ),
                l.pick(
                    "Переслушайте эти места: ускорение обычно выдаёт волнение, замедление — неуверенность в тексте. Отрепетируйте их отдельно.",
                    "Listen to these parts again: speeding up usually shows nerves, slowing down shows uncertainty about the text. Rehearse them separately.",
                ),
                all,
            ));
        }
    }
    out
}

fn filler_advice(m: &Metrics, l: &Lang) -> Vec<Advice> {
    let f = &m.fillers;
    let mut out = Vec::new();
    if f.total == 0 {
        out.push(item(
            "fillers",
            "info",
            l.pick("Без слов-паразитов", "No filler words"),
            l.pick(
                format!(
                    "На {} слов — ни одного слова-паразита и ни одного «э-э».",
                    m.words_total
                ),
                format!(
                    "Not a single filler or hesitation sound in {} words.",
                    m.words_total
                ),
            ),
            l.pick(
                "Так держать: паузы вместо «э-э» звучат уверенно.",
                "Keep it up: silent pauses instead of \"um\" sound confident.",
            ),
            Vec::new(),
        ));
        return out;
    }
    let severity = if f.per_100_words >= FILLERS_WARNING_PER_100 {
        "warning"
    } else if f.per_100_words >= FILLERS_SUGGESTION_PER_100 {
        "suggestion"
    } else {
        "info"
    };
    let top: Vec<String> = f
        .items
        .iter()
        .take(3)
        .map(|i| format!("{} ×{}", l.quote(&i.word), i.count))
        .collect();
    let mut observation = l.pick(
        format!(
            "{}: {} на 100 слов, {} в минуту.",
            l.count(
                f.total,
                ["слово-паразит", "слова-паразита", "слов-паразитов"],
                ["filler", "fillers"]
            ),
            l.num(f.per_100_words, 1),
            l.num(f.per_minute, 1)
        ),
        format!(
            "{}: {} per 100 words, {} per minute.",
            l.count(
                f.total,
                ["слово-паразит", "слова-паразита", "слов-паразитов"],
                ["filler", "fillers"]
            ),
            l.num(f.per_100_words, 1),
            l.num(f.per_minute, 1)
        ),
    );
    if !top.is_empty() {
        observation.push_str(&l.pick(
            format!(" Чаще всего: {}.", top.join(", ")),
            format!(" Most frequent: {}.", top.join(", ")),
        ));
    }
    if f.acoustic > 0 {
        observation.push_str(&l.pick(
            format!(
                " Ещё в {} местах голос звучит без слов — вероятно, «э-э» или «м-м».",
                f.acoustic
            ),
            format!(
                " In {} more places the voice sounds without words, probably \"um\" or \"uh\".",
                f.acoustic
            ),
        ));
    }
    let recommendation = match f.items.first() {
        Some(topword) => l.pick(
            format!(
                "Попросите коллегу хлопать на каждое {} или переслушайте запись с этим счётом; там, где тянет сказать его, сделайте паузу: полсекунды тишины звучат увереннее.",
                l.quote(&topword.word)
            ),
            format!(
                "Have a friend tap the table at every {}, or count them while replaying this recording; where you feel the urge to say it, pause instead: half a second of silence sounds more confident.",
                l.quote(&topword.word)
            ),
        ),
        None => l.pick(
            "Там, где вы тянете звук, попробуйте просто замолчать на полсекунды и закончить мысль.",
            "Where you draw out a sound, try a half-second silent pause and finish the thought.",
        ),
    };
    let evidence = f
        .events
        .iter()
        .filter(|e| e.confidence >= 0.6)
        .take(MAX_EVIDENCE)
        .map(|e| tref(e.start_sec, e.end_sec, e.text.clone()))
        .collect();
    out.push(item(
        "fillers",
        severity,
        l.pick("Слова-паразиты", "Filler words"),
        observation,
        recommendation,
        evidence,
    ));
    if let Some(b) = f.bursts.iter().max_by_key(|b| b.count) {
        out.push(item(
            "fillers",
            "suggestion",
            l.pick("Скопления слов-паразитов", "Clusters of fillers"),
            l.pick(
                format!(
                    "{}; самое плотное — {} за {} с на {}.",
                    l.count(f.bursts.len(), ["скопление", "скопления", "скоплений"], ["", ""]),
                    l.count(b.count, ["слово-паразит", "слова-паразита", "слов-паразитов"], ["filler", "fillers"]),
                    l.num(b.end_sec - b.start_sec, 1),
                    l.range(b.start_sec, b.end_sec)
                ),
                format!(
                    "{}; the densest has {} within {} s at {}.",
                    l.count(f.bursts.len(), ["", "", ""], ["cluster", "clusters"]),
                    l.count(b.count, ["слово-паразит", "слова-паразита", "слов-паразитов"], ["filler", "fillers"]),
                    l.num(b.end_sec - b.start_sec, 1),
                    l.range(b.start_sec, b.end_sec)
                ),
            ),
            l.pick(
                "Скопления выдают место, где вы потеряли нить. Переслушайте его и подготовьте для него первую фразу заранее.",
                "A cluster marks the moment you lost the thread. Replay it and prepare its opening sentence in advance.",
            ),
            f.bursts
                .iter()
                .take(MAX_EVIDENCE)
                .map(|b| tref(b.start_sec, b.end_sec, Some(b.count.to_string())))
                .collect(),
        ));
    }
    out
}

fn pause_advice(m: &Metrics, l: &Lang, cfg: &AnalysisConfig) -> Vec<Advice> {
    let p = &m.pauses;
    let mut out = Vec::new();
    let context = |before: &Option<String>| match before {
        Some(w) => l.pick(
            format!(" после {}", l.quote(w)),
            format!(" after {}", l.quote(w)),
        ),
        None => String::new(),
    };
    let awkward: Vec<_> = p
        .events
        .iter()
        .filter(|e| e.class == PauseClass::Awkward)
        .collect();
    let long: Vec<_> = p
        .events
        .iter()
        .filter(|e| e.class == PauseClass::Long)
        .collect();
    if let Some(worst) = awkward
        .iter()
        .max_by(|a, b| a.duration_sec.total_cmp(&b.duration_sec))
    {
        out.push(item(
            "pauses",
            "warning",
            l.pick("Затянутые паузы", "Awkwardly long pauses"),
            l.pick(
                format!(
                    "{} дольше {} с; самая длинная — {} с на {}{}.",
                    l.count(awkward.len(), ["пауза", "паузы", "пауз"], ["", ""]),
                    l.num(cfg.pause_long_max_sec, 0),
                    l.num(worst.duration_sec, 1),
                    l.time(worst.start_sec),
                    context(&worst.word_before)
                ),
                format!(
                    "{} longer than {} s; the longest is {} s at {}{}.",
                    l.count(awkward.len(), ["", "", ""], ["pause", "pauses"]),
                    l.num(cfg.pause_long_max_sec, 0),
                    l.num(worst.duration_sec, 1),
                    l.time(worst.start_sec),
                    context(&worst.word_before)
                ),
            ),
            l.pick(
                "Паузу дольше 5 с зал воспринимает как сбой. Подготовьте план выступления с опорными словами, чтобы быстро находить следующую мысль.",
                "An audience reads a pause over 5 s as a breakdown. Keep an outline with cue words at hand so the next idea comes quickly.",
            ),
            awkward
                .iter()
                .take(MAX_EVIDENCE)
                .map(|e| tref(e.start_sec, e.end_sec, Some(format!("{} s", l.num(e.duration_sec, 1)))))
                .collect(),
        ));
    }
    if !long.is_empty() {
        let times: Vec<String> = long.iter().take(3).map(|e| l.time(e.start_sec)).collect();
        out.push(item(
            "pauses",
            "info",
            l.pick("Длинные паузы", "Long pauses"),
            l.pick(
                format!(
                    "{} от {} до {} с (на {}).",
                    l.count(long.len(), ["пауза", "паузы", "пауз"], ["", ""]),
                    l.num(cfg.pause_deliberate_max_sec, 1),
                    l.num(cfg.pause_long_max_sec, 0),
                    times.join(", ")
                ),
                format!(
                    "{} of {} to {} s (at {}).",
                    l.count(long.len(), ["", "", ""], ["pause", "pauses"]),
                    l.num(cfg.pause_deliberate_max_sec, 1),
                    l.num(cfg.pause_long_max_sec, 0),
                    times.join(", ")
                ),
            ),
            l.pick(
                "Такая пауза усиливает главную мысль, если стоит сразу после неё. Проверьте, что эти паузы стоят именно там, а не посреди фразы.",
                "A pause this long strengthens a key point when it comes right after it. Check that these pauses follow key points rather than cut a sentence.",
            ),
            long.iter()
                .take(MAX_EVIDENCE)
                .map(|e| tref(e.start_sec, e.end_sec, Some(format!("{} s", l.num(e.duration_sec, 1)))))
                .collect(),
        ));
    }
    let phrase_pauses = p
        .events
        .iter()
        .filter(|e| e.duration_sec >= cfg.min_phrase_pause_sec)
        .count();
    if phrase_pauses == 0 && m.speaking_time_sec >= NO_PAUSE_SPEECH_SEC {
        out.push(item(
            "pauses",
            "suggestion",
            l.pick("Речь без пауз", "Speech without pauses"),
            l.pick(
                format!(
                    "За {} с речи нет ни одной паузы длиннее {} с.",
                    l.num(m.speaking_time_sec, 0),
                    l.num(cfg.min_phrase_pause_sec, 1)
                ),
                format!(
                    "{} s of speech without a single pause of {} s or more.",
                    l.num(m.speaking_time_sec, 0),
                    l.num(cfg.min_phrase_pause_sec, 1)
                ),
            ),
            l.pick(
                "Делайте паузу 0,5–1 с в конце каждой мысли: слушателям нужно время, чтобы её понять.",
                "Pause for 0.5–1 s at the end of each idea: listeners need the time to take it in.",
            ),
            Vec::new(),
        ));
    }
    out
}

fn phrase_advice(
    m: &Metrics,
    spans: &[Span],
    tokens: &[Token],
    l: &Lang,
    cfg: &AnalysisConfig,
) -> Vec<Advice> {
    let ph = &m.phrases;
    let mut out = Vec::new();
    if ph.count == 0 || m.words_total == 0 {
        return out;
    }
    let phrases = phrases_with_words(spans, tokens, cfg);
    if ph.length_class == Some(PhraseLength::Long) {
        let longest: Vec<TimeRef> = {
            let mut v: Vec<&(Span, usize)> = phrases
                .iter()
                .filter(|(_, w)| *w as f64 > cfg.phrase_long_words)
                .collect();
            v.sort_by_key(|p| std::cmp::Reverse(p.1));
            v.into_iter()
                .take(MAX_EVIDENCE)
                .map(|(s, w)| tref(s.start_sec, s.end_sec, Some(w.to_string())))
                .collect()
        };
        out.push(item(
            "phrasing",
            "suggestion",
            l.pick("Длинные фразы без пауз", "Long stretches without a pause"),
            l.pick(
                format!(
                    "В среднем {} слов между паузами; самая длинная фраза — {} слов, {} с.",
                    l.num(ph.avg_words, 1),
                    ph.max_words,
                    l.num(ph.max_duration_sec, 1)
                ),
                format!(
                    "On average {} words between pauses; the longest phrase has {} words over {} s.",
                    l.num(ph.avg_words, 1),
                    ph.max_words,
                    l.num(ph.max_duration_sec, 1)
                ),
            ),
            l.pick(
                "Одна мысль — одна фраза, затем пауза. Разбейте эти фрагменты на 2–3 коротких предложения.",
                "One idea, one sentence, then a pause. Split these parts into two or three short sentences.",
            ),
            longest,
        ));
    } else if ph.length_class == Some(PhraseLength::Short) && ph.count >= 3 {
        out.push(item(
            "phrasing",
            "suggestion",
            l.pick("Рубленая речь", "Choppy phrasing"),
            l.pick(
                format!("В среднем {} слов между паузами ({} фраз).", l.num(ph.avg_words, 1), ph.count),
                format!("On average {} words between pauses ({} phrases).", l.num(ph.avg_words, 1), ph.count),
            ),
            l.pick(
                "Договаривайте мысль до конца на одном дыхании; пауза нужна после мысли, а не через каждые 2–3 слова.",
                "Carry each thought through in one breath; pause after an idea, not every two or three words.",
            ),
            Vec::new(),
        ));
    }
    if ph.count >= FLAT_RHYTHM_MIN_PHRASES && ph.rhythm_variation < FLAT_RHYTHM_CV {
        out.push(item(
            "phrasing",
            "suggestion",
            l.pick("Однообразный ритм", "Monotonous rhythm"),
            l.pick(
                format!(
                    "{} почти одной длины: {}–{} с (вариация {}).",
                    l.count(ph.count, ["фраза", "фразы", "фраз"], ["", ""]),
                    l.num(ph.min_duration_sec, 1),
                    l.num(ph.max_duration_sec, 1),
                    l.num(ph.rhythm_variation, 2)
                ),
                format!(
                    "{} phrases of nearly equal length: {}–{} s (variation {}).",
                    ph.count,
                    l.num(ph.min_duration_sec, 1),
                    l.num(ph.max_duration_sec, 1),
                    l.num(ph.rhythm_variation, 2)
                ),
            ),
            l.pick(
                "Чередуйте короткие акцентные фразы с развёрнутыми: короткая фраза после длинной звучит как вывод.",
                "Mix short punchy sentences with longer ones: a short sentence after a long one lands as a conclusion.",
            ),
            Vec::new(),
        ));
    }
    out
}

fn voice_advice(m: &Metrics, l: &Lang, cfg: &AnalysisConfig) -> Vec<Advice> {
    let v = &m.voice;
    let mut out = Vec::new();
    let (Some(median_hz), Some(range)) = (v.pitch_median_hz, v.pitch_range_semitones) else {
        return out;
    };
    if !v.monotone_stretches.is_empty() {
        let total: f64 = v
            .monotone_stretches
            .iter()
            .map(|s| s.end_sec - s.start_sec)
            .sum();
        let first = &v.monotone_stretches[0];
        out.push(item(
            "voice",
            "suggestion",
            l.pick("Монотонные участки", "Monotone stretches"),
            l.pick(
                format!(
                    "{} общей длиной {} с, где высота голоса почти не меняется (разброс меньше {} полутона); первый — {}.",
                    l.count(v.monotone_stretches.len(), ["участок", "участка", "участков"], ["", ""]),
                    l.num(total, 0),
                    l.num(cfg.monotone_std_semitones, 1),
                    l.range(first.start_sec, first.end_sec)
                ),
                format!(
                    "{}, {} s in all, where your pitch barely moves (spread under {} semitones); the first at {}.",
                    l.count(v.monotone_stretches.len(), ["", "", ""], ["stretch", "stretches"]),
                    l.num(total, 0),
                    l.num(cfg.monotone_std_semitones, 1),
                    l.range(first.start_sec, first.end_sec)
                ),
            ),
            l.pick(
                "Выделяйте голосом ключевые слова: повышайте тон на важном и понижайте в конце мысли. Отметьте в тексте по одному ударному слову на фразу.",
                "Mark one key word per sentence and lift your pitch on it; let the pitch fall at the end of each idea.",
            ),
            v.monotone_stretches
                .iter()
                .take(MAX_EVIDENCE)
                .map(|s| tref(s.start_sec, s.end_sec, Some(format!("{} st", l.num(s.pitch_std_semitones, 1)))))
                .collect(),
        ));
    } else if range < NARROW_PITCH_RANGE_ST {
        out.push(item(
            "voice",
            "suggestion",
            l.pick("Узкий диапазон голоса", "Narrow pitch range"),
            l.pick(
                format!(
                    "Высота голоса меняется в пределах {} полутонов (медиана {} Гц).",
                    l.num(range, 1),
                    l.num(median_hz, 0)
                ),
                format!("Your pitch moves within {} semitones (median {} Hz).", l.num(range, 1), l.num(median_hz, 0)),
            ),
            l.pick(
                "Живая речь обычно занимает 5–10 полутонов. Попробуйте прочитать вступление так, будто рассказываете историю другу.",
                "Lively speech usually spans 5–10 semitones. Try reading your opening as if telling a story to a friend.",
            ),
            Vec::new(),
        ));
    } else {
        out.push(item(
            "voice",
            "info",
            l.pick("Живая интонация", "Lively intonation"),
            l.pick(
                format!(
                    "Высота голоса меняется в пределах {} полутонов (медиана {} Гц), монотонных участков нет.",
                    l.num(range, 1),
                    l.num(median_hz, 0)
                ),
                format!(
                    "Your pitch spans {} semitones (median {} Hz) with no monotone stretch.",
                    l.num(range, 1),
                    l.num(median_hz, 0)
                ),
            ),
            l.pick(
                "Сохраняйте эту интонацию: она удерживает внимание.",
                "Keep this intonation: it holds attention.",
            ),
            Vec::new(),
        ));
    }
    out
}

/// A quote cut to [`MAX_QUOTE_CHARS`] with an ellipsis.
fn short(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTE_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_QUOTE_CHARS).collect();
    format!("{}…", cut.trim_end())
}

fn hedge_advice(m: &Metrics, l: &Lang) -> Vec<Advice> {
    let h = &m.hedges;
    if h.total < HEDGES_MIN_COUNT || h.per_100_words < HEDGES_SUGGESTION_PER_100 {
        return Vec::new();
    }
    let severity = if h.per_100_words >= HEDGES_WARNING_PER_100 {
        "warning"
    } else {
        "suggestion"
    };
    let top: Vec<String> = h
        .items
        .iter()
        .take(3)
        .map(|i| format!("{} ×{}", l.quote(&i.text), i.count))
        .collect();
    let mut observation = l.pick(
        format!(
            "Оговорки и пустые усилители: {} — {} на 100 слов, {} в минуту. Чаще всего: {}.",
            h.total,
            l.num(h.per_100_words, 1),
            l.num(h.per_minute, 1),
            top.join(", ")
        ),
        format!(
            "{} hedges and weak words: {} per 100 words, {} per minute. Most frequent: {}.",
            h.total,
            l.num(h.per_100_words, 1),
            l.num(h.per_minute, 1),
            top.join(", ")
        ),
    );
    let mut evidence = Vec::new();
    if let Some(w) = &h.worst_sentence {
        observation.push_str(&l.pick(
            format!(
                " Больше всего — {} в одном предложении на {}: {}.",
                h.worst_sentence_count,
                l.time(w.start_sec),
                l.quote(&short(&w.text))
            ),
            format!(
                " The most, {}, in one sentence at {}: {}.",
                h.worst_sentence_count,
                l.time(w.start_sec),
                l.quote(&short(&w.text))
            ),
        ));
        evidence.push(tref(w.start_sec, w.end_sec, Some(short(&w.text))));
    }
    evidence.extend(
        h.events
            .iter()
            .take(MAX_EVIDENCE - evidence.len())
            .map(|e| tref(e.start_sec, e.end_sec, Some(e.text.clone()))),
    );
    vec![item(
        "words",
        severity,
        l.pick("Оговорки и пустые слова", "Hedges and weak words"),
        observation,
        l.pick(
            "Говорите утверждениями: вместо «мне кажется, это, наверное, сработает» — «это сработает, потому что…». Оставьте оговорку только там, где вы действительно не уверены, и назовите причину.",
            "State claims plainly: instead of \"I think this could maybe work\" say \"this works because…\". Keep a hedge only where you really are unsure, and say why.",
        ),
        evidence,
    )]
}

fn repetition_advice(m: &Metrics, l: &Lang) -> Vec<Advice> {
    let r = &m.repetitions;
    let n = r.repeats + r.restarts;
    if n < REPEATS_MIN_COUNT || r.per_100_words < REPEATS_SUGGESTION_PER_100 {
        return Vec::new();
    }
    let first = &r.events[0];
    vec![item(
        "fillers",
        "suggestion",
        l.pick("Повторы и фальстарты", "Repeats and false starts"),
        l.pick(
            format!(
                "{} и {} ({} на 100 слов); первый — {} на {}. Вместе со словами-паразитами — {}, {} на 100 слов.",
                l.count(r.repeats, ["повтор", "повтора", "повторов"], ["", ""]),
                l.count(r.restarts, ["фальстарт", "фальстарта", "фальстартов"], ["", ""]),
                l.num(r.per_100_words, 1),
                l.quote(&first.text),
                l.time(first.start_sec),
                l.count(m.fillers.disfluencies, ["запинка", "запинки", "запинок"], ["", ""]),
                l.num(m.fillers.disfluencies_per_100_words, 1)
            ),
            format!(
                "{} repeats and {} false starts ({} per 100 words); the first is {} at {}. With the fillers that is {} disfluencies, {} per 100 words.",
                r.repeats,
                r.restarts,
                l.num(r.per_100_words, 1),
                l.quote(&first.text),
                l.time(first.start_sec),
                m.fillers.disfluencies,
                l.num(m.fillers.disfluencies_per_100_words, 1)
            ),
        ),
        l.pick(
            "Повтор и фальстарт — это мысль, которая ещё не готова. Перед фразой сделайте паузу и начните её сразу с главного слова; эти места стоит отрепетировать вслух.",
            "A repeat or false start is a thought that is not ready yet. Pause before the sentence and start it with its key word; rehearse these spots aloud.",
        ),
        r.events
            .iter()
            .take(MAX_EVIDENCE)
            .map(|e| tref(e.start_sec, e.end_sec, Some(e.text.clone())))
            .collect(),
    )]
}

fn overused_advice(m: &Metrics, l: &Lang) -> Vec<Advice> {
    let Some(top) = m.repetitions.overused_phrases.first() else {
        return Vec::new();
    };
    let times: Vec<String> = top
        .occurrences
        .iter()
        .take(MAX_EVIDENCE)
        .map(|o| l.time(o.start_sec))
        .collect();
    let others: Vec<String> = m
        .repetitions
        .overused_phrases
        .iter()
        .skip(1)
        .take(2)
        .map(|p| format!("{} ×{}", l.quote(&p.text), p.count))
        .collect();
    let mut observation = l.pick(
        format!(
            "Фраза {} звучит {} раз (на {}).",
            l.quote(&top.text),
            top.count,
            times.join(", ")
        ),
        format!(
            "The phrase {} comes up {} times (at {}).",
            l.quote(&top.text),
            top.count,
            times.join(", ")
        ),
    );
    if !others.is_empty() {
        observation.push_str(&l.pick(
            format!(" Также: {}.", others.join(", ")),
            format!(" Also: {}.", others.join(", ")),
        ));
    }
    vec![item(
        "words",
        "suggestion",
        l.pick("Заезженные фразы", "Over-used phrases"),
        observation,
        l.pick(
            "Назовите это один раз полностью, а дальше используйте местоимение, короткое имя или синоним; повтор оставьте только для главной мысли, которую хотите закрепить.",
            "Name it in full once, then use a pronoun, a short name or a synonym; repeat a phrase on purpose only for the one idea you want people to remember.",
        ),
        top.occurrences
            .iter()
            .take(MAX_EVIDENCE)
            .map(|o| tref(o.start_sec, o.end_sec, Some(top.text.clone())))
            .collect(),
    )]
}

fn vocabulary_advice(m: &Metrics, l: &Lang) -> Vec<Advice> {
    let v = &m.vocabulary;
    if v.flag != VocabularyFlag::Low {
        return Vec::new();
    }
    let top: Vec<String> = v
        .top_words
        .iter()
        .take(5)
        .map(|w| format!("{} ×{}", l.quote(&w.word), w.count))
        .collect();
    vec![item(
        "words",
        "suggestion",
        l.pick("Бедный словарь", "Narrow vocabulary"),
        l.pick(
            format!(
                "Разнообразие слов (MATTR по окну в {} слов) — {} при обычных {}–{}. Чаще всего: {}.",
                v.mattr_window,
                l.num(v.mattr, 2),
                l.num(v.reference_band[0], 2),
                l.num(v.reference_band[1], 2),
                top.join(", ")
            ),
            format!(
                "Word variety (MATTR over {}-word windows) is {}, below the usual {}–{}. Most used: {}.",
                v.mattr_window,
                l.num(v.mattr, 2),
                l.num(v.reference_band[0], 2),
                l.num(v.reference_band[1], 2),
                top.join(", ")
            ),
        ),
        l.pick(
            "Выпишите самые частые слова и подберите к каждому 2–3 замены или конкретный пример; на репетиции заменяйте ими повторы.",
            "List your most used words and find two or three alternatives or a concrete example for each; swap them in when you rehearse.",
        ),
        Vec::new(),
    )]
}

fn sentence_advice(m: &Metrics, l: &Lang) -> Vec<Advice> {
    let s = &m.sentences;
    if s.long_count == 0 || (s.long_share < LONG_SENTENCES_SHARE && s.long_count < 2) {
        return Vec::new();
    }
    let longest = &s.longest[0];
    vec![item(
        "phrasing",
        "suggestion",
        l.pick("Слишком длинные предложения", "Sentences that never end"),
        l.pick(
            format!(
                "{} из {} длиннее {} слов; самое длинное — {} слов на {}: {}.",
                s.long_count,
                l.count(s.count, ["предложения", "предложений", "предложений"], ["", ""]),
                s.long_words,
                longest.words,
                l.time(longest.start_sec),
                l.quote(&short(&longest.text))
            ),
            format!(
                "{} of {} sentences run over {} words; the longest has {} words at {}: {}.",
                s.long_count,
                s.count,
                s.long_words,
                longest.words,
                l.time(longest.start_sec),
                l.quote(&short(&longest.text))
            ),
        ),
        l.pick(
            "Слушатель держит в голове 12–20 слов. Разбейте эти предложения там, где начинается новая мысль, и поставьте после каждой точку и паузу.",
            "Listeners hold about 12–20 words at a time. Split these sentences where a new idea starts, and end each with a full stop and a pause.",
        ),
        s.longest
            .iter()
            .filter(|q| q.words > s.long_words)
            .take(MAX_EVIDENCE)
            .map(|q| tref(q.start_sec, q.end_sec, Some(format!("{}", q.words))))
            .collect(),
    )]
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "warning" => 0,
        "suggestion" => 1,
        _ => 2,
    }
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
    let l = Lang {
        ru: language.to_ascii_lowercase().starts_with("ru"),
    };
    if m.words_total == 0 {
        return vec![no_speech(m, duration_sec, &l)];
    }
    let mut out = Vec::new();
    out.extend(pace_advice(m, &l));
    out.extend(filler_advice(m, &l));
    out.extend(pause_advice(m, &l, cfg));
    out.extend(phrase_advice(m, spans, tokens, &l, cfg));
    out.extend(voice_advice(m, &l, cfg));
    out.extend(hedge_advice(m, &l));
    out.extend(repetition_advice(m, &l));
    out.extend(overused_advice(m, &l));
    out.extend(vocabulary_advice(m, &l));
    out.extend(sentence_advice(m, &l));
    out.sort_by_key(|a| severity_rank(&a.severity));
    out
}

/// How a tracked metric is named and printed in advice that cites the history.
fn history_label(metric: &str, l: &Lang) -> Option<(String, &'static str, &'static str, usize)> {
    // (label, Russian unit, English unit, decimals)
    let (ru, en, unit_ru, unit_en, d) = match metric {
        "fillers_per_minute" => ("Слова-паразиты", "Fillers", " в минуту", "/min", 1),
        "pace_wpm" => ("Темп", "Pace", " сл/мин", " wpm", 0),
        "longest_pause_sec" => ("Самая длинная пауза", "Longest pause", " с", " s", 1),
        "filler_clusters" => ("Скопления паразитов", "Filler clusters", "", "", 0),
        "awkward_pauses" => ("Неловкие паузы", "Awkward pauses", "", "", 0),
        "pitch_spread_semitones" => ("Диапазон голоса", "Pitch range", " пт", " semitones", 1),
        "monotone_stretches" => ("Монотонные участки", "Monotone stretches", "", "", 0),
        _ => return None,
    };
    Some((l.pick(ru, en), unit_ru, unit_en, d))
}

/// Advice that cites the change against the speaker's own baseline ("down from 7.3/min, your
/// median of 5 rehearsals"), one item per headline metric that has a baseline. Empty on a
/// first rehearsal.
pub fn history_advice(trends: &[MetricProgress], language: &str) -> Vec<Advice> {
    let l = Lang {
        ru: language.to_ascii_lowercase().starts_with("ru"),
    };
    trends
        .iter()
        .filter_map(|t| {
            let (label, unit_ru, unit_en, d) = history_label(t.metric, &l)?;
            let (latest, base) = (t.latest?, t.baseline?);
            let unit = if l.ru { unit_ru } else { unit_en };
            let (now, then) = (
                format!("{}{unit}", l.num(latest, d)),
                format!("{}{unit}", l.num(base, d)),
            );
            let n = t.baseline_rehearsals;
            let source = l.pick(
                format!("медиана ваших прошлых репетиций: {n}"),
                format!(
                    "your median of {n} {}",
                    if n == 1 { "rehearsal" } else { "rehearsals" }
                ),
            );
            let way = if latest < base {
                l.pick("меньше, чем", "down from")
            } else if latest > base {
                l.pick("больше, чем", "up from")
            } else {
                l.pick("как и", "same as")
            };
            let (severity, recommendation) = match t.improved {
                Some(true) => (
                    "info",
                    l.pick(
                        "Это сдвиг в нужную сторону: закрепите то, что вы изменили.",
                        "That is the right direction: keep what you changed.",
                    ),
                ),
                Some(false) => (
                    "suggestion",
                    l.pick(
                        "Стало хуже, чем обычно у вас: сравните эту запись с лучшей.",
                        "Worse than your usual: compare this recording with your best one.",
                    ),
                ),
                None => (
                    "info",
                    l.pick(
                        "Без заметных перемен по сравнению с прошлыми репетициями.",
                        "No clear change against your earlier rehearsals.",
                    ),
                ),
            };
            Some(item(
                "progress",
                severity,
                l.pick(format!("Динамика: {label}"), format!("Progress: {label}")),
                format!("{label}: {now}, {way} {then} ({source})."),
                recommendation,
                vec![],
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_plurals_and_decimal_comma() {
        let ru = Lang { ru: true };
        let forms = ["пауза", "паузы", "пауз"];
        let got: Vec<String> = [1, 2, 5, 11, 12, 21, 22, 25, 111]
            .iter()
            .map(|&n| ru.count(n, forms, ["", ""]))
            .collect();
        assert_eq!(
            got,
            [
                "1 пауза",
                "2 паузы",
                "5 пауз",
                "11 пауз",
                "12 пауз",
                "21 пауза",
                "22 паузы",
                "25 пауз",
                "111 пауз"
            ]
        );
        assert_eq!(ru.wpm(92.4), "92 слова");
        assert_eq!(ru.num(1.25, 1), "1,2");
        assert_eq!(ru.time(65.4), "1:05");
        let en = Lang { ru: false };
        assert_eq!(en.count(1, ["", "", ""], ["pause", "pauses"]), "1 pause");
        assert_eq!(en.wpm(150.0), "150 words");
        assert_eq!(en.num(1.25, 1), "1.2");
    }
}

#[cfg(test)]
mod history_tests {
    use super::history_advice;
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
        assert_eq!(en[0].category, "progress");
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
