//! The entry point of the domain: [`analyze`] turns a transcript, the VAD's speech map and the
//! signal into metrics, advice and a timeline. Pure and deterministic: same input, same output.

use std::collections::BTreeMap;

use super::lexicon::Lexicon;
use super::metrics::{Advice, Metrics, PaceBand, TimelineEvent};
use super::signal::{Span, SpeechMap};
use super::stats::{ms, ratio, round};
use super::tokens::{syllables, tokenize};
use super::transcript::Transcript;
use super::word_lexicon::WordLexicon;
use super::{
    advice, boundaries, fillers, hedges, pace, pauses, prosody, repetitions, sentences, timeline,
    vocabulary,
};

/// Settings of the analysis. Every field has a default ([`Default`]); the env var the service
/// maps to it is named in its doc.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisConfig {
    /// Comfortable pace per language code (`ru`, `en`), words per minute of speaking time.
    /// Default ru and en 100–180. Env: `PACE_RU_MIN_WPM`, `PACE_RU_MAX_WPM`, `PACE_EN_MIN_WPM`,
    /// `PACE_EN_MAX_WPM`.
    pub pace_bands: BTreeMap<String, PaceBand>,
    /// Band for languages not in `pace_bands`. Default 100–180 wpm.
    pub default_pace_band: PaceBand,
    /// Length of a pace window, seconds. Default 30. Env: `PACE_WINDOW_SEC`.
    pub pace_window_sec: f64,
    /// Step between pace windows, seconds. Default 15. Env: `PACE_STEP_SEC`.
    pub pace_step_sec: f64,
    /// Pauses shorter than this are `natural`, seconds. Default 1.0. Env: `PAUSE_NATURAL_MAX_SEC`.
    pub pause_natural_max_sec: f64,
    /// Pauses shorter than this (and not natural) are `deliberate`, seconds. Default 2.5.
    /// Env: `PAUSE_DELIBERATE_MAX_SEC`.
    pub pause_deliberate_max_sec: f64,
    /// Pauses shorter than this (and not deliberate) are `long`; longer ones are `awkward`,
    /// seconds. Default 5.0. Env: `PAUSE_LONG_MAX_SEC`.
    pub pause_long_max_sec: f64,
    /// A phrase is speech between pauses at least this long, seconds. Default 0.5.
    /// Env: `MIN_PHRASE_PAUSE_SEC`.
    pub min_phrase_pause_sec: f64,
    /// Phrases averaging fewer words than this are `short` (choppy). Default 5.
    /// Env: `PHRASE_SHORT_WORDS`.
    pub phrase_short_words: f64,
    /// Phrases averaging more words than this are `long`. Default 15. Env: `PHRASE_LONG_WORDS`.
    pub phrase_long_words: f64,
    /// Shortest voiced-but-untranscribed span counted as an acoustic filler, seconds.
    /// Default 0.3. Env: `ACOUSTIC_FILLER_MIN_SEC`.
    pub acoustic_filler_min_sec: f64,
    /// Longest such span still counted as a filler; longer ones are untranscribed speech, not a
    /// hesitation, seconds. Default 2.0. Env: `ACOUSTIC_FILLER_MAX_SEC`.
    pub acoustic_filler_max_sec: f64,
    /// How far a word's timestamps may drift from the VAD's boundaries and still count as
    /// touching them, seconds (Whisper's word times are approximate). Default 0.2.
    /// Env: `WORD_TIMING_TOLERANCE_SEC`.
    pub word_timing_tolerance_sec: f64,
    /// Fillers whose starts fit in this many seconds form a burst. Default 8. Env:
    /// `FILLER_BURST_WINDOW_SEC`.
    pub filler_burst_window_sec: f64,
    /// Fewest fillers in a burst. Default 3. Env: `FILLER_BURST_MIN_COUNT`.
    pub filler_burst_min_count: usize,
    /// A stretch is monotone when the pitch's standard deviation over it is below this,
    /// semitones. Default 1.5. Env: `MONOTONE_STD_SEMITONES`.
    pub monotone_std_semitones: f64,
    /// Length of the window judged for monotony (and the shortest monotone stretch), seconds.
    /// Default 5. Env: `MONOTONE_WINDOW_SEC`.
    pub monotone_window_sec: f64,
    /// Lowest pitch searched, Hz. Default 60. Env: `PITCH_MIN_HZ`.
    pub pitch_min_hz: f64,
    /// Highest pitch searched, Hz. Default 400. Env: `PITCH_MAX_HZ`.
    pub pitch_max_hz: f64,
    /// Filler lexicon. Default: the embedded `config/fillers.toml`. Env: `FILLERS_LEXICON_PATH`
    /// (a file in the same format).
    pub lexicon: Lexicon,
    /// Hedges, weak words, stop-words and the vocabulary band. Default: the embedded
    /// `config/words.toml`.
    pub word_lexicon: WordLexicon,
    /// A phrase of 2–4 content words said at least this many times is over-used. Default 3.
    /// Env: `OVERUSED_PHRASE_MIN_COUNT`.
    pub overused_phrase_min_count: usize,
    /// Sentences of more than this many words are long. Default 30. Env: `LONG_SENTENCE_WORDS`.
    pub long_sentence_words: usize,
    /// Window of the moving-average type-token ratio, words. Default 50. Env:
    /// `MATTR_WINDOW_WORDS`.
    pub mattr_window_words: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        let band = PaceBand {
            min_wpm: 100.0,
            max_wpm: 180.0,
        };
        Self {
            pace_bands: [("ru".to_string(), band), ("en".to_string(), band)].into(),
            default_pace_band: band,
            pace_window_sec: 30.0,
            pace_step_sec: 15.0,
            pause_natural_max_sec: 1.0,
            pause_deliberate_max_sec: 2.5,
            pause_long_max_sec: 5.0,
            min_phrase_pause_sec: 0.5,
            phrase_short_words: 5.0,
            phrase_long_words: 15.0,
            acoustic_filler_min_sec: 0.3,
            acoustic_filler_max_sec: 2.0,
            word_timing_tolerance_sec: 0.2,
            filler_burst_window_sec: 8.0,
            filler_burst_min_count: 3,
            monotone_std_semitones: 1.5,
            monotone_window_sec: 5.0,
            pitch_min_hz: 60.0,
            pitch_max_hz: 400.0,
            lexicon: Lexicon::builtin(),
            word_lexicon: WordLexicon::builtin(),
            overused_phrase_min_count: 3,
            long_sentence_words: 30,
            mattr_window_words: 50,
        }
    }
}

