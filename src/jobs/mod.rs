//! Long analyses as jobs: `POST /jobs` answers 202 at once, the analysis runs through the same
//! cache → single-flight → admission → stages path as `/analyze`, and its progress (stages,
//! recogniser windows with their words) becomes a job record plus an event log that clients poll
//! (`GET /jobs/{id}`) or follow (`GET /jobs/{id}/events`, SSE with resumable event ids).
//!
//! Layout:
//! - `record`: [`JobRecord`], its states and the state machine turning progress into events.
//! - `store`: the narrow async [`JobStore`] trait (records and event logs, TTL) and the in-memory
//!   store. Records and events are serde types so a shared store (Redis Streams) can hold them.
//! - `runner`: [`Jobs`], which starts a job's analysis, feeds its store and cancels it.
//! - `redis_store`: with Redis, the store, the job stream (consumer group), the uploads,
//!   heartbeats and reclaiming, shared by every replica.
//! - `worker`: with Redis, this replica's workers: they take jobs from the stream while it has
//!   free analysis slots, heartbeat, and finish or retry them.

pub mod record;
pub mod redis_store;
pub mod runner;
pub mod store;
pub mod worker;

pub use record::{
    EventKind, JobError, JobEvent, JobProgress, JobPublic, JobRecord, JobRehearsal, JobState,
    JobUpdate, Partial,
};
pub use redis_store::RedisJobs;
pub use runner::{Finisher, Jobs, JobsBackend, JobsHealth, JobsStatus, SubmitError};
pub use store::{JobCounts, JobStore, MemoryJobStore, StoreError};

use serde::{Deserialize, Serialize};

/// A job id: 128 random bits from the OS, as 32 lowercase hex digits. Unguessable, so knowing
/// the id is what entitles a client to a job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh id. Panics only if the OS has no randomness source (then nothing else works).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random number generator");
        Self(hex::encode(bytes))
    }

    /// Accepts exactly 32 lowercase hex digits; anything else is no job of ours.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Milliseconds since the Unix epoch (record timestamps; expiry itself uses a monotonic clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::JobId;

    #[test]
    fn ids_are_random_128_bit_hex_and_parse_strictly() {
        let a = JobId::random();
        let b = JobId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(JobId::parse(a.as_str()), Some(a.clone()));
        for bad in [
            "",
            "abc",
            &a.as_str().to_uppercase(),
            &format!("{a}0"),
            "../../etc/passwd",
        ] {
            assert!(JobId::parse(bad).is_none(), "{bad}");
        }
    }
}
