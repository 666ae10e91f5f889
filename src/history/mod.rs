//! Rehearsal history: speakers (no accounts, an unguessable id), their rehearsals (the report as
//! answered plus its tracked numbers), goals; on SQLite or PostgreSQL through sqlx.
//!
//! Layout:
//! - `config`: [`HistoryConfig`], every setting with its environment variable.
//! - `id`: [`SpeakerId`], [`RehearsalId`]: 128 random bits, parsed strictly.
//! - `store`: [`Store`], the SQL (one text for both backends) and embedded migrations.
//! - `outbox`: [`Outbox`], writes kept for retry while the database is down (files in
//!   `<DATA_DIR>/history-outbox`, so a restart does not lose them).
//!
//! The progress math (baseline, deltas, best, goal status) is pure and lives in
//! [`crate::domain::progress`]; the endpoints are in `http::speakers`.

mod config;
mod id;
mod outbox;
mod store;

pub use config::HistoryConfig;
pub use id::{RehearsalId, SpeakerId};
pub use outbox::Outbox;
pub use store::{RehearsalFacts, RehearsalMeta, RehearsalRow, Store, StoreError};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::progress::{Goal, MetricValues, Sample};

/// What happened to a rehearsal write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// It is in the database.
    Recorded,
    /// The database is down: queued, retried in the background.
    Pending,
    /// It will not be recorded (unknown speaker, outbox full, refused row); says why.
    NotRecorded(String),
}

/// The history service: store + outbox + settings.
pub struct History {
    pub store: Store,
    pub outbox: Outbox,
    pub config: HistoryConfig,
    /// Last seen state of the database (for `/health`, without a query per probe).
    available: AtomicBool,
    /// Wakes the retry task when a write is queued.
    wake: Notify,
}

impl History {
    /// Opens the (lazy) pool: no connection is made, so a database that is down does not stop
    /// the service from starting.
    pub fn open(config: HistoryConfig) -> Result<Arc<Self>, String> {
        let store = Store::open(&config)?;
        let outbox_dir = config.outbox_dir();
        let (outbox, found) = Outbox::open(outbox_dir.clone(), config.outbox_capacity);
        if found.pending > 0 || found.unreadable > 0 {
            tracing::info!(
                pending = found.pending,
                unreadable = found.unreadable,
                dir = %outbox_dir.display(),
                "rehearsal writes of an earlier run found: retried"
            );
        }
        Ok(Arc::new(Self {
            store,
            outbox,
            available: AtomicBool::new(true),
            wake: Notify::new(),
            config,
        }))
    }