impl AnalysisConfig {
    /// The pace band for a language (the default band for unknown ones).
    pub fn pace_band(&self, language: &str) -> PaceBand {
        self.pace_bands
            .get(language)
            .copied()
            .unwrap_or(self.default_pace_band)
    }

    /// A short stable digest of every setting that changes the result, lexicon version included:
    /// part of the cache key, so a changed setting never serves an old report.
    pub fn fingerprint(&self) -> String {
        // Debug formatting of f64 is exact (shortest round-trip), so equal settings hash equal.
        let mut text = format!(
            "{:?}|{:?}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.pace_bands,
            self.default_pace_band,
            self.pace_window_sec,
            self.pace_step_sec,
            self.pause_natural_max_sec,
            self.pause_deliberate_max_sec,
            self.pause_long_max_sec,
            self.min_phrase_pause_sec,
            self.phrase_short_words,
            self.phrase_long_words,
            self.acoustic_filler_min_sec,
            self.acoustic_filler_max_sec,
            self.word_timing_tolerance_sec,
            self.filler_burst_window_sec,
            self.filler_burst_min_count,
            self.monotone_std_semitones,
            self.monotone_window_sec,
            self.pitch_min_hz,
            self.pitch_max_hz,
            self.lexicon.version(),
            self.word_lexicon.version(),
            self.overused_phrase_min_count,
            self.long_sentence_words,
            self.mattr_window_words,
        );
        text = blake3::hash(text.as_bytes()).to_hex()[..16].to_string();
        format!("analysis-{text}")
    }

