//! Rule-based feedback: the same schema as the LLM's, built from the measured report alone.
//!
//! It says what it is (`source: rules`, a `reason`, and a first sentence naming it an automatic
//! summary), and every sentence quotes a number or a moment from the report. The thresholds below
//! only pick what to *mention*; judging (advice) is the domain's job, and its advice is reused as
//! the recommendations. The sentences, in both languages, are the tables at the end of the file.

use super::{FallbackReason, Feedback, FeedbackSource, Report};
use crate::domain::labels::{PaceFlag, PauseClass, PhraseLength, Severity};
use crate::domain::metrics::{Advice, FillerMetrics, Metrics, PhraseMetrics, VoiceMetrics};
use crate::domain::text::{Lang, Text, fixed, guillemets, mmss, tally};

/// The judgement thresholds are the advice's own (one source of truth): filler use at or below
/// the advice's "suggestion" rate is called a strength, above its "warning" rate it is the first
/// thing to work on; a pitch range under the advice's "narrow" range sounds flat.
use crate::domain::advice::{
    FILLERS_SUGGESTION_PER_100 as FEW_FILLERS_PER_100,
    FILLERS_WARNING_PER_100 as MANY_FILLERS_PER_100, NARROW_PITCH_RANGE_ST as FLAT_PITCH_RANGE_ST,
};
/// Pitch range above which a voice sounds lively, semitones.
const LIVELY_PITCH_RANGE_ST: f64 = 8.0;
/// Speaking time under which there is too little to judge the absence of pauses, seconds.
const MIN_TIME_FOR_PAUSE_JUDGEMENT_SEC: f64 = 30.0;
/// Words for full confidence of the rules: a minute or two of speech.
const WORDS_FOR_FULL_CONFIDENCE: f64 = 250.0;
/// Rules never claim more than this: they cannot hear content, structure or delivery.
const MAX_RULES_CONFIDENCE: f64 = 0.8;
/// Most recommendations kept.
const MAX_RECOMMENDATIONS: usize = 5;

/// Rule-based feedback for `report`, in its language (`ru` → Russian, otherwise English).
/// Pure: the same report and reason always give the same feedback.
pub fn rule_based_feedback(report: &Report, reason: FallbackReason) -> Feedback {
    let l = Lang::of(&report.language);
    let m = &report.metrics;
    if m.words_total == 0 {
        return Feedback {
            source: FeedbackSource::Rules,
            reason: Some(reason),
            model: None,
            overall_assessment: format!("{} {}", preamble(l, reason), l.text(NO_SPEECH)),
            strengths: Vec::new(),
            areas_for_improvement: Vec::new(),
            recommendations: vec![l.text(NO_SPEECH_REC).to_owned()],
            key_insights: Vec::new(),
            confidence: 0.0,
        };
    }

    let mut notes = Notes::new(l);
    pace_notes(&mut notes, m);
    filler_notes(&mut notes, &m.fillers);
    pause_notes(&mut notes, m);
    phrase_notes(&mut notes, &m.phrases);
    voice_notes(&mut notes, &m.voice);

    let focus = match notes.areas.first() {
        Some(area) => l.fill(FOCUS, &[("area", lowercase_first(area))]),
        None => l.text(ALL_GOOD).to_owned(),
    };
    let overall = format!("{} {} {focus}", preamble(l, reason), summary(l, m));
    Feedback {
        source: FeedbackSource::Rules,
        reason: Some(reason),
        model: None,
        overall_assessment: overall,
        recommendations: recommendations(&report.advice, &notes.own_recommendations, l),
        strengths: notes.strengths,
        areas_for_improvement: notes.areas,
        key_insights: notes.insights,
        confidence: (m.words_total as f64 / WORDS_FOR_FULL_CONFIDENCE).min(1.0)
            * MAX_RULES_CONFIDENCE,
    }
}

/// What the rules found so far, in the order they looked.
struct Notes {
    l: Lang,
    strengths: Vec<String>,
    areas: Vec<String>,
    insights: Vec<String>,
    own_recommendations: Vec<String>,
}

impl Notes {
    fn new(l: Lang) -> Self {
        Self {
            l,
            strengths: Vec::new(),
            areas: Vec::new(),
            insights: Vec::new(),
            own_recommendations: Vec::new(),
        }
    }

    fn strength(&mut self, text: Text, args: &[(&str, String)]) {
        self.strengths.push(self.l.fill(text, args));
    }

    fn area(&mut self, text: Text, args: &[(&str, String)]) {
        self.areas.push(self.l.fill(text, args));
    }

    fn insight(&mut self, text: Text, args: &[(&str, String)]) {
        self.insights.push(self.l.fill(text, args));
    }

