//! A stand-in server for the browser test's one-hour measurement: the application's page router
//! (so `GET /` and its config endpoint are the real ones) plus a stand-in `/analyze` that
//! answers from the corpus: it recognises an upload by its sha256 in `manifest.json` and builds
//! the report from the clip's text spec (`texts/*.txt`: fillers in `{…}`, pauses as `[pause s]`)
//! and the pauses measured in the manifest — real `Report` structs, nothing canned in the test.
//! Files the corpus marks as broken get a 415 like the real service's.
//!
//! The browser tests run against the real service (`support::spawn_app`, fake transcriber at
//! the seam). The stand-in remains only for the ignored one-hour measurement, which needs a
//! report far longer than any corpus clip.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use speech_coach::audio::AudioInfo;
use speech_coach::cache::TierName;
use speech_coach::domain::feedback::{FallbackReason, Feedback, FeedbackSource};
use speech_coach::domain::labels::{
    AdviceCategory, FillerSource, PaceFlag, PauseClass, Severity, TimelineKind,
};
use speech_coach::domain::metrics::{
    Advice, FillerCount, FillerEvent, FillerMetrics, Metrics, PaceBand, PaceWindow, PauseClasses,
    PauseEvent, PauseMetrics, PhraseMetrics, TimeRef, TimelineEvent,
};
use speech_coach::domain::transcript::{Segment, Word};
use speech_coach::report::{ANALYSIS_VERSION, CacheInfo, Report, TranscriptView};
use tokio_util::sync::CancellationToken;

use crate::support::app::{Application, test_config};
use crate::support::{TestApp, corpus};

/// A stand-in whose reports repeat the clip `times` times end to end (a long talk, for
/// measuring how the page copes; see `docs/bench/web.md`).
#[allow(dead_code)] // used by the ignored measurement only
pub async fn spawn_tiled_server(times: usize) -> TestApp {
    spawn_standin(&[], times).await
}

async fn spawn_standin(extra: &[(&str, &str)], tile: usize) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), extra);
    // Built through `Application` so the state has whatever fields it grows.
    let app = Application::build(config).await.expect("build app");
    let state = app.state().clone();
    drop(app);

    let standin = Arc::new(StandIn {
        seen: Mutex::new(HashSet::new()),
        tile,
    });
    // The page and its config endpoint, plus the stand-in /analyze (not the real router, which
    // has its own /analyze).
    let router = axum::Router::new()
        .merge(speech_coach::http::page::router())
        .with_state(state)
        .route(
            "/analyze",
            post(standin_analyze).with_state(standin.clone()),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
            .unwrap();
    });
    TestApp {
        addr,
        client: reqwest::Client::new(),
        shutdown,
        dir,
    }
}

struct StandIn {
    /// Hashes analysed before: a repeat is answered as a memory-cache hit, like the real cache.
    seen: Mutex<HashSet<String>>,
    /// How many times each clip is repeated in the report (1 = as recorded).
    tile: usize,
}

fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "error": code,
        "message": message,
        "request_id": uuid::Uuid::new_v4().to_string(),
    });
    (status, Json(body)).into_response()
}

async fn standin_analyze(State(standin): State<Arc<StandIn>>, mut form: Multipart) -> Response {
    let mut bytes = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("file") {
            bytes = field.bytes().await.ok();
        }
    }
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "empty_file",
            "the upload has no `file` field or it is empty",
        );
    };
    let sha = hex::encode(Sha256::digest(&bytes));
    let entry = corpus::files().iter().find(|f| f["sha256"] == sha.as_str());
    let Some(entry) = entry.filter(|e| e["kind"] == "speech") else {
        return api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the upload is not audio or video in a format this service can read \
             (supported: WAV, MP3, FLAC, OGG, Opus, M4A/AAC, WebM, MP4, MKV)",
        );
    };
    let hit = !standin.seen.lock().unwrap().insert(sha.clone());
    let spec = std::fs::read_to_string(corpus::path(entry["text_file"].as_str().unwrap())).unwrap();
    let (entry, spec) = tiled(entry, &spec, standin.tile);
    let mut report = report_from_corpus(&entry, &spec, &sha);
    if hit {
        report.cache = CacheInfo {
            hit: true,
            tier: Some(TierName::Memory),
        };
    }
    let mut resp = Json(report).into_response();
    let x_cache = if hit { "hit-memory" } else { "miss" };
    resp.headers_mut()
        .insert("x-cache", HeaderValue::from_static(x_cache));
    resp
}

