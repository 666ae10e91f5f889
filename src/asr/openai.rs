//! A remote OpenAI-compatible ASR server (`POST /v1/audio/transcriptions`): OpenAI itself,
//! faster-whisper-server/speaches, LocalAI, vLLM… Lets the service put ASR on GPU machines.
//!
//! The samples go up as a 16-bit WAV built in memory, with `response_format=verbose_json` and
//! word + segment timestamps. Input without speech (by the VAD) is never sent: a remote model
//! invents text for silence as readily as a local one, and words outside the speech found by the
//! VAD are dropped for the same reason.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::settings::normalise_language;
use super::{
    ASR_SAMPLE_RATE, AsrError, AsrHealth, AsrInput, Segment, Transcriber, Transcript, Word,
};
use crate::domain::signal::Span;

/// Words further than this from any VAD speech span are treated as invented, seconds.
const SPEECH_MARGIN_SEC: f64 = 0.5;

/// Settings of [`OpenAiTranscriber`].
#[derive(Debug, Clone)]
pub struct OpenAiAsrConfig {
    /// Base URL of the server, e.g. `http://gpu-box:8000` (`/v1/audio/transcriptions` is
    /// appended unless the URL already ends in `/audio/transcriptions`). Env `ASR_URL`, required
    /// for this backend; default `http://127.0.0.1:8000`.
    pub url: String,
    /// Bearer token, sent as `Authorization: Bearer …` when set. Env `ASR_API_KEY`, default none.
    pub api_key: Option<SecretString>,
    /// Model name the server expects. Env `ASR_MODEL`, default `whisper-1`.
    pub model: String,
    /// Budget for one whole request (upload, transcription, answer), seconds.
    /// Env `ASR_TIMEOUT_SEC`, default 300.
    pub timeout_sec: f64,
}

impl Default for OpenAiAsrConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000".into(),
            api_key: None,
            model: "whisper-1".into(),
            timeout_sec: 300.0,
        }
    }
}

/// Transcription by a remote OpenAI-compatible server.
pub struct OpenAiTranscriber {
    client: reqwest::Client,
    endpoint: String,
    cfg: OpenAiAsrConfig,
}

impl OpenAiTranscriber {
    /// Build the client (no request is made). Fails on an unusable URL or timeout.
    pub fn new(cfg: OpenAiAsrConfig) -> Result<Self, AsrError> {
        let base = cfg.url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(base).map_err(|e| {
            AsrError::ModelUnavailable(format!("ASR_URL {base:?} is not a URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(AsrError::ModelUnavailable(format!(
                "ASR_URL {base:?} must be http or https"
            )));
        }
        if !(cfg.timeout_sec.is_finite() && cfg.timeout_sec > 0.0) {
            return Err(AsrError::ModelUnavailable(
                "ASR_TIMEOUT_SEC must be positive".into(),
            ));
        }
        let endpoint = if base.ends_with("/audio/transcriptions") {
            base.to_string()
        } else {
            format!("{base}/v1/audio/transcriptions")
        };
        let timeout = Duration::from_secs_f64(cfg.timeout_sec);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| AsrError::ModelUnavailable(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            endpoint,
            cfg,
        })
    }

    fn map_send_error(&self, e: reqwest::Error) -> AsrError {
        if e.is_timeout() {
            AsrError::Timeout(self.cfg.timeout_sec)
        } else if e.is_connect() {
            AsrError::Upstream(format!("cannot connect to {}: {e}", self.endpoint))
        } else {
            AsrError::Upstream(format!("request to {} failed: {e}", self.endpoint))
        }
    }
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(&self, input: AsrInput) -> Result<Transcript, AsrError> {
        let language = input.language.as_deref().and_then(normalise_language);
        if input.speech.is_empty() {
            return Ok(Transcript {
                language: language.unwrap_or_default(),
                language_probability: 0.0,
                segments: Vec::new(),
            });
        }
        let wav = encode_wav_pcm16(&input.samples, ASR_SAMPLE_RATE);
        let file = Part::bytes(wav)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| AsrError::Inference(e.to_string()))?;
        let mut form = Form::new()
            .part("file", file)
            .text("model", self.cfg.model.clone())
            .text("response_format", "verbose_json")
            .text("temperature", "0")
            .text("timestamp_granularities[]", "word")
            .text("timestamp_granularities[]", "segment");
        if let Some(lang) = &language {
            form = form.text("language", lang.clone());
        }
        let mut req = self.client.post(&self.endpoint).multipart(form);
        if let Some(key) = &self.cfg.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        let resp = req.send().await.map_err(|e| self.map_send_error(e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.map_send_error(e))?;
        if !status.is_success() {
            let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(AsrError::Upstream(format!(
                "{} answered {status}: {snippet}",
                self.endpoint
            )));
        }
        let parsed: VerboseJson = serde_json::from_slice(&body).map_err(|e| {
            AsrError::Upstream(format!("unparsable answer from {}: {e}", self.endpoint))
        })?;
        let transcript = parsed.into_transcript(language, &input.speech);
        // One remote call is one "window": the whole input at once.
        let total_sec = input.samples.len() as f64 / f64::from(ASR_SAMPLE_RATE);
        input.report_window(super::WindowDone {
            audio_sec_done: total_sec,
            audio_sec_total: total_sec,
            words: transcript.words().cloned().collect(),
        });
        Ok(transcript)
    }

    fn fingerprint(&self) -> String {
        format!("openai:{}:{}", self.endpoint, self.cfg.model)
    }

    fn health(&self) -> AsrHealth {
        AsrHealth {
            remote: true,
            ..AsrHealth::ok(self.fingerprint())
        }
    }
}

