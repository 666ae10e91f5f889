//! One analysis, stage by stage: decode → VAD → ASR → analysis → feedback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::progress::{AsrProgress, Progress, ProgressEvent, Stage};
use crate::asr::{AsrError, AsrInput, AsrWatcher, Transcriber};
use crate::audio::{AudioError, DecodeLimits};
use crate::coach::Coach;
use crate::domain::{AnalysisConfig, AnalysisInput};
use crate::report::{ANALYSIS_VERSION, CacheInfo, Report, TranscriptView};

/// What can stop an analysis. The HTTP layer maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Asr(#[from] AsrError),
    #[error("the analysis took longer than {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Rejected(#[from] super::Rejection),
    /// The same error, shared by every request that waited for one analysis.
    #[error(transparent)]
    Shared(Arc<AnalysisError>),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The stages' shared, immutable parts.
pub struct Stages {
    pub decode_limits: DecodeLimits,
    pub vad: crate::audio::vad::VadConfig,
    pub analysis: AnalysisConfig,
    pub transcriber: Arc<dyn Transcriber>,
    pub coach: Arc<dyn Coach>,
}

/// One analysis request.
#[derive(Clone)]
pub struct Job {
    pub path: PathBuf,
    pub content_hash: String,
    pub language: Option<String>,
    /// Told when each stage starts and after every recogniser window; may cancel the run
    /// (jobs, the CLI's progress bar). `None`: nobody listens and nothing cancels.
    pub progress: Option<Progress>,
    /// Longest wait for an analysis slot; `None`: `QUEUE_TIMEOUT_SEC` (jobs wait longer).
    pub queue_timeout: Option<Duration>,
    /// An analysis slot the caller already holds (a Redis job's worker takes a job only once it
    /// has one); used instead of queueing for one. `None`: queue as usual.
    pub slot: Option<HeldSlot>,
}

/// An admission permit handed into [`Job`] (taken once by whoever leads the analysis).
pub type HeldSlot = Arc<std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>;

impl Stages {
    /// The stages as the configuration describes them, around the given recogniser and coach.
    pub fn from_config(
        config: &crate::config::Config,
        transcriber: Arc<dyn Transcriber>,
        coach: Arc<dyn Coach>,
    ) -> Self {
        Self {
            decode_limits: DecodeLimits {
                max_duration_sec: config.audio.max_duration_sec,
                timeout: config.audio.decode_timeout,
                ffmpeg_path: config.audio.ffmpeg_path.clone(),
            },
            vad: config.vad.clone(),
            analysis: config.analysis.clone(),
            transcriber,
            coach,
        }
    }

    /// Hash of everything besides the upload that changes the report: the analysis version,
    /// the recogniser (model and decoding settings), VAD and analysis settings, the lexicon.
    pub fn fingerprint(&self) -> String {
        let text = format!(
            "{ANALYSIS_VERSION}|{}|{:?}|{}|{:?}",
            self.transcriber.fingerprint(),
            self.vad,
            self.analysis.fingerprint(),
            (
                self.decode_limits.max_duration_sec,
                self.decode_limits.ffmpeg_path.is_some()
            ),
        );
        blake3::hash(text.as_bytes()).to_hex().to_string()
    }

    /// The decode stage: the upload as 16 kHz mono samples, on the blocking pool.
    async fn decode(&self, job: &Job) -> Result<crate::audio::DecodedAudio, AnalysisError> {
        let t = Instant::now();
        let limits = self.decode_limits.clone();
        let path = job.path.clone();
        let decoded = blocking(move || crate::audio::decode_file(&path, &limits)).await??;
        tracing::info!(
            duration_sec = decoded.info.duration_sec,
            container = %decoded.info.container,
            codec = %decoded.info.codec,
            elapsed_ms = t.elapsed().as_millis() as u64,
            "decoded"
        );
        Ok(decoded)
    }

    /// The recognition stage. With no speech the recogniser is not asked: it could only invent
    /// words.
    async fn transcribe(
        &self,
        job: &Job,
        samples: &Arc<[f32]>,
        speech: &[crate::domain::signal::Span],
    ) -> Result<crate::domain::transcript::Transcript, AnalysisError> {
        let t = Instant::now();
        let transcript = if speech.is_empty() {
            crate::domain::transcript::Transcript {
                language: job.language.clone().unwrap_or_default(),
                language_probability: 0.0,
                segments: Vec::new(),
            }
        } else {
            self.transcriber
                .transcribe(AsrInput {
                    samples: samples.clone(),
                    speech: speech.to_vec(),
                    language: job.language.clone(),
                    watcher: job
                        .progress
                        .clone()
                        .map(|p| Arc::new(AsrProgress(p)) as Arc<dyn AsrWatcher>),
                })
                .await?
        };
        tracing::info!(
            words = transcript.words().count(),
            language = %transcript.language,
            elapsed_ms = t.elapsed().as_millis() as u64,
            "transcribed"
        );
        Ok(transcript)
    }

