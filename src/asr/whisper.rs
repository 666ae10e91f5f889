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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use async_trait::async_trait;
use ct2rs::sys::{self, StorageView, WhisperOptions};
use ct2rs::tokenizers::hf::Tokenizer;
use tokio::sync::Semaphore;

use super::chunking::{ChunkingConfig, Window, next_window, plan_windows};
use super::features::{HOP_LENGTH, MelExtractor, N_FRAMES};
use super::loop_guard::{compression_ratio, dedupe_loops, has_loop};
use super::memory::{EncodeGate, release_free_heap};
use super::packing::{PackedAudio, PackingConfig};
use super::settings::{ComputeType, WhisperConfig, normalise_language};
use super::{
    ASR_SAMPLE_RATE, AsrError, AsrHealth, AsrInput, Segment, Transcriber, Transcript, Word,
};

/// Encoder output frames per second (one per 20 ms).
const FRAMES_PER_SEC: f64 = 50.0;
/// Seconds per timestamp token step (`<|0.02|>`).
const TIMESTAMP_SEC: f64 = 0.02;
/// Seeks in a row at most (a window decoded, then from its seek point again, and so on): each
/// seek moves at least `MIN_SEEK_SEC`, and real speech needs two in a row at most; this only
/// bounds a misbehaving model.
const MAX_PASSES: usize = 6;
/// A seek shorter than this would decode the same audio again: the window is finished instead.
const MIN_SEEK_SEC: f64 = 1.0;
/// Speech (VAD) needed after a seek point for the rest to be worth decoding, seconds.
const MIN_SPEECH_SEC: f64 = 0.3;
/// When the model stops early with a closing timestamp, speech (VAD) after it needed to decode
/// the rest, seconds: a trailing breath or the pad after the last word is not enough.
const MIN_REST_SPEECH_SEC: f64 = 1.0;
/// The model's last timestamp can be a little early: speech this close after it is its own.
const REST_GUARD_SEC: f64 = 0.3;
/// A window the VAD finds voiced for at least this fraction is speech...
const VOICED_WINDOW_FRACTION: f64 = 0.8;
/// ...when the model wrote at least this many words per second of it (noise hallucinations are
/// one short phrase: "Thank you." over five seconds).
const MIN_SPEECH_WORDS_PER_SEC: f64 = 1.0;
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
    /// A plain text token aligned in the place of a window with no text in a batched alignment.
    dummy_text: usize,
}

struct Engine {
    /// One model per lane, each loaded on its own (its weights packed for the GEMM backend: a
    /// CTranslate2 replica copied from another copies packed MKL buffers byte for byte, which
    /// MKL cannot use), each running `threads` threads.
    models: Vec<sys::Whisper>,
    tokenizer: Tokenizer,
    mel: MelExtractor,
    ids: SpecialIds,
    multilingual: bool,
    cfg: WhisperConfig,
    chunking: ChunkingConfig,
    packing: PackingConfig,
    /// Copies encoding at once (`WHISPER_PARALLEL_ENCODES`).
    encode_gate: EncodeGate,
    /// The mmap threshold is in force: the heap's free pages are also handed back between windows.
    trim_heap: bool,
}

/// One window of the packed timeline to decode.
#[derive(Debug, Clone, Copy)]
struct Job {
    /// Samples on the packed timeline.
    start: usize,
    end: usize,
    /// Seeks in a row that led to this window (0: the previous window was decoded to its end).
    pass: usize,
}

/// What decoding one job gives: its segments (times on the recording) and the rest of the job
/// from the model's seek point, if the model stopped short of its end.
type JobOutcome = (Vec<Segment>, Option<Job>);

/// A stretch of the packed timeline decoded in order, window after window, each window starting
/// where the model left the previous one (Whisper's own seek, as faster-whisper does it): text
/// the model postponed to the next window is decoded there, at no extra encoder pass, instead of
/// in a short window of its own.
#[derive(Debug, Clone, Copy)]
struct Stream {
    /// Next sample to decode.
    cursor: usize,
    /// End of the stretch (exclusive).
    end: usize,
    /// Seeks in a row so far (bounded by `MAX_PASSES`).
    seeks: usize,
    finished: bool,
}

/// The planned windows cut into at most `n` streams of consecutive windows, as even in window
/// count as they divide: one per lane and batch slot, so every stream is decoded side by side
/// with the others, and the fewer the streams the fewer windows end at a stream's end.
fn split_streams(windows: &[Window], n: usize) -> Vec<Stream> {
    let n = n.clamp(1, windows.len().max(1));
    let (base, extra) = (windows.len() / n, windows.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut first = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        if len == 0 {
            break;
        }
        out.push(Stream {
            cursor: windows[first].start,
            end: windows[first + len - 1].end,
            seeks: 0,
            finished: false,
        });
        first += len;
    }
    out
}