    /// Check the settings make sense; the message names the offending setting. Call at startup.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("PACE_WINDOW_SEC", self.pace_window_sec),
            ("PACE_STEP_SEC", self.pace_step_sec),
            ("PAUSE_NATURAL_MAX_SEC", self.pause_natural_max_sec),
            ("MIN_PHRASE_PAUSE_SEC", self.min_phrase_pause_sec),
            ("ACOUSTIC_FILLER_MIN_SEC", self.acoustic_filler_min_sec),
            ("FILLER_BURST_WINDOW_SEC", self.filler_burst_window_sec),
            ("MONOTONE_STD_SEMITONES", self.monotone_std_semitones),
            ("MONOTONE_WINDOW_SEC", self.monotone_window_sec),
            ("PITCH_MIN_HZ", self.pitch_min_hz),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{name} must be a positive number, got {value}"));
            }
        }
        if !(self.pause_natural_max_sec < self.pause_deliberate_max_sec
            && self.pause_deliberate_max_sec < self.pause_long_max_sec)
        {
            return Err("pause thresholds must grow: PAUSE_NATURAL_MAX_SEC < \
                        PAUSE_DELIBERATE_MAX_SEC < PAUSE_LONG_MAX_SEC"
                .into());
        }
        if self.acoustic_filler_max_sec < self.acoustic_filler_min_sec {
            return Err("ACOUSTIC_FILLER_MAX_SEC must be >= ACOUSTIC_FILLER_MIN_SEC".into());
        }
        if !self.pitch_max_hz.is_finite() || self.pitch_max_hz <= self.pitch_min_hz {
            return Err("PITCH_MAX_HZ must be greater than PITCH_MIN_HZ".into());
        }
        if self.overused_phrase_min_count < 2 {
            return Err("OVERUSED_PHRASE_MIN_COUNT must be at least 2".into());
        }
        if self.long_sentence_words < 1 {
            return Err("LONG_SENTENCE_WORDS must be at least 1".into());
        }
        if self.mattr_window_words < 2 {
            return Err("MATTR_WINDOW_WORDS must be at least 2".into());
        }
        if self.filler_burst_min_count < 2 {
            return Err("FILLER_BURST_MIN_COUNT must be at least 2".into());
        }
        if !(self.word_timing_tolerance_sec.is_finite() && self.word_timing_tolerance_sec >= 0.0) {
            return Err("WORD_TIMING_TOLERANCE_SEC must be >= 0".into());
        }
        for (lang, band) in self
            .pace_bands
            .iter()
            .map(|(l, b)| (l.as_str(), b))
            .chain([("default", &self.default_pace_band)])
        {
            if !(band.min_wpm >= 0.0 && band.min_wpm < band.max_wpm) {
                return Err(format!("pace band for {lang}: min must be below max"));
            }
        }
        Ok(())
    }
}

/// What the analysis reads. The pipeline fills it from the decoder, the VAD and the recogniser.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisInput<'a> {
    pub transcript: &'a Transcript,
    pub speech: &'a SpeechMap,
    /// Mono samples of the whole recording (16 kHz from the audio module; any rate works).
    pub samples: &'a [f32],
    pub sample_rate: u32,
    /// Language of the recording (ISO 639-1); picks the pace band and the advice language
    /// (`ru` → Russian, anything else → English).
    pub language: &'a str,
}

/// The result: the report's `metrics`, `advice` and `timeline`.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub metrics: Metrics,
    pub advice: Vec<Advice>,
    pub timeline: Vec<TimelineEvent>,
}

/// Sanitised speech spans: finite, non-empty, sorted. When the VAD found nothing but the
/// recogniser has words (no speech map given), the words' span stands in, so pace is still
/// measured.
fn speech_spans(map: &SpeechMap, words: &[super::tokens::Token]) -> Vec<Span> {
    let mut spans: Vec<Span> = map
        .speech
        .iter()
        .filter(|s| s.start_sec.is_finite() && s.end_sec.is_finite() && s.end_sec > s.start_sec)
        .copied()
        .collect();
    spans.sort_by(|a, b| a.start_sec.total_cmp(&b.start_sec));
    if spans.is_empty()
        && let (Some(first), Some(last)) = (words.first(), words.last())
        && last.end_sec > first.start_sec
    {
        spans.push(Span::new(first.start_sec, last.end_sec));
    }
    spans
}

