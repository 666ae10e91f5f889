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

use super::record::{JobError, JobRecord, JobUpdate};
use super::store::{JobCounts, JobStore, StoreError};
use super::{JobId, now_ms};
use crate::pipeline::service::is_cancellation;
use crate::pipeline::{AnalysisError, AnalysisService, Job, ProgressEvent, ProgressSink};

/// Maps an analysis error to the JSON error `/analyze` would have answered (supplied by the HTTP
/// layer, which owns that mapping), given the job's request id.
pub type ErrorBody = fn(&AnalysisError, Option<String>) -> JobError;

/// How long `DELETE /jobs/{id}` waits for the job's task to record the cancellation (it only has
/// to drop its analysis future and write one update).
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// The jobs of this process.
pub struct Jobs {
    store: Arc<dyn JobStore>,
    analysis: Arc<AnalysisService>,
    /// `JOB_QUEUE_TIMEOUT_SEC`: a job waits this long for a slot (requests wait less).
    queue_timeout: Duration,
    error_body: ErrorBody,
    /// Cancel tokens of the jobs whose task runs here, removed when the task ends.
    active: Mutex<HashMap<JobId, CancellationToken>>,
}

/// What `POST /jobs` is about to analyse.
pub struct Submission {
    pub path: PathBuf,
    pub content_hash: String,
    pub language: Option<String>,
    /// `detail=summary`.
    pub summary: bool,
    pub request_id: Option<String>,
}

/// Why a job was not created.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The pipeline refused it (queue full, shutting down): answer what `/analyze` would.
    #[error(transparent)]
    Refused(AnalysisError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The job's task tells `POST /jobs` whether the job was accepted.
enum Acceptance {
    Accepted,
    Refused(AnalysisError),
}

/// Forwards the analysis' events to the job's task; says "cancelled" once the job is.
#[derive(Debug)]
struct JobSink {
    tx: mpsc::UnboundedSender<ProgressEvent>,
    cancel: CancellationToken,
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
        }
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
        let id = JobId::random();
        let record = JobRecord::new(
            id.clone(),
            sub.content_hash.clone(),
            sub.language.clone(),
            sub.summary,
            sub.request_id.clone(),
            now_ms(),
        );
        self.store.create(record).await?;
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
        };
        let (accept_tx, accept_rx) = oneshot::channel();
        let jobs = self.clone();
        let task_id = id.clone();
        tokio::spawn(async move {
            jobs.run(
                task_id,
                job,
                keep_alive,
                rx,
                cancel,
                accept_tx,
                sub.request_id,
            )
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

    #[allow(clippy::too_many_arguments)]
    async fn run<K: Send + Sync + 'static>(
        self: Arc<Self>,
        id: JobId,
        job: Job,
        keep_alive: K,
        mut rx: mpsc::UnboundedReceiver<ProgressEvent>,
        cancel: CancellationToken,
        accept_tx: oneshot::Sender<Acceptance>,
        request_id: Option<String>,
    ) {
        let mut accept_tx = Some(accept_tx);
        let result = {
            let analysis = self.analysis.clone();
            let analyzing = analysis.analyze(job, keep_alive);
            tokio::pin!(analyzing);
            loop {
                tokio::select! {
                    biased;
                    // Dropping the analysis future (leaving this block) is the cancelling leave:
                    // our sink now says "cancelled", see AnalysisService::analyze.
                    _ = cancel.cancelled() => break None,
                    Some(event) = rx.recv() => {
                        if let Some(tx) = accept_tx.take() {
                            let _ = tx.send(Acceptance::Accepted);
                        }
                        self.apply(&id, event_update(event)).await;
                    }
                    result = &mut analyzing => break Some(result),
                }
            }
        };
        // What the analysis reported just before it ended.
        while let Ok(event) = rx.try_recv() {
            self.apply(&id, event_update(event)).await;
        }
        let update = match result {
            None => JobUpdate::Cancelled,
            Some(Ok(analyzed)) => JobUpdate::Done {
                cache: analyzed.outcome.header_value().to_string(),
                report: Box::new(analyzed.report),
            },
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

    async fn apply(&self, id: &JobId, update: JobUpdate) {
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
        if record.state.is_terminal() {
            return Ok(Some(record));
        }
        let token = self.lock_active().get(id).cloned();
        match token {
            Some(token) => {
                token.cancel();
                let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
                let mut seen = record.last_event_id;
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

    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, CancellationToken>> {
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
