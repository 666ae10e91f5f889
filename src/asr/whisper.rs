//! In-process Whisper through CTranslate2 (`ct2rs`), with word timings and the safeguards robust
//! decoders use: VAD windows, beam search, temperature fallback on degenerate output, a
//! no-speech check, a repetition guard, and no conditioning on the previous window's text.
//!
//! ct2rs's high-level `Whisper::generate_segments` is not used: it cuts fixed 30 s chunks, has
//! no fallback, aligns timestamp tokens as if they were text, and its feature extractor
//! normalises per frame (see [`super::features`]). The low-level `sys::Whisper` API (encode,
//! detect_language, generate, align) is driven here the way faster-whisper drives it.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ct2rs::sys::{self, StorageView, WhisperOptions};
use ct2rs::tokenizers::hf::Tokenizer;
use tokio::sync::Semaphore;

use super::chunking::{ChunkingConfig, Window, plan_windows};
use super::features::{HOP_LENGTH, MelExtractor, N_FRAMES};
use super::loop_guard::{compression_ratio, dedupe_loops, has_loop};
use super::settings::{ComputeType, WhisperConfig, normalise_language};
use super::{ASR_SAMPLE_RATE, AsrError, AsrInput, Segment, Transcriber, Transcript, Word};

/// Encoder output frames per second (one per 20 ms).
const FRAMES_PER_SEC: f64 = 50.0;
/// Languages written without spaces: words are split per character group, not per space.
const NO_SPACE_LANGUAGES: [&str; 6] = ["zh", "ja", "th", "lo", "my", "yue"];
/// Punctuation merged into the neighbouring word (faster-whisper's defaults).
const PREPEND_PUNCT: &str = "\"'“¿([{-";
const APPEND_PUNCT: &str = "\"'.。,，!！?？:：”)]}、";

/// In-process Whisper. Cheap to share (`Arc` inside); inference runs on blocking threads, at most
/// `workers` at once.
pub struct WhisperTranscriber {
    engine: Arc<Engine>,
    permits: Arc<Semaphore>,
    fingerprint: String,
}

struct SpecialIds {
    sot: usize,
    eot: usize,
    sot_prev: usize,
    timestamp_begin: usize,
    transcribe: usize,
}

struct Engine {
    model: sys::Whisper,
    tokenizer: Tokenizer,
    mel: MelExtractor,
    ids: SpecialIds,
    multilingual: bool,
    cfg: WhisperConfig,
    chunking: ChunkingConfig,
}

/// What one decoding pass of one window produced.
struct Decoded {
    /// Generated ids: text tokens and timestamp tokens, no prompt, no end-of-text.
    ids: Vec<usize>,
    avg_logprob: f64,
    no_speech_prob: f64,
    compression_ratio: f64,
    temperature: f32,
}

/// A word inside a window, times relative to the window start.
struct RawWord {
    text: String,
    /// Index range into the window's text tokens.
    tokens: Range<usize>,
    start: f64,
    end: f64,
    probability: f64,
}

