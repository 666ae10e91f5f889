//! Fillers from two sources: words of the transcript that match the lexicon (with context rules
//! for ambiguous words), and acoustic fillers — voiced spans no transcribed word covers, which is
//! where Whisper's dropped "э-э" and "um" are.

use std::collections::BTreeMap;

use super::analysis::AnalysisConfig;
use super::boundaries::{CUE_SILENCE_SEC, silence_after};
use super::labels::FillerSource;
use super::lexicon::{FillerEntry, Lexicon};
use super::metrics::{FillerBurst, FillerCount, FillerEvent, FillerMetrics};
use super::prosody::PitchFrame;
use super::signal::{Span, SpeechMap};
use super::stats::{ms, ratio, round, std_dev};
use super::tokens::{Token, ends_sentence, is_break};

/// Silence before a word that makes it the start of an utterance when nothing is written,
/// seconds: a breath between utterances (the corpus's shortest inserted pause), longer than
/// most hitches inside a phrase.
const UTTERANCE_SILENCE_SEC: f64 = 0.3;
/// Confidence of an ambiguous filler known only from opening an utterance: the weakest cue.
const AT_START_CONFIDENCE: f64 = 0.55;

/// Confidence of a hesitation sound: it is a filler whatever the context; only the recogniser
/// could be wrong about it.
const HESITATION_CONFIDENCE: f64 = 0.95;
/// Base confidence of an acoustic filler: voice without words is often a hesitation, but can be
/// a word the recogniser dropped, a cough or a laugh.
const ACOUSTIC_BASE_CONFIDENCE: f64 = 0.5;
/// Added when the span's pitch is flat (a sustained "эээ"/"uhh" is level).
const ACOUSTIC_FLAT_PITCH_BONUS: f64 = 0.2;
/// Pitch spread below which an acoustic span counts as level, semitones.
const ACOUSTIC_FLAT_PITCH_STD: f64 = 1.0;
/// Share of VAD frames in a span that must be voice for it to be an acoustic filler: the
/// smoothed speech segments bridge short silences, which are no filler.
const ACOUSTIC_MIN_VOICED_SHARE: f64 = 0.6;

/// Transcript fillers as (event, lexicon form).
fn transcript_fillers(
    tokens: &[Token],
    lexicon: &Lexicon,
    pauses: &[Span],
    tol: f64,
) -> Vec<FillerEvent> {
    let mut events = Vec::new();
    // The run of fillers said back to back that ends right before `i` ("ну вот", "um so"):
    // (its first token, the token after its last).
    let mut cluster: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let cluster_before = cluster.filter(|c| c.1 == i).map(|c| c.0);
        if let Some(h) = lexicon.hesitation(&token.norm) {
            cluster = Some((cluster_before.unwrap_or(i), i + 1));
            events.push(FillerEvent {
                text: Some(h.text.clone()),
                start_sec: ms(token.start_sec),
                end_sec: ms(token.end_sec),
                source: FillerSource::Transcript,
                confidence: HESITATION_CONFIDENCE,
            });
            i += 1;
            continue;
        }
        let found = lexicon.fillers.iter().find_map(|entry| {
            match_entry(tokens, i, entry, lexicon, cluster_before, pauses, tol).map(|c| (entry, c))
        });
        match found {
            Some((entry, confidence)) => {
                let last = &tokens[i + entry.words.len() - 1];
                cluster = Some((cluster_before.unwrap_or(i), i + entry.words.len()));
                events.push(FillerEvent {
                    text: Some(entry.text()),
                    start_sec: ms(token.start_sec),
                    end_sec: ms(last.end_sec),
                    source: FillerSource::Transcript,
                    confidence: round(confidence, 2),
                });
                i += entry.words.len();
            }
            None => i += 1,
        }
    }
    events
}

/// Whether punctuation separates token `a` from the token right after it.
fn separated(a: &Token, b: &Token) -> bool {
    is_break(&a.punct_after) || is_break(&b.punct_before)
}

/// Whether `tokens[k]` opens an utterance: the transcript's first word, a sentence start, a
/// recogniser segment start, or a word after a silence of [`UTTERANCE_SILENCE_SEC`].
fn opens_utterance(tokens: &[Token], k: usize, pauses: &[Span], tol: f64) -> bool {
    k == 0
        || ends_sentence(&tokens[k - 1].punct_after)
        || tokens[k].segment_start
        || silence_after(tokens, k - 1, pauses, tol) >= UTTERANCE_SILENCE_SEC
}

