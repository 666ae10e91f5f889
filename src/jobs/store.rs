//! Where job records and their event logs live: a narrow async trait, and the in-memory store.
//!
//! The trait is what a shared store for many replicas must offer (records and logs are serde
//! types; `events` is a blocking read, as `XREAD BLOCK` on a Redis stream would be). Finished
//! jobs expire `JOB_TTL_SEC` after their last change; jobs still queued or running never do.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::record::{JobEvent, JobRecord, JobState, JobUpdate};
use super::{JobId, now_ms};

/// A store that cannot answer (a shared store's connection); the API answers 503.
#[derive(Debug, Clone, thiserror::Error)]
#[error("job store unavailable: {0}")]
pub struct StoreError(pub String);

/// Jobs in the store by state (expired ones not counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobCounts {
    pub queued: usize,
    pub running: usize,
    pub done: usize,
    pub failed: usize,
    pub cancelled: usize,
}

impl JobCounts {
    fn add(&mut self, state: JobState) {
        match state {
            JobState::Queued => self.queued += 1,
            JobState::Running => self.running += 1,
            JobState::Done => self.done += 1,
            JobState::Failed => self.failed += 1,
            JobState::Cancelled => self.cancelled += 1,
        }
    }

    /// `(state, count)` for every state, in lifecycle order (metrics).
    pub fn by_state(&self) -> BTreeMap<JobState, usize> {
        JobState::ALL
            .iter()
            .map(|&s| {
                let n = match s {
                    JobState::Queued => self.queued,
                    JobState::Running => self.running,
                    JobState::Done => self.done,
                    JobState::Failed => self.failed,
                    JobState::Cancelled => self.cancelled,
                };
                (s, n)
            })
            .collect()
    }
}

/// Job records and their event logs.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Stores a new job with its first event ([`JobRecord::created_event`]).
    async fn create(&self, record: JobRecord) -> Result<(), StoreError>;

    /// The job's record (`None`: unknown or expired).
    async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError>;

    /// Applies an update through the state machine and appends its events; returns them
    /// (empty: nothing changed, or no such job).
    async fn update(&self, id: &JobId, update: JobUpdate) -> Result<Vec<JobEvent>, StoreError>;

    /// The events with ids above `after`, waiting up to `wait` for the next one when there are
    /// none yet (then possibly empty). `None`: unknown or expired job.
    async fn events(
        &self,
        id: &JobId,
        after: u64,
        wait: Duration,
    ) -> Result<Option<Vec<JobEvent>>, StoreError>;

    /// Forgets a job (one refused at `POST /jobs`, whose id nobody was given).
    async fn remove(&self, id: &JobId) -> Result<(), StoreError>;

    /// Jobs by state.
    async fn counts(&self) -> Result<JobCounts, StoreError>;
}

/// The default store: one process' memory.
pub struct MemoryJobStore {
    ttl: Duration,
    jobs: Mutex<HashMap<JobId, Entry>>,
}

struct Entry {
    record: JobRecord,
    events: Vec<JobEvent>,
    /// Woken on every appended event (SSE readers wait here).
    appended: Arc<Notify>,
    /// Last change (a finished job expires `ttl` after it).
    touched: Instant,
}

impl Entry {
    fn expired(&self, ttl: Duration, now: Instant) -> bool {
        self.record.public.state.is_terminal() && now.duration_since(self.touched) >= ttl
    }
}

