//! Typed settings, read once at startup from the environment (+ `.env`, + `config/*.toml`).
//!
//! Every setting is documented here (meaning, unit, default) and in `.env.example`; a bad value
//! fails startup with a message naming the variable. Secrets are `SecretString`s and never print.

mod modules;
mod source;

pub use modules::{AsrBackend, AsrConfig};

pub use source::{Reader, Source};

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// All settings of the service.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub pipeline: PipelineConfig,
    pub jobs: JobsConfig,
    pub audio: AudioConfig,
    /// GigaChat and its circuit breaker (see [`crate::coach::CoachConfig`] for each field).
    pub coach: crate::coach::CoachConfig,
    /// Speech recognition backend and its settings.
    pub asr: AsrConfig,
    /// Voice activity detection (`VAD_*`, `MIN_PAUSE_SEC`).
    pub vad: crate::audio::vad::VadConfig,
    /// The pure analysis' thresholds and filler lexicon.
    pub analysis: crate::domain::AnalysisConfig,
    /// The three cache tiers.
    pub cache: crate::cache::CacheConfig,
    /// The rehearsal history's database, pool budgets and progress settings.
    pub history: crate::history::HistoryConfig,
    /// `UPGRADE_FALLBACK_FEEDBACK`: re-ask the coach for reports cached with rule-based feedback
    /// once GigaChat is healthy again (no ASR re-run). Default true.
    pub upgrade_fallback_feedback: bool,
}

/// HTTP server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `BIND_ADDR`: address to listen on. Default `127.0.0.1:8000`; port 0 picks a free port.
    pub bind_addr: SocketAddr,
    /// `MAX_FILE_SIZE_MB`: largest accepted upload, MiB (fractions allowed). Default 100.
    pub max_file_size_bytes: u64,
    /// `SHUTDOWN_TIMEOUT_SEC`: how long in-flight requests may run after SIGTERM/SIGINT. Default 30.
    pub shutdown_timeout: Duration,
    /// `ADMIN_TOKEN`: bearer token for admin endpoints (`DELETE /cache`); unset = those return 404.
    pub admin_token: Option<SecretString>,
    /// `UPLOAD_DIR`: where uploads are streamed while analysed. Default: the system temp dir.
    pub upload_dir: PathBuf,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `LOG_LEVEL`: a tracing filter (`info`, `debug`, `speech_coach=debug,info`). Default `info`.
    pub level: String,
    /// `LOG_FILE`: the JSON-lines log file. Default `logs/app.log`; empty = no file.
    pub file: Option<PathBuf>,
    /// `LOG_MAX_SIZE_MB`: rotate the file when it would grow past this, MiB (fractions allowed,
    /// e.g. `0.001` ≈ 1 KiB for tests). Default 10.
    pub max_size_bytes: u64,
    /// `LOG_BACKUP_COUNT`: rotated files kept (`app.log.1` … `app.log.N`). Default 5.
    pub backup_count: usize,
    /// `JSON_LOGS`: write the log file as JSON lines (true) or as plain text (false). The
    /// console is always human-readable (coloured on a TTY). Default true.
    pub json: bool,
}

/// Analysis pipeline admission settings.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `MAX_CONCURRENT_ANALYSES`: analyses running at once. Default: number of CPU cores.
    pub max_concurrent: usize,
    /// `MAX_QUEUED_ANALYSES`: analyses waiting for a slot; beyond that → 503. Default 16.
    pub max_queued: usize,
    /// `QUEUE_TIMEOUT_SEC`: longest wait for a slot before 503. Default 30.
    pub queue_timeout: Duration,
    /// `ANALYSIS_TIMEOUT_SEC`: overall deadline of one analysis (request or job) → 504. Default 3600.
    pub analysis_timeout: Duration,
}

