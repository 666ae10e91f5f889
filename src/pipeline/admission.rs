//! Admission control: at most `max_parallel` analyses run, at most `max_queued` wait (each for at
//! most `queue_timeout`); everyone else is told to come back later, at once.
//!
//! A waiter's place in the queue is held by a guard, so a request whose client goes away while
//! queued (its future is dropped) leaves the queue immediately. Permits are owned
//! (`acquire_owned`) so they can move into the task doing the work and are released on every path,
//! panics included.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::progress::Stage;

/// Recent analysis durations kept for averages, p95 and Retry-After estimates.
const RECENT_DURATIONS: usize = 200;

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("the analysis queue is full ({queued} waiting); retry in {retry_after_sec} s")]
    QueueFull { queued: usize, retry_after_sec: u64 },
    #[error("no analysis slot became free within {waited_sec:.0} s; retry in {retry_after_sec} s")]
    QueueTimeout {
        waited_sec: f64,
        retry_after_sec: u64,
    },
    #[error("the service is shutting down; retry in {retry_after_sec} s")]
    ShuttingDown { retry_after_sec: u64 },
}

impl Rejection {
    pub fn retry_after_sec(&self) -> u64 {
        match self {
            Self::QueueFull {
                retry_after_sec, ..
            }
            | Self::QueueTimeout {
                retry_after_sec, ..
            }
            | Self::ShuttingDown { retry_after_sec } => *retry_after_sec,
        }
    }
}

/// Pipeline stages whose durations are averaged in stats.
pub const STAGES: [Stage; 5] = [
    Stage::Decode,
    Stage::Vad,
    Stage::Asr,
    Stage::Analysis,
    Stage::Feedback,
];

/// The gate in front of the analysis pipeline, plus its counters.
pub struct Admission {
    semaphore: Arc<Semaphore>,
    max_parallel: usize,
    max_queued: usize,
    queue_timeout: Duration,
    queued: AtomicUsize,
    /// Tickets of the waiters in the queue, in arrival order (for queue positions).
    waiting: Mutex<std::collections::BTreeSet<u64>>,
    next_ticket: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    timed_out: AtomicU64,
    cancelled: AtomicU64,
    recent: Mutex<Recent>,
}

#[derive(Default)]
struct Recent {
    totals_ms: VecDeque<f64>,
    stages_ms: [(f64, u64); STAGES.len()],
}

/// `GET /stats/pipeline`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PipelineStats {
    pub active: usize,
    pub max_parallel: usize,
    pub queued: usize,
    /// Same as `queued` (the name the replaced service used).
    pub queue_length: usize,
    pub max_queued: usize,
    pub completed: u64,
    pub failed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    /// Analyses stopped because every request waiting for them cancelled.
    pub cancelled: u64,
    pub avg_duration_ms: f64,
    pub p95_duration_ms: f64,
    pub stage_avg_ms: std::collections::BTreeMap<Stage, f64>,
}