impl MemoryJobStore {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            jobs: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Entry>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live entry of `id`, dropping it first if it expired.
    fn live<'a>(
        map: &'a mut HashMap<JobId, Entry>,
        id: &JobId,
        ttl: Duration,
    ) -> Option<&'a mut Entry> {
        if map.get(id).is_some_and(|e| e.expired(ttl, Instant::now())) {
            map.remove(id);
        }
        map.get_mut(id)
    }

    /// Drops every expired job; returns how many (the runner sweeps periodically).
    pub fn purge_expired(&self) -> usize {
        let now = Instant::now();
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, e| !e.expired(self.ttl, now));
        before - map.len()
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn create(&self, mut record: JobRecord) -> Result<(), StoreError> {
        let first = record.created_event();
        self.lock().insert(
            record.id.clone(),
            Entry {
                record,
                events: vec![first],
                appended: Arc::new(Notify::new()),
                touched: Instant::now(),
            },
        );
        Ok(())
    }

    async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let mut map = self.lock();
        Ok(Self::live(&mut map, id, self.ttl).map(|e| e.record.clone()))
    }

    async fn update(&self, id: &JobId, update: JobUpdate) -> Result<Vec<JobEvent>, StoreError> {
        let mut map = self.lock();
        let Some(entry) = Self::live(&mut map, id, self.ttl) else {
            return Ok(Vec::new());
        };
        let events = entry.record.apply(update, now_ms());
        if !events.is_empty() {
            entry.touched = Instant::now();
            entry.events.extend(events.iter().cloned());
            entry.appended.notify_waiters();
        }
        Ok(events)
    }

    async fn events(
        &self,
        id: &JobId,
        after: u64,
        wait: Duration,
    ) -> Result<Option<Vec<JobEvent>>, StoreError> {
        let appended = {
            let mut map = self.lock();
            let Some(entry) = Self::live(&mut map, id, self.ttl) else {
                return Ok(None);
            };
            let newer = newer_than(&entry.events, after);
            if !newer.is_empty() || entry.record.public.state.is_terminal() {
                return Ok(Some(newer));
            }
            entry.appended.clone()
        };
        // Enable the waiter, then look again: an append made since the first look is either
        // seen now or wakes the waiter.
        let notified = appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut map = self.lock();
            let Some(entry) = Self::live(&mut map, id, self.ttl) else {
                return Ok(None);
            };
            let newer = newer_than(&entry.events, after);
            if !newer.is_empty() {
                return Ok(Some(newer));
            }
        }
        let _ = tokio::time::timeout(wait, notified).await;
        let mut map = self.lock();
        Ok(Self::live(&mut map, id, self.ttl).map(|e| newer_than(&e.events, after)))
    }

    async fn remove(&self, id: &JobId) -> Result<(), StoreError> {
        self.lock().remove(id);
        Ok(())
    }

    async fn counts(&self) -> Result<JobCounts, StoreError> {
        self.purge_expired();
        let mut counts = JobCounts::default();
        for e in self.lock().values() {
            counts.add(e.record.public.state);
        }
        Ok(counts)
    }
}

/// Events are numbered 1, 2, 3… in order, so the ones after `after` are a suffix.
fn newer_than(events: &[JobEvent], after: u64) -> Vec<JobEvent> {
    let start = events.partition_point(|e| e.id <= after);
    events[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Stage;

    fn new_record() -> JobRecord {
        JobRecord::new(JobId::random(), "hash".into(), None, false, None, now_ms())
    }

    #[tokio::test(start_paused = true)]
    async fn finished_jobs_expire_after_the_ttl_running_ones_never() {
        let store = MemoryJobStore::new(Duration::from_secs(60));
        let (a, b) = (new_record(), new_record());
        let (ida, idb) = (a.id.clone(), b.id.clone());
        store.create(a).await.unwrap();
        store.create(b).await.unwrap();
        store.update(&ida, JobUpdate::Cancelled).await.unwrap();
        store
            .update(
                &idb,
                JobUpdate::Stage {
                    stage: Stage::Decode,
                },
            )
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(store.get(&ida).await.unwrap().is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            store.get(&ida).await.unwrap().is_none(),
            "expired at the TTL"
        );
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(store.get(&idb).await.unwrap().is_some(), "running: kept");
        let counts = store.counts().await.unwrap();
        assert_eq!((counts.running, counts.cancelled), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn events_resume_after_an_id_and_a_reader_is_woken_by_an_append() {
        let store = Arc::new(MemoryJobStore::new(Duration::from_secs(60)));
        let r = new_record();
        let id = r.id.clone();
        store.create(r).await.unwrap();
        let all = store.events(&id, 0, Duration::ZERO).await.unwrap().unwrap();
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1]);
        let reader = {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.events(&id, 1, Duration::from_secs(30)).await })
        };
        tokio::task::yield_now().await;
        store
            .update(
                &id,
                JobUpdate::Stage {
                    stage: Stage::Decode,
                },
            )
            .await
            .unwrap();
        let got = reader.await.unwrap().unwrap().unwrap();
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2, 3]);
        // Nothing new: waits the full time, then empty.
        let none = store.events(&id, 3, Duration::from_secs(5)).await.unwrap();
        assert_eq!(none, Some(vec![]));
    }
}