/// Asynchronous jobs (`POST /jobs`).
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// `JOB_TTL_SEC`: a finished job (record, report, event log) is kept this long after its
    /// last change, seconds; queued and running jobs never expire. Default 3600.
    pub ttl: Duration,
    /// `JOB_QUEUE_TIMEOUT_SEC`: longest wait of a job for an analysis slot, seconds, before it
    /// fails with `overloaded` (jobs wait longer than `/analyze` requests). Default 3600.
    pub queue_timeout: Duration,
    /// Jobs shared by every replica through Redis Streams (`None`: in-process jobs, as without
    /// `REDIS_URL`).
    pub redis: Option<RedisJobsConfig>,
}

/// Jobs through Redis Streams (issue 15): set when `JOBS_REDIS_URL` or `REDIS_URL` is.
#[derive(Debug, Clone)]
pub struct RedisJobsConfig {
    /// `JOBS_REDIS_URL`: the Redis of the job stream, records and uploads; default `REDIS_URL`.
    /// A separate instance lets the stream be persisted (AOF, `noeviction`) while the cache's
    /// Redis evicts freely. Secret.
    pub url: SecretString,
    /// `REDIS_KEY_PREFIX` (shared with the cache): keys are `<prefix>:jobs:...`.
    pub key_prefix: String,
    /// `WORKERS_PER_REPLICA`: jobs this replica runs at once (0: it only accepts and serves
    /// jobs). Default: `MAX_CONCURRENT_ANALYSES`.
    pub workers: usize,
    /// `JOB_HEARTBEAT_MS`: how often a running job's worker tells Redis it is alive. A job whose
    /// worker missed [`Self::RECLAIM_AFTER_BEATS`] beats is reclaimed by another. Default 1000.
    pub heartbeat: Duration,
    /// `JOB_MAX_ATTEMPTS`: attempts of a job (runs that failed for a server-side reason or whose
    /// worker died) before it ends `failed`. Default 3.
    pub max_attempts: u32,
    /// `MAX_QUEUED_JOBS`: open jobs (waiting or running) in the stream, cluster-wide; beyond it
    /// `POST /jobs` answers 503 + Retry-After. Default 256.
    pub max_queued: usize,
    /// `JOB_UPLOAD_BUDGET_MB`: bytes of uploads of open jobs held in Redis, cluster-wide, MiB;
    /// beyond it `POST /jobs` answers 503 + Retry-After. Default 4096.
    pub upload_budget_bytes: u64,
    /// `JOB_REDIS_TIMEOUT_MS`: budget of one job-store command (and of connecting), ms.
    /// Default 2000.
    pub timeout: Duration,
}

impl RedisJobsConfig {
    /// Missed heartbeats after which a running job counts as abandoned (XAUTOCLAIM min-idle).
    pub const RECLAIM_AFTER_BEATS: u32 = 5;

    /// The XAUTOCLAIM min-idle time: `RECLAIM_AFTER_BEATS` heartbeats.
    pub fn reclaim_after(&self) -> Duration {
        self.heartbeat * Self::RECLAIM_AFTER_BEATS
    }
}

/// Decoding and voice-activity settings.
#[derive(Debug, Clone)]
pub struct AudioConfig {
    /// `MAX_AUDIO_DURATION_SEC`: longest accepted recording, seconds. Default 3600.
    pub max_duration_sec: f64,
    /// `DECODE_TIMEOUT_SEC`: wall-clock budget to decode one upload. Default 120.
    pub decode_timeout: Duration,
    /// `FFMPEG_PATH`: ffmpeg binary for formats the built-in decoder cannot read (e.g. Opus).
    /// Default: `ffmpeg` found on `PATH`, if any; `none` disables the fallback.
    pub ffmpeg_path: Option<PathBuf>,
    /// `MIN_PAUSE_SEC`: shortest silence counted as a pause, seconds. Default 0.25.
    pub min_pause_sec: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Config {
    /// Reads the real environment (+ `.env`, + `config/*.toml`).
    pub fn from_env() -> Result<Self, ConfigError> {
        let source = Source::from_environment(std::path::Path::new("config"))
            .map_err(|e| ConfigError(vec![e]))?;
        Self::from_source(&source)
    }

    /// Settings from an explicit source (tests build one from pairs).
    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let mut r = Reader::new(source);
        Self::read(&mut r)
    }

