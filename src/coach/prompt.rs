//! The chat request: one system message (role, rules, the JSON shape) and one user message with
//! the measured facts of the report, in the recording's language.
//!
//! Only measured facts go in: numbers from `metrics`, the advice the analysis produced, and a few
//! quoted moments with their times. The model is told to stay within them.

use serde::Serialize;
use std::fmt::Write as _;

use super::Report;
use crate::domain::labels::{PaceFlag, PauseClass, PhraseLength};
use crate::domain::metrics::{
    Advice, FillerMetrics, HedgeMetrics, Metrics, PauseMetrics, RepetitionMetrics, SentenceMetrics,
    VocabularyMetrics,
};
use crate::domain::progress::MetricProgress;
use crate::domain::text::{Lang, guillemets, mmss, span, tally};
use crate::domain::transcript::Segment;

/// Most segments quoted from the transcript: enough to hear the speaker's voice, little enough
/// to keep the prompt (and the bill) small.
const MAX_QUOTED_SEGMENTS: usize = 6;
/// Longest quoted segment, characters.
const MAX_QUOTE_CHARS: usize = 220;
/// Most timed events listed per kind (filler bursts, long pauses, monotone stretches…).
const MAX_EVENTS: usize = 5;

/// One chat message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

/// Body of `POST /chat/completions`.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub temperature: f64,
    pub max_tokens: u32,
    pub stream: bool,
}

/// Builds the request for `report`.
pub fn chat_request(
    report: &Report,
    model: &str,
    temperature: f64,
    max_tokens: u32,
) -> ChatRequest {
    let lang = Lang::of(&report.language);
    ChatRequest {
        model: model.to_owned(),
        messages: vec![
            Message {
                role: "system",
                content: system_prompt(lang).to_owned(),
            },
            Message {
                role: "user",
                content: facts(report, labels(lang)),
            },
        ],
        temperature,
        max_tokens,
        stream: false,
    }
}

fn system_prompt(lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => {
            "Ты опытный тренер по публичным выступлениям. Тебе дают только измеренные факты о записи \
выступления: числа, советы анализатора и цитаты с таймкодами. Опирайся только на них, ничего не \
выдумывай; если данных мало, так и скажи. Ссылайся на конкретные числа и моменты (мм:сс). Пиши \
по-русски, дружелюбно и по делу.\n\
Ответь ТОЛЬКО JSON-объектом без пояснений, ровно такой формы:\n\
{\"overall_assessment\": \"2–4 предложения\", \"strengths\": [\"…\"], \
\"areas_for_improvement\": [\"…\"], \"recommendations\": [\"конкретное упражнение или действие\"], \
\"key_insights\": [\"…\"], \"confidence\": 0.0–1.0}\n\
В каждом списке 2–5 пунктов."
        }
        Lang::En => {
            "You are an experienced public-speaking coach. You are given only measured facts about a \
recorded talk: numbers, the analyser's advice and quotes with timestamps. Rely on them alone and \
invent nothing; if the data is thin, say so. Refer to concrete numbers and moments (mm:ss). Write \
in English, friendly and to the point.\n\
Answer with ONLY a JSON object, no commentary, of exactly this shape:\n\
{\"overall_assessment\": \"2-4 sentences\", \"strengths\": [\"...\"], \
\"areas_for_improvement\": [\"...\"], \"recommendations\": [\"a concrete exercise or action\"], \
\"key_insights\": [\"...\"], \"confidence\": 0.0-1.0}\n\
Give 2-5 items in each list."
        }
    }
}

/// Labels of the facts message, per language.
struct Labels {
    intro: &'static str,
    duration: &'static str,
    words: &'static str,
    pace: &'static str,
    band: &'static str,
    fast_windows: &'static str,
    slow_windows: &'static str,
    fillers: &'static str,
    per_100: &'static str,
    per_minute: &'static str,
    top_fillers: &'static str,
    bursts: &'static str,
    pauses: &'static str,
    long_pauses: &'static str,
    phrases: &'static str,
    voice: &'static str,
    monotone: &'static str,
    hedges: &'static str,
    most_hedged: &'static str,
    repeats: &'static str,
    disfluencies: &'static str,
    overused: &'static str,
    vocabulary: &'static str,
    usual: &'static str,
    most_used: &'static str,
    sentences: &'static str,
    advice: &'static str,
    quotes: &'static str,
    sec: &'static str,
    history: &'static str,
    versus: &'static str,
    median_of_previous: &'static str,
    better: &'static str,
    worse: &'static str,
    no_change: &'static str,
}

