//! Rule-based feedback: the same schema as the LLM's, built from the measured report alone.
//!
//! It says what it is (`source: rules`, a `reason`, and a first sentence naming it an automatic
//! summary), and every sentence quotes a number or a moment from the report. The thresholds below
//! only pick what to *mention*; judging (advice) is the domain's job, and its advice is reused as
//! the recommendations.

use super::{FallbackReason, Feedback, FeedbackSource, Lang, Report, mmss};
use crate::domain::labels::{PaceFlag, PauseClass, PhraseLength};

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
    let lang = Lang::of(&report.language);
    let t = Texts::of(lang);
    let m = &report.metrics;

    let mut strengths = Vec::new();
    let mut areas = Vec::new();
    let mut insights = Vec::new();
    let mut own_recommendations = Vec::new();

    if m.words_total == 0 {
        return Feedback {
            source: FeedbackSource::Rules,
            reason: Some(reason),
            model: None,
            overall_assessment: format!("{} {}", t.preamble(reason), t.no_speech),
            strengths,
            areas_for_improvement: areas,
            recommendations: vec![t.no_speech_rec.to_owned()],
            key_insights: insights,
            confidence: 0.0,
        };
    }

    // Pace against the band.
    let band = m.pace_band_wpm;
    let wpm = m.words_per_minute;
    // A zero band means the analysis had no band configured: say nothing rather than guess.
    if band.max_wpm > 0.0 {
        if wpm > band.max_wpm {
            areas.push(t.pace_fast(wpm, band.min_wpm, band.max_wpm));
            own_recommendations.push(t.rec_slow_down.to_owned());
        } else if wpm < band.min_wpm {
            areas.push(t.pace_slow(wpm, band.min_wpm, band.max_wpm));
            own_recommendations.push(t.rec_speed_up.to_owned());
        } else {
            strengths.push(t.pace_ok(wpm, band.min_wpm, band.max_wpm));
        }
    }
    let fast: Vec<_> = m
        .pace_windows
        .iter()
        .filter(|w| w.flag == PaceFlag::TooFast)
        .collect();
    if let Some(first) = fast.first() {
        insights.push(t.fast_windows(fast.len(), m.pace_windows.len(), first.start_sec, first.wpm));
    }

    // Fillers.
    let f = &m.fillers;
    if f.per_100_words <= FEW_FILLERS_PER_100 {
        strengths.push(t.few_fillers(f.total, f.per_100_words));
    } else {
        let top: Vec<String> = f
            .items
            .iter()
            .take(3)
            .map(|i| format!("«{}» ×{}", i.word, i.count))
            .collect();
        areas.push(t.fillers(f.total, f.per_100_words, &top.join(", ")));
        if f.per_100_words > MANY_FILLERS_PER_100 {
            own_recommendations.push(t.rec_fillers.to_owned());
        }
    }
    if let Some(b) = f.bursts.iter().max_by_key(|b| b.count) {
        insights.push(t.burst(b.count, b.start_sec, b.end_sec));
    }
    if f.acoustic > 0 {
        insights.push(t.acoustic(f.acoustic));
    }

    // Pauses.
    let p = &m.pauses;
    let troublesome = p.classes.long + p.classes.awkward;
    if p.classes.deliberate > 0 && troublesome == 0 {
        strengths.push(t.deliberate_pauses(p.classes.deliberate));
    }
    if troublesome > 0 {
        areas.push(t.long_pauses(p.classes.long, p.classes.awkward, p.max_sec));
        if let Some(e) = p
            .events
            .iter()
            .filter(|e| matches!(e.class, PauseClass::Long | PauseClass::Awkward))
            .max_by(|a, b| a.duration_sec.total_cmp(&b.duration_sec))
        {
            insights.push(t.longest_pause(e.duration_sec, e.start_sec, e.word_before.as_deref()));
        }
    } else if p.count == 0 && m.speaking_time_sec >= MIN_TIME_FOR_PAUSE_JUDGEMENT_SEC {
        areas.push(t.no_pauses(m.speaking_time_sec));
        own_recommendations.push(t.rec_pauses.to_owned());
    }

    // Phrasing.
    match m.phrases.length_class {
        Some(PhraseLength::Balanced) => strengths.push(t.phrases_balanced(m.phrases.avg_words)),
        Some(PhraseLength::Long) => {
            areas.push(t.phrases_long(m.phrases.avg_words, m.phrases.max_words))
        }
        Some(PhraseLength::Short) => areas.push(t.phrases_short(m.phrases.avg_words)),
        None => {}
    }

    // Voice.
    if let Some(range) = m.voice.pitch_range_semitones {
        if range >= LIVELY_PITCH_RANGE_ST {
            strengths.push(t.lively_voice(range));
        } else if range < FLAT_PITCH_RANGE_ST {
            areas.push(t.flat_voice(range));
            own_recommendations.push(t.rec_intonation.to_owned());
        }
    }
    if let Some(s) = m.voice.monotone_stretches.first() {
        insights.push(t.monotone(m.voice.monotone_stretches.len(), s.start_sec, s.end_sec));
    }

    // Recommendations: the analyser's advice first (warnings, then suggestions), then our own.
    let mut recommendations: Vec<String> = Vec::new();
    for severity in ["warning", "suggestion", "info"] {
        for a in report.advice.iter().filter(|a| a.severity == severity) {
            let r = a.recommendation.trim();
            if !r.is_empty() && !recommendations.iter().any(|x| x == r) {
                recommendations.push(r.to_owned());
            }
        }
    }
    for r in own_recommendations {
        if !recommendations.contains(&r) {
            recommendations.push(r);
        }
    }
    if recommendations.is_empty() {
        recommendations.push(t.rec_keep.to_owned());
    }
    recommendations.truncate(MAX_RECOMMENDATIONS);

    let focus = areas.first().cloned();
    let overall = format!(
        "{} {} {}",
        t.preamble(reason),
        t.summary(
            m.words_total,
            m.speaking_time_sec,
            wpm,
            f.total,
            f.per_100_words,
            p.count
        ),
        match focus {
            Some(area) => t.focus(&area),
            None => t.all_good.to_owned(),
        }
    );

    Feedback {
        source: FeedbackSource::Rules,
        reason: Some(reason),
        model: None,
        overall_assessment: overall,
        strengths,
        areas_for_improvement: areas,
        recommendations,
        key_insights: insights,
        confidence: (m.words_total as f64 / WORDS_FOR_FULL_CONFIDENCE).min(1.0)
            * MAX_RULES_CONFIDENCE,
    }
}

