//! Environment names → the settings structs each module defines (each field's meaning, unit and
//! default is documented on the struct in its module, and in `.env.example`).

use secrecy::SecretString;
use std::path::PathBuf;

use super::Reader;
use crate::asr::{ComputeType, OpenAiAsrConfig, WhisperConfig};
use crate::audio::vad::VadConfig;
use crate::cache::CacheConfig;
use crate::domain::{AnalysisConfig, Lexicon};
use crate::history::HistoryConfig;

/// Which speech recogniser serves requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsrBackend {
    /// In-process CTranslate2 Whisper (feature `whisper`).
    Whisper,
    /// A remote OpenAI-compatible `/v1/audio/transcriptions` server.
    OpenAi,
}

/// `ASR_BACKEND` plus both backends' settings.
#[derive(Debug, Clone)]
pub struct AsrConfig {
    /// `ASR_BACKEND`: `whisper` (default) or `openai`.
    pub backend: AsrBackend,
    pub whisper: WhisperConfig,
    pub openai: OpenAiAsrConfig,
}

/// `max_concurrent` (`MAX_CONCURRENT_ANALYSES`) sizes the Whisper workers when
/// `WHISPER_WORKERS` is 0 (auto).
pub fn asr(r: &mut Reader, max_concurrent: usize) -> AsrConfig {
    let backend = asr_backend(r);
    let d = WhisperConfig::default();
    let temperatures = whisper_temperatures(r, &d);
    let languages = whisper_languages(r, &d);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = match r.number("WHISPER_WORKERS", 0usize, 0..=64) {
        // One replica per analysis allowed at once, but never more replicas than cores.
        0 => max_concurrent.clamp(1, cores),
        n => n,
    };
    let whisper = WhisperConfig {
        model_dir: PathBuf::from(r.string("WHISPER_MODEL_DIR", &d.model_dir.display().to_string())),
        language: r.string("WHISPER_LANGUAGE", &d.language),
        languages,
        compute_type: r.parse::<ComputeType>("WHISPER_COMPUTE_TYPE", d.compute_type),
        beam_size: r.number("WHISPER_BEAM_SIZE", d.beam_size, 1..=16),
        best_of: r.number("WHISPER_BEST_OF", d.best_of, 1..=16),
        temperatures,
        compression_ratio_threshold: r.number(
            "WHISPER_COMPRESSION_RATIO_THRESHOLD",
            d.compression_ratio_threshold,
            1.0..=100.0,
        ),
        log_prob_threshold: r.number(
            "WHISPER_LOG_PROB_THRESHOLD",
            d.log_prob_threshold,
            -100.0..=0.0,
        ),
        no_speech_threshold: r.number(
            "WHISPER_NO_SPEECH_THRESHOLD",
            d.no_speech_threshold,
            0.0..=1.0,
        ),
        no_speech_drop_threshold: r.number(
            "WHISPER_NO_SPEECH_DROP_THRESHOLD",
            d.no_speech_drop_threshold,
            0.0..=1.0,
        ),
        max_repeats: r.number("WHISPER_MAX_REPEATS", d.max_repeats, 1..=100),
        filler_prompt: r.bool("WHISPER_FILLER_PROMPT", d.filler_prompt),
        threads: r.number("WHISPER_THREADS", d.threads, 0..=256),
        workers,
        max_window_sec: r.number("WHISPER_MAX_WINDOW_SEC", d.max_window_sec, 1.0..=30.0),
        pack_silence_sec: r.number("WHISPER_PACK_SILENCE_SEC", d.pack_silence_sec, 0.4..=3600.0),
        batch_size: r.number("WHISPER_BATCH_SIZE", d.batch_size, 1..=32),
        mmap_threshold_kib: r.number(
            "WHISPER_MMAP_THRESHOLD_KIB",
            d.mmap_threshold_kib,
            0..=32 * 1024,
        ),
        parallel_encodes: r.number("WHISPER_PARALLEL_ENCODES", d.parallel_encodes, 0..=64),
    };
    let o = OpenAiAsrConfig::default();
    let openai = OpenAiAsrConfig {
        url: r.string("ASR_URL", &o.url),
        api_key: r.optional("ASR_API_KEY").map(SecretString::from),
        model: r.string("ASR_MODEL", &o.model),
        timeout_sec: r.number("ASR_TIMEOUT_SEC", o.timeout_sec, 0.1..=86_400.0),
    };
    AsrConfig {
        backend,
        whisper,
        openai,
    }
}