/// One token of a text spec line.
struct Token {
    word: String,
    /// Index of the `{…}` group it belongs to, if it is (part of) a filler.
    filler_group: Option<usize>,
}

/// Segments of a spec file (the lines between `[pause]` marks), as tokens.
fn spec_segments(spec: &str) -> Vec<Vec<Token>> {
    let mut group = 0usize;
    let mut segments = Vec::new();
    for line in spec.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', '@', '[']) {
            continue;
        }
        let mut tokens = Vec::new();
        let mut inside = false;
        for raw in line.split_whitespace() {
            if raw.starts_with('{') {
                inside = true;
                group += 1;
            }
            let word: String = raw.chars().filter(|c| !"{}<>".contains(*c)).collect();
            tokens.push(Token {
                word,
                filler_group: inside.then_some(group),
            });
            if raw.contains('}') {
                inside = false;
            }
        }
        segments.push(tokens);
    }
    segments
}

fn clean(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn details(pairs: Value) -> serde_json::Map<String, Value> {
    pairs.as_object().cloned().unwrap_or_default()
}

/// The clip repeated `times` times: segments, pauses and spec lines shifted and concatenated.
fn tiled(entry: &Value, spec: &str, times: usize) -> (Value, String) {
    let mut out = entry.clone();
    let dur = entry["duration_s"].as_f64().unwrap();
    let shift = |items: &Value, keys: &[&str]| -> Value {
        let mut all = Vec::new();
        for k in 0..times {
            for item in items.as_array().unwrap() {
                let mut item = item.clone();
                for key in keys {
                    item[*key] = json!(item[*key].as_f64().unwrap() + k as f64 * dur);
                }
                all.push(item);
            }
        }
        Value::Array(all)
    };
    out["segments"] = shift(&entry["segments"], &["start_s", "end_s"]);
    out["pauses"] = shift(&entry["pauses"], &["start_s"]);
    out["duration_s"] = json!(dur * times as f64);
    out["voiced_time_s"] = json!(entry["voiced_time_s"].as_f64().unwrap() * times as f64);
    (out, vec![spec; times].join("\n"))
}

/// The report the service would give for a corpus clip whose words were heard exactly.
fn report_from_corpus(entry: &Value, spec: &str, sha: &str) -> Report {
    let duration = entry["duration_s"].as_f64().unwrap();
    let language = entry["language"].as_str().unwrap().to_string();
    let spec_segs = spec_segments(spec);
    let seg_times = entry["segments"].as_array().unwrap();
    assert_eq!(spec_segs.len(), seg_times.len(), "spec and manifest agree");

    // Words spread over each segment in proportion to their length.
    let mut segments = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut filler_spans: BTreeMap<usize, (String, f64, f64)> = BTreeMap::new();
    for (tokens, times) in spec_segs.iter().zip(seg_times) {
        let (start, end) = (
            times["start_s"].as_f64().unwrap(),
            times["end_s"].as_f64().unwrap(),
        );
        let chars: usize = tokens.iter().map(|t| t.word.chars().count() + 1).sum();
        let mut at = start;
        let mut seg_words = Vec::new();
        for tok in tokens {
            let len = (tok.word.chars().count() + 1) as f64 / chars as f64 * (end - start);
            let w = Word {
                word: tok.word.clone(),
                start_sec: round2(at),
                end_sec: round2(at + len * 0.9),
                probability: 0.9,
            };
            if let Some(g) = tok.filler_group {
                let e = filler_spans
                    .entry(g)
                    .or_insert((String::new(), w.start_sec, w.end_sec));
                if !e.0.is_empty() {
                    e.0.push(' ');
                }
                e.0.push_str(&clean(&tok.word));
                e.2 = w.end_sec;
            }
            seg_words.push(w);
            at += len;
        }
        segments.push(Segment {
            start_sec: start,
            end_sec: end,
            text: tokens
                .iter()
                .map(|t| t.word.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            avg_logprob: -0.2,
            no_speech_prob: 0.01,
            words: seg_words.clone(),
        });
        words.extend(seg_words);
    }

    let first = segments.first().map_or(0.0, |s| s.start_sec);
    let last = segments.last().map_or(0.0, |s| s.end_sec);
    let speaking = last - first;
    let voiced = entry["voiced_time_s"].as_f64().unwrap_or(speaking);
    let wpm = words.len() as f64 / speaking * 60.0;
    let band = PaceBand {
        min_wpm: 110.0,
        max_wpm: 160.0,
    };
    let flag = |v: f64| {
        if v > band.max_wpm {
            PaceFlag::TooFast
        } else if v < band.min_wpm {
            PaceFlag::TooSlow
        } else {
            PaceFlag::Ok
        }
    };
    // Windows of 6 s every 2 s over the speaking time.
    let mut pace_windows = Vec::new();
    let mut ws = first;
    while ws + 6.0 <= last + 2.0 {
        let we = (ws + 6.0).min(last);
        let n = words
            .iter()
            .filter(|w| w.start_sec >= ws && w.start_sec < we)
            .count();
        let v = n as f64 / (we - ws) * 60.0;
        pace_windows.push(PaceWindow {
            start_sec: round2(ws),
            end_sec: round2(we),
            wpm: round2(v),
            flag: flag(v),
        });
        ws += 2.0;
    }

    let filler_events: Vec<FillerEvent> = filler_spans
        .values()
        .map(|(text, s, e)| FillerEvent {
            text: Some(text.clone()),
            start_sec: *s,
            end_sec: *e,
            source: FillerSource::Transcript,
            confidence: 1.0,
        })
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for f in &filler_events {
        *counts.entry(f.text.clone().unwrap()).or_default() += 1;
    }
    let fillers = FillerMetrics {
        total: filler_events.len(),
        from_transcript: filler_events.len(),
        acoustic: 0,
        per_100_words: round2(filler_events.len() as f64 / words.len() as f64 * 100.0),
        per_minute: round2(filler_events.len() as f64 / speaking * 60.0),
        items: counts
            .into_iter()
            .map(|(word, count)| FillerCount { word, count })
            .collect(),
        events: filler_events.clone(),
        bursts: vec![],
        ..Default::default()
    };

    let class_of = |d: f64| match d {
        d if d >= 2.0 => PauseClass::Awkward,
        d if d >= 1.0 => PauseClass::Long,
        d if d >= 0.5 => PauseClass::Deliberate,
        _ => PauseClass::Natural,
    };
    let pause_events: Vec<PauseEvent> = entry["pauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let (s, d) = (
                p["start_s"].as_f64().unwrap(),
                p["length_s"].as_f64().unwrap(),
            );
            PauseEvent {
                start_sec: s,
                end_sec: round2(s + d),
                duration_sec: d,
                class: class_of(d),
                word_before: None,
                word_after: None,
            }
        })
        .collect();
    let mut classes = PauseClasses::default();
    for p in &pause_events {
        match p.class {
            PauseClass::Natural => classes.natural += 1,
            PauseClass::Deliberate => classes.deliberate += 1,
            PauseClass::Long => classes.long += 1,
            PauseClass::Awkward => classes.awkward += 1,
        }
    }
    let durations: Vec<f64> = pause_events.iter().map(|p| p.duration_sec).collect();
    let total_pause: f64 = durations.iter().sum();
    let pauses = PauseMetrics {
        count: pause_events.len(),
        avg_sec: round2(total_pause / durations.len().max(1) as f64),
        median_sec: durations.get(durations.len() / 2).copied().unwrap_or(0.0),
        max_sec: durations.iter().copied().fold(0.0, f64::max),
        total_sec: round2(total_pause),
        classes,
        events: pause_events.clone(),
    };

    let mut timeline = Vec::new();
    for s in &segments {
        timeline.push(TimelineEvent {
            kind: TimelineKind::Speech,
            start_sec: s.start_sec,
            end_sec: s.end_sec,
            details: Default::default(),
        });
    }
    for f in &filler_events {
        timeline.push(TimelineEvent {
            kind: TimelineKind::Filler,
            start_sec: f.start_sec,
            end_sec: f.end_sec,
            details: details(json!({"text": f.text, "source": f.source})),
        });
    }
    for p in &pause_events {
        timeline.push(TimelineEvent {
            kind: TimelineKind::Pause,
            start_sec: p.start_sec,
            end_sec: p.end_sec,
            details: details(json!({"class": p.class, "duration_sec": p.duration_sec})),
        });
    }
    for w in &pace_windows {
        timeline.push(TimelineEvent {
            kind: TimelineKind::PaceWindow,
            start_sec: w.start_sec,
            end_sec: w.end_sec,
            details: details(json!({"wpm": w.wpm, "flag": w.flag})),
        });
    }
    timeline.sort_by(|a, b| a.start_sec.total_cmp(&b.start_sec));

    let mut advice = Vec::new();
    if wpm > band.max_wpm {
        advice.push(Advice {
            category: AdviceCategory::Pace,
            severity: Severity::Warning,
            title: "Slow down".into(),
            observation: format!(
                "You spoke at {wpm:.0} words per minute; {:.0}–{:.0} is comfortable to follow.",
                band.min_wpm, band.max_wpm
            ),
            recommendation: "Pause after each key point and let sentences land.".into(),
            evidence: pace_windows
                .iter()
                .filter(|w| w.flag == PaceFlag::TooFast)
                .take(3)
                .map(|w| TimeRef {
                    start_sec: w.start_sec,
                    end_sec: w.end_sec,
                    label: Some(format!("{:.0} wpm", w.wpm)),
                })
                .collect(),
        });
    }
    if !filler_events.is_empty() {
        advice.push(Advice {
            category: AdviceCategory::Fillers,
            severity: Severity::Suggestion,
            title: "Fewer filler words".into(),
            observation: format!(
                "{} filler words, {:.1} per minute.",
                fillers.total, fillers.per_minute
            ),
            recommendation: "Replace a filler with a short silent pause.".into(),
            evidence: filler_events
                .iter()
                .map(|f| TimeRef {
                    start_sec: f.start_sec,
                    end_sec: f.end_sec,
                    label: f.text.clone(),
                })
                .collect(),
        });
    }

    let text = segments
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Report {
        id: sha.to_string(),
        analysis_version: ANALYSIS_VERSION,
        language,
        audio: AudioInfo {
            container: entry["format"].as_str().unwrap_or("wav").into(),
            codec: entry["codec"].as_str().unwrap_or("pcm_s16le").into(),
            sample_rate: entry["sample_rate"].as_u64().unwrap_or(16000) as u32,
            channels: entry["channels"].as_u64().unwrap_or(1) as u16,
            duration_sec: duration,
            decoder: "symphonia".into(),
        },
        transcript: TranscriptView {
            text,
            language_probability: 1.0,
            segments: segments.clone(),
            words: words.clone(),
        },
        metrics: Metrics {
            words_total: words.len(),
            unique_words: words
                .iter()
                .map(|w| clean(&w.word))
                .collect::<HashSet<_>>()
                .len(),
            words_per_minute: round2(wpm),
            words_per_minute_total: round2(words.len() as f64 / duration * 60.0),
            articulation_rate_wpm: round2(words.len() as f64 / voiced * 60.0),
            syllables_per_sec: 0.0,
            speaking_time_sec: round2(speaking),
            voiced_time_sec: voiced,
            speaking_ratio: round2(voiced / duration),
            pace_band_wpm: band,
            pace_windows,
            fillers,
            pauses,
            phrases: PhraseMetrics {
                count: segments.len(),
                ..Default::default()
            },
            voice: Default::default(),
            ..Default::default()
        },
        advice,
        timeline,
        feedback: Feedback {
            source: FeedbackSource::Rules,
            reason: Some(FallbackReason::Disabled),
            model: None,
            overall_assessment: format!(
                "A clear closing, delivered fast ({wpm:.0} words per minute) with a few fillers."
            ),
            strengths: vec!["Short, well-structured sentences.".into()],
            areas_for_improvement: vec!["Pace above the comfortable band.".into()],
            recommendations: vec!["Rehearse with a pause after every sentence.".into()],
            key_insights: vec![],
            confidence: 0.6,
        },
        cache: CacheInfo::default(),
        warnings: vec![],
        timings_ms: BTreeMap::from([("total".to_string(), 1)]),
    }
}

#[test]
fn spec_parsing_finds_the_marked_fillers_only() {
    let segs =
        spec_segments("# c\n@lang en\n{Um}, I would <like> to.\n[pause 0.3]\n{You know}, so.\n");
    assert_eq!(segs.len(), 2);
    let fillers: Vec<(&str, usize)> = segs
        .iter()
        .flatten()
        .filter_map(|t| t.filler_group.map(|g| (t.word.as_str(), g)))
        .collect();
    assert_eq!(fillers, [("Um,", 1), ("You", 2), ("know,", 2)]);
}