const RU: Labels = Labels {
    intro: "Факты о выступлении",
    duration: "Длительность записи",
    words: "Слов (всего / разных)",
    pace: "Темп, слов в минуту (по времени речи / артикуляции)",
    band: "комфортный диапазон",
    fast_windows: "Слишком быстрые отрезки",
    slow_windows: "Слишком медленные отрезки",
    fillers: "Слова-паразиты и звуки-заминки (всего / из текста / по звуку)",
    per_100: "на 100 слов",
    per_minute: "в минуту",
    top_fillers: "Чаще всего",
    bursts: "Скопления паразитов",
    pauses: "Паузы (всего; естественные / смысловые / длинные / неловкие; средняя / макс.)",
    long_pauses: "Длинные и неловкие паузы",
    phrases: "Фразы (количество; слов в среднем; класс длины; вариативность ритма)",
    voice: "Голос (медиана высоты, Гц; диапазон, полутонов; разброс громкости, дБ)",
    monotone: "Монотонные отрезки",
    hedges: "Оговорки и пустые слова (всего; оговорки / усилители)",
    most_hedged: "Больше всего оговорок",
    repeats: "Повторы / фальстарты",
    disfluencies: "все запинки с паразитами",
    overused: "Заезженные фразы",
    vocabulary: "Разнообразие слов, MATTR",
    usual: "обычно",
    most_used: "частые слова",
    sentences: "Предложения (количество; слов в среднем; макс.; длинных)",
    advice: "Советы анализатора",
    quotes: "Фрагменты расшифровки",
    sec: "с",
    history: "История спикера (последняя репетиция против медианы предыдущих; цитируйте изменение, \
              например «меньше, чем 7,3 в минуту — ваша медиана за 5 репетиций»):",
    versus: "против",
    median_of_previous: "медиана предыдущих:",
    better: "лучше",
    worse: "хуже",
    no_change: "без заметных перемен",
};

const EN: Labels = Labels {
    intro: "Facts about the talk",
    duration: "Recording length",
    words: "Words (total / distinct)",
    pace: "Pace, words per minute (over speaking time / articulation)",
    band: "comfortable band",
    fast_windows: "Too-fast stretches",
    slow_windows: "Too-slow stretches",
    fillers: "Fillers and hesitation sounds (total / from transcript / acoustic)",
    per_100: "per 100 words",
    per_minute: "per minute",
    top_fillers: "Most frequent",
    bursts: "Filler bursts",
    pauses: "Pauses (total; natural / deliberate / long / awkward; mean / max)",
    long_pauses: "Long and awkward pauses",
    phrases: "Phrases (count; mean words; length class; rhythm variation)",
    voice: "Voice (median pitch, Hz; range, semitones; loudness spread, dB)",
    monotone: "Monotone stretches",
    hedges: "Hedges and weak words (total; hedges / weak)",
    most_hedged: "Most hedged sentence",
    repeats: "Repeats / false starts",
    disfluencies: "all disfluencies with fillers",
    overused: "Over-used phrases",
    vocabulary: "Vocabulary variety, MATTR",
    usual: "usual",
    most_used: "most used words",
    sentences: "Sentences (count; mean words; max; long)",
    advice: "Analyser's advice",
    quotes: "Transcript excerpts",
    sec: "s",
    history: "The speaker's history (this rehearsal against the median of the previous ones; cite \
              the change, e.g. \"down from 7.3/min, your median of 5 rehearsals\"):",
    versus: "vs",
    median_of_previous: "median of previous",
    better: "better",
    worse: "worse",
    no_change: "no clear change",
};

