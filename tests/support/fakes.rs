//! Fakes at the trait seams, the one place their trait impls live (adapt them here when a trait
//! changes). `FakeTranscriber`: a transcriber that "hears" the corpus text (looked up by the
//! clip's duration in manifest.json and spread over the VAD's speech spans), counts its calls
//! and can be held at a gate. Like Whisper it works window by window: it tells the input's
//! watcher after each window (audio seconds done, the window's words), asks it before each
//! whether to go on, and can be stepped one window at a time.

use async_trait::async_trait;
use speech_coach::asr::{AsrError, AsrInput, Segment, Transcriber, Transcript, WindowDone, Word};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

pub struct FakeTranscriber {
    pub calls: AtomicUsize,
    /// When set, each call waits for one permit (tests release them).
    pub gate: Option<Arc<Semaphore>>,
    /// When set, each window waits for one permit (tests step the transcription).
    pub window_gate: Option<Arc<Semaphore>>,
    /// Length of one window, seconds (Whisper's is 30).
    pub window_sec: f64,
    clips: Vec<(f64, String, String)>,
    /// Text (and language) to "hear" in any input, spread over its speech: for long talks.
    fixed: Option<(String, String)>,
}

impl FakeTranscriber {
    pub fn new() -> Self {
        let clips = super::corpus::entries("speech")
            .into_iter()
            .map(|f| {
                (
                    f["duration_s"].as_f64().unwrap(),
                    f["text"].as_str().unwrap().to_string(),
                    f["language"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        Self {
            calls: AtomicUsize::new(0),
            gate: None,
            window_gate: None,
            window_sec: 30.0,
            clips,
            fixed: None,
        }
    }

    /// Hears `text` in whatever it is given (a long talk of known text), spread over the speech.
    pub fn speaking(text: &str, language: &str) -> Self {
        Self {
            fixed: Some((text.to_string(), language.to_string())),
            ..Self::new()
        }
    }

    pub fn gated(gate: Arc<Semaphore>) -> Self {
        Self {
            gate: Some(gate),
            ..Self::new()
        }
    }

    /// Windows of `window_sec`, each waiting for a permit of `window_gate` when given.
    pub fn windowed(window_sec: f64, window_gate: Option<Arc<Semaphore>>) -> Self {
        Self {
            window_sec,
            window_gate,
            ..Self::new()
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Transcriber for FakeTranscriber {
    async fn transcribe(&self, input: AsrInput) -> Result<Transcript, AsrError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        let duration = input.samples.len() as f64 / 16_000.0;
        let matched = self
            .clips
            .iter()
            .min_by(|a, b| (a.0 - duration).abs().total_cmp(&(b.0 - duration).abs()))
            .filter(|c| (c.0 - duration).abs() < 0.1)
            .map(|(_, text, lang)| (text, lang));
        let Some((text, lang)) = self.fixed.as_ref().map(|(t, l)| (t, l)).or(matched) else {
            // Not a corpus clip: nothing heard, but the windows still pass.
            self.report_windows(&input, duration, &[]).await?;
            return Ok(Transcript::default());
        };
        // Spread the words over the speech spans in proportion to their lengths.
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let total: f64 = input.speech.iter().map(|s| s.duration_sec()).sum();
        let mut words = Vec::new();
        let per_word = total / tokens.len() as f64;
        let mut span_i = 0;
        let mut t = input.speech.first().map_or(0.0, |s| s.start_sec);
        for tok in tokens {
            while span_i < input.speech.len() && t + per_word > input.speech[span_i].end_sec + 1e-9
            {
                span_i += 1;
                if span_i < input.speech.len() {
                    t = t.max(input.speech[span_i].start_sec);
                }
            }
            let end =
                (t + per_word).min(input.speech.get(span_i).map_or(t + per_word, |s| s.end_sec));
            words.push(Word {
                word: tok.to_string(),
                start_sec: t,
                end_sec: end.max(t),
                probability: 0.9,
            });
            t = end;
        }
        self.report_windows(&input, duration, &words).await?;
        let seg = Segment {
            start_sec: words.first().map_or(0.0, |w| w.start_sec),
            end_sec: words.last().map_or(0.0, |w| w.end_sec),
            text: text.clone(),
            avg_logprob: -0.2,
            no_speech_prob: 0.0,
            words,
        };
        Ok(Transcript {
            language: input.language.unwrap_or(lang.clone()),
            language_probability: 1.0,
            segments: vec![seg],
        })
    }

    fn fingerprint(&self) -> String {
        "fake-transcriber:v1".into()
    }
}

impl FakeTranscriber {
    /// Walks the input window by window, as Whisper does: cancelled? → (gate) → window done.
    async fn report_windows(
        &self,
        input: &AsrInput,
        duration: f64,
        words: &[Word],
    ) -> Result<(), AsrError> {
        let mut start = 0.0;
        while start < duration {
            if input.cancelled() {
                return Err(AsrError::Cancelled);
            }
            if let Some(gate) = &self.window_gate {
                gate.acquire().await.expect("window gate open").forget();
            }
            let end = (start + self.window_sec).min(duration);
            let last = end >= duration;
            input.report_window(WindowDone {
                audio_sec_done: end,
                audio_sec_total: duration,
                words: words
                    .iter()
                    .filter(|w| w.start_sec >= start && (w.start_sec < end || last))
                    .cloned()
                    .collect(),
            });
            start = end;
        }
        Ok(())
    }
}