impl WhisperTranscriber {
    /// Load the model (blocking: reads ~150 MB and hashes it, 1–3 s on the reference machine;
    /// call it once at startup, from `spawn_blocking` if inside the runtime).
    pub fn load(cfg: WhisperConfig) -> Result<Self, AsrError> {
        let dir = cfg.model_dir.clone();
        let unavailable = |what: String| {
            AsrError::ModelUnavailable(format!(
                "{what} (model dir {}; run scripts/fetch-model.sh)",
                dir.display()
            ))
        };
        for f in [
            "model.bin",
            "config.json",
            "tokenizer.json",
            "preprocessor_config.json",
        ] {
            if !dir.join(f).is_file() {
                return Err(unavailable(format!("missing {f}")));
            }
        }
        let model_id = model_identity(&dir).map_err(|e| unavailable(e.to_string()))?;
        let workers = cfg.workers.max(1);
        let ct2_cfg = sys::Config {
            device: sys::Device::CPU,
            compute_type: match cfg.compute_type {
                ComputeType::Int8 => sys::ComputeType::INT8,
                ComputeType::Int8Float32 => sys::ComputeType::INT8_FLOAT32,
                ComputeType::Float32 => sys::ComputeType::FLOAT32,
                ComputeType::Auto => sys::ComputeType::AUTO,
            },
            // On CPU one replica per device index: `workers` replicas share the weights.
            device_indices: vec![0; workers],
            num_threads_per_replica: cfg.effective_threads(),
            ..Default::default()
        };
        let model = sys::Whisper::new(&dir, ct2_cfg)
            .map_err(|e| unavailable(format!("CTranslate2 could not load it: {e}")))?;
        let tokenizer =
            Tokenizer::new(&dir).map_err(|e| unavailable(format!("tokenizer.json: {e}")))?;
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .map(|i| i as usize)
                .ok_or_else(|| unavailable(format!("tokenizer lacks {t}")))
        };
        let no_timestamps = id("<|notimestamps|>")?;
        let ids = SpecialIds {
            sot: id("<|startoftranscript|>")?,
            eot: id("<|endoftext|>")?,
            sot_prev: id("<|startofprev|>")?,
            // Timestamp tokens follow <|notimestamps|> in every Whisper vocabulary.
            timestamp_begin: no_timestamps + 1,
            transcribe: id("<|transcribe|>")?,
        };
        // Sampling at fallback temperatures: a fixed seed keeps results reproducible.
        sys::set_random_seed(0);
        let multilingual = model.is_multilingual();
        let mel = MelExtractor::new(model.n_mels());
        let fingerprint = format!("whisper:{model_id}:{}", cfg.decoding_fingerprint());
        let chunking = ChunkingConfig {
            max_window_sec: cfg.max_window_sec.clamp(1.0, 30.0),
            ..ChunkingConfig::default()
        };
        tracing::info!(%fingerprint, workers, threads = cfg.effective_threads(), "whisper model loaded");
        Ok(Self {
            engine: Arc::new(Engine {
                model,
                tokenizer,
                mel,
                ids,
                multilingual,
                cfg,
                chunking,
            }),
            permits: Arc::new(Semaphore::new(workers)),
            fingerprint,
        })
    }

    /// Transcribe on the calling thread (blocking; for benchmarks and tools). The async
    /// [`Transcriber::transcribe`] is this on a blocking thread behind the worker semaphore.
    pub fn transcribe_blocking(&self, input: &AsrInput) -> Result<Transcript, AsrError> {
        self.engine.transcribe(input)
    }
}

#[async_trait]
impl Transcriber for WhisperTranscriber {
    async fn transcribe(&self, input: AsrInput) -> Result<Transcript, AsrError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AsrError::Inference("whisper worker pool closed".into()))?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            engine.transcribe(&input)
        })
        .await
        .map_err(|e| AsrError::Inference(format!("whisper worker panicked: {e}")))?
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn health(&self) -> serde_json::Value {
        serde_json::json!({
            "status": "ok",
            "backend": self.fingerprint,
            "workers": self.engine.cfg.workers.max(1),
            "busy": self.engine.cfg.workers.max(1) - self.permits.available_permits(),
        })
    }
}

/// `<dir name>:<model.bin size>-<blake3 prefix>`: the same name with other weights is another model.
fn model_identity(dir: &Path) -> std::io::Result<String> {
    let bin = dir.join("model.bin");
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(&bin)?)?;
    let size = std::fs::metadata(&bin)?.len();
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    Ok(format!(
        "{name}:{size}-{}",
        &hasher.finalize().to_hex().as_str()[..12]
    ))
}

fn inference(e: impl std::fmt::Display) -> AsrError {
    AsrError::Inference(e.to_string())
}