fn labels(lang: Lang) -> &'static Labels {
    lang.pick(&RU, &EN)
}

// `write!` into a String cannot fail: the results below are ignored on purpose.

/// The user message: the report's facts as a compact list, one section per metric group.
fn facts(report: &Report, l: &Labels) -> String {
    let m = &report.metrics;
    let mut s = String::new();
    let _ = writeln!(s, "{} (lang: {}):", l.intro, report.language);
    let _ = writeln!(
        s,
        "- {}: {} ({:.0} {})",
        l.duration,
        mmss(report.audio.duration_sec),
        report.audio.duration_sec,
        l.sec
    );
    let _ = writeln!(s, "- {}: {} / {}", l.words, m.words_total, m.unique_words);
    pace_facts(&mut s, m, l);
    filler_facts(&mut s, &m.fillers, l);
    pause_facts(&mut s, &m.pauses, l);
    phrase_and_voice_facts(&mut s, m, l);
    hedge_facts(&mut s, &m.hedges, l);
    repetition_facts(&mut s, &m.repetitions, &m.fillers, l);
    vocabulary_facts(&mut s, &m.vocabulary, l);
    sentence_facts(&mut s, &m.sentences, l);
    advice_facts(&mut s, &report.advice, l);
    quote_facts(&mut s, &report.transcript.segments, l);
    s
}

/// `«ну» ×7, «типа» ×3`: the first [`MAX_EVENTS`] counted items.
fn top<'a>(items: impl Iterator<Item = (&'a str, usize)>) -> String {
    tally(items.take(MAX_EVENTS), guillemets)
}

/// A quote cut to [`MAX_QUOTE_CHARS`].
fn cut(text: &str) -> String {
    text.chars().take(MAX_QUOTE_CHARS).collect()
}

fn pace_facts(s: &mut String, m: &Metrics, l: &Labels) {
    let _ = write!(
        s,
        "- {}: {:.0} / {:.0}",
        l.pace, m.words_per_minute, m.articulation_rate_wpm
    );
    if m.pace_band_wpm.max_wpm > 0.0 {
        let _ = write!(
            s,
            "; {} {:.0}–{:.0}",
            l.band, m.pace_band_wpm.min_wpm, m.pace_band_wpm.max_wpm
        );
    }
    s.push('\n');
    for (flag, label) in [
        (PaceFlag::TooFast, l.fast_windows),
        (PaceFlag::TooSlow, l.slow_windows),
    ] {
        let windows: Vec<String> = m
            .pace_windows
            .iter()
            .filter(|w| w.flag == flag)
            .take(MAX_EVENTS)
            .map(|w| format!("{} ({:.0})", span(w.start_sec, w.end_sec), w.wpm))
            .collect();
        if !windows.is_empty() {
            let _ = writeln!(s, "- {label}: {}", windows.join(", "));
        }
    }
}

fn filler_facts(s: &mut String, f: &FillerMetrics, l: &Labels) {
    let _ = writeln!(
        s,
        "- {}: {} / {} / {}; {:.1} {}",
        l.fillers, f.total, f.from_transcript, f.acoustic, f.per_100_words, l.per_100
    );
    if !f.items.is_empty() {
        let top = top(f.items.iter().map(|i| (i.word.as_str(), i.count)));
        let _ = writeln!(s, "  {}: {top}", l.top_fillers);
    }
    if !f.bursts.is_empty() {
        let bursts: Vec<String> = f
            .bursts
            .iter()
            .take(MAX_EVENTS)
            .map(|b| format!("{} (×{})", span(b.start_sec, b.end_sec), b.count))
            .collect();
        let _ = writeln!(s, "  {}: {}", l.bursts, bursts.join(", "));
    }
}