    fn seen<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        match &r {
            Err(StoreError::Unavailable(e)) => {
                if self.available.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "history database unavailable");
                }
            }
            _ => {
                if !self.available.swap(true, Ordering::Relaxed) {
                    tracing::info!("history database available again");
                }
            }
        }
        r
    }

    /// Migrates at startup when the database is there; otherwise on first use.
    pub async fn start(self: &Arc<Self>, shutdown: CancellationToken) {
        match self.seen(self.store.migrate().await) {
            Ok(()) => tracing::info!(backend = self.store.backend(), "history database ready"),
            Err(e) => tracing::warn!(error = %e, "history database not ready at startup"),
        }
        let me = self.clone();
        tokio::spawn(async move { me.retry_loop(shutdown).await });
    }

    async fn retry_loop(&self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.config.retry_interval) => {},
                _ = self.wake.notified() => {
                    // A write just failed: give the database a moment before retrying.
                    tokio::time::sleep(self.config.retry_interval).await;
                },
            }
            self.drain_outbox().await;
        }
        self.drain_outbox().await;
        if !self.outbox.is_empty() {
            tracing::warn!(
                pending = self.outbox.len(),
                dir = %self.config.outbox_dir().display(),
                "stopping with rehearsal writes the database has not taken: kept for the next start"
            );
        }
    }

    /// Retries pending writes, oldest first, until the database fails again.
    pub async fn drain_outbox(&self) {
        while let Some(row) = self.outbox.front() {
            match self.seen(self.store.insert_rehearsal(&row).await) {
                Ok(()) => {
                    // Counted before the write leaves the queue: whoever sees no pending write
                    // also sees it counted.
                    self.outbox.landed.fetch_add(1, Ordering::Relaxed);
                    self.outbox.pop_done(&row.id).await;
                    tracing::info!(rehearsal = %row.id, "pending rehearsal recorded");
                }
                Err(StoreError::Unavailable(_)) => return,
                Err(e) => {
                    self.outbox.dropped.fetch_add(1, Ordering::Relaxed);
                    self.outbox.pop_done(&row.id).await;
                    tracing::warn!(rehearsal = %row.id, error = %e, "pending rehearsal given up");
                }
            }
        }
    }

    /// Does this speaker exist? (`Err(Unavailable)` when the database cannot say now.)
    pub async fn speaker_exists(&self, id: &SpeakerId) -> Result<bool, StoreError> {
        self.seen(self.store.speaker_goals(id.as_str()).await)
            .map(|g| g.is_some())
    }

    /// The speaker's goals; `None` for an unknown speaker.
    pub async fn goals(&self, id: &SpeakerId) -> Result<Option<Vec<Goal>>, StoreError> {
        let raw = self.seen(self.store.speaker_goals(id.as_str()).await)?;
        Ok(raw.map(|g| serde_json::from_str(&g).unwrap_or_default()))
    }

    /// The speaker's most recent rehearsals (up to `HISTORY_MAX_REHEARSALS`), oldest first.
    pub async fn samples(
        &self,
        id: &SpeakerId,
    ) -> Result<Vec<(RehearsalMeta, Sample)>, StoreError> {
        let limit = self.config.max_rehearsals as i64;
        let mut rows = self.seen(self.store.list_rehearsals(id.as_str(), limit, 0).await)?;
        rows.reverse();
        Ok(rows
            .into_iter()
            .map(|m| {
                let values: MetricValues =
                    serde_json::from_str(&m.metrics_json).unwrap_or_default();
                let s = Sample {
                    rehearsal_id: m.facts.id.clone(),
                    recorded_at_ms: m.facts.recorded_at_ms,
                    values,
                };
                (m, s)
            })
            .collect())
    }

    /// Writes a rehearsal now, or queues it for retry when the database is down.
    pub async fn record(&self, row: RehearsalRow) -> RecordOutcome {
        match self.seen(self.store.insert_rehearsal(&row).await) {
            Ok(()) => RecordOutcome::Recorded,
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(rehearsal = %row.id, error = %e, "rehearsal write queued for retry");
                if self.outbox.push(row).await {
                    self.wake.notify_one();
                    RecordOutcome::Pending
                } else {
                    RecordOutcome::NotRecorded(format!(
                        "the history database is unavailable and {} writes are already waiting \
                         (HISTORY_OUTBOX_CAPACITY); this rehearsal was not saved",
                        self.config.outbox_capacity
                    ))
                }
            }
            Err(StoreError::UnknownSpeaker) => {
                RecordOutcome::NotRecorded("no such speaker (deleted?)".into())
            }
            Err(e) => {
                tracing::error!(rehearsal = %row.id, error = %e, "rehearsal write refused");
                RecordOutcome::NotRecorded("the history database refused the write".into())
            }
        }
    }

    /// Erases a speaker and its rehearsals (pending writes too); `None` if unknown.
    pub async fn delete_speaker(&self, id: &SpeakerId) -> Result<Option<u64>, StoreError> {
        let pending = self.outbox.forget_speaker(id.as_str()).await as u64;
        let erased = self.seen(self.store.delete_speaker(id.as_str()).await)?;
        Ok(erased.map(|n| n + pending))
    }

    /// The history component of `/health` (last seen state, no query).
    pub fn health(&self) -> HistoryHealth {
        let available = self.available.load(Ordering::Relaxed);
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        HistoryHealth {
            status: if available {
                HistoryStatus::Ok
            } else {
                HistoryStatus::Degraded
            },
            backend: self.store.backend(),
            pending_writes: self.outbox.len(),
            landed_after_retry: n(&self.outbox.landed),
            dropped: n(&self.outbox.dropped),
            overflowed: n(&self.outbox.overflowed),
        }
    }
}

/// Whether the history database took the last query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryStatus {
    Ok,
    /// The database did not answer: rehearsals wait in the outbox, reads fail with 503.
    Degraded,
}

/// The history component of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryHealth {
    pub status: HistoryStatus,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Rehearsal writes waiting in the outbox for the database.
    pub pending_writes: usize,
    pub landed_after_retry: u64,
    /// Writes given up after their retries.
    pub dropped: u64,
    /// Writes refused because the outbox was full.
    pub overflowed: u64,
}