impl Engine {
    fn transcribe(&self, input: &AsrInput) -> Result<Transcript, AsrError> {
        let requested = match &input.language {
            Some(l) => normalise_language(l),
            None => self.cfg.forced_language(),
        };
        let mut language = match requested {
            Some(code) if !self.multilingual && code != "en" => {
                return Err(AsrError::InvalidLanguage(format!(
                    "{code}: this model is English-only"
                )));
            }
            Some(code) => {
                if self.multilingual && self.tokenizer.token_to_id(&lang_token(&code)).is_none() {
                    return Err(AsrError::InvalidLanguage(code));
                }
                Some((code, 1.0))
            }
            None if !self.multilingual => Some(("en".to_string(), 1.0)),
            None => None,
        };

        let samples = &input.samples[..];
        let windows = plan_windows(samples, ASR_SAMPLE_RATE, &input.speech, &self.chunking);
        let mut segments = Vec::new();
        let total_sec = samples.len() as f64 / f64::from(ASR_SAMPLE_RATE);
        for window in windows {
            if input.cancelled() {
                return Err(AsrError::Cancelled);
            }
            let before = segments.len();
            let lang = self.window_segments(samples, window, &mut language, &mut segments)?;
            debug_assert!(lang.is_some());
            input.report_window(super::WindowDone {
                audio_sec_done: (window.end as f64 / f64::from(ASR_SAMPLE_RATE)).min(total_sec),
                audio_sec_total: total_sec,
                words: segments[before..]
                    .iter()
                    .flat_map(|s| s.words.iter().cloned())
                    .collect(),
            });
        }
        enforce_monotonic(
            &mut segments,
            samples.len() as f64 / f64::from(ASR_SAMPLE_RATE),
        );
        let (language, language_probability) = match language {
            // A language "detected" in noise that produced no words means nothing.
            Some((_, p)) if segments.is_empty() && p < 1.0 => (String::new(), 0.0),
            other => other.unwrap_or_default(),
        };
        Ok(Transcript {
            language,
            language_probability,
            segments,
        })
    }

