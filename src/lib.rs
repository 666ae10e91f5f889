//! speech-coach: coaching feedback for public speakers.
//!
//! A user uploads a recording; the service decodes it, finds speech and silence, transcribes it
//! with Whisper, measures pace, fillers, pauses, phrasing and voice, gives advice and asks the
//! GigaChat LLM for coaching feedback. See `docs/DESIGN.md` for the request path.
//!
//! # Layout
//! - [`config`]: typed settings from the environment, validated at startup.
//! - [`telemetry`]: tracing subscriber (console + size-rotated JSON file).
//! - [`http`]: router, middleware (request id), extractors, one `ApiError`, endpoint modules.
//! - [`startup`]: the recogniser, coach, stages and analysis service built from the config
//!   (used by `serve` and by the CLI).
//! - [`app`]: `AppState` and `Application::build`, serving and graceful shutdown.
//! - [`pipeline`]: admission control and the decode → VAD → ASR → analysis → feedback run.
//! - [`jobs`]: long analyses as jobs: records, event logs, the `JobStore` trait, the runner; with
//!   Redis the job stream shared by every replica and this replica's workers.
//! - [`audio`]: decoding any input to 16 kHz mono, voice activity detection.
//! - [`asr`]: the `Transcriber` trait; in-process Whisper and a remote OpenAI-compatible backend.
//! - [`domain`]: pure analysis (words, pace, fillers, pauses, phrases, voice, hedges,
//!   repetitions, vocabulary, sentences, advice).
//! - [`coach`]: the `Coach` trait; GigaChat behind a circuit breaker, rule-based fallback.
//! - [`cache`]: the `Tier` trait; memory, Redis and disk tiers behind `TieredCache`.
//! - [`history`]: speakers, rehearsals and goals on SQLite/PostgreSQL (sqlx), with a retry outbox.
//! - [`report`]: the report JSON contract.
//! - [`files`]: atomic file writes (disk cache, history outbox).
//! - [`cli`]: `speech-coach analyze FILE`, the pipeline without a server.

pub mod app;
pub mod asr;
pub mod audio;
pub mod cache;
pub mod cli;
pub mod coach;
pub mod config;
pub mod domain;
pub mod files;
pub mod history;
pub mod http;
pub mod jobs;
pub mod pipeline;
pub mod report;
pub mod startup;
pub mod telemetry;
