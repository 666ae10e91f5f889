//! `speech-coach analyze FILE`: the same pipeline without a server, printing a readable report
//! (or the JSON) — with a progress line on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::coach::mmss;
use crate::config::Config;
use crate::pipeline::Job;
use crate::report::Report;

/// What went wrong, with the exit code to use: 2 for a bad input file, 1 for anything else.
#[derive(Debug)]
pub struct CliError {
    pub exit_code: u8,
    pub message: String,
}

/// Analyses one file and prints the report to stdout.
pub async fn analyze(
    config: Config,
    file: &Path,
    language: Option<String>,
    json: bool,
) -> Result<(), CliError> {
    let report = run(config, file, language).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

async fn run(config: Config, file: &Path, language: Option<String>) -> Result<Report, CliError> {
    let fail = |exit_code: u8, message: String| CliError { exit_code, message };
    let bytes_hash = hash_file(file).map_err(|e| fail(2, format!("{}: {e}", file.display())))?;
    let stages =
        crate::startup::build_stages(&config, None, None).map_err(|e| fail(1, format!("{e:#}")))?;
    let stages = Arc::new(stages);
    let bar = progress_bar();
    let job = Job {
        path: PathBuf::from(file),
        content_hash: bytes_hash,
        language,
        progress: bar
            .clone()
            .map(|b| Arc::new(BarSink::new(b)) as crate::pipeline::Progress),
        queue_timeout: None,
        slot: None,
    };
    let result = stages.run(job).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match result {
        Ok((report, _)) => Ok(report),
        Err(e) => {
            let f = e.failure();
            // 2: the input is at fault (the same file fails again); 1: this machine is.
            let code = if f.is_client_error() { 2 } else { 1 };
            Err(fail(
                code,
                format!("{}: {} ({})", file.display(), f.message, f.code),
            ))
        }
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hasher.finalize().to_hex().to_string())
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(spinner_style());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

fn spinner_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("valid template")
}

/// The terminal bar fed by the pipeline's progress events: a spinner with the stage name, and
/// during speech recognition a bar of audio seconds transcribed out of the total, with an ETA.
#[derive(Debug)]
struct BarSink {
    bar: indicatif::ProgressBar,
    /// When the recogniser started (the ETA is its rate so far over the audio left).
    asr_started: std::sync::Mutex<Option<std::time::Instant>>,
}

impl BarSink {
    fn new(bar: indicatif::ProgressBar) -> Self {
        Self {
            bar,
            asr_started: std::sync::Mutex::new(None),
        }
    }
}

impl crate::pipeline::ProgressSink for BarSink {
    fn event(&self, event: &crate::pipeline::ProgressEvent) {
        use crate::pipeline::{ProgressEvent, Stage};
        match event {
            ProgressEvent::Stage(stage) => {
                if *stage == Stage::Asr {
                    *self.asr_started.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(std::time::Instant::now());
                } else {
                    self.bar.set_style(spinner_style());
                }
                self.bar.set_message(stage_label(*stage));
            }
            ProgressEvent::Window(w) => {
                let started = *self.asr_started.lock().unwrap_or_else(|p| p.into_inner());
                let eta = started
                    .and_then(|s| {
                        eta_sec(
                            s.elapsed().as_secs_f64(),
                            w.audio_sec_done,
                            w.audio_sec_total,
                        )
                    })
                    .map_or_else(|| "–".to_string(), mmss);
                self.bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {elapsed:>4} {msg} [{bar:30}] {percent:>3}%",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                // Tenths of a second: the bar needs integers.
                self.bar
                    .set_length((w.audio_sec_total * 10.0).round() as u64);
                self.bar
                    .set_position((w.audio_sec_done * 10.0).round() as u64);
                self.bar.set_message(format!(
                    "transcribing {} / {} of audio, ETA {eta}",
                    mmss(w.audio_sec_done),
                    mmss(w.audio_sec_total)
                ));
            }
            ProgressEvent::Queued { .. } => self.bar.set_message("waiting for a slot…"),
        }
    }
}

/// Seconds left at the rate so far (`None` before anything is done).
pub fn eta_sec(elapsed_sec: f64, done_sec: f64, total_sec: f64) -> Option<f64> {
    (done_sec > 0.0 && total_sec >= done_sec)
        .then(|| elapsed_sec / done_sec * (total_sec - done_sec))
}

fn stage_label(stage: crate::pipeline::Stage) -> &'static str {
    use crate::pipeline::Stage;
    match stage {
        Stage::Queued => "waiting for a slot…",
        Stage::Decode => "decoding audio…",
        Stage::Vad => "finding speech and pauses…",
        Stage::Asr => "transcribing (Whisper)…",
        Stage::Analysis => "measuring pace, fillers, pauses, voice…",
        Stage::Feedback => "writing feedback…",
    }
}

