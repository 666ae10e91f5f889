//! One list of typed events for a UI to draw: speech, fillers, pauses, pace windows, monotone
//! stretches, filler bursts, hedges, repeats and false starts, over-used phrases and long
//! sentences, in time order.

use serde_json::{Map, Value, json};

use super::labels::TimelineKind;
use super::metrics::{Metrics, TimelineEvent};
use super::signal::Span;
use super::stats::ms;

fn event(kind: TimelineKind, start: f64, end: f64, details: Value) -> TimelineEvent {
    let details: Map<String, Value> = match details {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    TimelineEvent {
        kind,
        start_sec: ms(start),
        end_sec: ms(end),
        details,
    }
}

/// Events of what the words say: `hedge` {text, kind}, `repetition` {kind: repeat|restart,
/// text}, `overused_phrase` {text, count} per occurrence, `long_sentence` {words, text}.
fn words_events(m: &Metrics) -> Vec<TimelineEvent> {
    let mut out = Vec::new();
    out.extend(m.hedges.events.iter().map(|h| {
        event(
            TimelineKind::Hedge,
            h.start_sec,
            h.end_sec,
            json!({"text": h.text, "kind": h.kind}),
        )
    }));
    out.extend(m.repetitions.events.iter().map(|r| {
        event(
            TimelineKind::Repetition,
            r.start_sec,
            r.end_sec,
            json!({"kind": r.kind, "text": r.text}),
        )
    }));
    for p in &m.repetitions.overused_phrases {
        out.extend(p.occurrences.iter().map(|o| {
            event(
                TimelineKind::OverusedPhrase,
                o.start_sec,
                o.end_sec,
                json!({"text": p.text, "count": p.count}),
            )
        }));
    }
    let s = &m.sentences;
    out.extend(
        s.longest
            .iter()
            .filter(|q| q.words > s.long_words)
            .map(|q| {
                event(
                    TimelineKind::LongSentence,
                    q.start_sec,
                    q.end_sec,
                    json!({"words": q.words, "text": q.text}),
                )
            }),
    );
    out
}

/// Build the timeline from the metrics and the speech spans.
pub fn build(m: &Metrics, spans: &[Span]) -> Vec<TimelineEvent> {
    let mut out: Vec<TimelineEvent> = Vec::new();
    out.extend(
        spans
            .iter()
            .map(|s| event(TimelineKind::Speech, s.start_sec, s.end_sec, json!({}))),
    );
    out.extend(m.fillers.events.iter().map(|f| {
        event(
            TimelineKind::Filler,
            f.start_sec,
            f.end_sec,
            json!({"text": f.text, "source": f.source, "confidence": f.confidence}),
        )
    }));
    out.extend(m.pauses.events.iter().map(|p| {
        let mut d = json!({"class": p.class, "duration_sec": p.duration_sec});
        if let Some(w) = &p.word_before {
            d["word_before"] = json!(w);
        }
        if let Some(w) = &p.word_after {
            d["word_after"] = json!(w);
        }
        event(TimelineKind::Pause, p.start_sec, p.end_sec, d)
    }));
    out.extend(m.pace_windows.iter().map(|w| {
        event(
            TimelineKind::PaceWindow,
            w.start_sec,
            w.end_sec,
            json!({"wpm": w.wpm, "flag": w.flag}),
        )
    }));
    out.extend(m.voice.monotone_stretches.iter().map(|s| {
        event(
            TimelineKind::Monotone,
            s.start_sec,
            s.end_sec,
            json!({"pitch_std_semitones": s.pitch_std_semitones}),
        )
    }));
    out.extend(m.fillers.bursts.iter().map(|b| {
        event(
            TimelineKind::FillerBurst,
            b.start_sec,
            b.end_sec,
            json!({"count": b.count}),
        )
    }));
    out.extend(words_events(m));
    out.sort_by(|a, b| {
        a.start_sec
            .total_cmp(&b.start_sec)
            .then_with(|| a.kind.rank().cmp(&b.kind.rank()))
            .then_with(|| a.end_sec.total_cmp(&b.end_sec))
    });
    out
}