    fn recommend(&mut self, text: Text) {
        self.own_recommendations.push(self.l.text(text).to_owned());
    }
}

/// Pace against the band, and the first too-fast window.
fn pace_notes(n: &mut Notes, m: &Metrics) {
    let band = m.pace_band_wpm;
    let wpm = m.words_per_minute;
    let args = [
        ("wpm", fixed(wpm, 0)),
        ("lo", fixed(band.min_wpm, 0)),
        ("hi", fixed(band.max_wpm, 0)),
    ];
    // A zero band means the analysis had no band configured: say nothing rather than guess.
    if band.max_wpm > 0.0 {
        if wpm > band.max_wpm {
            n.area(PACE_FAST, &args);
            n.recommend(REC_SLOW_DOWN);
        } else if wpm < band.min_wpm {
            n.area(PACE_SLOW, &args);
            n.recommend(REC_SPEED_UP);
        } else {
            n.strength(PACE_OK, &args);
        }
    }
    let fast: Vec<_> = m
        .pace_windows
        .iter()
        .filter(|w| w.flag == PaceFlag::TooFast)
        .collect();
    if let Some(first) = fast.first() {
        let args = [
            ("n", fast.len().to_string()),
            ("of", m.pace_windows.len().to_string()),
            ("at", mmss(first.start_sec)),
            ("first_wpm", fixed(first.wpm, 0)),
        ];
        n.insight(FAST_WINDOWS, &args);
    }
}

fn filler_notes(n: &mut Notes, f: &FillerMetrics) {
    let top = tally(
        f.items.iter().take(3).map(|i| (i.word.as_str(), i.count)),
        guillemets,
    );
    let mut args = vec![
        ("total", f.total.to_string()),
        ("per100", fixed(f.per_100_words, 1)),
        ("acoustic", f.acoustic.to_string()),
    ];
    let top = if top.is_empty() {
        String::new()
    } else {
        n.l.fill(FILLERS_TOP, &[("list", top)])
    };
    args.push(("top", top));
    if f.per_100_words <= FEW_FILLERS_PER_100 {
        n.strength(FEW_FILLERS, &args);
    } else {
        n.area(FILLERS, &args);
        if f.per_100_words > MANY_FILLERS_PER_100 {
            n.recommend(REC_FILLERS);
        }
    }
    if let Some(b) = f.bursts.iter().max_by_key(|b| b.count) {
        let args = [
            ("count", b.count.to_string()),
            ("start", mmss(b.start_sec)),
            ("end", mmss(b.end_sec)),
        ];
        n.insight(BURST, &args);
    }
    if f.acoustic > 0 {
        n.insight(ACOUSTIC, &args);
    }
}

fn pause_notes(n: &mut Notes, m: &Metrics) {
    let p = &m.pauses;
    let troublesome = p.classes.long + p.classes.awkward;
    let args = [
        ("deliberate", p.classes.deliberate.to_string()),
        ("long", p.classes.long.to_string()),
        ("awkward", p.classes.awkward.to_string()),
        ("max", fixed(p.max_sec, 1)),
        ("speaking", mmss(m.speaking_time_sec)),
    ];
    if p.classes.deliberate > 0 && troublesome == 0 {
        n.strength(DELIBERATE_PAUSES, &args);
    }
    if troublesome > 0 {
        n.area(LONG_PAUSES, &args);
        if let Some(e) = p
            .events
            .iter()
            .filter(|e| matches!(e.class, PauseClass::Long | PauseClass::Awkward))
            .max_by(|a, b| a.duration_sec.total_cmp(&b.duration_sec))
        {
            let after = match &e.word_before {
                Some(w) => n.l.fill(AFTER_WORD, &[("word", w.clone())]),
                None => String::new(),
            };
            let args = [
                ("duration", fixed(e.duration_sec, 1)),
                ("at", mmss(e.start_sec)),
                ("after", after),
            ];
            n.insight(LONGEST_PAUSE, &args);
        }
    } else if p.count == 0 && m.speaking_time_sec >= MIN_TIME_FOR_PAUSE_JUDGEMENT_SEC {
        n.area(NO_PAUSES, &args);
        n.recommend(REC_PAUSES);
    }
}

fn phrase_notes(n: &mut Notes, ph: &PhraseMetrics) {
    let args = [
        ("avg", fixed(ph.avg_words, 1)),
        ("max", ph.max_words.to_string()),
    ];
    match ph.length_class {
        Some(PhraseLength::Balanced) => n.strength(PHRASES_BALANCED, &args),
        Some(PhraseLength::Long) => n.area(PHRASES_LONG, &args),
        Some(PhraseLength::Short) => n.area(PHRASES_SHORT, &args),
        None => {}
    }
}