/// `ASR_BACKEND`: whisper or openai.
fn asr_backend(r: &mut Reader) -> AsrBackend {
    match r
        .string("ASR_BACKEND", "whisper")
        .to_ascii_lowercase()
        .as_str()
    {
        "whisper" => AsrBackend::Whisper,
        "openai" => AsrBackend::OpenAi,
        other => {
            r.error(format!("ASR_BACKEND={other:?}: expected whisper or openai"));
            AsrBackend::Whisper
        }
    }
}

/// `WHISPER_TEMPERATURES`: comma-separated, each in 0..=2.
fn whisper_temperatures(r: &mut Reader, d: &WhisperConfig) -> Vec<f32> {
    match r.optional("WHISPER_TEMPERATURES") {
        None => d.temperatures.clone(),
        Some(s) => {
            let parsed: Result<Vec<f32>, _> =
                s.split(',').map(|t| t.trim().parse::<f32>()).collect();
            match parsed {
                Ok(v) if !v.is_empty() && v.iter().all(|t| (0.0..=2.0).contains(t)) => v,
                _ => {
                    r.error(format!(
                        "WHISPER_TEMPERATURES={s:?}: expected comma-separated numbers in 0..=2"
                    ));
                    d.temperatures.clone()
                }
            }
        }
    }
}

/// `WHISPER_LANGUAGES`: comma-separated language codes, or `all` (empty: no restriction).
fn whisper_languages(r: &mut Reader, d: &WhisperConfig) -> Vec<String> {
    match r.optional("WHISPER_LANGUAGES") {
        None => d.languages.clone(),
        Some(s) if s.trim().eq_ignore_ascii_case("all") => Vec::new(),
        Some(s) => {
            let codes: Vec<String> = s
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .filter(|c| !c.is_empty())
                .collect();
            let valid = |c: &String| {
                (2..=3).contains(&c.len()) && c.chars().all(|ch| ch.is_ascii_lowercase())
            };
            if codes.is_empty() || !codes.iter().all(valid) {
                r.error(format!(
                    "WHISPER_LANGUAGES={s:?}: expected comma-separated language codes (ru,en) or all"
                ));
                d.languages.clone()
            } else {
                codes
            }
        }
    }
}

pub fn vad(r: &mut Reader, min_pause_sec: f64) -> VadConfig {
    let d = VadConfig::default();
    VadConfig {
        frame_ms: r.number("VAD_FRAME_MS", d.frame_ms, 5..=50),
        min_pause_sec,
        min_speech_sec: r.number("VAD_MIN_SPEECH_SEC", d.min_speech_sec, 0.0..=5.0),
        hangover_sec: r.number("VAD_HANGOVER_SEC", d.hangover_sec, 0.0..=2.0),
        snr_db: r.number("VAD_SNR_DB", d.snr_db, 0.0..=60.0),
        speech_range_db: r.number("VAD_SPEECH_RANGE_DB", d.speech_range_db, 1.0..=120.0),
        absolute_floor_dbfs: r.number(
            "VAD_ABSOLUTE_FLOOR_DBFS",
            d.absolute_floor_dbfs,
            -150.0..=0.0,
        ),
        noise_window_sec: r.number("VAD_NOISE_WINDOW_SEC", d.noise_window_sec, 0.5..=600.0),
        voiced_flatness: r.number("VAD_VOICED_FLATNESS", d.voiced_flatness, 0.0..=1.0),
        min_voiced_sec: r.number("VAD_MIN_VOICED_SEC", d.min_voiced_sec, 0.0..=5.0),
    }
}