/// What the words say: hedges, repetitions, vocabulary, sentences.
struct WordsMetrics {
    hedges: super::metrics::HedgeMetrics,
    repetitions: super::metrics::RepetitionMetrics,
    vocabulary: super::metrics::VocabularyMetrics,
    sentences: super::metrics::SentenceMetrics,
}

fn words_metrics(
    tokens: &[super::tokens::Token],
    map: &SpeechMap,
    fillers: &super::metrics::FillerMetrics,
    speaking_time_sec: f64,
    language: &str,
    cfg: &AnalysisConfig,
) -> WordsMetrics {
    let tol = cfg.word_timing_tolerance_sec;
    let pauses = pauses::clean_pauses(map);
    // Words the filler detector counted: never a hedge, a repeat or a content word too.
    let taken = fillers::filler_token_mask(tokens, &fillers.events);
    let sentence_ranges = boundaries::sentences(tokens, &pauses, cfg.min_phrase_pause_sec, tol);
    let sentence_of = boundaries::sentence_of(&sentence_ranges, tokens.len());
    let lex = &cfg.word_lexicon;
    let found_hedges = hedges::find(
        tokens,
        &taken,
        lex,
        &pauses,
        boundaries::CUE_SILENCE_SEC,
        tol,
    );
    let found_repeats = repetitions::find(tokens, &taken, lex, &pauses, tol);
    let overused = repetitions::overused(
        tokens,
        &taken,
        &sentence_of,
        lex,
        cfg.overused_phrase_min_count,
    );
    WordsMetrics {
        hedges: hedges::hedge_metrics(tokens, &found_hedges, &sentence_ranges, speaking_time_sec),
        repetitions: repetitions::repetition_metrics(
            tokens,
            &found_repeats,
            overused,
            cfg.overused_phrase_min_count,
        ),
        vocabulary: vocabulary::vocabulary_metrics(
            tokens,
            &taken,
            lex,
            language,
            cfg.mattr_window_words,
        ),
        sentences: sentences::sentence_metrics(tokens, &sentence_ranges, cfg.long_sentence_words),
    }
}