    /// Decode one window and append its segments. Detects the language on the first window when
    /// none is forced. Returns the language in force.
    fn window_segments(
        &self,
        samples: &[f32],
        window: Window,
        language: &mut Option<(String, f64)>,
        out: &mut Vec<Segment>,
    ) -> Result<Option<String>, AsrError> {
        let audio = &samples[window.start..window.end];
        let t_start = std::time::Instant::now();
        let mut feats = self.mel.window_features(audio);
        let mel_ms = t_start.elapsed().as_millis();
        let shape = [1, self.mel_bins(), N_FRAMES];
        let view = StorageView::new(&shape, &mut feats, sys::Device::CPU).map_err(inference)?;
        let encoded = self.model.encode(&view, false).map_err(inference)?;
        let encode_ms = t_start.elapsed().as_millis() - mel_ms;

        if language.is_none() {
            let detected = self.model.detect_language(&encoded).map_err(inference)?;
            let best = detected
                .into_iter()
                .next()
                .and_then(|v| v.into_iter().next())
                .ok_or_else(|| AsrError::Inference("language detection returned nothing".into()))?;
            let code = best
                .language
                .trim_start_matches("<|")
                .trim_end_matches("|>")
                .to_string();
            *language = Some((code, f64::from(best.probability)));
        }
        let code = language
            .as_ref()
            .map(|(c, _)| c.clone())
            .unwrap_or_default();

        let mut sot_seq = vec![self.ids.sot];
        if self.multilingual {
            let lang_id = self
                .tokenizer
                .token_to_id(&lang_token(&code))
                .ok_or_else(|| AsrError::InvalidLanguage(code.clone()))?;
            sot_seq.push(lang_id as usize);
            sot_seq.push(self.ids.transcribe);
        }
        let t_decode = std::time::Instant::now();
        let decoded = self.decode_with_fallback(&encoded, &sot_seq, &code)?;
        let decode_ms = t_decode.elapsed().as_millis();

        // Silence: the model says "no speech" and nothing it wrote is confident, or it is
        // nearly sure there is no speech.
        if decoded.no_speech_prob > self.cfg.no_speech_drop_threshold
            || (decoded.no_speech_prob > self.cfg.no_speech_threshold
                && decoded.avg_logprob < self.cfg.log_prob_threshold)
        {
            tracing::debug!(
                no_speech_prob = decoded.no_speech_prob,
                avg_logprob = decoded.avg_logprob,
                "window dropped as no speech"
            );
            return Ok(Some(code));
        }
        tracing::debug!(
            temperature = decoded.temperature,
            avg_logprob = decoded.avg_logprob,
            compression_ratio = decoded.compression_ratio,
            no_speech_prob = decoded.no_speech_prob,
            tokens = decoded.ids.len(),
            mel_ms,
            encode_ms,
            decode_ms,
            "window decoded"
        );

        let text_ids: Vec<usize> = decoded
            .ids
            .iter()
            .copied()
            .filter(|&t| t < self.ids.eot)
            .collect();
        let content_frames = (audio.len() / HOP_LENGTH).min(N_FRAMES);
        let t_align = std::time::Instant::now();
        let mut words = self.align_words(&encoded, &sot_seq, &text_ids, content_frames, &code)?;
        tracing::debug!(align_ms = t_align.elapsed().as_millis(), "window aligned");

        // Loop guard on what survived the fallback: keep at most `max_repeats` of any run.
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        let keep = dedupe_loops(&texts, self.cfg.max_repeats);
        if keep.len() < words.len() {
            tracing::warn!(
                removed = words.len() - keep.len(),
                "repetition loop cut from a window"
            );
            let mut kept = Vec::with_capacity(keep.len());
            let mut keep_iter = keep.into_iter().peekable();
            for (i, w) in words.into_iter().enumerate() {
                if keep_iter.peek() == Some(&i) {
                    keep_iter.next();
                    kept.push(w);
                }
            }
            words = kept;
        }

        let offset = window.start_sec(ASR_SAMPLE_RATE);
        let window_len = window.duration_sec(ASR_SAMPLE_RATE);
        let seg_ranges = self.segment_token_ranges(&decoded.ids);
        // The model doubts there is speech: keep only segments whose words look like real
        // speech (OpenAI's hallucination heuristic). Catches "Thank you."/"ご視聴ありがとう
        // ございました" invented from noise, which can score a passable log-probability.
        let suspect = decoded.no_speech_prob > self.cfg.no_speech_threshold;
        let joiner = if NO_SPACE_LANGUAGES.contains(&code.as_str()) {
            ""
        } else {
            " "
        };
        for range in seg_ranges {
            let seg_words: Vec<Word> = words
                .iter()
                .filter(|w| range.contains(&w.tokens.start))
                .map(|w| Word {
                    word: w.text.trim().to_string(),
                    start_sec: offset + w.start.clamp(0.0, window_len),
                    end_sec: offset + w.end.clamp(0.0, window_len),
                    probability: w.probability.clamp(0.0, 1.0),
                })
                .collect();
            if seg_words.is_empty() || (suspect && is_segment_anomaly(&seg_words)) {
                if !seg_words.is_empty() {
                    tracing::debug!(
                        no_speech_prob = decoded.no_speech_prob,
                        words = seg_words.len(),
                        "segment dropped as likely hallucination"
                    );
                }
                continue;
            }
            let text = if joiner.is_empty() {
                seg_words
                    .iter()
                    .map(|w| w.word.as_str())
                    .collect::<String>()
            } else {
                // The model's own spacing: a word without a leading space continues the last.
                words
                    .iter()
                    .filter(|w| range.contains(&w.tokens.start))
                    .map(|w| w.text.as_str())
                    .collect::<String>()
                    .trim()
                    .to_string()
            };
            out.push(Segment {
                start_sec: seg_words[0].start_sec,
                end_sec: seg_words[seg_words.len() - 1].end_sec,
                text,
                avg_logprob: decoded.avg_logprob,
                no_speech_prob: decoded.no_speech_prob,
                words: seg_words,
            });
        }
        Ok(Some(code))
    }

    fn mel_bins(&self) -> usize {
        self.model.n_mels()
    }