pub fn analysis(r: &mut Reader) -> AnalysisConfig {
    let d = AnalysisConfig::default();
    let mut pace_bands = d.pace_bands.clone();
    for lang in ["ru", "en"] {
        if let Some(band) = pace_bands.get_mut(lang) {
            let up = lang.to_ascii_uppercase();
            band.min_wpm = r.number(&format!("PACE_{up}_MIN_WPM"), band.min_wpm, 1.0..=1000.0);
            band.max_wpm = r.number(&format!("PACE_{up}_MAX_WPM"), band.max_wpm, 1.0..=1000.0);
        }
    }
    let lexicon = match r.optional("FILLERS_LEXICON_PATH") {
        None => d.lexicon.clone(),
        Some(path) => match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| Lexicon::from_toml_str(&t).map_err(|e| e.to_string()))
        {
            Ok(l) => l,
            Err(e) => {
                r.error(format!("FILLERS_LEXICON_PATH={path:?}: {e}"));
                d.lexicon.clone()
            }
        },
    };
    let cfg = AnalysisConfig {
        pace_bands,
        pace_window_sec: r.number("PACE_WINDOW_SEC", d.pace_window_sec, 1.0..=3600.0),
        pace_step_sec: r.number("PACE_STEP_SEC", d.pace_step_sec, 0.5..=3600.0),
        pause_natural_max_sec: r.number(
            "PAUSE_NATURAL_MAX_SEC",
            d.pause_natural_max_sec,
            0.01..=60.0,
        ),
        pause_deliberate_max_sec: r.number(
            "PAUSE_DELIBERATE_MAX_SEC",
            d.pause_deliberate_max_sec,
            0.01..=60.0,
        ),
        pause_long_max_sec: r.number("PAUSE_LONG_MAX_SEC", d.pause_long_max_sec, 0.01..=600.0),
        min_phrase_pause_sec: r.number("MIN_PHRASE_PAUSE_SEC", d.min_phrase_pause_sec, 0.01..=60.0),
        phrase_short_words: r.number("PHRASE_SHORT_WORDS", d.phrase_short_words, 1.0..=1000.0),
        phrase_long_words: r.number("PHRASE_LONG_WORDS", d.phrase_long_words, 1.0..=1000.0),
        acoustic_filler_min_sec: r.number(
            "ACOUSTIC_FILLER_MIN_SEC",
            d.acoustic_filler_min_sec,
            0.01..=60.0,
        ),
        acoustic_filler_max_sec: r.number(
            "ACOUSTIC_FILLER_MAX_SEC",
            d.acoustic_filler_max_sec,
            0.01..=60.0,
        ),
        word_timing_tolerance_sec: r.number(
            "WORD_TIMING_TOLERANCE_SEC",
            d.word_timing_tolerance_sec,
            0.0..=10.0,
        ),
        filler_burst_window_sec: r.number(
            "FILLER_BURST_WINDOW_SEC",
            d.filler_burst_window_sec,
            0.1..=600.0,
        ),
        filler_burst_min_count: r.number(
            "FILLER_BURST_MIN_COUNT",
            d.filler_burst_min_count,
            2..=1000,
        ),
        monotone_std_semitones: r.number(
            "MONOTONE_STD_SEMITONES",
            d.monotone_std_semitones,
            0.0..=48.0,
        ),
        monotone_window_sec: r.number("MONOTONE_WINDOW_SEC", d.monotone_window_sec, 0.5..=600.0),
        pitch_min_hz: r.number("PITCH_MIN_HZ", d.pitch_min_hz, 20.0..=2000.0),
        pitch_max_hz: r.number("PITCH_MAX_HZ", d.pitch_max_hz, 20.0..=4000.0),
        lexicon,
        overused_phrase_min_count: r.number(
            "OVERUSED_PHRASE_MIN_COUNT",
            d.overused_phrase_min_count,
            2..=10_000,
        ),
        long_sentence_words: r.number("LONG_SENTENCE_WORDS", d.long_sentence_words, 1..=10_000),
        mattr_window_words: r.number("MATTR_WINDOW_WORDS", d.mattr_window_words, 2..=10_000),
        ..d
    };
    if let Err(e) = cfg.validate() {
        r.error(e);
    }
    cfg
}