    /// Every environment variable the service reads, in reading order.
    pub fn known_variables() -> Vec<String> {
        let source = Source::default();
        let mut r = Reader::new(&source);
        let _ = Self::read(&mut r);
        r.asked().to_vec()
    }

    fn read(r: &mut Reader) -> Result<Self, ConfigError> {
        let bind_addr = r.parse("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)));
        let max_file_size_mb = r.number("MAX_FILE_SIZE_MB", 100.0, 0.0001..=100_000.0);
        let server = ServerConfig {
            bind_addr,
            max_file_size_bytes: (max_file_size_mb * MIB) as u64,
            shutdown_timeout: Duration::from_secs_f64(r.number(
                "SHUTDOWN_TIMEOUT_SEC",
                30.0,
                0.0..=3600.0,
            )),
            admin_token: r.optional("ADMIN_TOKEN").map(SecretString::from),
            upload_dir: r
                .optional("UPLOAD_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
        };
        let log_file = r.string("LOG_FILE", "logs/app.log");
        let log = LogConfig {
            level: r.string("LOG_LEVEL", "info"),
            file: (!log_file.is_empty()).then(|| PathBuf::from(log_file)),
            max_size_bytes: (r.number("LOG_MAX_SIZE_MB", 10.0, 0.0001..=100_000.0) * MIB) as u64,
            backup_count: r.number("LOG_BACKUP_COUNT", 5usize, 0..=1000),
            json: r.bool("JSON_LOGS", true),
        };
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log.level) {
            r.error(format!("LOG_LEVEL={:?}: {e}", log.level));
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pipeline = PipelineConfig {
            max_concurrent: r.number("MAX_CONCURRENT_ANALYSES", cores, 1..=1024),
            max_queued: r.number("MAX_QUEUED_ANALYSES", 16usize, 0..=100_000),
            queue_timeout: Duration::from_secs_f64(r.number(
                "QUEUE_TIMEOUT_SEC",
                30.0,
                0.0..=86_400.0,
            )),
            analysis_timeout: Duration::from_secs_f64(r.number(
                "ANALYSIS_TIMEOUT_SEC",
                // As long as the longest accepted recording (MAX_AUDIO_DURATION_SEC): a 60-minute
                // talk as a job takes well over 600 s of Whisper on two cores.
                3600.0,
                0.001..=86_400.0,
            )),
        };
        let jobs = JobsConfig {
            ttl: Duration::from_secs_f64(r.number("JOB_TTL_SEC", 3600.0, 0.001..=30.0 * 86_400.0)),
            queue_timeout: Duration::from_secs_f64(r.number(
                "JOB_QUEUE_TIMEOUT_SEC",
                3600.0,
                0.0..=86_400.0,
            )),
            redis: redis_jobs(r, pipeline.max_concurrent),
        };
        let ffmpeg_path = match r.optional("FFMPEG_PATH") {
            Some(p) if p.eq_ignore_ascii_case("none") => None,
            Some(p) => Some(PathBuf::from(p)),
            None => find_on_path("ffmpeg"),
        };
        let audio = AudioConfig {
            max_duration_sec: r.number("MAX_AUDIO_DURATION_SEC", 3600.0, 1.0..=86_400.0),
            decode_timeout: Duration::from_secs_f64(r.number(
                "DECODE_TIMEOUT_SEC",
                120.0,
                0.1..=86_400.0,
            )),
            ffmpeg_path,
            min_pause_sec: r.number("MIN_PAUSE_SEC", 0.25, 0.01..=10.0),
        };
        let coach = coach_config(r);
        let asr = modules::asr(r, pipeline.max_concurrent);
        let vad = modules::vad(r, audio.min_pause_sec);
        let analysis = modules::analysis(r);
        let cache = modules::cache(r);
        let history = modules::history(r);
        let upgrade_fallback_feedback = r.bool("UPGRADE_FALLBACK_FEEDBACK", true);
        r.take_errors().map_err(ConfigError)?;
        Ok(Self {
            server,
            log,
            pipeline,
            jobs,
            audio,
            coach,
            asr,
            vad,
            analysis,
            cache,
            history,
            upgrade_fallback_feedback,
        })
    }
}

impl Default for Config {
    /// The embedded defaults (no environment consulted).
    fn default() -> Self {
        Self::from_source(&Source::default()).expect("defaults are valid")
    }
}

/// Every invalid setting, each message naming its variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

fn secs(r: &mut Reader<'_>, key: &str, default: Duration, max_sec: f64) -> Duration {
    Duration::from_secs_f64(r.number(key, default.as_secs_f64(), 0.001..=max_sec))
}

fn coach_config(r: &mut Reader) -> crate::coach::CoachConfig {
    let d = crate::coach::CoachConfig::default();
    crate::coach::CoachConfig {
        enabled: r.bool("GIGACHAT_ENABLED", d.enabled),
        credentials: r.optional("GIGACHAT_CREDENTIALS").map(SecretString::from),
        scope: r.string("GIGACHAT_SCOPE", &d.scope),
        auth_url: r.string("GIGACHAT_AUTH_URL", &d.auth_url),
        api_url: r.string("GIGACHAT_API_URL", &d.api_url),
        model: r.string("GIGACHAT_MODEL", &d.model),
        timeout: secs(r, "GIGACHAT_TIMEOUT_SEC", d.timeout, 3600.0),
        connect_timeout: secs(r, "GIGACHAT_CONNECT_TIMEOUT_SEC", d.connect_timeout, 600.0),
        token_refresh_margin: secs(
            r,
            "GIGACHAT_TOKEN_REFRESH_MARGIN_SEC",
            d.token_refresh_margin,
            3600.0,
        ),
        max_concurrency: r.number("GIGACHAT_MAX_CONCURRENCY", d.max_concurrency, 1..=1024),
        ca_bundle: r.optional("GIGACHAT_CA_BUNDLE").map(PathBuf::from),
        verify_ssl: r.bool("GIGACHAT_VERIFY_SSL", d.verify_ssl),
        temperature: r.number("GIGACHAT_TEMPERATURE", d.temperature, 0.0..=2.0),
        max_tokens: r.number("GIGACHAT_MAX_TOKENS", d.max_tokens, 1..=32_768),
        breaker_fail_max: r.number("BREAKER_FAIL_MAX", d.breaker_fail_max, 1..=10_000),
        breaker_reset_timeout: secs(
            r,
            "BREAKER_RESET_TIMEOUT_SEC",
            d.breaker_reset_timeout,
            86_400.0,
        ),
    }
}

/// The Redis job settings (always read, so every variable is known and validated; `None`
/// without a Redis URL).
fn redis_jobs(r: &mut Reader, max_concurrent: usize) -> Option<RedisJobsConfig> {
    let url = r
        .optional("JOBS_REDIS_URL")
        .or_else(|| r.optional("REDIS_URL"));
    let ms = |r: &mut Reader, key: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
        Duration::from_millis(r.number(key, default, range))
    };
    let cfg = RedisJobsConfig {
        url: SecretString::from(url.clone().unwrap_or_default()),
        key_prefix: r.string("REDIS_KEY_PREFIX", "speech-coach"),
        workers: r.number("WORKERS_PER_REPLICA", max_concurrent, 0..=1024),
        heartbeat: ms(r, "JOB_HEARTBEAT_MS", 1000, 10..=600_000),
        max_attempts: r.number("JOB_MAX_ATTEMPTS", 3u32, 1..=100),
        max_queued: r.number("MAX_QUEUED_JOBS", 256usize, 1..=1_000_000),
        upload_budget_bytes: (r.number("JOB_UPLOAD_BUDGET_MB", 4096.0, 1.0..=10_000_000.0) * MIB)
            as u64,
        timeout: ms(r, "JOB_REDIS_TIMEOUT_MS", 2000, 1..=600_000),
    };
    url.map(|_| cfg)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_source(&Source::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_match_the_documentation() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.server.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.server.max_file_size_bytes, 100 * 1024 * 1024);
        assert_eq!(
            c.log.file.as_deref(),
            Some(std::path::Path::new("logs/app.log"))
        );
        assert_eq!(c.log.max_size_bytes, 10 * 1024 * 1024);
        assert_eq!(c.log.backup_count, 5);
        assert!(c.log.json);
        assert_eq!(c.pipeline.max_queued, 16);
        assert_eq!(c.jobs.ttl, Duration::from_secs(3600));
        assert_eq!(c.jobs.queue_timeout, Duration::from_secs(3600));
        assert!(c.server.admin_token.is_none());
        assert!(c.jobs.redis.is_none(), "no Redis: in-process jobs");
    }