    /// faster-whisper's `generate_with_fallback`: beam search at temperature 0, then sampling at
    /// rising temperatures while the output looks degenerate (too compressible, improbable, or
    /// blatantly looping). If every pass fails, the most probable result that is not too
    /// compressible is kept.
    fn decode_with_fallback(
        &self,
        encoded: &StorageView,
        sot_seq: &[usize],
        lang: &str,
    ) -> Result<Decoded, AsrError> {
        let mut prompt: Vec<String> = Vec::new();
        if self.cfg.filler_prompt
            && let Some(text) = filler_prompt(lang)
        {
            prompt.push(self.token_str(self.ids.sot_prev));
            let enc = self
                .tokenizer
                .encode(format!(" {text}"), false)
                .map_err(inference)?;
            prompt.extend(enc.get_tokens().iter().cloned());
        }
        prompt.extend(sot_seq.iter().map(|&t| self.token_str(t)));

        let mut tried: Vec<Decoded> = Vec::new();
        for &temperature in &self.cfg.temperatures {
            let opts = if temperature > 0.0 {
                WhisperOptions {
                    beam_size: 1,
                    num_hypotheses: self.cfg.best_of.max(1),
                    sampling_topk: 0,
                    sampling_temperature: temperature,
                    ..self.base_options()
                }
            } else {
                WhisperOptions {
                    beam_size: self.cfg.beam_size.max(1),
                    ..self.base_options()
                }
            };
            let res = self
                .model
                .generate(encoded, std::slice::from_ref(&prompt), &opts)
                .map_err(inference)?;
            let r = res
                .into_iter()
                .next()
                .ok_or_else(|| AsrError::Inference("whisper returned no result".into()))?;
            let ids = r.sequences_ids.into_iter().next().unwrap_or_default();
            let score = f64::from(r.scores.first().copied().unwrap_or(f32::NEG_INFINITY));
            // CTranslate2 returns the length-normalised cumulative log-probability.
            let avg_logprob = score * ids.len() as f64 / (ids.len() + 1) as f64;
            let text = self.decode_text(&ids);
            let words: Vec<&str> = text.split_whitespace().collect();
            // Only a blatant loop forces another pass (a few surplus repeats are cut later by the
            // loop guard; every fallback pass costs `best_of` sampled decodings).
            let looping = has_loop(&words, 2 * self.cfg.max_repeats.max(1));
            let d = Decoded {
                compression_ratio: compression_ratio(&text),
                ids,
                avg_logprob,
                no_speech_prob: f64::from(r.no_speech_prob),
                temperature,
            };
            let silent = d.no_speech_prob > self.cfg.no_speech_threshold
                && d.avg_logprob < self.cfg.log_prob_threshold;
            let degenerate = d.compression_ratio > self.cfg.compression_ratio_threshold
                || d.avg_logprob < self.cfg.log_prob_threshold
                || looping;
            if silent || !degenerate {
                return Ok(d);
            }
            tracing::debug!(
                temperature,
                avg_logprob = d.avg_logprob,
                compression_ratio = d.compression_ratio,
                looping,
                "degenerate decoding, trying a higher temperature"
            );
            tried.push(d);
        }
        let threshold = self.cfg.compression_ratio_threshold;
        let best = |pool: Vec<Decoded>| {
            pool.into_iter()
                .max_by(|a, b| a.avg_logprob.total_cmp(&b.avg_logprob))
        };
        let (ok, rest): (Vec<_>, Vec<_>) = tried
            .into_iter()
            .partition(|d| d.compression_ratio <= threshold);
        best(ok)
            .or_else(|| best(rest))
            .ok_or_else(|| AsrError::Inference("no decoding temperatures configured".into()))
    }

    fn base_options(&self) -> WhisperOptions {
        WhisperOptions {
            return_scores: true,
            return_no_speech_prob: true,
            // Whisper's own default; -1 = the model's list of suppressed symbols.
            max_initial_timestamp_index: 50,
            suppress_blank: true,
            suppress_tokens: vec![-1],
            max_length: 448,
            ..WhisperOptions::default()
        }
    }