/// Whether a filler that is never ordinary speech starts at `tokens[k]`: a hesitation sound or
/// an unambiguous lexicon entry (a filler neighbour sets a word apart like a comma would).
fn filler_starts_at(tokens: &[Token], k: usize, lexicon: &Lexicon) -> bool {
    let Some(t) = tokens.get(k) else { return false };
    lexicon.hesitation(&t.norm).is_some()
        || lexicon.fillers.iter().any(|e| {
            !e.ambiguous
                && tokens
                    .get(k..k + e.words.len())
                    .is_some_and(|s| s.iter().zip(&e.words).all(|(t, w)| t.norm == *w))
        })
}

/// The confidence of `entry` occurring as a filler at `tokens[i..]`, or `None`.
/// `cluster_before` is the first token of a run of fillers ending right before `i`.
fn match_entry(
    tokens: &[Token],
    i: usize,
    entry: &FillerEntry,
    lexicon: &Lexicon,
    cluster_before: Option<usize>,
    pauses: &[Span],
    tol: f64,
) -> Option<f64> {
    let n = entry.words.len();
    let span = tokens.get(i..i + n)?;
    if span.iter().zip(&entry.words).any(|(t, w)| t.norm != *w) {
        return None;
    }
    // A multi-word filler is said in one breath: no punctuation inside it.
    if span.windows(2).any(|w| separated(&w[0], &w[1])) {
        return None;
    }
    let first = &span[0];
    let last = &span[n - 1];
    let prev = i.checked_sub(1).map(|k| &tokens[k]);
    let next = tokens.get(i + n);

    // Vetoes: bound to a neighbour that makes it an ordinary word ("такого типа").
    if let Some(p) = prev
        && !separated(p, first)
        && entry.not_after.contains(&p.norm)
    {
        return None;
    }
    if let Some(nx) = next
        && !separated(last, nx)
        && entry.not_before.contains(&nx.norm)
    {
        return None;
    }
    if !entry.ambiguous {
        return Some(entry.confidence);
    }

    // An ambiguous word is a filler only when set apart on both sides.
    let sentence_start = match prev {
        None => true,
        Some(p) => ends_sentence(&p.punct_after) || first.segment_start,
    };
    let punct_before = sentence_start || prev.is_some_and(|p| separated(p, first));
    let punct_after = next.is_none_or(|nx| separated(last, nx)) || is_break(&last.punct_after);
    // Silence as a cue: a VAD pause ending right before / starting right after, or (when the
    // recogniser wrote no punctuation) a gap between the word timestamps that long.
    let pause_before = pauses.iter().any(|p| {
        let prev_end = prev.map_or(f64::NEG_INFINITY, |t| t.end_sec);
        p.end_sec >= prev_end - tol && p.end_sec <= first.start_sec + tol && p.duration_sec() > 0.0
    }) || i
        .checked_sub(1)
        .is_some_and(|p| silence_after(tokens, p, pauses, tol) >= CUE_SILENCE_SEC);
    let pause_after = pauses.iter().any(|p| {
        let next_start = next.map_or(f64::INFINITY, |t| t.start_sec);
        p.start_sec >= last.end_sec - tol
            && p.start_sec <= next_start + tol
            && p.duration_sec() > 0.0
    }) || silence_after(tokens, i + n - 1, pauses, tol) >= CUE_SILENCE_SEC;
    // A filler neighbour is a boundary too ("ну вот", "um, so").
    let filler_before = cluster_before.is_some();
    let filler_after = filler_starts_at(tokens, i + n, lexicon);
    let set_apart = (punct_before || pause_before || filler_before)
        && (punct_after || pause_after || filler_after);
    // Entries that open an utterance as a discourse marker ("So today…", "Вот мы…") need only
    // that boundary: without punctuation the comma after them is often not heard.
    let at_start = entry.at_start
        && opens_utterance(tokens, cluster_before.unwrap_or(i), pauses, tol)
        && (entry.at_start_before.is_empty()
            || next.is_some_and(|nx| entry.at_start_before.contains(&nx.norm)));
    if !set_apart && !at_start {
        return None;
    }
    if !set_apart {
        return Some(AT_START_CONFIDENCE);
    }
    // Punctuation is the recogniser's reading of the prosody: the stronger cue. A pause alone on
    // both sides is the weakest (it can be a list item said slowly).
    let mut confidence: f64 = 0.5;
    if punct_before {
        confidence += 0.15;
    }
    if punct_after {
        confidence += 0.15;
    }
    if pause_before || pause_after {
        confidence += 0.1;
    }
    Some(confidence.min(0.9))
}

