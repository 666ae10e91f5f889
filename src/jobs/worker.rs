//! This replica's workers for jobs on Redis (issue 15).
//!
//! One dispatcher per process takes a job from the stream only when it has a free worker
//! (`WORKERS_PER_REPLICA`) *and* a free analysis slot, which it hands to the job's analysis: a
//! replica whose slots are busy leaves new jobs to the others. It first reclaims jobs whose
//! worker stopped heartbeating (`XAUTOCLAIM`, min-idle = [`RedisJobsConfig::reclaim_after`]),
//! then reads new ones (`XREADGROUP`, blocking briefly).
//!
//! A worker counts the attempt, fetches the upload from Redis into a local temp file, runs the
//! very analysis `/analyze` runs (cache, single-flight, cross-replica lease, stages), forwards
//! its progress to the job's record and heartbeats the stream entry meanwhile. It ends the entry
//! (`XACK` + `XDEL`, upload removed) only once the job's terminal state is written — and, when
//! done, the report is in the shared cache. A server-side failure (5xx: remote ASR down, a
//! timeout) leaves the entry pending, so another attempt follows after the reclaim delay;
//! `JOB_MAX_ATTEMPTS` attempts end it `failed` with the last reason. A client-side failure (the
//! upload is no audio, too long) fails at once: retrying would not change it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::record::{JobError, JobRecord, JobUpdate};
use super::redis_store::{Delivery, RedisJobs};
use super::runner::{JobSink, Jobs};
use super::{JobId, now_ms};
use crate::config::RedisJobsConfig;
use crate::pipeline::service::is_cancellation;
use crate::pipeline::{AnalysisError, Job};

/// How long a finished job's last writes (terminal state, ack) are retried while Redis is away.
const FINISH_RETRY_FOR: Duration = Duration::from_secs(120);

/// This process' name in the consumer group: host, pid and 32 random bits, so a restarted
/// replica never takes over its previous life's entries by name (they are reclaimed instead).
pub fn consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".into());
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the OS random number generator");
    format!("{host}-{}-{}", std::process::id(), hex::encode(b))
}

/// Starts the dispatcher (when this replica has workers); it stops taking jobs once `stop` is
/// cancelled. Jobs already running go on (graceful shutdown waits for them, within its deadline;
/// any still running at exit are reclaimed by another replica).
pub fn start(jobs: Arc<Jobs>, upload_dir: PathBuf, stop: CancellationToken) {
    let Some(queue) = jobs.queue().cloned() else {
        return;
    };
    if queue.config().workers == 0 {
        tracing::info!("WORKERS_PER_REPLICA=0: this replica runs no jobs");
        return;
    }
    let consumer = consumer_name();
    tracing::info!(
        consumer,
        workers = queue.config().workers,
        "job workers started"
    );
    tokio::spawn(dispatch(jobs, queue, consumer, upload_dir, stop));
}

async fn dispatch(
    jobs: Arc<Jobs>,
    queue: Arc<RedisJobs>,
    consumer: String,
    upload_dir: PathBuf,
    stop: CancellationToken,
) {
    let cfg = queue.config().clone();
    let workers = Arc::new(Semaphore::new(cfg.workers));
    let mut grouped = false;
    let mut backoff = Duration::from_millis(50);
    let mut n = 0u64;
    loop {
        let worker = tokio::select! {
            _ = stop.cancelled() => return,
            w = workers.clone().acquire_owned() => w.expect("never closed"),
        };
        // Only with a free analysis slot: a replica whose slots are busy leaves jobs to others.
        while !jobs.analysis.admission.has_free_slot() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        if !grouped {
            match queue.ensure_group().await {
                Ok(()) => grouped = true,
                Err(e) => {
                    tracing::warn!(error = %e, "job stream unavailable; retrying");
                    drop(worker);
                    pause(&stop, &mut backoff).await;
                    continue;
                }
            }
        }
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            got = queue.next(&consumer) => got,
        };
        match next {
            Ok(Some(delivery)) => {
                backoff = Duration::from_millis(50);
                n += 1;
                // Taken now, before the next round looks for a free slot again (an /analyze
                // request may have taken it meanwhile: then the job queues here as one would).
                let slot = jobs.analysis.admission.try_acquire();
                let run = Run {
                    jobs: jobs.clone(),
                    queue: queue.clone(),
                    cfg: cfg.clone(),
                    consumer: consumer.clone(),
                    worker: format!("{consumer}/{n}"),
                    upload_dir: upload_dir.clone(),
                };
                tokio::spawn(async move {
                    let _worker = worker;
                    run.job(delivery, slot).await;
                });
            }
            Ok(None) => {
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                tracing::warn!(error = %e, "taking a job from the stream failed; retrying");
                drop(worker);
                grouped = false;
                pause(&stop, &mut backoff).await;
            }
        }
    }
}