/// The sentences, per language.
struct Texts {
    lang: Lang,
    no_speech: &'static str,
    no_speech_rec: &'static str,
    rec_slow_down: &'static str,
    rec_speed_up: &'static str,
    rec_fillers: &'static str,
    rec_pauses: &'static str,
    rec_intonation: &'static str,
    rec_keep: &'static str,
    all_good: &'static str,
}

impl Texts {
    fn of(lang: Lang) -> Self {
        match lang {
            Lang::Ru => Self {
                lang,
                no_speech: "В записи не распознано ни одного слова, поэтому оценить речь нельзя.",
                no_speech_rec: "Проверьте, что микрофон включён и запись содержит речь, и загрузите её снова.",
                rec_slow_down: "Замедлитесь: после каждой мысли делайте паузу в 1–2 секунды и выделяйте голосом ключевые слова.",
                rec_speed_up: "Прибавьте темп: отрепетируйте текст с таймером, сокращая паузы внутри фраз.",
                rec_fillers: "Замените слова-паразиты паузой: запишите 2-минутный рассказ и каждый раз, когда хочется сказать «ну» или «э-э», просто молчите.",
                rec_pauses: "Делайте паузы между мыслями: отметьте в плане места для вдоха и остановки.",
                rec_intonation: "Оживите интонацию: прочитайте текст вслух, выделяя голосом одно ключевое слово в каждой фразе.",
                rec_keep: "Сохраняйте текущую манеру и записывайте себя регулярно, чтобы отслеживать прогресс.",
                all_good: "Явных проблем по измеренным показателям нет.",
            },
            Lang::En => Self {
                lang,
                no_speech: "No words were recognised in the recording, so the speech cannot be assessed.",
                no_speech_rec: "Check that the microphone is on and the recording contains speech, then upload it again.",
                rec_slow_down: "Slow down: pause for 1-2 seconds after each thought and stress the key words.",
                rec_speed_up: "Pick up the pace: rehearse with a timer and trim the pauses inside phrases.",
                rec_fillers: "Replace fillers with silence: record a 2-minute story and simply pause whenever you feel an \"um\" or \"like\" coming.",
                rec_pauses: "Pause between thoughts: mark places to breathe and stop in your outline.",
                rec_intonation: "Vary your intonation: read the text aloud stressing one key word in every phrase.",
                rec_keep: "Keep your current delivery and record yourself regularly to track progress.",
                all_good: "The measured numbers show no clear problems.",
            },
        }
    }

    fn ru(&self) -> bool {
        self.lang == Lang::Ru
    }