fn voice_notes(n: &mut Notes, v: &VoiceMetrics) {
    if let Some(range) = v.pitch_range_semitones {
        let args = [("range", fixed(range, 1))];
        if range >= LIVELY_PITCH_RANGE_ST {
            n.strength(LIVELY_VOICE, &args);
        } else if range < FLAT_PITCH_RANGE_ST {
            n.area(FLAT_VOICE, &args);
            n.recommend(REC_INTONATION);
        }
    }
    if let Some(s) = v.monotone_stretches.first() {
        let args = [
            ("n", v.monotone_stretches.len().to_string()),
            ("start", mmss(s.start_sec)),
            ("end", mmss(s.end_sec)),
        ];
        n.insight(MONOTONE, &args);
    }
}

/// The analyser's advice first (warnings, then suggestions), then our own; no repeats.
fn recommendations(advice: &[Advice], own: &[String], l: Lang) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for &severity in Severity::ALL {
        for a in advice.iter().filter(|a| a.severity == severity) {
            let r = a.recommendation.trim();
            if !r.is_empty() && !out.iter().any(|x| x == r) {
                out.push(r.to_owned());
            }
        }
    }
    for r in own {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    if out.is_empty() {
        out.push(l.text(REC_KEEP).to_owned());
    }
    out.truncate(MAX_RECOMMENDATIONS);
    out
}

/// "Automatic rule-based summary (the AI coach did not answer in time)."
fn preamble(l: Lang, reason: FallbackReason) -> String {
    l.fill(PREAMBLE, &[("why", l.text(why(reason)).to_owned())])
}

/// The headline numbers in one sentence.
fn summary(l: Lang, m: &Metrics) -> String {
    let args = [
        ("words", m.words_total.to_string()),
        ("speaking", mmss(m.speaking_time_sec)),
        ("wpm", fixed(m.words_per_minute, 0)),
        ("fillers", m.fillers.total.to_string()),
        ("per100", fixed(m.fillers.per_100_words, 1)),
        ("pauses", m.pauses.count.to_string()),
    ];
    l.fill(SUMMARY, &args)
}

/// `Темп …` → `темп …`, for a sentence continued after a colon.
fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

// The sentences of the feedback. Numbers are written with a decimal point in both languages.

fn why(reason: FallbackReason) -> Text {
    match reason {
        FallbackReason::Disabled => {
            Text::new("ИИ-коуч не подключён", "the AI coach is not configured")
        }
        FallbackReason::BreakerOpen => Text::new(
            "ИИ-коуч временно недоступен",
            "the AI coach is temporarily unavailable",
        ),
        FallbackReason::Timeout => Text::new(
            "ИИ-коуч не ответил вовремя",
            "the AI coach did not answer in time",
        ),
        FallbackReason::UpstreamError => {
            Text::new("ИИ-коуч ответил ошибкой", "the AI coach returned an error")
        }
        FallbackReason::RateLimited => Text::new(
            "превышен лимит запросов к ИИ-коучу",
            "the AI coach's rate limit was hit",
        ),
        FallbackReason::InvalidReply => Text::new(
            "ответ ИИ-коуча не удалось разобрать",
            "the AI coach's answer could not be read",
        ),
    }
}

const PREAMBLE: Text = Text::new(
    "Автоматическая сводка по правилам ({why}).",
    "Automatic rule-based summary ({why}).",
);
const SUMMARY: Text = Text::new(
    "Произнесено слов: {words} за {speaking} речи, темп {wpm} слов/мин; слов-паразитов: {fillers} ({per100} на 100 слов); пауз: {pauses}.",
    "{words} words in {speaking} of speaking, {wpm} words per minute; {fillers} fillers ({per100} per 100 words); {pauses} pauses.",
);
const FOCUS: Text = Text::new(
    "Главное, над чем работать: {area}",
    "Main thing to work on: {area}",
);
const ALL_GOOD: Text = Text::new(
    "Явных проблем по измеренным показателям нет.",
    "The measured numbers show no clear problems.",
);
const NO_SPEECH: Text = Text::new(
    "В записи не распознано ни одного слова, поэтому оценить речь нельзя.",
    "No words were recognised in the recording, so the speech cannot be assessed.",
);
const NO_SPEECH_REC: Text = Text::new(
    "Проверьте, что микрофон включён и запись содержит речь, и загрузите её снова.",
    "Check that the microphone is on and the recording contains speech, then upload it again.",
);