/// Voiced spans (inside VAD speech) that no word covers, as acoustic filler events.
fn acoustic_fillers(
    tokens: &[Token],
    map: &SpeechMap,
    spans: &[Span],
    pitch: &[PitchFrame],
    cfg: &AnalysisConfig,
) -> Vec<FillerEvent> {
    // Without any words there is nothing to anchor "untranscribed" to: either no speech at all
    // or a recogniser failure, neither of which is a hesitation.
    if tokens.is_empty() {
        return Vec::new();
    }
    // Words are padded a little: their timestamps are approximate, and the gap between two words
    // said together must not look like an unheard sound.
    let pad = (cfg.word_timing_tolerance_sec / 2.0).max(0.0);
    let mut events = Vec::new();
    for span in spans {
        let mut cursor = span.start_sec;
        let mut uncovered = Vec::new();
        for t in tokens
            .iter()
            .filter(|t| t.end_sec + pad > span.start_sec && t.start_sec - pad < span.end_sec)
        {
            let (s, e) = (t.start_sec - pad, t.end_sec + pad);
            if s > cursor {
                uncovered.push(Span::new(cursor, s.min(span.end_sec)));
            }
            cursor = cursor.max(e);
        }
        if cursor < span.end_sec {
            uncovered.push(Span::new(cursor, span.end_sec));
        }
        for gap in uncovered {
            let d = gap.duration_sec();
            if d < cfg.acoustic_filler_min_sec || d > cfg.acoustic_filler_max_sec {
                continue;
            }
            if voiced_share(map, gap) < ACOUSTIC_MIN_VOICED_SHARE {
                continue;
            }
            let semitones: Vec<f64> = pitch
                .iter()
                .filter(|f| f.time_sec >= gap.start_sec && f.time_sec <= gap.end_sec)
                .map(|f| 12.0 * f.hz.log2())
                .collect();
            let frames_in_gap = (d / prosody_hop(pitch)).max(1.0);
            let flat = semitones.len() as f64 >= 0.5 * frames_in_gap
                && std_dev(&semitones) < ACOUSTIC_FLAT_PITCH_STD;
            let confidence =
                ACOUSTIC_BASE_CONFIDENCE + if flat { ACOUSTIC_FLAT_PITCH_BONUS } else { 0.0 };
            events.push(FillerEvent {
                text: None,
                start_sec: ms(gap.start_sec),
                end_sec: ms(gap.end_sec),
                source: FillerSource::Acoustic,
                confidence,
            });
        }
    }
    events
}

fn prosody_hop(pitch: &[PitchFrame]) -> f64 {
    match pitch {
        [a, b, ..] if b.time_sec > a.time_sec => (b.time_sec - a.time_sec).min(0.05),
        _ => super::prosody::PITCH_HOP_SEC,
    }
}

/// Share of raw VAD frames in `span` marked as speech; 1 when the map carries no frames (the
/// smoothed segments are then all we know).
fn voiced_share(map: &SpeechMap, span: Span) -> f64 {
    if map.frame_is_speech.is_empty() || !super::stats::is_positive(map.frame_sec) {
        return 1.0;
    }
    let first = (span.start_sec / map.frame_sec).floor().max(0.0) as usize;
    let last = ((span.end_sec / map.frame_sec).ceil() as usize).min(map.frame_is_speech.len());
    if last <= first {
        return 1.0;
    }
    let frames = &map.frame_is_speech[first..last];
    frames.iter().filter(|&&v| v).count() as f64 / frames.len() as f64
}

/// Groups of at least `min_count` fillers whose starts fit in `window_sec`; overlapping groups
/// merge. `events` must be sorted by start.
fn bursts(events: &[FillerEvent], window_sec: f64, min_count: usize) -> Vec<FillerBurst> {
    let mut out: Vec<FillerBurst> = Vec::new();
    let mut in_burst_until: Option<usize> = None; // index of the last event of the current burst
    let mut start_idx = 0;
    let min_count = min_count.max(2);
    for i in 0..events.len() {
        // Largest j with events[j].start - events[i].start <= window.
        let mut j = i;
        while j + 1 < events.len() && events[j + 1].start_sec - events[i].start_sec <= window_sec {
            j += 1;
        }
        if j + 1 - i < min_count {
            continue;
        }
        match in_burst_until {
            Some(end) if i <= end => in_burst_until = Some(end.max(j)),
            _ => {
                if let Some(end) = in_burst_until {
                    out.push(make_burst(&events[start_idx..=end]));
                }
                start_idx = i;
                in_burst_until = Some(j);
            }
        }
    }
    if let Some(end) = in_burst_until {
        out.push(make_burst(&events[start_idx..=end]));
    }
    out
}

