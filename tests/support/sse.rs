//! A Server-Sent Events reader for `GET /jobs/{id}/events`: bytes are buffered and split on the
//! blank line that ends an event before anything is decoded, so a multi-byte character split
//! across network chunks arrives whole.
//!
//! Self-contained (the jobs benchmark includes it with
//! `#[path = "../tests/support/sse.rs"] mod sse;`).
#![allow(dead_code)] // each user reads a different part

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use std::time::Duration;

/// One event: its `id:` (the jobs log position; `None` for snapshots), `event:` (`message`
/// when absent) and `data:` parsed as JSON (data lines joined with `\n`, as the spec says).
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub event: String,
    pub data: Value,
}

/// Reads an event stream event by event.
pub struct SseReader {
    stream: BoxStream<'static, Result<Bytes, String>>,
    buf: Vec<u8>,
    chunk_timeout: Option<Duration>,
}

impl SseReader {
    /// Reads the body of a response (its status and content type are the caller's to check).
    pub fn new(resp: reqwest::Response) -> Self {
        Self::from_stream(resp.bytes_stream())
    }

    /// Reads any stream of byte chunks (tests of the reader itself feed it chunks).
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        Self {
            stream: stream.map(|c| c.map_err(|e| e.to_string())).boxed(),
            buf: Vec::new(),
            chunk_timeout: None,
        }
    }

    /// Fails (panics) when no bytes arrive for `limit` (a hung stream fails the test).
    pub fn with_chunk_timeout(mut self, limit: Duration) -> Self {
        self.chunk_timeout = Some(limit);
        self
    }

    /// The next event (comments and keep-alives skipped); `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = event_end(&self.buf) {
                let block: Vec<u8> = self.buf.drain(..end).collect();
                let block = std::str::from_utf8(&block).expect("an SSE event is UTF-8");
                if let Some(event) = parse_event(block) {
                    return Some(event);
                }
            }
            let chunk = match self.chunk_timeout {
                Some(limit) => tokio::time::timeout(limit, self.stream.next())
                    .await
                    .unwrap_or_else(|_| panic!("no SSE bytes within {limit:?}"))?,
                None => self.stream.next().await?,
            };
            self.buf
                .extend_from_slice(&chunk.unwrap_or_else(|e| panic!("SSE stream: {e}")));
        }
    }

    /// Events with ids (the log) until and including the first whose kind is in `until`.
    pub async fn until(&mut self, until: &[&str]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            let stop = until.contains(&e.event.as_str()) && e.id.is_some();
            out.push(e);
            if stop {
                break;
            }
        }
        out
    }
}

/// The length of the first complete event in `buf` (its terminating blank line included).
fn event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One event block; `None` for a block without data (a comment, a keep-alive).
pub fn parse_event(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, String::from("message"), Vec::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.trim().parse().expect("numeric SSE id")),
            "event" => event = value.trim().to_string(),
            "data" => data.push(value),
            _ => {} // a comment (`: keep-alive`) or `retry:`
        }
    }
    if data.is_empty() {
        return None;
    }
    let data = data.join("\n");
    let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("SSE data {data:?}: {e}"));
    Some(SseEvent { id, event, data })
}