    fn token_str(&self, id: usize) -> String {
        self.tokenizer.id_to_token(id as u32).unwrap_or_default()
    }

    /// Plain text of generated ids (timestamps and special tokens dropped).
    fn decode_text(&self, ids: &[usize]) -> String {
        let text: Vec<u32> = ids
            .iter()
            .filter(|&&t| t < self.ids.eot)
            .map(|&t| t as u32)
            .collect();
        self.tokenizer
            .decode(&text, true)
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Ranges of text-token indices forming Whisper's segments (split at timestamp tokens).
    fn segment_token_ranges(&self, ids: &[usize]) -> Vec<Range<usize>> {
        let mut ranges = Vec::new();
        let mut k = 0;
        let mut start = 0;
        for &t in ids {
            if t >= self.ids.timestamp_begin {
                if k > start {
                    ranges.push(start..k);
                }
                start = k;
            } else if t < self.ids.eot {
                k += 1;
            }
        }
        if k > start {
            ranges.push(start..k);
        }
        ranges
    }

    /// Word timings from the cross-attention alignment (faster-whisper's `find_alignment`).
    fn align_words(
        &self,
        encoded: &StorageView,
        sot_seq: &[usize],
        text_ids: &[usize],
        num_frames: usize,
        lang: &str,
    ) -> Result<Vec<RawWord>, AsrError> {
        if text_ids.is_empty() || num_frames < 2 {
            return Ok(Vec::new());
        }
        let aligned = self
            .model
            .align(encoded, sot_seq, &[text_ids.to_vec()], &[num_frames], 7)
            .map_err(inference)?;
        let Some(a) = aligned.into_iter().next() else {
            return Ok(Vec::new());
        };
        let mut tokens = text_ids.to_vec();
        tokens.push(self.ids.eot);
        let groups = self.split_to_words(&tokens, lang);
        if groups.len() <= 1 {
            return Ok(Vec::new());
        }
        // Times at which the DTW path moves to the next token.
        let mut jump_times = Vec::with_capacity(tokens.len());
        let mut last_text: Option<i64> = None;
        for p in &a.alignments {
            if last_text != Some(p.token_x) {
                jump_times.push(p.frame_x as f64 / FRAMES_PER_SEC);
                last_text = Some(p.token_x);
            }
        }
        let mut words = Vec::with_capacity(groups.len() - 1);
        let mut boundary = 0;
        for (text, range) in groups.iter().take(groups.len() - 1) {
            let next = boundary + range.len();
            let (Some(&start), Some(&end)) = (jump_times.get(boundary), jump_times.get(next))
            else {
                break;
            };
            let probs = a.text_token_probs.get(boundary..next).unwrap_or(&[]);
            let probability = if probs.is_empty() {
                0.0
            } else {
                probs.iter().map(|&p| f64::from(p)).sum::<f64>() / probs.len() as f64
            };
            words.push(RawWord {
                text: text.clone(),
                tokens: range.clone(),
                start,
                end,
                probability,
            });
            boundary = next;
        }
        let mut words = merge_punctuation(words);
        cap_long_words(&mut words);
        // Texts keep their leading space (it says where the model put word breaks: "Э" + "-э").
        Ok(words
            .into_iter()
            .filter(|w| !w.text.trim().is_empty())
            .collect())
    }

    /// Group tokens into words (faster-whisper's `split_to_word_tokens`): tokens are first
    /// joined until they decode to whole characters (Cyrillic letters span two byte-level
    /// tokens), then a word starts at a space, a punctuation mark or a special token.
    fn split_to_words(&self, tokens: &[usize], lang: &str) -> Vec<(String, Range<usize>)> {
        let mut units: Vec<(String, Range<usize>)> = Vec::new();
        let mut start = 0;
        for i in 0..tokens.len() {
            let piece = if tokens[i] >= self.ids.eot {
                "<|special|>".to_string()
            } else {
                let ids: Vec<u32> = tokens[start..=i].iter().map(|&t| t as u32).collect();
                self.tokenizer.decode(&ids, false).unwrap_or_default()
            };
            let complete = !piece.contains('\u{FFFD}') || i + 1 == tokens.len();
            if tokens[i] >= self.ids.eot && i > start {
                // Flush an incomplete character group before the special token.
                let ids: Vec<u32> = tokens[start..i].iter().map(|&t| t as u32).collect();
                units.push((
                    self.tokenizer.decode(&ids, false).unwrap_or_default(),
                    start..i,
                ));
                units.push((piece, i..i + 1));
                start = i + 1;
            } else if complete {
                units.push((piece, start..i + 1));
                start = i + 1;
            }
        }
        if NO_SPACE_LANGUAGES.contains(&lang) {
            return units;
        }
        let mut words: Vec<(String, Range<usize>)> = Vec::new();
        for (text, range) in units {
            let special = tokens[range.start] >= self.ids.eot;
            let trimmed = text.trim();
            let punctuation =
                !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_punctuation());
            match words.last_mut() {
                Some(last) if !special && !text.starts_with(' ') && !punctuation => {
                    last.0.push_str(&text);
                    last.1.end = range.end;
                }
                _ => words.push((text, range)),
            }
        }
        words
    }
}