    #[test]
    fn redis_jobs_follow_redis_url_and_default_to_the_analysis_slots() {
        let c = cfg(&[
            ("REDIS_URL", "redis://127.0.0.1:1/"),
            ("MAX_CONCURRENT_ANALYSES", "3"),
        ])
        .unwrap();
        let j = c.jobs.redis.unwrap();
        assert_eq!(j.url.expose_secret(), "redis://127.0.0.1:1/");
        assert_eq!(j.workers, 3);
        assert_eq!(j.heartbeat, Duration::from_secs(1));
        assert_eq!(j.reclaim_after(), Duration::from_secs(5));
        assert_eq!((j.max_attempts, j.max_queued), (3, 256));
        let c = cfg(&[
            ("REDIS_URL", "redis://cache/"),
            ("JOBS_REDIS_URL", "redis://jobs/"),
            ("WORKERS_PER_REPLICA", "0"),
        ])
        .unwrap();
        let j = c.jobs.redis.unwrap();
        assert_eq!(j.url.expose_secret(), "redis://jobs/");
        assert_eq!(j.workers, 0);
        let err = cfg(&[("JOB_MAX_ATTEMPTS", "0"), ("JOB_HEARTBEAT_MS", "1")]).unwrap_err();
        assert!(err.to_string().contains("JOB_MAX_ATTEMPTS"), "{err}");
        assert!(err.to_string().contains("JOB_HEARTBEAT_MS"), "{err}");
    }