const PACE_OK: Text = Text::new(
    "Комфортный темп: {wpm} слов/мин, в пределах {lo}–{hi}.",
    "Comfortable pace: {wpm} words per minute, within {lo}-{hi}.",
);
const PACE_FAST: Text = Text::new(
    "Темп {wpm} слов/мин выше комфортного диапазона {lo}–{hi}: слушателям трудно успевать.",
    "Pace of {wpm} words per minute is above the comfortable {lo}-{hi}: listeners struggle to keep up.",
);
const PACE_SLOW: Text = Text::new(
    "Темп {wpm} слов/мин ниже комфортного диапазона {lo}–{hi}: внимание слушателей может рассеиваться.",
    "Pace of {wpm} words per minute is below the comfortable {lo}-{hi}: attention may drift.",
);
const FAST_WINDOWS: Text = Text::new(
    "Слишком быстрых отрезков: {n} из {of}; первый — с {at} ({first_wpm} слов/мин).",
    "{n} of {of} windows were too fast; the first at {at} ({first_wpm} wpm).",
);
const REC_SLOW_DOWN: Text = Text::new(
    "Замедлитесь: после каждой мысли делайте паузу в 1–2 секунды и выделяйте голосом ключевые слова.",
    "Slow down: pause for 1-2 seconds after each thought and stress the key words.",
);
const REC_SPEED_UP: Text = Text::new(
    "Прибавьте темп: отрепетируйте текст с таймером, сокращая паузы внутри фраз.",
    "Pick up the pace: rehearse with a timer and trim the pauses inside phrases.",
);

const FEW_FILLERS: Text = Text::new(
    "Мало слов-паразитов: {total} ({per100} на 100 слов).",
    "Few fillers: {total} ({per100} per 100 words).",
);
const FILLERS: Text = Text::new(
    "Слова-паразиты: {total} ({per100} на 100 слов){top}.",
    "Fillers: {total} ({per100} per 100 words){top}.",
);
const FILLERS_TOP: Text = Text::new(", чаще всего {list}", ", most often {list}");
const BURST: Text = Text::new(
    "Скопление паразитов: {count} подряд на {start}–{end}.",
    "Filler burst: {count} close together at {start}-{end}.",
);
const ACOUSTIC: Text = Text::new(
    "Звуков-заминок без слов (найдены по звуку, не по тексту): {acoustic}.",
    "Hesitation sounds without words (found in the audio, not the transcript): {acoustic}.",
);
const REC_FILLERS: Text = Text::new(
    "Замените слова-паразиты паузой: запишите 2-минутный рассказ и каждый раз, когда хочется сказать «ну» или «э-э», просто молчите.",
    "Replace fillers with silence: record a 2-minute story and simply pause whenever you feel an \"um\" or \"like\" coming.",
);

const DELIBERATE_PAUSES: Text = Text::new(
    "Смысловые паузы: {deliberate}, без затянутых остановок.",
    "Deliberate pauses: {deliberate}, with no overlong stops.",
);
const LONG_PAUSES: Text = Text::new(
    "Длинных пауз: {long}, неловких: {awkward}; самая длинная — {max} с.",
    "{long} long and {awkward} awkward pauses; the longest is {max} s.",
);
const LONGEST_PAUSE: Text = Text::new(
    "Самая длинная пауза: {duration} с на {at}{after}.",
    "Longest pause: {duration} s at {at}{after}.",
);
const AFTER_WORD: Text = Text::new(" после «{word}»", " after \"{word}\"");
const NO_PAUSES: Text = Text::new(
    "Почти нет пауз за {speaking} речи: слушателям некогда осмыслить сказанное.",
    "Almost no pauses in {speaking} of speaking: listeners get no time to absorb.",
);
const REC_PAUSES: Text = Text::new(
    "Делайте паузы между мыслями: отметьте в плане места для вдоха и остановки.",
    "Pause between thoughts: mark places to breathe and stop in your outline.",
);

const PHRASES_BALANCED: Text = Text::new(
    "Фразы сбалансированной длины: в среднем {avg} слова.",
    "Phrases of balanced length: {avg} words on average.",
);
const PHRASES_LONG: Text = Text::new(
    "Длинные фразы: в среднем {avg} слова, самая длинная — {max}.",
    "Long phrases: {avg} words on average, the longest {max}.",
);
const PHRASES_SHORT: Text = Text::new(
    "Короткие, рубленые фразы: в среднем {avg} слова.",
    "Short, choppy phrases: {avg} words on average.",
);