fn lang_token(code: &str) -> String {
    format!("<|{code}|>")
}

/// A short text in the target language written with hesitations, used as the "previous text"
/// prompt when `filler_prompt` is on.
fn filler_prompt(lang: &str) -> Option<&'static str> {
    match lang {
        "en" => Some("Um, so, uh, I was, like, you know, thinking... I mean, hmm, okay."),
        "ru" => Some("Ну, э-э, как бы, вот, в общем, мы, типа, начали... Короче, ну, да."),
        _ => None,
    }
}

/// Attach punctuation-only words to their neighbours ("word" + "," → "word,").
fn merge_punctuation(words: Vec<RawWord>) -> Vec<RawWord> {
    let is = |w: &RawWord, set: &str| {
        let t = w.text.trim();
        !t.is_empty() && t.chars().all(|c| set.contains(c))
    };
    let mut out: Vec<RawWord> = Vec::with_capacity(words.len());
    let mut pending_prefix: Option<RawWord> = None;
    for mut w in words {
        if let Some(p) = pending_prefix.take() {
            w.text = format!("{}{}", p.text.trim_end(), w.text.trim_start());
            w.tokens = p.tokens.start..w.tokens.end;
            w.start = p.start.min(w.start);
        }
        // A mark after a space opens something ("(", an opening quote): it joins the next word.
        let opening = w.text.starts_with(' ') && is(&w, PREPEND_PUNCT);
        if !opening && is(&w, APPEND_PUNCT) && !out.is_empty() {
            let last = out.last_mut().expect("checked non-empty");
            last.text.push_str(w.text.trim());
            last.tokens.end = w.tokens.end;
            continue;
        }
        if is(&w, PREPEND_PUNCT) {
            pending_prefix = Some(w);
            continue;
        }
        out.push(w);
    }
    if let Some(p) = pending_prefix {
        out.push(p);
    }
    out
}

/// DTW gives the first word after a pause (and the last before one) the whole pause. Cap word
/// durations at twice the median (itself at most 0.7 s): trim the start of a word that follows a
/// gap, otherwise its end.
fn cap_long_words(words: &mut [RawWord]) {
    let mut durations: Vec<f64> = words
        .iter()
        .map(|w| w.end - w.start)
        .filter(|d| *d > 0.0)
        .collect();
    if durations.is_empty() {
        return;
    }
    durations.sort_by(f64::total_cmp);
    let median = durations[durations.len() / 2].min(0.7);
    let max = 2.0 * median;
    let mut prev_end = 0.0f64;
    for (i, w) in words.iter_mut().enumerate() {
        if w.end - w.start > max {
            if i == 0 || w.start >= prev_end {
                w.start = w.end - max;
            } else {
                w.end = w.start + max;
            }
        }
        prev_end = w.end;
    }
}

