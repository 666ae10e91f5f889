//! What the test binaries share, one module per kind of thing. Every test binary includes it the
//! same way: `mod support;` from a top-level `tests/*.rs`, or
//! `#[path = "../support/mod.rs"] mod support;` from the `main.rs` of a directory test.
//!
//! - [`corpus`]: where the corpus is, its manifest, clip bytes.
//! - [`model`]: the Whisper model directory (skip or fail when absent).
//! - [`app`]: [`app::TestApp`] (an in-process server on port 0, one method per endpoint) and
//!   [`app::BinaryApp`] (the real `speech-coach` process).
//! - [`wait`]: bounded polling.
//! - [`sse`]: the Server-Sent Events reader.
//! - [`logs`]: the JSON log files a server writes.
//! - [`json_schema`]: a small JSON Schema validator (responses against the OpenAPI document).
//! - [`fakes`]: fakes at the trait seams (`Transcriber`), the one place their impls live.
//! - [`cache_values`]: values and counting compute closures for the cache's own tests.
//! - [`asr`]: WAV reading, a naive VAD, word error rate, for the recogniser tests.
//! - [`long_talk`]: talks of real length made from the corpus.
//! - [`manifest`]: the corpus manifest's times as the domain analysis takes them.
//! - fake servers on loopback ports: [`fake_asr`] (an OpenAI-compatible recogniser),
//!   [`fake_gigachat`].
//! - real servers for tests: [`redis_server`], [`postgres_server`]; loopback ports and bounded
//!   restarts for them: [`net`].
//!
//! The leaf files (`corpus`, `sse`, `long_talk`, `redis_server`, `postgres_server`, `fake_asr`,
//! `fake_gigachat`) stay includable on their own with `#[path]`, as benches and examples do.
#![allow(dead_code, unused_imports)] // each test binary uses a different part

pub mod app;
pub mod asr;
pub mod cache_values;
pub mod corpus;
pub mod fake_asr;
pub mod fake_gigachat;
pub mod fakes;
pub mod json_schema;
pub mod logs;
pub mod long_talk;
pub mod manifest;
pub mod model;
pub mod net;
pub mod postgres_server;
pub mod redis_server;
pub mod sse;
pub mod wait;

pub use app::{TestApp, spawn_app, spawn_app_with};
pub use fakes::FakeTranscriber;