fn pause_facts(s: &mut String, p: &PauseMetrics, l: &Labels) {
    let _ = writeln!(
        s,
        "- {}: {}; {} / {} / {} / {}; {:.1} / {:.1} {}",
        l.pauses,
        p.count,
        p.classes.natural,
        p.classes.deliberate,
        p.classes.long,
        p.classes.awkward,
        p.avg_sec,
        p.max_sec,
        l.sec
    );
    let notable: Vec<String> = p
        .events
        .iter()
        .filter(|e| matches!(e.class, PauseClass::Long | PauseClass::Awkward))
        .take(MAX_EVENTS)
        .map(|e| {
            let mut d = format!(
                "{} {:.1} {} ({})",
                mmss(e.start_sec),
                e.duration_sec,
                l.sec,
                e.class
            );
            if e.word_before.is_some() || e.word_after.is_some() {
                let _ = write!(
                    d,
                    " «{} … {}»",
                    e.word_before.as_deref().unwrap_or(""),
                    e.word_after.as_deref().unwrap_or("")
                );
            }
            d
        })
        .collect();
    if !notable.is_empty() {
        let _ = writeln!(s, "  {}: {}", l.long_pauses, notable.join("; "));
    }
}

fn phrase_and_voice_facts(s: &mut String, m: &Metrics, l: &Labels) {
    let ph = &m.phrases;
    if ph.count > 0 {
        let _ = writeln!(
            s,
            "- {}: {}; {:.1}; {}; {:.2}",
            l.phrases,
            ph.count,
            ph.avg_words,
            ph.length_class.map_or("", PhraseLength::as_str),
            ph.rhythm_variation
        );
    }
    let v = &m.voice;
    let opt = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.1}"));
    let _ = writeln!(
        s,
        "- {}: {} ; {} ; {:.1}",
        l.voice,
        opt(v.pitch_median_hz),
        opt(v.pitch_range_semitones),
        v.loudness_variation_db
    );
    if !v.monotone_stretches.is_empty() {
        let st: Vec<String> = v
            .monotone_stretches
            .iter()
            .take(MAX_EVENTS)
            .map(|m| span(m.start_sec, m.end_sec))
            .collect();
        let _ = writeln!(s, "  {}: {}", l.monotone, st.join(", "));
    }
}

/// Hedges with the most hedged sentence.
fn hedge_facts(s: &mut String, h: &HedgeMetrics, l: &Labels) {
    let _ = write!(
        s,
        "- {}: {} ({} / {}); {:.1} {}, {:.1} {}",
        l.hedges,
        h.total,
        h.hedges,
        h.weak_words,
        h.per_100_words,
        l.per_100,
        h.per_minute,
        l.per_minute
    );
    if !h.items.is_empty() {
        let _ = write!(
            s,
            "; {}",
            top(h.items.iter().map(|i| (i.text.as_str(), i.count)))
        );
    }
    s.push('\n');
    if let Some(w) = &h.worst_sentence {
        let _ = writeln!(
            s,
            "  {}: [{}] «{}» (×{})",
            l.most_hedged,
            mmss(w.start_sec),
            cut(&w.text),
            h.worst_sentence_count
        );
    }
}

/// Repeats and false starts with their times, then the over-used phrases.
fn repetition_facts(s: &mut String, r: &RepetitionMetrics, f: &FillerMetrics, l: &Labels) {
    let _ = write!(
        s,
        "- {}: {} / {}; {:.1} {}; {}: {} ({:.1} {})",
        l.repeats,
        r.repeats,
        r.restarts,
        r.per_100_words,
        l.per_100,
        l.disfluencies,
        f.disfluencies,
        f.disfluencies_per_100_words,
        l.per_100
    );
    if !r.events.is_empty() {
        let ev: Vec<String> = r
            .events
            .iter()
            .take(MAX_EVENTS)
            .map(|e| format!("{} «{}»", mmss(e.start_sec), e.text))
            .collect();
        let _ = write!(s, "; {}", ev.join(", "));
    }
    s.push('\n');
    if !r.overused_phrases.is_empty() {
        let ph: Vec<String> = r
            .overused_phrases
            .iter()
            .take(MAX_EVENTS)
            .map(|p| {
                let times: Vec<String> = p
                    .occurrences
                    .iter()
                    .take(3)
                    .map(|o| mmss(o.start_sec))
                    .collect();
                format!("«{}» ×{} ({})", p.text, p.count, times.join(", "))
            })
            .collect();
        let _ = writeln!(s, "- {}: {}", l.overused, ph.join("; "));
    }
}