async fn pause(stop: &CancellationToken, backoff: &mut Duration) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(*backoff) => {}
    }
    *backoff = (*backoff * 2).min(Duration::from_secs(2));
}

/// One worker's run of one delivered job.
struct Run {
    jobs: Arc<Jobs>,
    queue: Arc<RedisJobs>,
    cfg: RedisJobsConfig,
    consumer: String,
    worker: String,
    upload_dir: PathBuf,
}

/// How an attempt ended.
enum Ending {
    /// The terminal state is written (or was already): end the entry.
    Finished,
    /// A server-side failure: leave the entry pending for another attempt.
    Retry,
    /// Another worker owns the job now: touch nothing.
    Lost,
}

impl Run {
    async fn job(self, d: Delivery, slot: Option<tokio::sync::OwnedSemaphorePermit>) {
        let id = d.job.clone();
        let cancel = CancellationToken::new();
        self.jobs.lock_active().insert(id.clone(), cancel.clone());
        let ending = self.attempt(&d, slot, cancel).await;
        self.jobs.lock_active().remove(&id);
        match ending {
            Ending::Finished => self.end_entry(&d).await,
            Ending::Retry => {
                tracing::info!(job = %id, "attempt failed; another one follows after the reclaim delay")
            }
            Ending::Lost => {
                tracing::info!(job = %id, "job reclaimed by another worker; left to it")
            }
        }
    }