    /// Runs every stage; CPU-heavy ones on the blocking pool. The caller holds the permit.
    pub async fn run(
        self: &Arc<Self>,
        job: Job,
    ) -> Result<(Report, Vec<(Stage, Duration)>), AnalysisError> {
        let started = Instant::now();
        let mut timings: Vec<(Stage, Duration)> = Vec::new();

        job.enter(Stage::Decode)?;
        let t = Instant::now();
        let decoded = self.decode(&job).await?;
        timings.push((Stage::Decode, t.elapsed()));

        job.enter(Stage::Vad)?;
        let t = Instant::now();
        let samples: Arc<[f32]> = decoded.samples.into();
        let vad_cfg = self.vad.clone();
        let vad_samples = samples.clone();
        let speech = blocking(move || {
            crate::audio::vad::detect(&vad_samples, crate::audio::TARGET_SAMPLE_RATE, &vad_cfg)
        })
        .await?;
        timings.push((Stage::Vad, t.elapsed()));
        tracing::info!(
            speech_segments = speech.speech.len(),
            pauses = speech.pauses.len(),
            elapsed_ms = t.elapsed().as_millis() as u64,
            "voice activity mapped"
        );

        job.enter(Stage::Asr)?;
        let t = Instant::now();
        let transcript = self.transcribe(&job, &samples, &speech.speech).await?;
        timings.push((Stage::Asr, t.elapsed()));

        let language = if transcript.language.is_empty() {
            job.language.clone().unwrap_or_else(|| "en".into())
        } else {
            transcript.language.clone()
        };

        job.enter(Stage::Analysis)?;
        let t = Instant::now();
        let stages = self.clone();
        let lang = language.clone();
        let speech_for_analysis = speech.clone();
        let transcript_for_analysis = transcript.clone();
        let analysis = blocking(move || {
            let input = AnalysisInput {
                transcript: &transcript_for_analysis,
                speech: &speech_for_analysis,
                samples: &samples,
                sample_rate: crate::audio::TARGET_SAMPLE_RATE,
                language: &lang,
            };
            crate::domain::analyze(&input, &stages.analysis)
        })
        .await?;
        timings.push((Stage::Analysis, t.elapsed()));

        let words: Vec<_> = transcript.words().cloned().collect();
        let mut report = Report {
            id: job.content_hash.clone(),
            analysis_version: ANALYSIS_VERSION,
            language,
            audio: decoded.info,
            transcript: TranscriptView {
                text: transcript.text(),
                language_probability: transcript.language_probability,
                segments: transcript.segments,
                words,
            },
            metrics: analysis.metrics,
            advice: analysis.advice,
            timeline: analysis.timeline,
            // Interim value: replaced by the coach's answer just below.
            feedback: crate::domain::feedback::Feedback::pending(),
            cache: CacheInfo::default(),
            warnings: decoded.warnings,
            timings_ms: BTreeMap::new(),
        };

        job.enter(Stage::Feedback)?;
        let t = Instant::now();
        report.feedback = self.coach.feedback(&report).await;
        timings.push((Stage::Feedback, t.elapsed()));

        for (stage, d) in &timings {
            report
                .timings_ms
                .insert(stage.as_str().to_string(), d.as_millis() as u64);
        }
        report
            .timings_ms
            .insert("total".into(), started.elapsed().as_millis() as u64);
        Ok((report, timings))
    }
}

async fn blocking<T, F>(f: F) -> Result<T, AnalysisError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AnalysisError::Internal(format!("a pipeline stage panicked: {e}")))
}

impl Job {
    /// Reports a stage start, or stops the run if the sink cancelled it.
    fn enter(&self, stage: Stage) -> Result<(), AnalysisError> {
        if let Some(p) = &self.progress {
            if p.is_cancelled() {
                return Err(AsrError::Cancelled.into());
            }
            p.event(&ProgressEvent::Stage(stage));
        }
        Ok(())
    }
}