fn vocabulary_facts(s: &mut String, v: &VocabularyMetrics, l: &Labels) {
    let _ = writeln!(
        s,
        "- {}: {:.2} ({} {:.2}–{:.2}; {}); {}: {}",
        l.vocabulary,
        v.mattr,
        l.usual,
        v.reference_band[0],
        v.reference_band[1],
        v.flag,
        l.most_used,
        top(v.top_words.iter().map(|w| (w.word.as_str(), w.count)))
    );
}

fn sentence_facts(s: &mut String, st: &SentenceMetrics, l: &Labels) {
    if st.count == 0 {
        return;
    }
    let _ = write!(
        s,
        "- {}: {}; {:.1}; {}; {} > {}",
        l.sentences, st.count, st.avg_words, st.max_words, st.long_count, st.long_words
    );
    if let Some(q) = st.longest.first().filter(|q| q.words > st.long_words) {
        let _ = write!(s, "; [{}] «{}»", mmss(q.start_sec), cut(&q.text));
    }
    s.push('\n');
}

fn advice_facts(s: &mut String, advice: &[Advice], l: &Labels) {
    if advice.is_empty() {
        return;
    }
    let _ = writeln!(s, "{}:", l.advice);
    for a in advice.iter().take(8) {
        let _ = writeln!(
            s,
            "- [{}/{}] {}: {}",
            a.category, a.severity, a.title, a.observation
        );
    }
}

fn quote_facts(s: &mut String, segments: &[Segment], l: &Labels) {
    let quotes: Vec<String> = segments
        .iter()
        .filter(|seg| !seg.text.trim().is_empty())
        .take(MAX_QUOTED_SEGMENTS)
        .map(|seg| format!("- [{}] «{}»", mmss(seg.start_sec), cut(seg.text.trim())))
        .collect();
    if !quotes.is_empty() {
        let _ = writeln!(s, "{}:", l.quotes);
        for q in quotes {
            let _ = writeln!(s, "{q}");
        }
    }
}

/// The speaker's history as prompt lines: each tracked metric with a baseline, its latest
/// value, the baseline (median of how many earlier rehearsals) and whether it got better.
pub(crate) fn history_facts(trends: &[MetricProgress], lang: Lang) -> String {
    let l = labels(lang);
    let mut s = String::new();
    let _ = writeln!(s, "{}", l.history);
    for t in trends {
        let (Some(latest), Some(base)) = (t.latest, t.baseline) else {
            continue;
        };
        let verdict = match t.improved {
            Some(true) => l.better,
            Some(false) => l.worse,
            None => l.no_change,
        };
        let _ = writeln!(
            s,
            "- {} ({}): {latest:.2} {} {base:.2} ({} {}), {verdict}",
            t.metric, t.unit, l.versus, l.median_of_previous, t.baseline_rehearsals,
        );
    }
    s
}