pub fn cache(r: &mut Reader) -> CacheConfig {
    let d = CacheConfig::default();
    CacheConfig {
        memory_max_mb: r.number("CACHE_MEMORY_MAX_MB", d.memory_max_mb, 0..=1_000_000),
        ttl_sec: r.number("CACHE_TTL_SEC", d.ttl_sec, 1..=10 * 365 * 86_400),
        redis_url: r.optional("REDIS_URL").map(SecretString::from),
        redis_connect_timeout_ms: r.number(
            "REDIS_CONNECT_TIMEOUT_MS",
            d.redis_connect_timeout_ms,
            1..=60_000,
        ),
        redis_response_timeout_ms: r.number(
            "REDIS_RESPONSE_TIMEOUT_MS",
            d.redis_response_timeout_ms,
            1..=60_000,
        ),
        redis_probe_interval_ms: r.number(
            "REDIS_PROBE_INTERVAL_MS",
            d.redis_probe_interval_ms,
            10..=600_000,
        ),
        redis_lease_ms: r.number("REDIS_LEASE_MS", d.redis_lease_ms, 100..=3_600_000),
        redis_key_prefix: r.string("REDIS_KEY_PREFIX", &d.redis_key_prefix),
        namespace: format!("v{}", crate::report::ANALYSIS_VERSION),
        dir: PathBuf::from(r.string("CACHE_DIR", &d.dir.display().to_string())),
        disk_max_mb: r.number("CACHE_DISK_MAX_MB", d.disk_max_mb, 0..=100_000_000),
        disk_sweep_interval_sec: r.number(
            "CACHE_DISK_SWEEP_INTERVAL_SEC",
            d.disk_sweep_interval_sec,
            1..=86_400,
        ),
    }
}

pub fn history(r: &mut Reader) -> HistoryConfig {
    let d = HistoryConfig::default();
    let database_url = r.optional("DATABASE_URL");
    if let Some(url) = &database_url
        && !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|p| url.starts_with(p))
    {
        r.error("DATABASE_URL: expected sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB".into());
    }
    let ms = |r: &mut Reader, key: &str, default: std::time::Duration| {
        std::time::Duration::from_millis(r.number(key, default.as_millis() as u64, 1..=600_000))
    };
    HistoryConfig {
        database_url: database_url.map(SecretString::from),
        data_dir: PathBuf::from(r.string("DATA_DIR", &d.data_dir.display().to_string())),
        max_connections: r.number("DATABASE_MAX_CONNECTIONS", d.max_connections, 1..=1000),
        connect_timeout: ms(r, "DATABASE_CONNECT_TIMEOUT_MS", d.connect_timeout),
        query_timeout: ms(r, "DATABASE_QUERY_TIMEOUT_MS", d.query_timeout),
        baseline_rehearsals: r.number(
            "HISTORY_BASELINE_REHEARSALS",
            d.baseline_rehearsals,
            1..=1000,
        ),
        outbox_capacity: r.number("HISTORY_OUTBOX_CAPACITY", d.outbox_capacity, 0..=1_000_000),
        retry_interval: ms(r, "HISTORY_RETRY_INTERVAL_MS", d.retry_interval),
        max_rehearsals: r.number("HISTORY_MAX_REHEARSALS", d.max_rehearsals, 1..=100_000),
    }
}
