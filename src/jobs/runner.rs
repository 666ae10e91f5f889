//! Starting, feeding and cancelling jobs.
//!
//! A job is one task per accepted upload: it calls [`AnalysisService::analyze`] (the very path of
//! `/analyze`: cache, single-flight, admission, stages) with a sink that forwards every progress
//! event to the job's store, in order. `POST /jobs` answers only once the job is *accepted* — it
//! holds a queue place or a slot, follows an identical upload's analysis, or is already done — so
//! a job the queue cannot take is refused with 503 and never accepted and then lost.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::record::{JobError, JobRecord, JobRehearsal, JobUpdate};
use super::redis_store::{EnqueueError, RedisJobs};
use super::store::{JobCounts, JobStore, StoreError};
use super::{JobId, now_ms};
use crate::pipeline::service::is_cancellation;
use crate::pipeline::{
    AnalysisError, AnalysisService, Analyzed, Job, ProgressEvent, ProgressSink, Rejection,
};
use crate::report::Report;

/// Maps an analysis error to the JSON error `/analyze` would have answered (supplied by the HTTP
/// layer, which owns that mapping), given the job's request id.
pub type ErrorBody = fn(&AnalysisError, Option<String>) -> JobError;

/// What happens to a finished job's report before it is stored as `done`, on whichever replica
/// finished it (supplied by the HTTP layer: a job with a `speaker` records its rehearsal, and
/// the report gains the advice that knows the speaker's history, as `/analyze` answers it).
pub type Finisher =
    Arc<dyn Fn(JobRecord, Report) -> futures::future::BoxFuture<'static, Report> + Send + Sync>;

/// How long `DELETE /jobs/{id}` waits for the job's task to record the cancellation (it only has
/// to drop its analysis future and write one update).
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// The jobs of this process.
pub struct Jobs {
    pub(super) store: Arc<dyn JobStore>,
    pub(super) analysis: Arc<AnalysisService>,
    /// `JOB_QUEUE_TIMEOUT_SEC`: a job waits this long for a slot (requests wait less).
    pub(super) queue_timeout: Duration,
    pub(super) error_body: ErrorBody,
    /// Cancel tokens of the jobs whose task runs here, removed when the task ends.
    pub(super) active: Mutex<HashMap<JobId, CancellationToken>>,
    /// Jobs on Redis Streams, shared by every replica (issue 15); `None`: in-process jobs.
    pub(super) queue: Option<Arc<RedisJobs>>,
    /// Set once at startup ([`Jobs::set_finisher`]); `None`: reports are stored as analysed.
    pub(super) finisher: std::sync::OnceLock<Finisher>,
}

/// Whether jobs can be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobsStatus {
    Ok,
    /// The jobs Redis does not answer: `POST /jobs` is refused with 503 (nothing accepted is
    /// lost), `/analyze` still works.
    Unavailable,
}

/// Where job records and the queue live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobsBackend {
    /// In this process (no `REDIS_URL`).
    Memory,
    /// A Redis stream shared by every replica.
    Redis,
}

/// The jobs component of `/health`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobsHealth {
    pub status: JobsStatus,
    pub backend: JobsBackend,
    /// This replica's workers (`WORKERS_PER_REPLICA`); `None` in-process.
    pub workers: Option<usize>,
    /// Jobs whose analysis runs in this process now.
    pub active: usize,
    /// Whether `POST /jobs` accepts jobs now.
    pub accepting: bool,
}

/// What `POST /jobs` is about to analyse.
pub struct Submission {
    pub path: PathBuf,
    pub content_hash: String,
    pub language: Option<String>,
    /// `detail=summary`.
    pub summary: bool,
    pub request_id: Option<String>,
    /// Record the report as this speaker's rehearsal when done.
    pub rehearsal: Option<JobRehearsal>,
}

/// Why a job was not created.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The pipeline refused it (queue full, shutting down): answer what `/analyze` would.
    #[error(transparent)]
    Refused(AnalysisError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Jobs go through Redis, which cannot be reached: nothing was accepted, retry later.
    #[error("the job queue cannot be reached: {0}")]
    QueueUnavailable(StoreError),
}

/// The job's task tells `POST /jobs` whether the job was accepted.
enum Acceptance {
    Accepted,
    Refused(AnalysisError),
}