    fn preamble(&self, reason: FallbackReason) -> String {
        let why = match (self.lang, reason) {
            (Lang::Ru, FallbackReason::Disabled) => "ИИ-коуч не подключён",
            (Lang::Ru, FallbackReason::BreakerOpen) => "ИИ-коуч временно недоступен",
            (Lang::Ru, FallbackReason::Timeout) => "ИИ-коуч не ответил вовремя",
            (Lang::Ru, FallbackReason::UpstreamError) => "ИИ-коуч ответил ошибкой",
            (Lang::Ru, FallbackReason::RateLimited) => "превышен лимит запросов к ИИ-коучу",
            (Lang::Ru, FallbackReason::InvalidReply) => "ответ ИИ-коуча не удалось разобрать",
            (Lang::En, FallbackReason::Disabled) => "the AI coach is not configured",
            (Lang::En, FallbackReason::BreakerOpen) => "the AI coach is temporarily unavailable",
            (Lang::En, FallbackReason::Timeout) => "the AI coach did not answer in time",
            (Lang::En, FallbackReason::UpstreamError) => "the AI coach returned an error",
            (Lang::En, FallbackReason::RateLimited) => "the AI coach's rate limit was hit",
            (Lang::En, FallbackReason::InvalidReply) => "the AI coach's answer could not be read",
        };
        if self.ru() {
            format!("Автоматическая сводка по правилам ({why}).")
        } else {
            format!("Automatic rule-based summary ({why}).")
        }
    }

    fn summary(
        &self,
        words: usize,
        speaking_sec: f64,
        wpm: f64,
        fillers: usize,
        per100: f64,
        pauses: usize,
    ) -> String {
        if self.ru() {
            format!(
                "Произнесено слов: {words} за {} речи, темп {wpm:.0} слов/мин; слов-паразитов: {fillers} ({per100:.1} на 100 слов); пауз: {pauses}.",
                mmss(speaking_sec)
            )
        } else {
            format!(
                "{words} words in {} of speaking, {wpm:.0} words per minute; {fillers} fillers ({per100:.1} per 100 words); {pauses} pauses.",
                mmss(speaking_sec)
            )
        }
    }

    fn focus(&self, area: &str) -> String {
        if self.ru() {
            format!("Главное, над чем работать: {}", lowercase_first(area))
        } else {
            format!("Main thing to work on: {}", lowercase_first(area))
        }
    }

    fn pace_ok(&self, wpm: f64, lo: f64, hi: f64) -> String {
        if self.ru() {
            format!("Комфортный темп: {wpm:.0} слов/мин, в пределах {lo:.0}–{hi:.0}.")
        } else {
            format!("Comfortable pace: {wpm:.0} words per minute, within {lo:.0}-{hi:.0}.")
        }
    }

    fn pace_fast(&self, wpm: f64, lo: f64, hi: f64) -> String {
        if self.ru() {
            format!(
                "Темп {wpm:.0} слов/мин выше комфортного диапазона {lo:.0}–{hi:.0}: слушателям трудно успевать."
            )
        } else {
            format!(
                "Pace of {wpm:.0} words per minute is above the comfortable {lo:.0}-{hi:.0}: listeners struggle to keep up."
            )
        }
    }

    fn pace_slow(&self, wpm: f64, lo: f64, hi: f64) -> String {
        if self.ru() {
            format!(
                "Темп {wpm:.0} слов/мин ниже комфортного диапазона {lo:.0}–{hi:.0}: внимание слушателей может рассеиваться."
            )
        } else {
            format!(
                "Pace of {wpm:.0} words per minute is below the comfortable {lo:.0}-{hi:.0}: attention may drift."
            )
        }
    }

    fn fast_windows(&self, n: usize, of: usize, first_at: f64, first_wpm: f64) -> String {
        if self.ru() {
            format!(
                "Слишком быстрых отрезков: {n} из {of}; первый — с {} ({first_wpm:.0} слов/мин).",
                mmss(first_at)
            )
        } else {
            format!(
                "{n} of {of} windows were too fast; the first at {} ({first_wpm:.0} wpm).",
                mmss(first_at)
            )
        }
    }

    fn few_fillers(&self, total: usize, per100: f64) -> String {
        if self.ru() {
            format!("Мало слов-паразитов: {total} ({per100:.1} на 100 слов).")
        } else {
            format!("Few fillers: {total} ({per100:.1} per 100 words).")
        }
    }