const LIVELY_VOICE: Text = Text::new(
    "Живая интонация: диапазон высоты голоса {range} полутона.",
    "Lively intonation: a pitch range of {range} semitones.",
);
const FLAT_VOICE: Text = Text::new(
    "Монотонная подача: диапазон высоты голоса всего {range} полутона.",
    "Flat delivery: a pitch range of only {range} semitones.",
);
const MONOTONE: Text = Text::new(
    "Монотонных отрезков: {n}; первый — {start}–{end}.",
    "{n} monotone stretches; the first at {start}-{end}.",
);
const REC_INTONATION: Text = Text::new(
    "Оживите интонацию: прочитайте текст вслух, выделяя голосом одно ключевое слово в каждой фразе.",
    "Vary your intonation: read the text aloud stressing one key word in every phrase.",
);
const REC_KEEP: Text = Text::new(
    "Сохраняйте текущую манеру и записывайте себя регулярно, чтобы отслеживать прогресс.",
    "Keep your current delivery and record yourself regularly to track progress.",
);

#[cfg(test)]
mod tests {
    use super::super::test_support::sample_report;
    use super::*;

    #[test]
    fn says_it_is_rule_based_and_why() {
        let r = sample_report("ru");
        for reason in FallbackReason::ALL {
            let f = rule_based_feedback(&r, reason);
            assert_eq!(f.source, FeedbackSource::Rules);
            assert_eq!(f.reason, Some(reason));
            assert_eq!(f.model, None);
            assert!(
                f.overall_assessment
                    .starts_with("Автоматическая сводка по правилам")
            );
        }
        let json =
            serde_json::to_value(rule_based_feedback(&r, FallbackReason::BreakerOpen)).unwrap();
        assert_eq!(json["source"], "rules");
        assert_eq!(json["reason"], "breaker_open");
        assert!(json.get("model").is_none());
    }

    #[test]
    fn grounded_in_the_reports_numbers_in_russian() {
        let f = rule_based_feedback(&sample_report("ru"), FallbackReason::Timeout);
        let all = format!("{f:?}");
        assert!(
            f.overall_assessment.contains("темп 172 слов/мин"),
            "{}",
            f.overall_assessment
        );
        assert!(
            f.areas_for_improvement[0].contains("172")
                && f.areas_for_improvement[0].contains("120–160")
        );
        assert!(
            all.contains("Слова-паразиты: 12 (6.0 на 100 слов)"),
            "{all}"
        );
        assert!(all.contains("«ну» ×7"));
        assert!(
            all.contains("Самая длинная пауза: 3.2 с на 1:05 после «итак»"),
            "{all}"
        );
        // The analyser's warning comes first among the recommendations.
        assert_eq!(f.recommendations[0], "Замените «ну» паузой.");
        assert!(f.confidence > 0.0 && f.confidence <= MAX_RULES_CONFIDENCE);
    }

    #[test]
    fn english_for_other_languages() {
        let f = rule_based_feedback(&sample_report("de"), FallbackReason::Disabled);
        assert!(
            f.overall_assessment
                .starts_with("Automatic rule-based summary (the AI coach is not configured).")
        );
        assert!(f.areas_for_improvement[0].starts_with("Pace of 172 words per minute"));
    }

    #[test]
    fn good_numbers_become_strengths() {
        let mut r = sample_report("en");
        r.metrics.words_per_minute = 140.0;
        r.metrics.fillers.per_100_words = 1.0;
        r.metrics.fillers.total = 2;
        r.metrics.pauses.classes.long = 0;
        r.metrics.pauses.classes.awkward = 0;
        r.metrics.voice.pitch_range_semitones = Some(9.0);
        r.advice.clear();
        let f = rule_based_feedback(&r, FallbackReason::Disabled);
        let s = f.strengths.join(" | ");
        assert!(s.contains("Comfortable pace: 140"), "{s}");
        assert!(s.contains("Few fillers: 2 (1.0 per 100 words)"), "{s}");
        assert!(s.contains("Deliberate pauses: 3"), "{s}");
        assert!(s.contains("pitch range of 9.0"), "{s}");
    }

    #[test]
    fn no_speech_means_zero_confidence_and_no_invented_praise() {
        let mut r = sample_report("ru");
        r.metrics = Default::default();
        r.advice.clear();
        let f = rule_based_feedback(&r, FallbackReason::Disabled);
        assert_eq!(f.confidence, 0.0);
        assert!(f.strengths.is_empty());
        assert!(
            f.overall_assessment
                .contains("не распознано ни одного слова")
        );
    }

    #[test]
    fn is_pure() {
        let r = sample_report("ru");
        assert_eq!(
            rule_based_feedback(&r, FallbackReason::Timeout),
            rule_based_feedback(&r, FallbackReason::Timeout)
        );
    }
}
