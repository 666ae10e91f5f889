//! Settings of the in-process Whisper backend.
//!
//! Compiled with or without the `whisper` feature so configuration code builds everywhere; only
//! loading the model needs the feature.

use std::path::PathBuf;
use std::str::FromStr;

/// Numeric precision CTranslate2 runs the model in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeType {
    /// 8-bit integer weights and activations: the fastest on CPU, about half the memory.
    Int8,
    /// 8-bit weights, float32 activations.
    Int8Float32,
    /// Full precision: slowest, most memory, the reference.
    Float32,
    /// Whatever CTranslate2 thinks is fastest on this machine.
    Auto,
}

impl ComputeType {
    /// The name used in configuration and fingerprints.
    pub fn as_str(&self) -> &'static str {
        match self {
            ComputeType::Int8 => "int8",
            ComputeType::Int8Float32 => "int8_float32",
            ComputeType::Float32 => "float32",
            ComputeType::Auto => "auto",
        }
    }
}

impl FromStr for ComputeType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "int8" => Ok(ComputeType::Int8),
            "int8_float32" => Ok(ComputeType::Int8Float32),
            "float32" => Ok(ComputeType::Float32),
            "auto" | "default" => Ok(ComputeType::Auto),
            other => Err(format!(
                "unknown compute type {other:?}: expected int8, int8_float32, float32 or auto"
            )),
        }
    }
}

/// Settings of [`crate::asr::WhisperTranscriber`] (feature `whisper`).
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperConfig {
    /// Directory of a CTranslate2 Whisper model (`model.bin`, `config.json`, `tokenizer.json`,
    /// `preprocessor_config.json`). Env `WHISPER_MODEL_DIR`, default `models/whisper-base`
    /// (what `scripts/fetch-model.sh` creates).
    pub model_dir: PathBuf,
    /// Spoken language: `auto` (detect from the first batch of speech windows) or an ISO 639-1
    /// code such as `ru` or `en`. A request's own `language` overrides it. Env `WHISPER_LANGUAGE`,
    /// default `auto`.
    pub language: String,
    /// The languages detection chooses among (ISO 639-1 codes); empty = every language the model
    /// knows. Restricting it keeps a robotic Russian voice from being "detected" as Polish.
    /// Env `WHISPER_LANGUAGES` (comma-separated, `all` for every language), default `ru,en`.
    pub languages: Vec<String>,
    /// Precision. Env `WHISPER_COMPUTE_TYPE`, default `int8` (fastest on CPU; measured in
    /// `docs/bench/asr.md`).
    pub compute_type: ComputeType,
    /// Beam width of the first (temperature 0) decoding pass; 1 = greedy. Env `WHISPER_BEAM_SIZE`,
    /// default 5 (greedy decoding loops on hard input).
    pub beam_size: usize,
    /// Candidates sampled at each fallback temperature; the most probable is kept.
    /// Env `WHISPER_BEST_OF`, default 5.
    pub best_of: usize,
    /// Decoding temperatures tried in order until the output passes the quality checks.
    /// Env `WHISPER_TEMPERATURES` (comma-separated), default `0,0.2,0.4,0.6,0.8,1.0`.
    pub temperatures: Vec<f32>,
    /// Output whose gzip compression ratio is above this is a repetition loop and is decoded
    /// again at the next temperature. Env `WHISPER_COMPRESSION_RATIO_THRESHOLD`, default 2.4.
    pub compression_ratio_threshold: f64,
    /// Output whose mean token log-probability is below this is decoded again at the next
    /// temperature. Env `WHISPER_LOG_PROB_THRESHOLD`, default -1.0.
    pub log_prob_threshold: f64,
    /// A window whose no-speech probability is above this *and* whose log-probability is below
    /// `log_prob_threshold` is treated as silence and dropped. Env `WHISPER_NO_SPEECH_THRESHOLD`,
    /// default 0.6.
    pub no_speech_threshold: f64,
    /// A window whose no-speech probability is above this is dropped whatever its
    /// log-probability: on noise the model can invent a confident-looking phrase ("ご視聴
    /// ありがとうございました" at -0.97 with no-speech 0.86 on the corpus noise clip), while real
    /// speech cut by the VAD scores below 0.1. Env `WHISPER_NO_SPEECH_DROP_THRESHOLD`, default 0.8.
    pub no_speech_drop_threshold: f64,
    /// Most times a word or phrase may repeat back to back; further repeats are a loop and are
    /// cut. Env `WHISPER_MAX_REPEATS`, default 3.
    pub max_repeats: usize,
    /// Prepend a short per-language prompt written with filler words, which nudges Whisper to
    /// keep "um"/"э-э" instead of cleaning them up. Env `WHISPER_FILLER_PROMPT`, default `false`
    /// (the corpus experiment in `docs/bench/asr.md` found no gain).
    pub filler_prompt: bool,
    /// CPU threads used by one inference. Env `WHISPER_THREADS`, default 0 = all cores divided by
    /// `workers`.
    pub threads: usize,
    /// Transcriptions that may run at once, and model copies loaded (each with `threads`
    /// threads and its own weights, ~75 MB for base int8). A lone transcription decodes its
    /// window groups on every copy at once; concurrent ones queue on the copies, so the cores are
    /// split instead of oversubscribed. Further requests wait for a free worker.
    /// Env `WHISPER_WORKERS`, default 0 = as many as analyses may run at once
    /// (`MAX_CONCURRENT_ANALYSES`), at most one per core (resolved by the config loader).
    pub workers: usize,
    /// Longest window fed to Whisper, seconds (at most 30). Env `WHISPER_MAX_WINDOW_SEC`,
    /// default 30.
    pub max_window_sec: f64,
    /// Silences longer than this are cut out of the audio Whisper hears (0.2 s kept on each side,
    /// times mapped back), so windows are full of speech. Seconds; env `WHISPER_PACK_SILENCE_SEC`,
    /// default 1.0.
    pub pack_silence_sec: f64,
    /// Windows decoded together in one CTranslate2 call. Env `WHISPER_BATCH_SIZE`, default 1:
    /// with one model copy per core the copies already keep the cores busy, and each window in a
    /// batch holds its own encoder and beam buffers in every copy. On the 10-minute talk with two
    /// copies, batch 4 was 5 % faster than 1 on the Ruy build (16 % on 3 minutes of Russian) for
    /// 400 MiB more peak memory, and slower on the `dnnl` build (`docs/bench/asr.md`).
    pub batch_size: usize,
    /// Heap blocks of at least this many KiB get their own `mmap` and go back to the system when
    /// freed (glibc's `M_MMAP_THRESHOLD`, set when the model loads; it applies to the whole
    /// process). Left alone, glibc raises the threshold to the largest block freed, up to 32 MiB,
    /// so CTranslate2's per-window buffers (a few MiB to tens of MiB) then stay in each decoding
    /// thread's heap: peak RSS on a 10-minute talk was 768 MiB with glibc's default and 537 MiB
    /// with 1024, same WER, no slowdown measured (`docs/bench/asr.md`). Env `WHISPER_MMAP_THRESHOLD_KIB`,
    /// default 1024; 0 leaves glibc's own (then `MALLOC_MMAP_THRESHOLD_` still applies). While it
    /// is in force the heap's free pages are also handed back before each window's encoder pass
    /// (`malloc_trim`). No effect off glibc.
    pub mmap_threshold_kib: usize,
    /// Model copies that may run their encoder at the same moment; the others wait for a turn
    /// (their decoding goes on). The encoder's attention buffers are a window's largest (72 MiB
    /// for base at batch 1), so with two copies this cuts the peak memory of a long talk
    /// (`docs/bench/asr.md`). Env `WHISPER_PARALLEL_ENCODES`, default 1; 0 = no limit.
    pub parallel_encodes: usize,
}

