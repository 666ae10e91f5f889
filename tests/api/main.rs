//! Black-box tests of the HTTP API: a real server on an ephemeral port (in-process, or the real
//! binary as a subprocess where process behaviour — logs, signals, memory — is the point).
//! Servers, fakes and helpers come from `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod admission;
mod analyze;
mod cache_http;
mod coach_http;
mod history;
mod jobs;
mod jobs_redis;
mod logging;
mod long_talks;
mod openapi;
mod request_id;
mod shutdown;
mod sse_reader;
mod upload_limits;