/// What to do with a decoded job.
struct JobPlan {
    /// Generated ids to keep (`None`: dropped as no speech).
    keep: Option<Vec<usize>>,
    /// Where to go on from: the seek point (the rest of the window is decoded again, at the
    /// start of the next window). `None`: the window is done to its end.
    rest: Option<Job>,
}

/// What one decoding pass of one window produced.
struct Decoded {
    /// Generated ids: text tokens and timestamp tokens, no prompt, no end-of-text.
    ids: Vec<usize>,
    avg_logprob: f64,
    no_speech_prob: f64,
    compression_ratio: f64,
    /// A word or phrase repeats blatantly (twice `max_repeats`).
    looping: bool,
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
        let trim_heap = super::memory::set_mmap_threshold(cfg.mmap_threshold_kib);
        let workers = cfg.workers.max(1);
        let ct2_cfg = || sys::Config {
            device: sys::Device::CPU,
            compute_type: match cfg.compute_type {
                ComputeType::Int8 => sys::ComputeType::INT8,
                ComputeType::Int8Float32 => sys::ComputeType::INT8_FLOAT32,
                ComputeType::Float32 => sys::ComputeType::FLOAT32,
                ComputeType::Auto => sys::ComputeType::AUTO,
            },
            device_indices: vec![0],
            num_threads_per_replica: cfg.effective_threads(),
            ..Default::default()
        };
        let models = (0..workers)
            .map(|_| sys::Whisper::new(&dir, ct2_cfg()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unavailable(format!("CTranslate2 could not load it: {e}")))?;
        let model = &models[0];
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
            dummy_text: id(".")?,
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
        let packing = PackingConfig {
            max_silence_sec: cfg.pack_silence_sec,
            ..PackingConfig::default()
        };
        for code in &cfg.languages {
            if multilingual && tokenizer.token_to_id(&lang_token(code)).is_none() {
                return Err(unavailable(format!(
                    "WHISPER_LANGUAGES names {code:?}, a language this model does not know"
                )));
            }
        }
        tracing::info!(%fingerprint, workers, threads = cfg.effective_threads(), "whisper model loaded");
        Ok(Self {
            engine: Arc::new(Engine {
                models,
                tokenizer,
                mel,
                ids,
                multilingual,
                encode_gate: EncodeGate::new(cfg.parallel_encodes),
                cfg,
                chunking,
                packing,
                trim_heap,
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

    fn health(&self) -> AsrHealth {
        let workers = self.engine.cfg.workers.max(1);
        AsrHealth {
            workers: Some(workers),
            busy: Some(workers - self.permits.available_permits()),
            ..AsrHealth::ok(self.fingerprint.clone())
        }
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
        let mut language = self.requested_language(input)?;
        let samples = &input.samples[..];
        let sr = f64::from(ASR_SAMPLE_RATE);
        let total_sec = samples.len() as f64 / sr;
        // Long silences cut out; windows planned on the packed speech, cut in its pauses.
        let packed = PackedAudio::pack(samples, ASR_SAMPLE_RATE, &input.speech, &self.packing);
        let windows = plan_windows(
            &packed.samples,
            ASR_SAMPLE_RATE,
            &packed.speech,
            &self.chunking,
        );
        tracing::debug!(
            windows = windows.len(),
            packed_sec = packed.duration_sec(),
            removed_sec = packed.removed_sec(samples.len()),
            "speech packed"
        );
        // Each stream is a stretch of the talk decoded window after window, every window
        // starting at the previous one's seek point; lanes (model copies) decode streams side by
        // side, a lane's streams batched into one `generate` call per step.
        let mut streams = split_streams(&windows, self.models.len() * self.cfg.batch_size.max(1));
        let mut segments = Vec::new();
        let mut last_start = 0.0;
        let mut emit = |window_end: usize, mut segs: Vec<Segment>| {
            enforce_monotonic(&mut segs, total_sec, &mut last_start);
            let done = packed.to_original_sec(window_end as f64 / sr, true);
            input.report_window(super::WindowDone {
                audio_sec_done: done.min(total_sec),
                audio_sec_total: total_sec,
                words: segs.iter().flat_map(|s| s.words.iter().cloned()).collect(),
            });
            segments.extend(segs);
        };
        // Without a language the first window detects it; every later one is decoded in it.
        if language.is_none() && !streams.is_empty() {
            if input.cancelled() {
                return Err(AsrError::Cancelled);
            }
            let first = &mut streams[..1];
            for (_, window_end, segs) in
                self.step(&self.models[0], &packed, first, &mut language)?
            {
                emit(window_end, segs);
            }
        }
        self.decode_in_lanes(&packed, streams, &language, input, &mut emit)?;
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

    /// Decodes the streams on one thread per model copy (each copy has its own CTranslate2
    /// threads, so a lone analysis keeps every core busy while concurrent analyses queue on the
    /// copies instead of oversubscribing them), stream `i` on lane `i % lanes`. Each window's
    /// segments go to `emit` in the talk's order: a stream's as soon as every stream before it
    /// is finished.
    fn decode_in_lanes(
        &self,
        packed: &PackedAudio,
        streams: Vec<Stream>,
        language: &Option<(String, f64)>,
        input: &AsrInput,
        emit: &mut dyn FnMut(usize, Vec<Segment>),
    ) -> Result<(), AsrError> {
        enum Msg {
            Window(usize, usize, Vec<Segment>),
            Finished(usize),
        }
        let count = streams.len();
        let lanes = self.models.len().min(count).max(1);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<Result<Msg, AsrError>>();
        std::thread::scope(|scope| {
            for (lane, model) in self.models[..lanes].iter().enumerate() {
                let tx = tx.clone();
                let stop = &stop;
                let (ids, mut mine): (Vec<usize>, Vec<Stream>) = streams
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % lanes == lane)
                    .map(|(i, s)| (i, *s))
                    .unzip();
                scope.spawn(move || {
                    let mut lang = language.clone();
                    let mut reported = vec![false; mine.len()];
                    loop {
                        for (k, s) in mine.iter().enumerate() {
                            if s.finished && !reported[k] {
                                reported[k] = true;
                                if tx.send(Ok(Msg::Finished(ids[k]))).is_err() {
                                    return;
                                }
                            }
                        }
                        if reported.iter().all(|&r| r) || stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if input.cancelled() {
                            let _ = tx.send(Err(AsrError::Cancelled));
                            return;
                        }
                        match self.step(model, packed, &mut mine, &mut lang) {
                            Ok(outs) => {
                                for (k, window_end, segs) in outs {
                                    if tx.send(Ok(Msg::Window(ids[k], window_end, segs))).is_err() {
                                        return;
                                    }
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        }
                    }
                });
            }
            drop(tx);
            let mut pending: Vec<Vec<(usize, Vec<Segment>)>> = vec![Vec::new(); count];
            let mut finished = vec![false; count];
            let mut due = 0;
            for msg in rx {
                match msg {
                    Ok(Msg::Window(i, end, segs)) => pending[i].push((end, segs)),
                    Ok(Msg::Finished(i)) => finished[i] = true,
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
                while due < count {
                    for (end, segs) in pending[due].drain(..) {
                        emit(end, segs);
                    }
                    if !finished[due] {
                        break;
                    }
                    due += 1;
                }
            }
            Ok(())
        })
    }

    /// One step of a lane: the next window of each of its unfinished streams, decoded in one
    /// batch. Each stream then continues from its window's seek point (where the model's last
    /// complete timestamp left it: text it postponed or skipped is decoded at the start of the
    /// stream's next window) or from the window's end. Returns, per window, its stream's index
    /// in `streams`, its end and its segments.
    fn step(
        &self,
        model: &sys::Whisper,
        packed: &PackedAudio,
        streams: &mut [Stream],
        language: &mut Option<(String, f64)>,
    ) -> Result<Vec<(usize, usize, Vec<Segment>)>, AsrError> {
        let mut owners = Vec::new();
        let mut jobs = Vec::new();
        for (k, s) in streams.iter_mut().enumerate() {
            if s.finished {
                continue;
            }
            match next_window(
                &packed.samples,
                ASR_SAMPLE_RATE,
                &packed.speech,
                s.cursor,
                s.end,
                &self.chunking,
            ) {
                Some(w) => {
                    owners.push(k);
                    jobs.push(Job {
                        start: w.start,
                        end: w.end,
                        pass: s.seeks,
                    });
                }
                None => s.finished = true,
            }
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let decoded = self.decode_jobs(model, packed, &jobs, language)?;
        let mut out = Vec::with_capacity(jobs.len());
        for ((k, job), (segs, rest)) in owners.into_iter().zip(&jobs).zip(decoded) {
            let s = &mut streams[k];
            match rest {
                Some(r) => {
                    s.cursor = r.start;
                    s.seeks = r.pass;
                }
                None => {
                    s.cursor = job.end;
                    s.seeks = 0;
                }
            }
            s.finished = s.cursor >= s.end;
            out.push((k, job.end, segs));
        }
        Ok(out)
    }

    /// The language asked for (request, then configuration), checked against the model;
    /// `None` = detect.
    fn requested_language(&self, input: &AsrInput) -> Result<Option<(String, f64)>, AsrError> {
        let requested = match &input.language {
            Some(l) => normalise_language(l),
            None => self.cfg.forced_language(),
        };
        Ok(match requested {
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
        })
    }

    /// Decodes a batch of jobs (one `generate` call for all of them). Returns each job's
    /// segments, times on the recording, and where the model wants to go on: the rest of the
    /// job from its seek point (Whisper's seek), if any.
    fn decode_jobs(
        &self,
        model: &sys::Whisper,
        packed: &PackedAudio,
        jobs: &[Job],
        language: &mut Option<(String, f64)>,
    ) -> Result<Vec<JobOutcome>, AsrError> {
        let t0 = std::time::Instant::now();
        let encoded = self.encode(model, packed, jobs)?;
        let encode_ms = t0.elapsed().as_millis();
        if language.is_none() {
            *language = Some(self.detect_language(model, &encoded)?);
        }
        let code = language
            .as_ref()
            .map(|(c, _)| c.clone())
            .unwrap_or_default();
        let sot_seq = self.sot_sequence(&code)?;
        let prompt = self.prompt(&sot_seq, &code)?;
        let t1 = std::time::Instant::now();
        let first = self.generate(model, &encoded, &prompt, jobs.len(), 0.0)?;
        tracing::debug!(
            batch = jobs.len(),
            encode_ms,
            decode_ms = t1.elapsed().as_millis(),
            "batch decoded"
        );
        // Degenerate results are decoded again alone at rising temperatures (a batch of one
        // keeps its encoding).
        let mut results: Vec<(Decoded, Option<StorageView<'static>>)> = Vec::new();
        for (job, d) in jobs.iter().zip(first) {
            if self.acceptable(&d) || self.cfg.temperatures.len() < 2 {
                results.push((d, None));
            } else if jobs.len() == 1 {
                let best = self.decode_with_fallback(model, &encoded, &prompt, d)?;
                results.push((best, None));
            } else {
                let own = self.encode(model, packed, std::slice::from_ref(job))?;
                let best = self.decode_with_fallback(model, &own, &prompt, d)?;
                results.push((best, Some(own)));
            }
        }

        let mut rests = Vec::with_capacity(jobs.len());
        let mut kept: Vec<Option<Vec<usize>>> = Vec::with_capacity(jobs.len());
        for (job, (d, _)) in jobs.iter().zip(&results) {
            let plan = self.plan_job(packed, job, d);
            rests.push(plan.rest);
            kept.push(plan.keep);
        }

        let (texts, alignments) =
            self.align_batch(model, &encoded, &sot_seq, jobs, &results, &kept)?;
        let mut out = Vec::with_capacity(jobs.len());
        for (i, (job, rest)) in jobs.iter().zip(rests).enumerate() {
            let segs = match (&kept[i], &alignments[i]) {
                (Some(ids), Some(a)) => {
                    let words = self.words_from_alignment(a, &texts[i], &code);
                    self.build_segments(packed, job, &results[i].0, ids, words, &code)
                }
                _ => Vec::new(),
            };
            out.push((segs, rest));
        }
        Ok(out)
    }

    /// Word timings of a decoded batch: one batched alignment for the jobs decoded in the batch,
    /// one each for those decoded again alone (with their own encoding). Returns each job's text
    /// tokens (what it keeps, without the end token) and their alignment.
    #[allow(clippy::type_complexity)]
    fn align_batch(
        &self,
        model: &sys::Whisper,
        encoded: &StorageView<'static>,
        sot_seq: &[usize],
        jobs: &[Job],
        results: &[(Decoded, Option<StorageView<'static>>)],
        kept: &[Option<Vec<usize>>],
    ) -> Result<(Vec<Vec<usize>>, Vec<Option<sys::WhisperAlignmentResult>>), AsrError> {
        let frames: Vec<usize> = jobs
            .iter()
            .map(|j| ((j.end - j.start) / HOP_LENGTH).min(N_FRAMES))
            .collect();
        let texts: Vec<Vec<usize>> = kept
            .iter()
            .map(|k| {
                k.as_ref()
                    .map(|ids| ids.iter().copied().filter(|&t| t < self.ids.eot).collect())
                    .unwrap_or_default()
            })
            .collect();
        let batched: Vec<bool> = results
            .iter()
            .zip(&texts)
            .map(|((_, own), t)| own.is_none() && !t.is_empty())
            .collect();
        let mut alignments: Vec<Option<sys::WhisperAlignmentResult>> = if batched.iter().any(|&b| b)
        {
            let inputs: Vec<Vec<usize>> = texts
                .iter()
                .zip(&batched)
                .map(|(t, &b)| {
                    if b {
                        t.clone()
                    } else {
                        vec![self.ids.dummy_text]
                    }
                })
                .collect();
            self.align(model, encoded, sot_seq, &inputs, &frames)?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            jobs.iter().map(|_| None).collect()
        };
        for (i, (_, own)) in results.iter().enumerate() {
            if let Some(own) = own
                && !texts[i].is_empty()
            {
                alignments[i] = self
                    .align(
                        model,
                        own,
                        sot_seq,
                        std::slice::from_ref(&texts[i]),
                        &frames[i..=i],
                    )?
                    .into_iter()
                    .next();
            }
        }
        Ok((texts, alignments))
    }

    /// Log-mel features of each job's audio, encoded in one batch.
    fn encode(
        &self,
        model: &sys::Whisper,
        packed: &PackedAudio,
        jobs: &[Job],
    ) -> Result<StorageView<'static>, AsrError> {
        let mut feats = Vec::with_capacity(jobs.len() * self.mel_bins() * N_FRAMES);
        for j in jobs {
            feats.extend(self.mel.window_features(&packed.samples[j.start..j.end]));
        }
        let shape = [jobs.len(), self.mel_bins(), N_FRAMES];
        let view = StorageView::new(&shape, &mut feats, sys::Device::CPU).map_err(inference)?;
        if self.trim_heap {
            release_free_heap();
        }
        let _turn = self.encode_gate.enter();
        model.encode(&view, false).map_err(inference)
    }

    /// The most probable of the served languages (`languages`, or all when empty) over the
    /// batch's windows, with its share of the served languages' probability.
    fn detect_language(
        &self,
        model: &sys::Whisper,
        encoded: &StorageView,
    ) -> Result<(String, f64), AsrError> {
        let detected = model.detect_language(encoded).map_err(inference)?;
        let mut totals: Vec<(String, f64)> = Vec::new();
        let mut raw_best = (String::new(), 0.0f64);
        for per_window in &detected {
            for r in per_window {
                let code = r.language.trim_start_matches("<|").trim_end_matches("|>");
                if raw_best.1 < f64::from(r.probability) {
                    raw_best = (code.to_string(), f64::from(r.probability));
                }
                if !self.cfg.languages.is_empty() && !self.cfg.languages.iter().any(|l| l == code) {
                    continue;
                }
                match totals.iter_mut().find(|(c, _)| c == code) {
                    Some(t) => t.1 += f64::from(r.probability),
                    None => totals.push((code.to_string(), f64::from(r.probability))),
                }
            }
        }
        let sum: f64 = totals.iter().map(|(_, p)| p).sum();
        let (code, p) = totals
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| {
                AsrError::Inference("language detection found none of the served languages".into())
            })?;
        let share = if sum > 0.0 { p / sum } else { 0.0 };
        tracing::debug!(
            language = %code,
            probability = share,
            model_first_choice = %raw_best.0,
            model_first_probability = raw_best.1,
            "language detected"
        );
        Ok((code, share))
    }

    /// `<|startoftranscript|><|lang|><|transcribe|>` (just the first for English-only models).
    fn sot_sequence(&self, code: &str) -> Result<Vec<usize>, AsrError> {
        let mut sot_seq = vec![self.ids.sot];
        if self.multilingual {
            let lang_id = self
                .tokenizer
                .token_to_id(&lang_token(code))
                .ok_or_else(|| AsrError::InvalidLanguage(code.to_string()))?;
            sot_seq.push(lang_id as usize);
            sot_seq.push(self.ids.transcribe);
        }
        Ok(sot_seq)
    }

    /// The decoder prompt: the optional filler prompt as "previous text", then the start sequence.
    fn prompt(&self, sot_seq: &[usize], lang: &str) -> Result<Vec<String>, AsrError> {
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
        Ok(prompt)
    }

    /// What to keep of a decoded job and where to go on (Whisper's seek rule, then the VAD).
    ///
    /// Whisper ends a window with two timestamps in a row when it leaves the rest for the next
    /// window: the text after the last pair is incomplete and is decoded again from that time.
    /// The model may also just stop (one closing timestamp) long before the speech ends; when
    /// the VAD hears speech after the last timestamp, that rest is decoded too.
    fn plan_job(&self, packed: &PackedAudio, job: &Job, d: &Decoded) -> JobPlan {
        let sr = f64::from(ASR_SAMPLE_RATE);
        let job_start_sec = job.start as f64 / sr;
        let job_end_sec = job.end as f64 / sr;
        let speech_sec = |from: f64, to: f64| -> f64 {
            packed
                .speech
                .iter()
                .map(|s| (s.end_sec.min(to) - s.start_sec.max(from)).max(0.0))
                .sum()
        };
        let job_speech = speech_sec(job_start_sec, job_end_sec);
        let voiced = job_speech / (job_end_sec - job_start_sec).max(1e-9);
        let words_per_sec =
            self.decode_text(&d.ids).split_whitespace().count() as f64 / job_speech.max(1e-9);
        let model_silent = d.no_speech_prob > self.cfg.no_speech_drop_threshold
            || (d.no_speech_prob > self.cfg.no_speech_threshold
                && d.avg_logprob < self.cfg.log_prob_threshold);
        // The VAD hears voice nearly the whole way through and the model wrote confident text
        // at a speaking rate: that is speech, whatever the no-speech probability says.
        let vad_contradicts = voiced >= VOICED_WINDOW_FRACTION
            && d.avg_logprob >= self.cfg.log_prob_threshold
            && words_per_sec >= MIN_SPEECH_WORDS_PER_SEC;
        if model_silent && !vad_contradicts {
            tracing::debug!(
                no_speech_prob = d.no_speech_prob,
                avg_logprob = d.avg_logprob,
                voiced,
                words_per_sec,
                start_sec = job_start_sec,
                "window dropped as no speech"
            );
            return JobPlan {
                keep: None,
                rest: None,
            };
        }
        if model_silent {
            tracing::debug!(
                no_speech_prob = d.no_speech_prob,
                voiced,
                words_per_sec,
                "no-speech verdict overruled by the VAD"
            );
        }

        tracing::debug!(
            start_sec = job_start_sec,
            end_sec = job_end_sec,
            pass = job.pass,
            temperature = d.temperature,
            avg_logprob = d.avg_logprob,
            compression_ratio = d.compression_ratio,
            no_speech_prob = d.no_speech_prob,
            tokens = d.ids.len(),
            "window decoded"
        );
        let ids = &d.ids;
        let (keep_len, seek_sec) = match whisper_seek(ids, self.ids.timestamp_begin) {
            Seek::Postponed { keep, at_sec } => (keep, Some(at_sec)),
            Seek::Consumed { closing_sec } => {
                // Whole window consumed by Whisper's rule; the VAD may disagree.
                let rest = closing_sec.filter(|&c| {
                    speech_sec(job_start_sec + c + REST_GUARD_SEC, job_end_sec)
                        >= MIN_REST_SPEECH_SEC
                });
                if let Some(c) = rest {
                    tracing::debug!(
                        stopped_at_sec = job_start_sec + c,
                        window_end_sec = job_end_sec,
                        "model stopped before the speech ended: decoding the rest"
                    );
                }
                (ids.len(), rest)
            }
        };
        let rest = seek_sec.and_then(|c| {
            let start = job.start + (c * sr) as usize;
            let progressed = start >= job.start + (MIN_SEEK_SEC * sr) as usize;
            let speech_left = speech_sec(start as f64 / sr, job_end_sec) >= MIN_SPEECH_SEC;
            (progressed && speech_left && job.pass + 1 < MAX_PASSES && start < job.end).then_some(
                Job {
                    start,
                    end: job.end,
                    pass: job.pass + 1,
                },
            )
        });
        // Text the model postponed is dropped only when its rest really is decoded again.
        let keep_len = if rest.is_some() { keep_len } else { ids.len() };
        JobPlan {
            keep: Some(ids[..keep_len].to_vec()),
            rest,
        }
    }

    /// Segments of one decoded job from its kept tokens and word timings, on the recording's
    /// timeline; the loop guard and the hallucination check applied.
    fn build_segments(
        &self,
        packed: &PackedAudio,
        job: &Job,
        decoded: &Decoded,
        ids: &[usize],
        mut words: Vec<RawWord>,
        code: &str,
    ) -> Vec<Segment> {
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

        let sr = f64::from(ASR_SAMPLE_RATE);
        let offset = job.start as f64 / sr;
        let job_len = (job.end - job.start) as f64 / sr;
        // The model doubts there is speech: keep only segments whose words look like real
        // speech (OpenAI's hallucination heuristic). Catches "Thank you."/"ご視聴ありがとう
        // ございました" invented from noise, which can score a passable log-probability.
        let suspect = decoded.no_speech_prob > self.cfg.no_speech_threshold;
        let joiner = if NO_SPACE_LANGUAGES.contains(&code) {
            ""
        } else {
            " "
        };
        let mut out = Vec::new();
        for range in self.segment_token_ranges(ids) {
            let seg_words: Vec<Word> = words
                .iter()
                .filter(|w| range.contains(&w.tokens.start))
                .map(|w| {
                    let (start_sec, end_sec) = packed.word_to_original(
                        offset + w.start.clamp(0.0, job_len),
                        offset + w.end.clamp(0.0, job_len),
                    );
                    Word {
                        word: w.text.trim().to_string(),
                        start_sec,
                        end_sec,
                        probability: w.probability.clamp(0.0, 1.0),
                    }
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
        out
    }

    fn mel_bins(&self) -> usize {
        self.models[0].n_mels()
    }

    /// One `generate` call for a batch of `n` encoded windows at one temperature (0 = beam
    /// search, otherwise `best_of` samples).
    fn generate(
        &self,
        model: &sys::Whisper,
        encoded: &StorageView,
        prompt: &[String],
        n: usize,
        temperature: f32,
    ) -> Result<Vec<Decoded>, AsrError> {
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
        let prompts = vec![prompt.to_vec(); n];
        let res = model
            .generate(encoded, &prompts, &opts)
            .map_err(inference)?;
        if res.len() != n {
            return Err(AsrError::Inference(format!(
                "whisper returned {} results for {n} windows",
                res.len()
            )));
        }
        Ok(res
            .into_iter()
            .map(|r| {
                let ids = r.sequences_ids.into_iter().next().unwrap_or_default();
                let score = f64::from(r.scores.first().copied().unwrap_or(f32::NEG_INFINITY));
                // CTranslate2 returns the length-normalised cumulative log-probability.
                let avg_logprob = score * ids.len() as f64 / (ids.len() + 1) as f64;
                let text = self.decode_text(&ids);
                Decoded {
                    compression_ratio: compression_ratio(&text),
                    looping: has_loop(
                        &text.split_whitespace().collect::<Vec<_>>(),
                        2 * self.cfg.max_repeats.max(1),
                    ),
                    ids,
                    avg_logprob,
                    no_speech_prob: f64::from(r.no_speech_prob),
                    temperature,
                }
            })
            .collect())
    }

    /// Whether a decoding is good enough to keep: silence (left to the no-speech check) or not
    /// degenerate (too compressible, improbable, or blatantly looping; a few surplus repeats are
    /// cut later by the loop guard, and every fallback pass costs `best_of` sampled decodings).
    fn acceptable(&self, d: &Decoded) -> bool {
        let silent = d.no_speech_prob > self.cfg.no_speech_threshold
            && d.avg_logprob < self.cfg.log_prob_threshold;
        let degenerate = d.compression_ratio > self.cfg.compression_ratio_threshold
            || d.avg_logprob < self.cfg.log_prob_threshold
            || d.looping;
        silent || !degenerate
    }

    /// faster-whisper's `generate_with_fallback` after a degenerate temperature-0 result
    /// (`first`): sampling at rising temperatures while the output looks degenerate. If every
    /// pass fails, the most probable result that is not too compressible is kept.
    fn decode_with_fallback(
        &self,
        model: &sys::Whisper,
        encoded: &StorageView,
        prompt: &[String],
        first: Decoded,
    ) -> Result<Decoded, AsrError> {
        let mut tried = vec![first];
        for &temperature in self.cfg.temperatures.iter().skip(1) {
            tracing::debug!(
                temperature,
                avg_logprob = tried[tried.len() - 1].avg_logprob,
                compression_ratio = tried[tried.len() - 1].compression_ratio,
                looping = tried[tried.len() - 1].looping,
                "degenerate decoding, trying a higher temperature"
            );
            let d = self
                .generate(model, encoded, prompt, 1, temperature)?
                .into_iter()
                .next()
                .ok_or_else(|| AsrError::Inference("whisper returned no result".into()))?;
            if self.acceptable(&d) {
                return Ok(d);
            }
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

    /// Cross-attention alignment of a batch (faster-whisper's `find_alignment`): one result per
    /// text; every text must be non-empty.
    fn align(
        &self,
        model: &sys::Whisper,
        encoded: &StorageView,
        sot_seq: &[usize],
        texts: &[Vec<usize>],
        num_frames: &[usize],
    ) -> Result<Vec<sys::WhisperAlignmentResult>, AsrError> {
        let frames: Vec<usize> = num_frames.iter().map(|&f| f.max(2)).collect();
        let aligned = model
            .align(encoded, sot_seq, texts, &frames, 7)
            .map_err(inference)?;
        if aligned.len() != texts.len() {
            return Err(AsrError::Inference(format!(
                "alignment returned {} results for {} texts",
                aligned.len(),
                texts.len()
            )));
        }
        Ok(aligned)
    }

    /// Word timings (seconds from the window start) from a text's alignment.
    fn words_from_alignment(
        &self,
        a: &sys::WhisperAlignmentResult,
        text_ids: &[usize],
        lang: &str,
    ) -> Vec<RawWord> {
        if text_ids.is_empty() {
            return Vec::new();
        }
        let mut tokens = text_ids.to_vec();
        tokens.push(self.ids.eot);
        let groups = self.split_to_words(&tokens, lang);
        if groups.len() <= 1 {
            return Vec::new();
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
        words
            .into_iter()
            .filter(|w| !w.text.trim().is_empty())
            .collect()
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

/// Where Whisper's own loop would go on after decoding a window.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seek {
    /// The output ends with two timestamps in a row (or with text after them that has no
    /// closing timestamp): the model left the rest for the next window. Keep `keep` ids, decode
    /// again from `at_sec`.
    Postponed { keep: usize, at_sec: f64 },
    /// The window is done (the last segment closed with one timestamp, or there are no pairs);
    /// `closing_sec` is the last segment's closing timestamp, if it has one.
    Consumed { closing_sec: Option<f64> },
}

/// faster-whisper's rule (`generate_segments`): `single_timestamp_ending` consumes the window,
/// otherwise the seek goes to the last pair of consecutive timestamps.
fn whisper_seek(ids: &[usize], timestamp_begin: usize) -> Seek {
    let is_ts = |t: usize| t >= timestamp_begin;
    let ts_sec = |t: usize| (t - timestamp_begin) as f64 * TIMESTAMP_SEC;
    let n = ids.len();
    let single_ending = n >= 2 && !is_ts(ids[n - 2]) && is_ts(ids[n - 1]);
    match (1..n).rev().find(|&i| is_ts(ids[i]) && is_ts(ids[i - 1])) {
        Some(i) if !single_ending => Seek::Postponed {
            keep: i,
            at_sec: ts_sec(ids[i - 1]),
        },
        _ => Seek::Consumed {
            closing_sec: ids.last().copied().filter(|&t| is_ts(t)).map(ts_sec),
        },
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

/// Word times never go backwards and stay inside the recording. `last` is the start of the
/// previous word (carried from window to window).
fn enforce_monotonic(segments: &mut [Segment], duration_sec: f64, last: &mut f64) {
    for seg in segments.iter_mut() {
        for w in seg.words.iter_mut() {
            w.start_sec = w.start_sec.clamp(*last, duration_sec);
            w.end_sec = w.end_sec.clamp(w.start_sec, duration_sec);
            *last = w.start_sec;
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

    #[test]
    fn streams_are_runs_of_consecutive_windows() {
        let w = |a: usize, b: usize| Window { start: a, end: b };
        let windows = [w(0, 10), w(12, 20), w(25, 30), w(31, 40), w(41, 50)];
        let bounds = |n| -> Vec<(usize, usize)> {
            split_streams(&windows, n)
                .iter()
                .map(|s| (s.cursor, s.end))
                .collect()
        };
        assert_eq!(bounds(1), vec![(0, 50)]);
        assert_eq!(bounds(2), vec![(0, 30), (31, 50)]);
        // More slots than windows: one window per stream.
        assert_eq!(bounds(8).len(), 5);
        assert_eq!(bounds(8)[4], (41, 50));
        assert!(split_streams(&[], 4).is_empty());
    }

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
    fn seek_follows_whispers_timestamps() {
        const TB: usize = 1000;
        let ts = |sec: f64| TB + (sec / TIMESTAMP_SEC).round() as usize;
        // "<0> a b <5><5> c <9>": the last segment is closed, the window is done.
        let done = [ts(0.0), 1, 2, ts(5.0), ts(5.0), 3, ts(9.0)];
        assert_eq!(
            whisper_seek(&done, TB),
            Seek::Consumed {
                closing_sec: Some(9.0)
            }
        );
        // "<0> a <5><5> c": the text after the pair has no end; decode again from 5 s.
        let open = [ts(0.0), 1, ts(5.0), ts(5.0), 3];
        assert_eq!(
            whisper_seek(&open, TB),
            Seek::Postponed {
                keep: 3,
                at_sec: 5.0
            }
        );
        // "<0> a <5><5>": ends on a pair, the rest is left for later.
        let pair = [ts(0.0), 1, ts(5.0), ts(5.0)];
        assert_eq!(
            whisper_seek(&pair, TB),
            Seek::Postponed {
                keep: 3,
                at_sec: 5.0
            }
        );
        // No timestamps at all: nothing to seek by.
        assert_eq!(
            whisper_seek(&[1, 2, 3], TB),
            Seek::Consumed { closing_sec: None }
        );
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
        enforce_monotonic(&mut segs, 5.0, &mut 0.0);
        let w = &segs[0].words;
        assert!(w.windows(2).all(|p| p[1].start_sec >= p[0].start_sec));
        assert!(
            w.iter()
                .all(|x| x.end_sec <= 5.0 && x.start_sec <= x.end_sec)
        );
        assert_eq!(segs[0].end_sec, 5.0);
    }
}
