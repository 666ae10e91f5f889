//! Building the service's parts from the configuration: the recogniser, the coach, the stages of
//! an analysis and the cached analysis service. `serve` ([`crate::app`]) and the CLI's `analyze`
//! ([`crate::cli`]) both start here, so they analyse alike.

use std::sync::Arc;

use crate::asr::Transcriber;
use crate::cache::TieredCache;
use crate::coach::Coach;
use crate::config::{AsrBackend, Config};
use crate::pipeline::{Admission, AnalysisService, Stages};

/// The transcriber the config asks for.
pub fn build_transcriber(config: &Config) -> anyhow::Result<Arc<dyn Transcriber>> {
    match config.asr.backend {
        AsrBackend::OpenAi => Ok(Arc::new(crate::asr::OpenAiTranscriber::new(
            config.asr.openai.clone(),
        )?)),
        AsrBackend::Whisper => build_whisper(config),
    }
}

#[cfg(feature = "whisper")]
fn build_whisper(config: &Config) -> anyhow::Result<Arc<dyn Transcriber>> {
    let cfg = config.asr.whisper.clone();
    let decoding = cfg.decoding_fingerprint();
    let dir = cfg.model_dir.clone();
    let loader: crate::asr::lazy::Loader = Arc::new(move || {
        crate::asr::WhisperTranscriber::load(cfg.clone())
            .map(|t| Arc::new(t) as Arc<dyn Transcriber>)
    });
    let lazy = Arc::new(crate::asr::LazyTranscriber::new(dir, decoding, loader));
    let preload = lazy.clone();
    tokio::spawn(async move { preload.preload().await });
    Ok(lazy)
}

#[cfg(not(feature = "whisper"))]
fn build_whisper(_config: &Config) -> anyhow::Result<Arc<dyn Transcriber>> {
    anyhow::bail!(
        "ASR_BACKEND=whisper needs a build with the `whisper` feature; \
         set ASR_BACKEND=openai with ASR_URL, or rebuild with default features"
    )
}

/// The stages of one analysis as the config describes them, around the given recogniser and
/// coach (`None`: built from the config).
pub fn build_stages(
    config: &Config,
    transcriber: Option<Arc<dyn Transcriber>>,
    coach: Option<Arc<dyn Coach>>,
) -> anyhow::Result<Stages> {
    let transcriber = match transcriber {
        Some(t) => t,
        None => build_transcriber(config)?,
    };
    let coach = match coach {
        Some(c) => c,
        None => crate::coach::build_coach(&config.coach)?,
    };
    Ok(Stages::from_config(config, transcriber, coach))
}

/// The cached, admission-controlled analysis service `serve` runs.
pub async fn build_analysis(
    config: &Config,
    transcriber: Option<Arc<dyn Transcriber>>,
    coach: Option<Arc<dyn Coach>>,
) -> anyhow::Result<AnalysisService> {
    let stages = build_stages(config, transcriber, coach)?;
    let cache = TieredCache::new(config.cache.clone())
        .await?
        .with_validator(Arc::new(|bytes: &[u8]| {
            crate::pipeline::service::parse_cached_report(bytes).is_some()
        }));
    let p = &config.pipeline;
    Ok(AnalysisService::new(
        stages,
        Admission::new(p.max_concurrent, p.max_queued, p.queue_timeout),
        cache,
        p.analysis_timeout,
        config.upgrade_fallback_feedback,
    ))
}