/// How unlike real speech a word's timing and confidence are (OpenAI whisper's
/// `word_anomaly_score`): improbable, implausibly short or implausibly long words score.
fn word_anomaly_score(w: &Word) -> f64 {
    let duration = w.end_sec - w.start_sec;
    let mut score = 0.0;
    if w.probability < 0.15 {
        score += 1.0;
    }
    if duration < 0.133 {
        score += (0.133 - duration) * 15.0;
    }
    if duration > 2.0 {
        score += duration - 2.0;
    }
    score
}

/// OpenAI whisper's `is_segment_anomaly`, over the first 8 non-punctuation words.
fn is_segment_anomaly(words: &[Word]) -> bool {
    let real: Vec<&Word> = words
        .iter()
        .filter(|w| !w.word.chars().all(|c| c.is_ascii_punctuation()))
        .take(8)
        .collect();
    let score: f64 = real.iter().map(|w| word_anomaly_score(w)).sum();
    score >= 3.0 || score + 0.01 >= real.len() as f64
}

/// Word times never go backwards and stay inside the recording.
fn enforce_monotonic(segments: &mut [Segment], duration_sec: f64) {
    let mut last = 0.0f64;
    for seg in segments.iter_mut() {
        for w in seg.words.iter_mut() {
            w.start_sec = w.start_sec.clamp(last, duration_sec);
            w.end_sec = w.end_sec.clamp(w.start_sec, duration_sec);
            last = w.start_sec;
        }
        if let (Some(first), Some(lastw)) = (seg.words.first(), seg.words.last()) {
            seg.start_sec = first.start_sec;
            seg.end_sec = lastw.end_sec;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str, start: f64, end: f64, tok: Range<usize>) -> RawWord {
        RawWord {
            text: text.into(),
            tokens: tok,
            start,
            end,
            probability: 0.9,
        }
    }

    #[test]
    fn punctuation_joins_neighbours() {
        let words = vec![
            raw(" Hello", 0.0, 0.4, 0..1),
            raw(",", 0.4, 0.4, 1..2),
            raw(" \"", 0.5, 0.5, 2..3),
            raw("world", 0.5, 0.9, 3..4),
            raw(".\"", 0.9, 0.9, 4..5),
        ];
        let m = merge_punctuation(words);
        let texts: Vec<&str> = m.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, vec![" Hello,", " \"world.\""]);
        assert_eq!(m[1].tokens, 2..5);
    }

    #[test]
    fn long_words_after_a_pause_lose_their_start() {
        let mut w = vec![
            raw("a", 0.0, 0.3, 0..1),
            raw("b", 0.3, 0.6, 1..2),
            raw("c", 0.6, 0.9, 2..3),
            // follows a pause: DTW stretched it back to 1.0
            raw("d", 1.0, 3.0, 3..4),
        ];
        cap_long_words(&mut w);
        assert!((w[3].start - 2.4).abs() < 1e-9 && (w[3].end - 3.0).abs() < 1e-9);
    }

    #[test]
    fn monotonic_and_inside_the_clip() {
        let word = |s: f64, e: f64| Word {
            word: "x".into(),
            start_sec: s,
            end_sec: e,
            probability: 1.0,
        };
        let mut segs = vec![Segment {
            start_sec: 0.0,
            end_sec: 0.0,
            text: "x x x".into(),
            avg_logprob: 0.0,
            no_speech_prob: 0.0,
            words: vec![word(1.0, 1.5), word(0.8, 1.2), word(4.0, 6.0)],
        }];
        enforce_monotonic(&mut segs, 5.0);
        let w = &segs[0].words;
        assert!(w.windows(2).all(|p| p[1].start_sec >= p[0].start_sec));
        assert!(
            w.iter()
                .all(|x| x.end_sec <= 5.0 && x.start_sec <= x.end_sec)
        );
        assert_eq!(segs[0].end_sec, 5.0);
    }
}