/// Forwards the analysis' events to the job's task; says "cancelled" once the job is.
#[derive(Debug)]
pub(super) struct JobSink {
    pub(super) tx: mpsc::UnboundedSender<ProgressEvent>,
    pub(super) cancel: CancellationToken,
}

impl ProgressSink for JobSink {
    fn event(&self, event: &ProgressEvent) {
        // The task is gone only when the job has ended: nothing left to tell.
        let _ = self.tx.send(event.clone());
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl Jobs {
    pub fn new(
        store: Arc<dyn JobStore>,
        analysis: Arc<AnalysisService>,
        queue_timeout: Duration,
        error_body: ErrorBody,
    ) -> Self {
        Self {
            store,
            analysis,
            queue_timeout,
            error_body,
            active: Mutex::default(),
            queue: None,
            finisher: std::sync::OnceLock::new(),
        }
    }

    /// Installs what runs on every finished report before it is stored (once; later calls
    /// are ignored).
    pub fn set_finisher(&self, finisher: Finisher) {
        let _ = self.finisher.set(finisher);
    }

    /// The `done` update of a finished analysis: the report after the finisher (a rehearsal
    /// recorded, history-aware advice) when the job asked for one.
    pub(super) async fn done(&self, record: &JobRecord, analyzed: Analyzed) -> JobUpdate {
        let mut report = analyzed.report;
        if record.rehearsal.is_some()
            && let Some(finish) = self.finisher.get()
        {
            report = finish(record.clone(), report).await;
        }
        JobUpdate::Done {
            cache: analyzed.outcome.header_value().to_string(),
            report: Box::new(report),
        }
    }

    /// Jobs on Redis: records, events and uploads in Redis, the work on a stream every
    /// replica's workers read (start them with [`super::worker::start`]).
    pub fn distributed(
        queue: Arc<RedisJobs>,
        analysis: Arc<AnalysisService>,
        queue_timeout: Duration,
        error_body: ErrorBody,
    ) -> Self {
        Self {
            store: queue.clone(),
            queue: Some(queue),
            ..Self::new(
                Arc::new(super::MemoryJobStore::new(Duration::from_secs(1))),
                analysis,
                queue_timeout,
                error_body,
            )
        }
    }

    /// The Redis queue, when jobs are shared by replicas.
    pub fn queue(&self) -> Option<&Arc<RedisJobs>> {
        self.queue.as_ref()
    }

    /// For `/health`: where jobs live and whether that store answers (with Redis: a PING,
    /// bounded by `JOB_REDIS_TIMEOUT_MS` and at most half a second).
    pub async fn health(&self) -> JobsHealth {
        match &self.queue {
            None => JobsHealth {
                status: JobsStatus::Ok,
                backend: JobsBackend::Memory,
                workers: None,
                active: self.active(),
                accepting: true,
            },
            Some(q) => {
                let up = q.ping().await;
                JobsHealth {
                    status: if up {
                        JobsStatus::Ok
                    } else {
                        JobsStatus::Unavailable
                    },
                    backend: JobsBackend::Redis,
                    workers: Some(q.config().workers),
                    active: self.active(),
                    accepting: up,
                }
            }
        }
    }

    /// Enqueues a job on the Redis stream: stored for every replica, answered 202 at once.
    async fn submit_distributed(
        &self,
        queue: &RedisJobs,
        sub: Submission,
    ) -> Result<JobRecord, SubmitError> {
        let id = JobId::random();
        let mut record = JobRecord::new(
            id.clone(),
            sub.content_hash,
            sub.language,
            sub.summary,
            sub.request_id,
            now_ms(),
        );
        record.rehearsal = sub.rehearsal;
        match queue.enqueue(record, &sub.path).await {
            Ok(()) => {}
            Err(EnqueueError::QueueFull(n)) => {
                self.analysis.admission.count_rejected();
                return Err(SubmitError::Refused(AnalysisError::Rejected(
                    Rejection::QueueFull {
                        queued: n,
                        retry_after_sec: self.analysis.admission.retry_after_sec(),
                    },
                )));
            }
            Err(EnqueueError::BudgetFull) => {
                self.analysis.admission.count_rejected();
                let queued = queue.open_jobs().await.unwrap_or(0);
                return Err(SubmitError::Refused(AnalysisError::Rejected(
                    Rejection::QueueFull {
                        queued,
                        retry_after_sec: self.analysis.admission.retry_after_sec(),
                    },
                )));
            }
            Err(EnqueueError::Store(e)) => return Err(SubmitError::QueueUnavailable(e)),
        }
        self.store
            .get(&id)
            .await
            .map_err(SubmitError::QueueUnavailable)?
            .ok_or_else(|| StoreError("a job vanished right after it was created".into()).into())
    }

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    /// Creates a job for an upload and starts it; returns its record once it is accepted.
    /// `keep_alive` (the upload's temp file) lives until the analysis is over.
    pub async fn submit<K: Send + Sync + 'static>(
        self: &Arc<Self>,
        sub: Submission,
        keep_alive: K,
    ) -> Result<JobRecord, SubmitError> {
        if let Some(queue) = &self.queue {
            // The upload is in Redis once this returns; the local file can go.
            let r = self.submit_distributed(queue, sub).await;
            drop(keep_alive);
            return r;
        }
        let id = JobId::random();
        let mut record = JobRecord::new(
            id.clone(),
            sub.content_hash.clone(),
            sub.language.clone(),
            sub.summary,
            sub.request_id.clone(),
            now_ms(),
        );
        record.rehearsal = sub.rehearsal.clone();
        self.store.create(record.clone()).await?;
        let cancel = CancellationToken::new();
        self.lock_active().insert(id.clone(), cancel.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let job = Job {
            path: sub.path,
            content_hash: sub.content_hash,
            language: sub.language,
            progress: Some(Arc::new(JobSink {
                tx,
                cancel: cancel.clone(),
            })),
            queue_timeout: Some(self.queue_timeout),
            slot: None,
        };
        let (accept_tx, accept_rx) = oneshot::channel();
        let jobs = self.clone();
        tokio::spawn(async move {
            jobs.run(record, job, keep_alive, rx, cancel, accept_tx)
                .await;
        });
        match accept_rx.await {
            Ok(Acceptance::Accepted) => {}
            Ok(Acceptance::Refused(e)) => {
                self.store.remove(&id).await?;
                return Err(SubmitError::Refused(e));
            }
            Err(_) => {
                // The task panicked before deciding: nobody has the id, forget the job.
                self.store.remove(&id).await?;
                return Err(SubmitError::Refused(AnalysisError::Internal(
                    "the job's task ended before it was accepted".into(),
                )));
            }
        }
        self.store
            .get(&id)
            .await?
            .ok_or_else(|| StoreError("a job vanished right after it was created".into()).into())
    }

    /// Drives an analysis while applying its progress events to the job's record, until it ends
    /// or `cancel` fires (`None`: dropping the analysis future is the cancelling leave, its sink
    /// then says "cancelled", see `AnalysisService::analyze`). `on_event` runs before each event
    /// is applied; the events reported just before the end are applied too.
    pub(super) async fn follow(
        &self,
        id: &JobId,
        analyzing: impl Future<Output = Result<Analyzed, AnalysisError>>,
        rx: &mut mpsc::UnboundedReceiver<ProgressEvent>,
        cancel: &CancellationToken,
        mut on_event: impl FnMut(),
    ) -> Option<Result<Analyzed, AnalysisError>> {
        tokio::pin!(analyzing);
        let result = loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break None,
                Some(event) = rx.recv() => {
                    on_event();
                    self.apply(id, event_update(event)).await;
                }
                result = &mut analyzing => break Some(result),
            }
        };
        while let Ok(event) = rx.try_recv() {
            self.apply(id, event_update(event)).await;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn run<K: Send + Sync + 'static>(
        self: Arc<Self>,
        record: JobRecord,
        job: Job,
        keep_alive: K,
        mut rx: mpsc::UnboundedReceiver<ProgressEvent>,
        cancel: CancellationToken,
        accept_tx: oneshot::Sender<Acceptance>,
    ) {
        let id = record.id.clone();
        let request_id = record.request_id.clone();
        let mut accept_tx = Some(accept_tx);
        let analysis = self.analysis.clone();
        let accepted = || {
            if let Some(tx) = accept_tx.take() {
                let _ = tx.send(Acceptance::Accepted);
            }
        };
        let result = self
            .follow(
                &id,
                analysis.analyze(job, keep_alive),
                &mut rx,
                &cancel,
                accepted,
            )
            .await;
        let update = match result {
            None => JobUpdate::Cancelled,
            Some(Ok(analyzed)) => self.done(&record, analyzed).await,
            Some(Err(e)) if accept_tx.is_some() && is_refusal(&e) => {
                // Refused before anyone was told the id: POST /jobs answers 503.
                self.lock_active().remove(&id);
                if let Some(tx) = accept_tx.take() {
                    let _ = tx.send(Acceptance::Refused(e));
                }
                return;
            }
            Some(Err(e)) if is_cancellation(&e) && cancel.is_cancelled() => JobUpdate::Cancelled,
            Some(Err(e)) => JobUpdate::Failed {
                error: (self.error_body)(&e, request_id),
            },
        };
        self.apply(&id, update).await;
        self.lock_active().remove(&id);
        if let Some(tx) = accept_tx.take() {
            let _ = tx.send(Acceptance::Accepted);
        }
    }

    pub(super) async fn apply(&self, id: &JobId, update: JobUpdate) {
        if let Err(e) = self.store.update(id, update).await {
            tracing::warn!(job = %id, error = %e, "job update lost");
        }
    }

    /// The job's record (`None`: unknown or expired).
    pub async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        self.store.get(id).await
    }