/// The `verbose_json` answer; every field optional because servers differ.
#[derive(Debug, Deserialize)]
struct VerboseJson {
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    segments: Vec<RemoteSegment>,
    #[serde(default)]
    words: Vec<RemoteWord>,
}

#[derive(Debug, Deserialize)]
struct RemoteSegment {
    start: f64,
    end: f64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    avg_logprob: f64,
    #[serde(default)]
    no_speech_prob: f64,
    /// faster-whisper-server puts words inside segments.
    #[serde(default)]
    words: Vec<RemoteWord>,
}

#[derive(Debug, Deserialize)]
struct RemoteWord {
    word: String,
    start: f64,
    end: f64,
    /// Not in OpenAI's answer (taken as 1.0 then); faster-whisper-server sends it.
    #[serde(default)]
    probability: Option<f64>,
}

impl VerboseJson {
    fn into_transcript(self, forced: Option<String>, speech: &[Span]) -> Transcript {
        let near_speech = |w: &Word| {
            let mid = (w.start_sec + w.end_sec) / 2.0;
            speech.iter().any(|s| {
                mid >= s.start_sec - SPEECH_MARGIN_SEC && mid <= s.end_sec + SPEECH_MARGIN_SEC
            })
        };
        let to_word = |w: RemoteWord| Word {
            word: w.word.trim().to_string(),
            start_sec: w.start.max(0.0),
            end_sec: w.end.max(w.start).max(0.0),
            probability: w.probability.unwrap_or(1.0).clamp(0.0, 1.0),
        };
        let mut top_words: Vec<Word> = self.words.into_iter().map(to_word).collect();
        let mut segments: Vec<Segment> = Vec::new();
        if self.segments.is_empty() && !top_words.is_empty() {
            segments.push(Segment {
                start_sec: top_words[0].start_sec,
                end_sec: top_words[top_words.len() - 1].end_sec,
                text: self.text.unwrap_or_default().trim().to_string(),
                avg_logprob: 0.0,
                no_speech_prob: 0.0,
                words: std::mem::take(&mut top_words),
            });
        }
        let n_segments = self.segments.len();
        for (i, s) in self.segments.into_iter().enumerate() {
            let mut words: Vec<Word> = s.words.into_iter().map(to_word).collect();
            if words.is_empty() {
                // OpenAI lists words at the top level: give each segment those starting in it.
                let last = i + 1 == n_segments;
                let (mine, rest): (Vec<Word>, Vec<Word>) = top_words
                    .into_iter()
                    .partition(|w| w.start_sec < s.end || last);
                words = mine;
                top_words = rest;
            }
            segments.push(Segment {
                start_sec: s.start,
                end_sec: s.end,
                text: s.text.trim().to_string(),
                avg_logprob: s.avg_logprob,
                no_speech_prob: s.no_speech_prob,
                words,
            });
        }
        for seg in &mut segments {
            let before = seg.words.len();
            seg.words.retain(near_speech);
            if seg.words.len() != before {
                seg.text = seg
                    .words
                    .iter()
                    .map(|w| w.word.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            if let (Some(f), Some(l)) = (seg.words.first(), seg.words.last()) {
                seg.start_sec = f.start_sec;
                seg.end_sec = l.end_sec;
            }
        }
        // A server without word timestamps still gives segment text: keep it where there is speech.
        segments.retain(|s| {
            !s.words.is_empty()
                || (!s.text.is_empty()
                    && speech
                        .iter()
                        .any(|p| s.start_sec < p.end_sec && s.end_sec > p.start_sec))
        });
        let (language, language_probability) = match forced {
            Some(code) => (code, 1.0),
            None => (
                self.language
                    .as_deref()
                    .map(language_code)
                    .unwrap_or_default(),
                0.0,
            ),
        };
        Transcript {
            language,
            language_probability,
            segments,
        }
    }
}

/// OpenAI answers with a language name ("russian"), other servers with a code ("ru").
fn language_code(lang: &str) -> String {
    let l = lang.trim().to_ascii_lowercase();
    let code = match l.as_str() {
        "english" => "en",
        "russian" => "ru",
        "german" => "de",
        "french" => "fr",
        "spanish" => "es",
        "italian" => "it",
        "portuguese" => "pt",
        "ukrainian" => "uk",
        "belarusian" => "be",
        "kazakh" => "kk",
        "polish" => "pl",
        "dutch" => "nl",
        "turkish" => "tr",
        "chinese" => "zh",
        "japanese" => "ja",
        "korean" => "ko",
        "arabic" => "ar",
        "hindi" => "hi",
        _ => return l,
    };
    code.to_string()
}

/// A mono 16-bit PCM WAV file of `samples` (clipped to [-1, 1]).
pub fn encode_wav_pcm16(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for &s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_is_well_formed() {
        let wav = encode_wav_pcm16(&[0.0, 1.0, -1.0, 2.0], 16_000);
        assert_eq!(wav.len(), 44 + 8);
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[4..8].try_into().unwrap()), 44);
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()), 8);
        let s: Vec<i16> = wav[44..]
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(s, vec![0, 32767, -32767, 32767]);
    }

    #[test]
    fn openai_answer_with_top_level_words_is_split_into_segments() {
        let json = r#"{"language":"russian","text":"Добрый день. Ну, начнём.",
            "segments":[{"start":0.5,"end":2.0,"text":" Добрый день."},
                        {"start":2.9,"end":4.5,"text":" Ну, начнём."}],
            "words":[{"word":"Добрый","start":0.5,"end":0.9},{"word":"день","start":0.9,"end":1.9},
                     {"word":"Ну","start":2.9,"end":3.2},{"word":"начнём","start":3.4,"end":4.4},
                     {"word":"Спасибо","start":9.0,"end":9.5}]}"#;
        let v: VerboseJson = serde_json::from_str(json).unwrap();
        let speech = [Span::new(0.5, 2.0), Span::new(2.9, 4.5)];
        let t = v.into_transcript(None, &speech);
        assert_eq!(t.language, "ru");
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.segments[0].words.len(), 2);
        // "Спасибо" at 9 s lies in silence: invented, dropped.
        let words: Vec<&str> = t.words().map(|w| w.word.as_str()).collect();
        assert_eq!(words, vec!["Добрый", "день", "Ну", "начнём"]);
        assert_eq!(t.segments[1].text, "Ну начнём");
    }

    #[test]
    fn language_names_become_codes() {
        assert_eq!(language_code("English"), "en");
        assert_eq!(language_code("ru"), "ru");
    }
}