fn make_burst(events: &[FillerEvent]) -> FillerBurst {
    FillerBurst {
        start_sec: events[0].start_sec,
        end_sec: events
            .iter()
            .map(|e| e.end_sec)
            .fold(events[0].end_sec, f64::max),
        count: events.len(),
    }
}

/// Which tokens a transcript filler covers (its time span holds the token's middle).
pub fn filler_token_mask(tokens: &[Token], events: &[FillerEvent]) -> Vec<bool> {
    let mut found: Vec<&FillerEvent> = events
        .iter()
        .filter(|e| e.source == FillerSource::Transcript)
        .collect();
    found.sort_by(|a, b| a.start_sec.total_cmp(&b.start_sec));
    tokens
        .iter()
        .map(|t| {
            let mid = ms(t.mid_sec());
            let k = found.partition_point(|e| e.end_sec < mid);
            found[k..]
                .iter()
                .take_while(|e| e.start_sec <= mid)
                .any(|e| e.start_sec <= mid && mid <= e.end_sec)
        })
        .collect()
}

/// All filler metrics.
pub fn filler_metrics(
    tokens: &[Token],
    map: &SpeechMap,
    spans: &[Span],
    pitch: &[PitchFrame],
    speaking_time_sec: f64,
    cfg: &AnalysisConfig,
) -> FillerMetrics {
    let from_transcript = transcript_fillers(
        tokens,
        &cfg.lexicon,
        &map.pauses,
        cfg.word_timing_tolerance_sec,
    );
    let acoustic = acoustic_fillers(tokens, map, spans, pitch, cfg);

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in &from_transcript {
        if let Some(t) = &e.text {
            *counts.entry(t.clone()).or_default() += 1;
        }
    }
    let mut items: Vec<FillerCount> = counts
        .into_iter()
        .map(|(word, count)| FillerCount { word, count })
        .collect();
    items.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));

    let (n_transcript, n_acoustic) = (from_transcript.len(), acoustic.len());
    let mut events: Vec<FillerEvent> = from_transcript.into_iter().chain(acoustic).collect();
    events.sort_by(|a, b| {
        a.start_sec
            .total_cmp(&b.start_sec)
            .then_with(|| a.source.cmp(&b.source))
    });
    let total = events.len();
    FillerMetrics {
        total,
        from_transcript: n_transcript,
        acoustic: n_acoustic,
        per_100_words: round(ratio(total as f64 * 100.0, tokens.len() as f64), 2),
        per_minute: round(ratio(total as f64, speaking_time_sec / 60.0), 2),
        items,
        bursts: bursts(
            &events,
            cfg.filler_burst_window_sec,
            cfg.filler_burst_min_count,
        ),
        events,
        // Repeats and false starts are found later (`analysis`), which completes these.
        disfluencies: total,
        disfluencies_per_100_words: round(ratio(total as f64 * 100.0, tokens.len() as f64), 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::tokens::test_tokens;

    /// Words of `text`, each 0.4 s long, back to back from 0.
    fn tokens(text: &str) -> Vec<Token> {
        test_tokens(text, "ru", 0.4)
    }

    fn found(text: &str) -> Vec<String> {
        let cfg = AnalysisConfig::default();
        transcript_fillers(&tokens(text), &cfg.lexicon, &[], 0.2)
            .into_iter()
            .map(|e| e.text.unwrap())
            .collect()
    }

    #[test]
    fn corpus_lookalikes_are_not_fillers() {
        assert!(found("Второй шаг: сделать отчёт короче.").is_empty());
        assert!(found("before I finish, I would like to thank the team.").is_empty());
        assert_eq!(
            found("Uh, thank you so much, and, like, see you next time."),
            ["uh", "like"]
        );
    }

    #[test]
    fn russian_corpus_sentences() {
        assert_eq!(found("Ну, вот, переходим ко второй части."), ["ну", "вот"]);
        assert_eq!(found("Короче, главный вывод простой"), ["короче"]);
        assert_eq!(
            found("Вот. Мы долго искали причину и, в общем, нашли её"),
            ["вот", "в общем"]
        );
        assert_eq!(found("Сегодня я как бы хочу рассказать"), ["как бы"]);
        assert_eq!(found("Первый шаг, э-э, собрать данные."), ["э-э"]);
        assert_eq!(found("Здесь, типа, три главных шага."), ["типа"]);
    }

    #[test]
    fn english_corpus_sentences() {
        assert_eq!(found("So, today I want to talk"), ["so"]);
        assert_eq!(
            found("how we, you know, plan our days. I mean, some people"),
            ["you know", "i mean"]
        );
        assert_eq!(found("Do you know the answer?"), Vec::<String>::new());
    }

    #[test]
    fn hesitation_variants_and_vetoes() {
        assert_eq!(found("э эээ ну э-э-э эм"), ["э", "э-э", "ну", "э-э", "эм"]);
        assert!(
            found("данные такого типа").is_empty(),
            "noun after a determiner"
        );
        assert_eq!(found("он типа пришёл"), ["типа"]);
        assert!(found("a kind of magic").is_empty());
        assert_eq!(found("it is kind of hard"), ["kind of"]);
        assert!(found("Ну да, конечно").is_empty());
    }

    #[test]
    fn ambiguous_word_set_apart_by_pauses_counts() {
        let t = tokens("мы вот пошли");
        let cfg = AnalysisConfig::default();
        assert!(transcript_fillers(&t, &cfg.lexicon, &[], 0.2).is_empty());
        // Pauses right before and after "вот" (0.4–0.8 s).
        let pauses = [Span::new(0.3, 0.45), Span::new(0.75, 1.0)];
        let e = transcript_fillers(&t, &cfg.lexicon, &pauses, 0.2);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].confidence, 0.6);
    }

    #[test]
    fn confidences_follow_cues() {
        let cfg = AnalysisConfig::default();
        let e = transcript_fillers(&tokens("we, like, went"), &cfg.lexicon, &[], 0.2);
        assert_eq!(e[0].confidence, 0.8);
        let e = transcript_fillers(&tokens("эээ"), &cfg.lexicon, &[], 0.2);
        assert_eq!(e[0].confidence, HESITATION_CONFIDENCE);
    }

    #[test]
    fn acoustic_filler_found_in_uncovered_voice() {
        let cfg = AnalysisConfig::default();
        // Speech 0–3 s; words cover 0–0.8 and 2.0–2.8: 1.2 s of voice without words, 1.0 s once
        // the words are padded by 0.1 s.
        let t: Vec<Token> = tokens("one two three four five six seven")
            .into_iter()
            .filter(|t| t.end_sec <= 1.0 || t.start_sec >= 1.8)
            .collect();
        let map = SpeechMap {
            duration_sec: 3.0,
            speech: vec![Span::new(0.0, 3.0)],
            ..Default::default()
        };
        let ev = acoustic_fillers(&t, &map, &map.speech, &[], &cfg);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].start_sec, ev[0].end_sec), (0.9, 1.9));
        assert_eq!(ev[0].text, None);
        // The same gap, but the raw VAD frames say it is silence (a bridged pause): no filler.
        let map = SpeechMap {
            frame_sec: 0.1,
            frame_is_speech: (0..30).map(|f| !(9..19).contains(&f)).collect(),
            ..map
        };
        assert!(acoustic_fillers(&t, &map, &map.speech, &[], &cfg).is_empty());
        // No words at all: nothing to call a filler.
        assert!(acoustic_fillers(&[], &map, &map.speech, &[], &cfg).is_empty());
    }

    fn ev(start: f64) -> FillerEvent {
        FillerEvent {
            text: Some("ну".into()),
            start_sec: start,
            end_sec: start + 0.3,
            source: FillerSource::Transcript,
            confidence: 1.0,
        }
    }

    #[test]
    fn bursts_group_close_fillers() {
        let events: Vec<_> = [0.0, 1.0, 2.0, 3.0, 20.0, 21.0, 40.0, 41.0, 42.0]
            .map(ev)
            .into();
        let b = bursts(&events, 8.0, 3);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].start_sec, b[0].end_sec, b[0].count), (0.0, 3.3, 4));
        assert_eq!((b[1].start_sec, b[1].count), (40.0, 3));
        assert!(bursts(&[], 8.0, 3).is_empty());
    }
}