    /// Cancels a queued or running job and returns its record once the cancellation is
    /// recorded; a finished job is returned unchanged. `None`: unknown or expired.
    pub async fn cancel(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        let Some(record) = self.store.get(id).await? else {
            return Ok(None);
        };
        if record.public.state.is_terminal() {
            return Ok(Some(record));
        }
        if let Some(queue) = &self.queue {
            // Whichever replica runs it sees the record cancelled at its next heartbeat and
            // stops (the analysis, if nobody else waits for it, at its next window); one still
            // waiting in the stream leaves it now.
            self.store.update(id, JobUpdate::Cancelled).await?;
            if record.public.state == super::JobState::Queued {
                queue.discard(id).await?;
            }
            return self.store.get(id).await;
        }
        let token = self.lock_active().get(id).cloned();
        match token {
            Some(token) => {
                token.cancel();
                let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
                let mut seen = record.public.last_event_id;
                while tokio::time::Instant::now() < deadline {
                    match self.store.events(id, seen, CANCEL_WAIT).await? {
                        Some(events) if events.iter().any(|e| e.kind.is_terminal()) => break,
                        Some(events) => seen = events.last().map_or(seen, |e| e.id),
                        None => return Ok(None),
                    }
                }
            }
            // No task of ours runs it (it just ended): record the cancellation, which the state
            // machine ignores if the job finished meanwhile.
            None => {
                self.store.update(id, JobUpdate::Cancelled).await?;
            }
        }
        self.store.get(id).await
    }