impl Default for WhisperConfig {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from("models/whisper-base"),
            language: "auto".into(),
            languages: vec!["ru".into(), "en".into()],
            compute_type: ComputeType::Int8,
            beam_size: 5,
            best_of: 5,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: 2.4,
            log_prob_threshold: -1.0,
            no_speech_threshold: 0.6,
            no_speech_drop_threshold: 0.8,
            max_repeats: 3,
            filler_prompt: false,
            threads: 0,
            workers: 1,
            max_window_sec: 30.0,
            pack_silence_sec: 1.0,
            batch_size: 1,
            mmap_threshold_kib: 1024,
            parallel_encodes: 1,
        }
    }
}

impl WhisperConfig {
    /// The configured language as a forced code, or `None` for detection.
    pub fn forced_language(&self) -> Option<String> {
        normalise_language(&self.language)
    }

    /// Threads per worker after resolving 0 = auto.
    pub fn effective_threads(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / self.workers.max(1)).max(1)
    }

    /// The decoding settings that change the transcript, for the cache fingerprint.
    pub fn decoding_fingerprint(&self) -> String {
        let temps: Vec<String> = self.temperatures.iter().map(|t| format!("{t}")).collect();
        format!(
            "{}:beam{}:best{}:t{}:cr{}:lp{}:ns{}/{}:rep{}:prompt{}:win{}:pack{}:lang{}:of{}",
            self.compute_type.as_str(),
            self.beam_size,
            self.best_of,
            temps.join("/"),
            self.compression_ratio_threshold,
            self.log_prob_threshold,
            self.no_speech_threshold,
            self.no_speech_drop_threshold,
            self.max_repeats,
            u8::from(self.filler_prompt),
            self.max_window_sec,
            self.pack_silence_sec,
            self.language,
            self.languages.join("/"),
        )
    }
}

/// `auto`, empty → `None` (detect); anything else lowercased and trimmed.
pub fn normalise_language(lang: &str) -> Option<String> {
    let l = lang.trim().to_ascii_lowercase();
    (!l.is_empty() && l != "auto").then_some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_type_parses_and_round_trips() {
        for s in ["int8", "int8_float32", "float32", "auto"] {
            assert_eq!(s.parse::<ComputeType>().unwrap().as_str(), s);
        }
        assert!("int4".parse::<ComputeType>().is_err());
    }

    #[test]
    fn language_auto_means_detect() {
        assert_eq!(normalise_language("auto"), None);
        assert_eq!(normalise_language(" RU "), Some("ru".into()));
        let cfg = WhisperConfig::default();
        assert_eq!(cfg.forced_language(), None);
    }

    #[test]
    fn fingerprint_changes_with_decoding_settings() {
        let a = WhisperConfig::default();
        let b = WhisperConfig {
            beam_size: 1,
            ..WhisperConfig::default()
        };
        assert_ne!(a.decoding_fingerprint(), b.decoding_fingerprint());
        // Threads, workers, batching and the memory settings change speed, not the transcript.
        let c = WhisperConfig {
            workers: 4,
            threads: 2,
            batch_size: 8,
            parallel_encodes: 0,
            mmap_threshold_kib: 0,
            ..WhisperConfig::default()
        };
        assert_eq!(a.decoding_fingerprint(), c.decoding_fingerprint());
    }
}