/// [`chat_request`] with the speaker's history appended to the facts.
pub fn chat_request_with_history(
    report: &Report,
    trends: &[MetricProgress],
    model: &str,
    temperature: f64,
    max_tokens: u32,
) -> ChatRequest {
    let mut req = chat_request(report, model, temperature, max_tokens);
    if let Some(user) = req.messages.iter_mut().find(|m| m.role == "user") {
        user.content.push('\n');
        user.content
            .push_str(&history_facts(trends, Lang::of(&report.language)));
    }
    req
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sample_report;
    use super::*;

    #[test]
    fn one_leading_system_message_then_the_facts() {
        let r = sample_report("ru");
        let req = chat_request(&r, "GigaChat-Pro", 0.3, 900);
        assert_eq!(req.model, "GigaChat-Pro");
        assert_eq!(req.max_tokens, 900);
        assert!(!req.stream);
        assert_eq!(req.messages.len(), 2);
        assert_eq!(req.messages[0].role, "system");
        assert_eq!(req.messages[1].role, "user");
        assert!(req.messages[0].content.contains("JSON"));
        assert!(req.messages[0].content.contains("overall_assessment"));
    }

    #[test]
    fn facts_carry_measured_numbers_and_timed_quotes_in_russian() {
        let r = sample_report("ru");
        let text = &chat_request(&r, "m", 0.3, 900).messages[1].content;
        assert!(text.contains("Факты о выступлении"), "{text}");
        assert!(text.contains("172 / 95"), "wpm / articulation: {text}");
        assert!(text.contains("120–160"), "pace band: {text}");
        assert!(text.contains("«ну» ×7"), "{text}");
        assert!(text.contains("1:05 3.2 с (awkward) «итак … ну»"), "{text}");
        assert!(text.contains("[0:00] «Добрый день"), "{text}");
        assert!(text.contains("[fillers/warning]"), "{text}");
    }

    #[test]
    fn facts_carry_what_the_words_say_with_times() {
        use crate::domain::metrics::{HedgeCount, OverusedPhrase, Quote, RepetitionEvent, TimeRef};
        let mut r = sample_report("ru");
        let m = &mut r.metrics;
        m.hedges.total = 6;
        m.hedges.hedges = 5;
        m.hedges.weak_words = 1;
        m.hedges.items = vec![HedgeCount {
            text: "наверное".into(),
            kind: crate::domain::labels::WordKind::Hedge,
            count: 4,
        }];
        m.hedges.worst_sentence = Some(Quote {
            text: "Наверное, это, может быть, сработает.".into(),
            start_sec: 75.0,
            end_sec: 78.0,
            words: 5,
        });
        m.hedges.worst_sentence_count = 2;
        m.repetitions.repeats = 1;
        m.repetitions.events = vec![RepetitionEvent {
            kind: crate::domain::labels::RepetitionKind::Repeat,
            text: "мы мы".into(),
            start_sec: 12.0,
            end_sec: 12.6,
        }];
        m.repetitions.overused_phrases = vec![OverusedPhrase {
            text: "нового проекта".into(),
            count: 4,
            occurrences: vec![TimeRef {
                start_sec: 61.0,
                end_sec: 62.0,
                label: None,
            }],
        }];
        let text = &chat_request(&r, "m", 0.3, 900).messages[1].content;
        assert!(text.contains("«наверное» ×4"), "{text}");
        assert!(
            text.contains("[1:15] «Наверное, это, может быть, сработает.» (×2)"),
            "{text}"
        );
        assert!(text.contains("0:12 «мы мы»"), "{text}");
        assert!(text.contains("«нового проекта» ×4 (1:01)"), "{text}");
        assert!(text.contains("Разнообразие слов, MATTR"), "{text}");
    }

    #[test]
    fn english_reports_get_an_english_prompt() {
        let r = sample_report("en");
        let req = chat_request(&r, "m", 0.3, 900);
        assert!(req.messages[0].content.starts_with("You are"));
        assert!(req.messages[1].content.contains("Facts about the talk"));
    }

    #[test]
    fn the_request_serialises_to_the_gigachat_shape() {
        let v =
            serde_json::to_value(chat_request(&sample_report("en"), "GigaChat", 0.3, 10)).unwrap();
        assert_eq!(v["model"], "GigaChat");
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["temperature"], 0.3);
        assert_eq!(v["max_tokens"], 10);
    }
}

#[cfg(test)]
mod history_tests {
    use super::*;
    use crate::domain::progress::{MetricValues, Sample, progress};

    #[test]
    fn the_history_is_appended_to_the_facts_with_the_baseline() {
        let samples: Vec<Sample> = [7.3, 7.3, 3.1]
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                let mut values = MetricValues::new();
                values.insert("fillers_per_minute".into(), f);
                Sample {
                    rehearsal_id: format!("r{i}"),
                    recorded_at_ms: i as i64,
                    values,
                }
            })
            .collect();
        let trends = progress(&samples, 5);
        let text = history_facts(&trends, Lang::En);
        assert!(
            text.contains(
                "- fillers_per_minute (per_min): 3.10 vs 7.30 (median of previous 2), better"
            ),
            "{text}"
        );
        assert!(!text.contains("pace_wpm"), "no baseline, no line: {text}");
    }
}
