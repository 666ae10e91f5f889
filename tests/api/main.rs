//! Black-box tests of the HTTP API: a real server on an ephemeral port (in-process, or the real
//! binary as a subprocess where process behaviour — logs, signals, memory — is the point).

mod admission;
mod analyze;
mod cache_http;
mod coach_http;
mod fakes;
mod helpers;
mod history;
mod jobs;
mod logging;
#[path = "../support/long_talk.rs"]
mod long_talk;
mod long_talks;
#[path = "../support/postgres_server.rs"]
mod postgres_server;
mod request_id;
mod shutdown;
mod upload_limits;