    #[test]
    fn bad_values_name_their_variable_and_all_are_reported() {
        let err = cfg(&[
            ("BIND_ADDR", "not an address"),
            ("LOG_BACKUP_COUNT", "-1"),
            ("JSON_LOGS", "maybe"),
            ("MAX_FILE_SIZE_MB", "0"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "BIND_ADDR",
            "LOG_BACKUP_COUNT",
            "JSON_LOGS",
            "MAX_FILE_SIZE_MB",
        ] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
        assert_eq!(err.0.len(), 4);
    }

    #[test]
    fn empty_log_file_disables_the_file_and_fractions_are_allowed() {
        let c = cfg(&[("LOG_FILE", ""), ("LOG_MAX_SIZE_MB", "0.001")]).unwrap();
        assert!(c.log.file.is_none());
        assert_eq!(c.log.max_size_bytes, 1048);
    }

    #[test]
    fn secrets_do_not_print() {
        let c = cfg(&[("ADMIN_TOKEN", "hunter2-secret")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            c.server.admin_token.unwrap().expose_secret(),
            "hunter2-secret"
        );
    }

    #[test]
    fn invalid_log_filter_is_refused() {
        let err = cfg(&[("LOG_LEVEL", "info,[[[")]).unwrap_err();
        assert!(err.to_string().contains("LOG_LEVEL"));
    }
}
