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

/// One event of `kind` per item: `at` gives the item's start, end and details.
fn each<'a, T: 'a>(
    kind: TimelineKind,
    items: impl IntoIterator<Item = &'a T>,
    at: impl Fn(&T) -> (f64, f64, Value),
) -> impl Iterator<Item = TimelineEvent> {
    items.into_iter().map(move |item| {
        let (start, end, details) = at(item);
        event(kind, start, end, details)
    })
}

/// Events of what the words say: `hedge` {text, kind}, `repetition` {kind: repeat|restart,
/// text}, `overused_phrase` {text, count} per occurrence, `long_sentence` {words, text}.
fn words_events(m: &Metrics) -> Vec<TimelineEvent> {
    let mut out = Vec::new();
    out.extend(each(TimelineKind::Hedge, &m.hedges.events, |h| {
        (
            h.start_sec,
            h.end_sec,
            json!({"text": h.text, "kind": h.kind}),
        )
    }));
    out.extend(each(TimelineKind::Repetition, &m.repetitions.events, |r| {
        (
            r.start_sec,
            r.end_sec,
            json!({"kind": r.kind, "text": r.text}),
        )
    }));
    for p in &m.repetitions.overused_phrases {
        out.extend(each(TimelineKind::OverusedPhrase, &p.occurrences, |o| {
            (
                o.start_sec,
                o.end_sec,
                json!({"text": p.text, "count": p.count}),
            )
        }));
    }
    let s = &m.sentences;
    let long = s.longest.iter().filter(|q| q.words > s.long_words);
    out.extend(each(TimelineKind::LongSentence, long, |q| {
        (
            q.start_sec,
            q.end_sec,
            json!({"words": q.words, "text": q.text}),
        )
    }));
    out
}

/// Build the timeline from the metrics and the speech spans.
pub fn build(m: &Metrics, spans: &[Span]) -> Vec<TimelineEvent> {
    let mut out: Vec<TimelineEvent> = Vec::new();
    out.extend(each(TimelineKind::Speech, spans, |s| {
        (s.start_sec, s.end_sec, json!({}))
    }));
    out.extend(each(TimelineKind::Filler, &m.fillers.events, |f| {
        let d = json!({"text": f.text, "source": f.source, "confidence": f.confidence});
        (f.start_sec, f.end_sec, d)
    }));
    out.extend(each(TimelineKind::Pause, &m.pauses.events, |p| {
        let mut d = json!({"class": p.class, "duration_sec": p.duration_sec});
        if let Some(w) = &p.word_before {
            d["word_before"] = json!(w);
        }
        if let Some(w) = &p.word_after {
            d["word_after"] = json!(w);
        }
        (p.start_sec, p.end_sec, d)
    }));
    out.extend(each(TimelineKind::PaceWindow, &m.pace_windows, |w| {
        (
            w.start_sec,
            w.end_sec,
            json!({"wpm": w.wpm, "flag": w.flag}),
        )
    }));
    out.extend(each(
        TimelineKind::Monotone,
        &m.voice.monotone_stretches,
        |s| {
            let d = json!({"pitch_std_semitones": s.pitch_std_semitones});
            (s.start_sec, s.end_sec, d)
        },
    ));
    out.extend(each(TimelineKind::FillerBurst, &m.fillers.bursts, |b| {
        (b.start_sec, b.end_sec, json!({"count": b.count}))
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