/// The human-readable report.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    render_recording(&mut o, r);
    render_delivery(&mut o, &r.metrics);
    render_coaching(&mut o, r);
    o
}

/// The recording, its warnings and the start of the transcript.
fn render_recording(o: &mut String, r: &Report) {
    use std::fmt::Write;
    let _ = writeln!(
        o,
        "speech-coach report — {} {} Hz {} ch, {} long, language {}",
        r.audio.container,
        r.audio.sample_rate,
        r.audio.channels,
        mmss(r.audio.duration_sec),
        r.language
    );
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    let _ = writeln!(o, "\nTranscript");
    let text = &r.transcript.text;
    let shown: String = text.chars().take(400).collect();
    let _ = writeln!(
        o,
        "  {}{}",
        if shown.is_empty() {
            "(no speech)"
        } else {
            &shown
        },
        if text.chars().count() > 400 {
            "…"
        } else {
            ""
        }
    );
}

/// How it was said: pace, fillers, pauses and phrases, voice.
fn render_delivery(o: &mut String, m: &crate::domain::metrics::Metrics) {
    use std::fmt::Write;
    let _ = writeln!(o, "\nPace");
    let _ = writeln!(
        o,
        "  {:.0} words/min over {:.1} s of speaking time (comfortable {:.0}–{:.0}); {} words, {} distinct",
        m.words_per_minute,
        m.speaking_time_sec,
        m.pace_band_wpm.min_wpm,
        m.pace_band_wpm.max_wpm,
        m.words_total,
        m.unique_words
    );
    let _ = writeln!(
        o,
        "  voice {:.0}% of the recording, articulation {:.0} words/min, {:.1} syllables/s",
        m.speaking_ratio * 100.0,
        m.articulation_rate_wpm,
        m.syllables_per_sec
    );
    let f = &m.fillers;
    let _ = writeln!(o, "\nFillers");
    let _ = writeln!(
        o,
        "  {} in total ({} in the transcript, {} heard as voice without words): {:.1} per 100 words, {:.1} per minute",
        f.total, f.from_transcript, f.acoustic, f.per_100_words, f.per_minute
    );
    if !f.items.is_empty() {
        let items: Vec<String> = f
            .items
            .iter()
            .map(|i| format!("«{}» ×{}", i.word, i.count))
            .collect();
        let _ = writeln!(o, "  {}", items.join(", "));
    }
    let p = &m.pauses;
    let _ = writeln!(o, "\nPauses");
    let _ = writeln!(
        o,
        "  {} pauses, average {:.2} s, longest {:.2} s ({} natural, {} deliberate, {} long, {} awkward)",
        p.count,
        p.avg_sec,
        p.max_sec,
        p.classes.natural,
        p.classes.deliberate,
        p.classes.long,
        p.classes.awkward
    );
    let _ = writeln!(
        o,
        "  {} phrases, {:.1} words on average ({})",
        m.phrases.count,
        m.phrases.avg_words,
        m.phrases
            .length_class
            .map_or("no phrases", crate::domain::labels::PhraseLength::as_str)
    );
    if let Some(hz) = m.voice.pitch_median_hz {
        let _ = writeln!(o, "\nVoice");
        let _ = writeln!(
            o,
            "  pitch median {:.0} Hz, range {:.1} semitones; loudness varies {:.1} dB; {} monotone stretch(es)",
            hz,
            m.voice.pitch_range_semitones.unwrap_or(0.0),
            m.voice.loudness_variation_db,
            m.voice.monotone_stretches.len()
        );
    }
}

/// The advice and the coach's feedback.
fn render_coaching(o: &mut String, r: &Report) {
    use std::fmt::Write;
    let _ = writeln!(o, "\nAdvice");
    for a in &r.advice {
        let _ = writeln!(o, "  [{}] {}", a.severity, a.title);
        let _ = writeln!(o, "      {}", a.observation);
        let _ = writeln!(o, "      → {}", a.recommendation);
    }
    let fb = &r.feedback;
    let source = match (fb.source, fb.reason) {
        (crate::domain::feedback::FeedbackSource::Gigachat, _) => {
            format!(
                "GigaChat{}",
                fb.model
                    .as_ref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            )
        }
        (_, Some(reason)) => format!(
            "rule-based ({})",
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
        _ => "rule-based".into(),
    };
    let _ = writeln!(o, "\nFeedback — {source}");
    let _ = writeln!(o, "  {}", fb.overall_assessment);
    for s in &fb.recommendations {
        let _ = writeln!(o, "  • {s}");
    }
}