    /// 1-based place in the admission queue of a queued job (`None`: not waiting for a slot).
    pub fn queue_position(&self, record: &JobRecord) -> Option<usize> {
        if self.queue.is_some() {
            // A ticket of some replica's local queue: no position in the cluster's stream.
            return None;
        }
        record
            .queue_ticket
            .and_then(|t| self.analysis.admission.queue_position(t))
    }

    /// Jobs whose task runs in this process (queued or running).
    pub fn active(&self) -> usize {
        self.lock_active().len()
    }

    /// Waits until no job runs here (graceful shutdown; the caller bounds the wait).
    pub async fn drained(&self) {
        while self.active() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn counts(&self) -> Result<JobCounts, StoreError> {
        self.store.counts().await
    }

    pub(super) fn lock_active(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<JobId, CancellationToken>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn event_update(event: ProgressEvent) -> JobUpdate {
    match event {
        ProgressEvent::Queued { ticket } => JobUpdate::Queued { ticket },
        ProgressEvent::Stage(stage) => JobUpdate::Stage { stage },
        ProgressEvent::Window(w) => w.into(),
    }
}

/// Refused by admission (queue full or timed out, shutting down), directly or shared.
fn is_refusal(e: &AnalysisError) -> bool {
    match e {
        AnalysisError::Rejected(_) => true,
        AnalysisError::Shared(inner) => is_refusal(inner),
        _ => false,
    }
}