/// Analyse one recording. Deterministic, no IO, never panics, never returns NaN.
pub fn analyze(input: &AnalysisInput, cfg: &AnalysisConfig) -> Analysis {
    let tokens = tokenize(input.transcript);
    let spans = speech_spans(input.speech, &tokens);
    let words_total = tokens.len();
    let unique_words = tokens
        .iter()
        .map(|t| t.norm.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();

    let duration_sec = {
        let d = input.speech.duration_sec;
        let from_samples = ratio(input.samples.len() as f64, input.sample_rate as f64);
        let last_word = tokens.last().map_or(0.0, |t| t.end_sec);
        let last_span = spans.last().map_or(0.0, |s| s.end_sec);
        let d = if d.is_finite() && d > 0.0 {
            d
        } else {
            from_samples
        };
        d.max(last_word).max(last_span)
    };
    let speaking_time_sec = match (spans.first(), spans.last()) {
        (Some(a), Some(b)) => (b.end_sec - a.start_sec).max(0.0),
        _ => 0.0,
    };
    let voiced_time_sec: f64 = spans.iter().map(Span::duration_sec).sum();
    let syllables_total: usize = tokens.iter().map(|t| syllables(&t.norm)).sum();

    let band = cfg.pace_band(input.language);
    let pitch = prosody::pitch_track(input.samples, input.sample_rate, &spans, cfg);
    let pauses = pauses::pause_metrics(input.speech, &tokens, cfg);
    let phrases = pauses::phrase_metrics(&spans, &tokens, cfg);
    let mut fillers = fillers::filler_metrics(
        &tokens,
        input.speech,
        &spans,
        &pitch,
        speaking_time_sec,
        cfg,
    );
    let words = words_metrics(
        &tokens,
        input.speech,
        &fillers,
        speaking_time_sec,
        input.language,
        cfg,
    );
    fillers.disfluencies = fillers.total + words.repetitions.repeats + words.repetitions.restarts;
    fillers.disfluencies_per_100_words = round(
        ratio(fillers.disfluencies as f64 * 100.0, words_total as f64),
        2,
    );
    let pace_windows = pace::pace_windows(&tokens, &spans, band, cfg);
    let voice = prosody::voice_metrics(&pitch, input.samples, input.sample_rate, &spans, cfg);

    let minutes = speaking_time_sec / 60.0;
    let metrics = Metrics {
        words_total,
        unique_words,
        words_per_minute: round(ratio(words_total as f64, minutes), 1),
        words_per_minute_total: round(ratio(words_total as f64, duration_sec / 60.0), 1),
        articulation_rate_wpm: round(ratio(words_total as f64, voiced_time_sec / 60.0), 1),
        syllables_per_sec: round(ratio(syllables_total as f64, speaking_time_sec), 2),
        speaking_time_sec: ms(speaking_time_sec),
        voiced_time_sec: ms(voiced_time_sec),
        speaking_ratio: round(ratio(voiced_time_sec, duration_sec).min(1.0), 3),
        pace_band_wpm: band,
        pace_windows,
        fillers,
        pauses,
        phrases,
        voice,
        hedges: words.hedges,
        repetitions: words.repetitions,
        vocabulary: words.vocabulary,
        sentences: words.sentences,
    };
    let advice = advice::advise(&metrics, &spans, &tokens, duration_sec, input.language, cfg);
    let timeline = timeline::build(&metrics, &spans);
    Analysis {
        metrics,
        advice,
        timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::labels::{AdviceCategory, Severity, TimelineKind};
    use crate::domain::transcript::{Segment, Word};

    /// A transcript of `text` whose words are `word_sec` long, back to back from `start`.
    fn transcript(text: &str, start: f64, word_sec: f64, language: &str) -> Transcript {
        let words: Vec<Word> = text
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                word: w.into(),
                start_sec: start + i as f64 * word_sec,
                end_sec: start + (i + 1) as f64 * word_sec,
                probability: 0.9,
            })
            .collect();
        let end = words.last().map_or(start, |w| w.end_sec);
        Transcript {
            language: language.into(),
            language_probability: 1.0,
            segments: if words.is_empty() {
                Vec::new()
            } else {
                vec![Segment {
                    start_sec: start,
                    end_sec: end,
                    text: text.into(),
                    avg_logprob: 0.0,
                    no_speech_prob: 0.0,
                    words,
                }]
            },
        }
    }

    fn run(t: &Transcript, map: &SpeechMap, language: &str) -> Analysis {
        let input = AnalysisInput {
            transcript: t,
            speech: map,
            samples: &[],
            sample_rate: 16_000,
            language,
        };
        analyze(&input, &AnalysisConfig::default())
    }

    /// Every number in the JSON is finite (serde_json writes NaN as null, so look for nulls where
    /// numbers belong by checking the whole tree).
    fn assert_no_nan(a: &Analysis) {
        fn walk(v: &serde_json::Value, path: &str) {
            match v {
                serde_json::Value::Number(n) => {
                    assert!(n.as_f64().is_some_and(f64::is_finite), "{path}")
                }
                serde_json::Value::Array(xs) => xs
                    .iter()
                    .enumerate()
                    .for_each(|(i, x)| walk(x, &format!("{path}[{i}]"))),
                serde_json::Value::Object(m) => {
                    m.iter().for_each(|(k, x)| walk(x, &format!("{path}.{k}")))
                }
                _ => {}
            }
        }
        walk(&serde_json::to_value(&a.metrics).unwrap(), "metrics");
        walk(&serde_json::to_value(&a.advice).unwrap(), "advice");
        walk(&serde_json::to_value(&a.timeline).unwrap(), "timeline");
    }

    #[test]
    fn empty_input_gives_zeros_and_one_no_speech_advice() {
        let t = Transcript::default();
        let map = SpeechMap {
            duration_sec: 5.0,
            ..Default::default()
        };
        let a = run(&t, &map, "ru");
        assert_eq!(a.metrics.words_total, 0);
        assert_eq!(a.metrics.words_per_minute, 0.0);
        assert_eq!(a.metrics.speaking_time_sec, 0.0);
        assert_eq!(a.metrics.fillers.total, 0);
        assert_eq!(a.metrics.pauses.count, 0);
        assert_eq!(a.metrics.phrases.count, 0);
        assert!(a.metrics.pace_windows.is_empty());
        assert_eq!(a.advice.len(), 1);
        assert_eq!(a.advice[0].title, "Речь не найдена");
        assert!(
            a.advice[0].observation.contains("5,0 с"),
            "{}",
            a.advice[0].observation
        );
        assert!(a.timeline.is_empty());
        assert_no_nan(&a);
        // Fully degenerate: nothing at all, not even a duration.
        let a = run(&t, &SpeechMap::default(), "en");
        assert_eq!(a.advice[0].title, "No speech found");
        assert_no_nan(&a);
    }

    #[test]
    fn one_word() {
        let t = transcript("Hello.", 1.0, 0.5, "en");
        let map = SpeechMap {
            duration_sec: 3.0,
            speech: vec![Span::new(1.0, 1.5)],
            ..Default::default()
        };
        let a = run(&t, &map, "en");
        let m = &a.metrics;
        assert_eq!((m.words_total, m.unique_words), (1, 1));
        assert_eq!(m.speaking_time_sec, 0.5);
        assert_eq!(m.words_per_minute, 120.0);
        assert_eq!(m.words_per_minute_total, 20.0);
        assert_eq!(m.syllables_per_sec, 4.0, "hel-lo: 2 syllables in 0.5 s");
        assert_eq!(m.speaking_ratio, 0.167);
        assert_eq!(m.phrases.count, 1);
        assert_eq!(m.pace_windows.len(), 1);
        assert_eq!(m.pace_windows[0].wpm, 120.0);
        assert!(a.advice.iter().all(|x| x.title != "No speech found"));
        assert_no_nan(&a);
    }

    #[test]
    fn all_fillers() {
        let t = transcript("Ну, э-э, вот, короче, эм, ну", 0.0, 0.5, "ru");
        let map = SpeechMap {
            duration_sec: 3.0,
            speech: vec![Span::new(0.0, 3.0)],
            ..Default::default()
        };
        let a = run(&t, &map, "ru");
        let f = &a.metrics.fillers;
        assert_eq!(f.total, 6);
        assert_eq!(f.from_transcript, 6);
        assert_eq!(f.acoustic, 0);
        assert_eq!(f.per_100_words, 100.0);
        assert_eq!(f.per_minute, 120.0);
        assert_eq!(f.items[0].word, "ну");
        assert_eq!(f.items[0].count, 2);
        assert_eq!(f.bursts.len(), 1);
        assert_eq!(f.bursts[0].count, 6);
        let advice = a
            .advice
            .iter()
            .find(|x| x.category == AdviceCategory::Fillers && x.severity == Severity::Warning)
            .unwrap();
        assert!(
            advice.observation.contains("6 слов-паразитов"),
            "{}",
            advice.observation
        );
        assert!(advice.recommendation.contains("«ну»"));
        assert_eq!(
            a.timeline
                .iter()
                .filter(|e| e.kind == TimelineKind::Filler)
                .count(),
            6
        );
        assert_no_nan(&a);
    }

    #[test]
    fn mixed_russian_and_english() {
        let t = transcript(
            "Ну, это, you know, наш KPI, um, вырос на 5%.",
            0.0,
            0.5,
            "ru",
        );
        let map = SpeechMap {
            duration_sec: 6.0,
            speech: vec![Span::new(0.0, 5.5)],
            ..Default::default()
        };
        let a = run(&t, &map, "ru");
        let texts: Vec<_> = a
            .metrics
            .fillers
            .events
            .iter()
            .filter_map(|e| e.text.clone())
            .collect();
        assert_eq!(texts, ["ну", "you know", "um"]);
        assert_eq!(
            a.metrics.words_total, 10,
            "5% is a word, punctuation is not"
        );
        assert!(
            a.advice
                .iter()
                .all(|x| x.title.chars().any(|c| matches!(c, 'а'..='я'))),
            "advice in Russian"
        );
    }

    #[test]
    fn pauses_straddling_windows_and_timeline_order() {
        // 70 s: 60 words 0–20 s, a 12 s pause 20–32, 40 words 32–60, trailing silence.
        let mut t = transcript(&"слово ".repeat(60), 0.0, 1.0 / 3.0, "ru");
        let tail = transcript(&"дело ".repeat(40), 32.0, 0.7, "ru");
        t.segments.extend(tail.segments);
        let map = SpeechMap {
            duration_sec: 70.0,
            speech: vec![Span::new(0.0, 20.0), Span::new(32.0, 60.0)],
            pauses: vec![Span::new(20.0, 32.0)],
            ..Default::default()
        };
        let a = run(&t, &map, "ru");
        let m = &a.metrics;
        assert_eq!(m.speaking_time_sec, 60.0);
        assert_eq!(m.voiced_time_sec, 48.0);
        assert_eq!(m.words_per_minute, 100.0);
        assert_eq!(m.articulation_rate_wpm, 125.0);
        assert_eq!(m.pauses.classes.awkward, 1);
        assert_eq!(
            m.pauses.events[0].word_before.as_deref(),
            Some("слово слово слово")
        );
        assert_eq!(
            m.pauses.events[0].word_after.as_deref(),
            Some("дело дело дело")
        );
        // Windows 0–30, 15–45, 30–60.
        let w: Vec<_> = m
            .pace_windows
            .iter()
            .map(|w| (w.start_sec, w.end_sec, w.wpm))
            .collect();
        // 0–30: 60 words → 120; 15–45: 15 words (15–20 s) + 19 (mids 32.35..44.95) = 34 → 68;
        // 30–60: 40 words → 80.
        assert_eq!(
            w,
            [(0.0, 30.0, 120.0), (15.0, 45.0, 68.0), (30.0, 60.0, 80.0)]
        );
        assert!(
            a.advice
                .iter()
                .any(|x| x.category == AdviceCategory::Pauses && x.severity == Severity::Warning)
        );
        let starts: Vec<f64> = a.timeline.iter().map(|e| e.start_sec).collect();
        assert!(starts.windows(2).all(|p| p[0] <= p[1]));
        let pause = a
            .timeline
            .iter()
            .find(|e| e.kind == TimelineKind::Pause)
            .unwrap();
        assert_eq!(pause.details["class"], "awkward");
        assert_no_nan(&a);
    }

    #[test]
    fn deterministic() {
        let t = transcript(
            "So, um, we, like, did it. You know, it works.",
            0.0,
            0.4,
            "en",
        );
        let map = SpeechMap {
            duration_sec: 6.0,
            speech: vec![Span::new(0.0, 4.4)],
            ..Default::default()
        };
        let a = serde_json::to_string(&run(&t, &map, "en").metrics).unwrap();
        let b = serde_json::to_string(&run(&t, &map, "en").metrics).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn words_without_a_speech_map_still_give_a_pace() {
        let t = transcript("one two three four five six", 0.0, 0.5, "en");
        let a = run(&t, &SpeechMap::default(), "en");
        assert_eq!(a.metrics.speaking_time_sec, 3.0);
        assert_eq!(a.metrics.words_per_minute, 120.0);
    }

    #[test]
    fn config_defaults_validate_and_fingerprint() {
        let cfg = AnalysisConfig::default();
        assert!(cfg.validate().is_ok());
        assert_eq!(
            cfg.pace_band("ru"),
            PaceBand {
                min_wpm: 100.0,
                max_wpm: 180.0
            }
        );
        assert_eq!(cfg.pace_band("de"), cfg.default_pace_band);
        let mut other = cfg.clone();
        other.min_phrase_pause_sec = 0.6;
        assert_ne!(cfg.fingerprint(), other.fingerprint());
        assert_eq!(cfg.fingerprint(), AnalysisConfig::default().fingerprint());
        other.pause_long_max_sec = 1.0;
        assert!(other.validate().unwrap_err().contains("PAUSE_"));
    }
}