    fn fillers(&self, total: usize, per100: f64, top: &str) -> String {
        let top = if top.is_empty() {
            String::new()
        } else if self.ru() {
            format!(", чаще всего {top}")
        } else {
            format!(", most often {top}")
        };
        if self.ru() {
            format!("Слова-паразиты: {total} ({per100:.1} на 100 слов){top}.")
        } else {
            format!("Fillers: {total} ({per100:.1} per 100 words){top}.")
        }
    }

    fn burst(&self, count: usize, start: f64, end: f64) -> String {
        if self.ru() {
            format!(
                "Скопление паразитов: {count} подряд на {}–{}.",
                mmss(start),
                mmss(end)
            )
        } else {
            format!(
                "Filler burst: {count} close together at {}-{}.",
                mmss(start),
                mmss(end)
            )
        }
    }

    fn acoustic(&self, n: usize) -> String {
        if self.ru() {
            format!("Звуков-заминок без слов (найдены по звуку, не по тексту): {n}.")
        } else {
            format!(
                "Hesitation sounds without words (found in the audio, not the transcript): {n}."
            )
        }
    }

    fn deliberate_pauses(&self, n: usize) -> String {
        if self.ru() {
            format!("Смысловые паузы: {n}, без затянутых остановок.")
        } else {
            format!("Deliberate pauses: {n}, with no overlong stops.")
        }
    }

    fn long_pauses(&self, long: usize, awkward: usize, max: f64) -> String {
        if self.ru() {
            format!("Длинных пауз: {long}, неловких: {awkward}; самая длинная — {max:.1} с.")
        } else {
            format!("{long} long and {awkward} awkward pauses; the longest is {max:.1} s.")
        }
    }

    fn longest_pause(&self, dur: f64, at: f64, before: Option<&str>) -> String {
        let after_word = before
            .map(|w| {
                if self.ru() {
                    format!(" после «{w}»")
                } else {
                    format!(" after \"{w}\"")
                }
            })
            .unwrap_or_default();
        if self.ru() {
            format!(
                "Самая длинная пауза: {dur:.1} с на {}{after_word}.",
                mmss(at)
            )
        } else {
            format!("Longest pause: {dur:.1} s at {}{after_word}.", mmss(at))
        }
    }

    fn no_pauses(&self, speaking: f64) -> String {
        if self.ru() {
            format!(
                "Почти нет пауз за {} речи: слушателям некогда осмыслить сказанное.",
                mmss(speaking)
            )
        } else {
            format!(
                "Almost no pauses in {} of speaking: listeners get no time to absorb.",
                mmss(speaking)
            )
        }
    }

    fn phrases_balanced(&self, avg: f64) -> String {
        if self.ru() {
            format!("Фразы сбалансированной длины: в среднем {avg:.1} слова.")
        } else {
            format!("Phrases of balanced length: {avg:.1} words on average.")
        }
    }

    fn phrases_long(&self, avg: f64, max: usize) -> String {
        if self.ru() {
            format!("Длинные фразы: в среднем {avg:.1} слова, самая длинная — {max}.")
        } else {
            format!("Long phrases: {avg:.1} words on average, the longest {max}.")
        }
    }

    fn phrases_short(&self, avg: f64) -> String {
        if self.ru() {
            format!("Короткие, рубленые фразы: в среднем {avg:.1} слова.")
        } else {
            format!("Short, choppy phrases: {avg:.1} words on average.")
        }
    }

    fn lively_voice(&self, range: f64) -> String {
        if self.ru() {
            format!("Живая интонация: диапазон высоты голоса {range:.1} полутона.")
        } else {
            format!("Lively intonation: a pitch range of {range:.1} semitones.")
        }
    }

    fn flat_voice(&self, range: f64) -> String {
        if self.ru() {
            format!("Монотонная подача: диапазон высоты голоса всего {range:.1} полутона.")
        } else {
            format!("Flat delivery: a pitch range of only {range:.1} semitones.")
        }
    }

    fn monotone(&self, n: usize, start: f64, end: f64) -> String {
        if self.ru() {
            format!(
                "Монотонных отрезков: {n}; первый — {}–{}.",
                mmss(start),
                mmss(end)
            )
        } else {
            format!(
                "{n} monotone stretches; the first at {}-{}.",
                mmss(start),
                mmss(end)
            )
        }
    }
}

/// `Темп …` → `темп …`, for a sentence continued after a colon.
fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample_report;
    use super::*;

    #[test]
    fn says_it_is_rule_based_and_why() {
        let r = sample_report("ru");
        for reason in [
            FallbackReason::Disabled,
            FallbackReason::BreakerOpen,
            FallbackReason::Timeout,
            FallbackReason::UpstreamError,
            FallbackReason::RateLimited,
            FallbackReason::InvalidReply,
        ] {
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