/// Holds a place in the queue; dropping it (e.g. client gone) frees the place.
struct QueuePlace<'a> {
    admission: &'a Admission,
    ticket: u64,
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.admission
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.ticket);
        self.admission.queued.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    pub fn new(max_parallel: usize, max_queued: usize, queue_timeout: Duration) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(max_parallel.max(1))),
            max_parallel: max_parallel.max(1),
            max_queued,
            queue_timeout,
            queued: AtomicUsize::new(0),
            waiting: Mutex::default(),
            next_ticket: AtomicU64::new(1),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            recent: Mutex::new(Recent::default()),
        }
    }

    /// Waits for a slot (or refuses at once when the queue is full).
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, Rejection> {
        self.acquire_with(None, &|_| {}).await
    }

    /// Like [`Self::acquire`], waiting in the queue at most `queue_timeout` (`None`: the
    /// configured one; jobs wait longer than requests), and telling `on_queued` the queue ticket when it has to wait
    /// ([`Self::queue_position`]).
    pub async fn acquire_with(
        &self,
        queue_timeout: Option<Duration>,
        on_queued: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<OwnedSemaphorePermit, Rejection> {
        let queue_timeout = queue_timeout.unwrap_or(self.queue_timeout);
        if let Ok(permit) = self.semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        // Take a queue place atomically, or refuse.
        let took = self
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                (q < self.max_queued).then_some(q + 1)
            });
        let Ok(_) = took else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Rejection::QueueFull {
                queued: self.queued.load(Ordering::SeqCst),
                retry_after_sec: self.retry_after_sec(),
            });
        };
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ticket);
        let _place = QueuePlace {
            admission: self,
            ticket,
        };
        on_queued(ticket);
        match tokio::time::timeout(queue_timeout, self.semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(Rejection::ShuttingDown {
                retry_after_sec: self.retry_after_sec(),
            }),
            Err(_) => {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(Rejection::QueueTimeout {
                    waited_sec: queue_timeout.as_secs_f64(),
                    retry_after_sec: self.retry_after_sec(),
                })
            }
        }
    }

    /// A slot now if one is free (no queueing): a Redis job's worker takes a job only then.
    pub fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.semaphore.clone().try_acquire_owned().ok()
    }

    /// Whether an analysis could start now without queueing.
    pub fn has_free_slot(&self) -> bool {
        self.semaphore.available_permits() > 0
    }

    /// Analyses allowed at once (`MAX_CONCURRENT_ANALYSES`).
    pub fn max_parallel(&self) -> usize {
        self.max_parallel
    }

    /// Stops admitting: queued and future waiters are refused (graceful shutdown).
    pub fn close(&self) {
        self.semaphore.close();
    }

    /// Counts a rejection decided elsewhere (e.g. shutting down before queueing).
    pub fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished analysis with its per-stage durations.
    pub fn record_success(&self, total: Duration, stages: &[(Stage, Duration)]) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if r.totals_ms.len() == RECENT_DURATIONS {
            r.totals_ms.pop_front();
        }
        r.totals_ms.push_back(total.as_secs_f64() * 1000.0);
        for (stage, d) in stages {
            if let Some(i) = STAGES.iter().position(|s| s == stage) {
                r.stages_ms[i].0 += d.as_secs_f64() * 1000.0;
                r.stages_ms[i].1 += 1;
            }
        }
    }

    /// An analysis stopped because everyone waiting for it cancelled (not a failure).
    pub fn record_cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_failure(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_timeout(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Running analyses.
    pub fn active(&self) -> usize {
        self.max_parallel - self.semaphore.available_permits().min(self.max_parallel)
    }

    /// 1-based place of a waiting ticket in the queue (`None`: no longer waiting).
    pub fn queue_position(&self, ticket: u64) -> Option<usize> {
        let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting
            .contains(&ticket)
            .then(|| waiting.range(..ticket).count() + 1)
    }

    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Seconds a refused client should wait: the expected time for the work ahead of it to
    /// drain, from recent durations (30 s per analysis until anything was measured).
    pub fn retry_after_sec(&self) -> u64 {
        let avg_ms = {
            let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if r.totals_ms.is_empty() {
                30_000.0
            } else {
                r.totals_ms.iter().sum::<f64>() / r.totals_ms.len() as f64
            }
        };
        let ahead = (self.active() + self.queued()) as f64 / self.max_parallel as f64;
        ((avg_ms / 1000.0) * ahead.max(1.0))
            .ceil()
            .clamp(1.0, 600.0) as u64
    }

    pub fn stats(&self) -> PipelineStats {
        let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let mut sorted: Vec<f64> = r.totals_ms.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let avg = if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().sum::<f64>() / sorted.len() as f64
        };
        let p95 = if sorted.is_empty() {
            0.0
        } else {
            sorted[((sorted.len() as f64 * 0.95).ceil() as usize).clamp(1, sorted.len()) - 1]
        };
        let stage_avg_ms = STAGES
            .iter()
            .zip(r.stages_ms.iter())
            .map(|(stage, (sum, n))| {
                let v = if *n == 0 { 0.0 } else { sum / *n as f64 };
                (*stage, (v * 10.0).round() / 10.0)
            })
            .collect();
        let queued = self.queued();
        PipelineStats {
            active: self.active(),
            max_parallel: self.max_parallel,
            queued,
            queue_length: queued,
            max_queued: self.max_queued,
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            avg_duration_ms: (avg * 10.0).round() / 10.0,
            p95_duration_ms: (p95 * 10.0).round() / 10.0,
            stage_avg_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn two_slots_four_places_rest_refused() {
        let adm = Arc::new(Admission::new(2, 4, Duration::from_secs(30)));
        let p1 = adm.acquire().await.unwrap();
        let _p2 = adm.acquire().await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..4 {
            let a = adm.clone();
            waiters.push(tokio::spawn(async move { a.acquire().await }));
        }
        tokio::task::yield_now().await;
        while adm.queued() < 4 {
            tokio::task::yield_now().await;
        }
        for _ in 0..4 {
            assert!(matches!(
                adm.acquire().await,
                Err(Rejection::QueueFull { .. })
            ));
        }
        let s = adm.stats();
        assert_eq!((s.active, s.queued, s.rejected), (2, 4, 4));
        drop(p1);
        let first = waiters.remove(0).await.unwrap().unwrap();
        assert_eq!(adm.queued(), 3);
        drop(first);
        for w in waiters {
            // Each waiter gets the slot freed by the previous one.
            drop(w.await.unwrap().unwrap());
        }
        assert_eq!(adm.stats().queued, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn queue_timeout_refuses_and_counts() {
        let adm = Admission::new(1, 1, Duration::from_secs(5));
        let _p = adm.acquire().await.unwrap();
        let err = adm.acquire().await.unwrap_err();
        assert!(matches!(err, Rejection::QueueTimeout { .. }));
        let s = adm.stats();
        assert_eq!((s.timed_out, s.rejected, s.queued), (1, 1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_waiter_frees_its_place() {
        let adm = Arc::new(Admission::new(1, 1, Duration::from_secs(60)));
        let _p = adm.acquire().await.unwrap();
        let a = adm.clone();
        let waiter = tokio::spawn(async move { a.acquire().await });
        while adm.queued() == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(adm.queued(), 0);
        // The freed place can be taken again.
        let a = adm.clone();
        let again = tokio::spawn(async move { a.acquire().await });
        while adm.queued() == 0 {
            tokio::task::yield_now().await;
        }
        again.abort();
    }

    #[test]
    fn retry_after_follows_recent_durations() {
        let adm = Admission::new(2, 4, Duration::from_secs(1));
        assert_eq!(adm.retry_after_sec(), 30);
        adm.record_success(
            Duration::from_secs(4),
            &[(Stage::Asr, Duration::from_secs(3))],
        );
        assert_eq!(adm.retry_after_sec(), 4);
        let s = adm.stats();
        assert_eq!(s.completed, 1);
        assert_eq!(s.stage_avg_ms[&Stage::Asr], 3000.0);
        assert_eq!(s.p95_duration_ms, 4000.0);
    }
}