    async fn attempt(
        &self,
        d: &Delivery,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
        cancel: CancellationToken,
    ) -> Ending {
        let id = &d.job;
        // Heartbeats from the start: fetching a large upload must not look like a dead worker.
        let lost = Arc::new(AtomicBool::new(false));
        let beat = AbortOnDrop(tokio::spawn(heartbeat(
            self.queue.clone(),
            self.consumer.clone(),
            d.entry.clone(),
            id.clone(),
            self.cfg.heartbeat,
            cancel.clone(),
            lost.clone(),
        )));
        let attempt = match self.queue.begin_attempt(id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "could not start the attempt");
                return Ending::Retry;
            }
        };
        let Some(record) = attempt.record else {
            tracing::info!(job = %id, "job expired or removed before it ran");
            return Ending::Finished;
        };
        if record.public.state.is_terminal() {
            // Cancelled while waiting, or finished by an attempt whose worker died before
            // ending the entry.
            return Ending::Finished;
        }
        if let Some(update) = self.refusal(&record, attempt.number, &attempt.last_error) {
            return self.finish(id, update).await;
        }
        let retry_reason = (attempt.number > 1).then(|| {
            attempt
                .last_error
                .clone()
                .unwrap_or_else(|| self.lost_reason())
        });
        tracing::info!(job = %id, attempt = attempt.number, worker = self.worker, reclaimed = d.reclaimed, "job taken");
        self.jobs
            .apply(
                id,
                JobUpdate::Claimed {
                    worker: self.worker.clone(),
                    attempt: attempt.number,
                    retry_reason,
                },
            )
            .await;

        let file = match self.local_upload(d, &record).await {
            Ok(f) => f,
            Err(ending) => return ending,
        };
        let result = self.analyse(id, &record, file, slot, &cancel).await;
        drop(beat);
        if lost.load(Ordering::SeqCst) {
            if let Some(Ok(update)) = result {
                // Finished anyway: record it (the new owner then finds the job done).
                let _ = self.jobs.store.update(id, update).await;
            }
            return Ending::Lost;
        }
        self.conclude(id, attempt.number, result).await
    }

    fn lost_reason(&self) -> String {
        format!(
            "the worker running it stopped (no heartbeat for {:?})",
            self.cfg.reclaim_after()
        )
    }

    /// Why this attempt must not run: too many attempts already, or waited in the stream past
    /// `JOB_QUEUE_TIMEOUT_SEC` before its first one. The job then ends failed.
    fn refusal(
        &self,
        record: &JobRecord,
        attempt: u32,
        last_error: &Option<String>,
    ) -> Option<JobUpdate> {
        let error = if attempt > self.cfg.max_attempts {
            let reason = last_error.clone().unwrap_or_else(|| self.lost_reason());
            failure(
                record,
                500,
                "job_failed",
                format!(
                    "the job failed {} times; last: {reason}",
                    self.cfg.max_attempts
                ),
            )
        } else if attempt == 1
            && now_ms().saturating_sub(record.public.created_at_ms)
                > self.jobs.queue_timeout.as_millis() as u64
        {
            failure(
                record,
                503,
                "overloaded",
                format!(
                    "no worker took the job within JOB_QUEUE_TIMEOUT_SEC ({} s); submit it again",
                    self.jobs.queue_timeout.as_secs()
                ),
            )
        } else {
            return None;
        };
        Some(JobUpdate::Failed { error })
    }

    /// The upload, from Redis to a local temp file for the decoder; or how the attempt ends.
    async fn local_upload(
        &self,
        d: &Delivery,
        record: &JobRecord,
    ) -> Result<tempfile::NamedTempFile, Ending> {
        let id = &d.job;
        let file = match tempfile::Builder::new()
            .prefix("job-")
            .tempfile_in(&self.upload_dir)
            .or_else(|_| tempfile::NamedTempFile::new())
        {
            Ok(f) => f,
            Err(e) => {
                let _ = self
                    .queue
                    .note_failure(id, &format!("temp file: {e}"))
                    .await;
                return Err(Ending::Retry);
            }
        };
        match self.queue.fetch_upload(d, file.path()).await {
            Ok(true) => Ok(file),
            Ok(false) => {
                let error = failure(
                    record,
                    500,
                    "upload_lost",
                    "the upload is no longer stored (it outlived its TTL); submit it again".into(),
                );
                Err(self.finish(id, JobUpdate::Failed { error }).await)
            }
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "fetching the upload failed");
                let _ = self.queue.note_failure(id, &e.to_string()).await;
                Err(Ending::Retry)
            }
        }
    }

    /// Ends the attempt by its analysis' result: done, failed for good, or retried.
    async fn conclude(
        &self,
        id: &JobId,
        attempt: u32,
        result: Option<Result<JobUpdate, (JobError, bool)>>,
    ) -> Ending {
        match result {
            // Cancelled through the record (DELETE on any replica): it says so already.
            None => Ending::Finished,
            Some(Ok(update)) => self.finish(id, update).await,
            Some(Err((error, retry))) => {
                if retry && attempt < self.cfg.max_attempts {
                    let reason = format!("{}: {}", error.error, error.message);
                    let _ = self.queue.note_failure(id, &reason).await;
                    Ending::Retry
                } else {
                    let error = if retry {
                        JobError {
                            message: format!(
                                "the job failed {} times; last: {}",
                                attempt, error.message
                            ),
                            ..error
                        }
                    } else {
                        error
                    };
                    self.finish(id, JobUpdate::Failed { error }).await
                }
            }
        }
    }

    /// Runs the analysis, forwarding its progress. `None`: cancelled; `Err((error, retry))`.
    async fn analyse(
        &self,
        id: &JobId,
        record: &JobRecord,
        file: tempfile::NamedTempFile,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
        cancel: &CancellationToken,
    ) -> Option<Result<JobUpdate, (JobError, bool)>> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let job = Job {
            path: file.path().to_path_buf(),
            content_hash: record.content_hash.clone(),
            language: record.language.clone(),
            progress: Some(Arc::new(JobSink {
                tx,
                cancel: cancel.clone(),
            })),
            queue_timeout: Some(self.jobs.queue_timeout),
            slot: slot.map(|s| Arc::new(std::sync::Mutex::new(Some(s)))),
        };
        let analysis = self.jobs.analysis.clone();
        let result = self
            .jobs
            .follow(id, analysis.analyze(job, file), &mut rx, cancel, || {})
            .await;
        match result {
            None => None,
            Some(Ok(analyzed)) => {
                // The report is in the shared cache before the entry is acknowledged.
                self.jobs.analysis.cache.flush().await;
                Some(Ok(self.jobs.done(record, analyzed).await))
            }
            Some(Err(e)) if is_cancellation(&e) && cancel.is_cancelled() => None,
            Some(Err(e)) => {
                let error = (self.jobs.error_body)(&e, record.request_id.clone());
                let retry = error.status >= 500 || matches!(e, AnalysisError::Rejected(_));
                Some(Err((error, retry)))
            }
        }
    }

    /// Writes the terminal update, retrying while Redis is away.
    async fn finish(&self, id: &JobId, update: JobUpdate) -> Ending {
        let deadline = tokio::time::Instant::now() + FINISH_RETRY_FOR;
        let mut wait = Duration::from_millis(50);
        loop {
            match self.jobs.store.update(id, update.clone()).await {
                Ok(_) => return Ending::Finished,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    tracing::error!(job = %id, error = %e, "could not record the job's end; it will be retried");
                    return Ending::Retry;
                }
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    async fn end_entry(&self, d: &Delivery) {
        let deadline = tokio::time::Instant::now() + FINISH_RETRY_FOR;
        let mut wait = Duration::from_millis(50);
        loop {
            match self.queue.finish(d).await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    // Still pending: a reclaim finds the job finished and ends the entry.
                    tracing::error!(job = %d.job, error = %e, "could not acknowledge the job");
                    return;
                }
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Stops the heartbeat on every way out of an attempt.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn failure(record: &JobRecord, status: u16, code: &str, message: String) -> JobError {
    tracing::warn!(job = %record.id, code, message, "job failed");
    JobError {
        status,
        error: code.into(),
        message,
        request_id: record.request_id.clone(),
    }
}

/// Every `every`: keeps the entry ours (resetting its idle time) and looks whether the job was
/// cancelled. Losing the entry (reclaimed by another worker) or a cancelled record cancels the
/// local run; Redis errors are ignored (the run goes on; if the outage outlasts the reclaim
/// delay, another worker takes the job and this one stops at its next beat).
async fn heartbeat(
    queue: Arc<RedisJobs>,
    consumer: String,
    entry: String,
    id: JobId,
    every: Duration,
    cancel: CancellationToken,
    lost: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match queue.heartbeat(&consumer, &entry).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %id, "job entry no longer ours: stopping this run");
                lost.store(true, Ordering::SeqCst);
                cancel.cancel();
                return;
            }
            Err(e) => tracing::debug!(job = %id, error = %e, "heartbeat failed"),
        }
        if let Ok(Some(state)) = queue.state(&id).await
            && state.is_terminal()
        {
            cancel.cancel();
            return;
        }
    }
}
