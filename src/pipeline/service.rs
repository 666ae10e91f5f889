//! The analysis service: cache lookup → single-flight → admission → stages → cache store.
//!
//! Order matters (DESIGN §3): the cache is asked first, so a hit never queues behind running
//! analyses; a request that would start a new analysis takes its queue place in its own task,
//! so a client that goes away while queued frees the place; the analysis itself runs in a
//! spawned task (inside the cache's single-flight), so a client that goes away while it runs
//! neither aborts it nor breaks the other waiters, and the result is cached.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::admission::Admission;
use super::progress::{Progress, ProgressEvent, ProgressSink};
use super::run::{AnalysisError, Job, Stages};
use crate::asr::AsrError;
use crate::cache::{CacheKey, ComputeError, LeaseGuard, Leased, Outcome, TieredCache};
use crate::coach::{Coach, FeedbackSource, should_upgrade};
use crate::report::{ANALYSIS_VERSION, CacheInfo, Report};

/// A report and where it came from.
pub struct Analyzed {
    pub report: Report,
    pub outcome: Outcome,
}

/// The service behind `POST /analyze` and `speech-coach analyze`.
pub struct AnalysisService {
    pub admission: Arc<Admission>,
    pub cache: TieredCache,
    stages: Arc<Stages>,
    /// Hash of everything besides the bytes that changes a report (model, settings, versions).
    settings_fingerprint: String,
    analysis_timeout: Duration,
    /// Re-ask the coach for reports cached with fallback feedback once it is healthy again.
    upgrade_fallback: bool,
    /// Requests per key currently past their cache miss, and the state of the one leading them:
    /// only the leader takes a queue place (in its own task); the others wait, holding none,
    /// until it is admitted (then they join its analysis) or gone (then one of them leads).
    interested: Arc<Mutex<HashMap<String, Interested>>>,
    /// Keys whose feedback upgrade is running: one coach call per key at a time.
    upgrading: Arc<Mutex<HashSet<String>>>,
}

/// What the requests interested in one key know about their leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lead {
    /// Waiting in the admission queue.
    Queued,
    /// Holds a slot: its analysis starts (or started) as a single-flight the others join.
    Admitted,
    /// Refused or disconnected while queued: someone else must lead.
    Gone,
}

#[derive(Default)]
struct Interested {
    count: usize,
    lead: Option<Arc<watch::Sender<Lead>>>,
    /// The key's analysis reports here; every interested request's own sink listens.
    hub: Arc<Hub>,
    /// Flight tasks of this key alive (0 or 1; a follower's unused guard counts briefly).
    running: usize,
}

type InterestMap = Arc<Mutex<HashMap<String, Interested>>>;

/// The progress of one key's analysis, fanned out to every request interested in it, with the
/// history replayed to those who join late. Its cancel flag is raised only when the last
/// interested request leaves by cancelling (a job's DELETE); any newcomer lowers it again.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    state: Mutex<HubState>,
    cancelled: AtomicBool,
}

#[derive(Debug, Default)]
struct HubState {
    history: Vec<ProgressEvent>,
    sinks: Vec<(u64, Progress)>,
    next_id: u64,
}

impl Hub {
    fn subscribe(&self, sink: Progress) -> u64 {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for e in &st.history {
            sink.event(e);
        }
        st.next_id += 1;
        let id = st.next_id;
        st.sinks.push((id, sink));
        id
    }

    fn unsubscribe(&self, id: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.sinks.retain(|(i, _)| *i != id);
    }
}

impl ProgressSink for Hub {
    fn event(&self, event: &ProgressEvent) {
        // Under the lock so every sink sees one order, and a late joiner neither misses nor
        // repeats an event. Sinks don't block (see ProgressSink).
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.history.push(event.clone());
        for (_, sink) in &st.sinks {
            sink.event(event);
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Counts a request as interested in a key until dropped; its own sink listens to the key's hub.
struct Interest {
    map: InterestMap,
    key: String,
    hub: Arc<Hub>,
    /// The request's sink and its subscription: if the sink says "cancelled" when this is
    /// dropped, the request left by cancelling.
    sink: Option<(u64, Progress)>,
}

impl Interest {
    fn register(map: &InterestMap, key: &str, sink: Option<Progress>) -> Self {
        let hub = {
            let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
            let entry = m.entry(key.to_string()).or_default();
            entry.count += 1;
            // Someone wants the result again: a cancellation not yet seen by the run is void.
            entry.hub.cancelled.store(false, Ordering::SeqCst);
            entry.hub.clone()
        };
        let sink = sink.map(|s| (hub.subscribe(s.clone()), s));
        Self {
            map: map.clone(),
            key: key.to_string(),
            hub,
            sink,
        }
    }

    /// Whether this request itself asked to stop.
    fn cancelled(&self) -> bool {
        self.sink.as_ref().is_some_and(|(_, s)| s.is_cancelled())
    }

    /// Marks the key's analysis as running until the guard is dropped (moved into its task).
    fn running(&self) -> RunningGuard {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(&self.key) {
            e.running += 1;
        }
        RunningGuard {
            map: self.map.clone(),
            key: self.key.clone(),
            hub: self.hub.clone(),
        }
    }

    /// Leads (when nobody does, or the leader is gone) or returns the leader's state to watch.
    fn elect(&self) -> Result<Leadership, watch::Receiver<Lead>> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let entry = m.entry(self.key.clone()).or_default();
        match &entry.lead {
            Some(tx) if *tx.borrow() != Lead::Gone => Err(tx.subscribe()),
            _ => {
                let tx = Arc::new(watch::channel(Lead::Queued).0);
                entry.lead = Some(tx.clone());
                Ok(Leadership(tx))
            }
        }
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        let cancelling = self.cancelled();
        if let Some((id, _)) = &self.sink {
            self.hub.unsubscribe(*id);
        }
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(&self.key) {
            e.count -= 1;
            if e.count == 0 {
                // The last one out: a cancelling leave stops the run at its next window; any
                // other leave (a client gone) lets it finish for the cache.
                if cancelling {
                    e.hub.cancelled.store(true, Ordering::SeqCst);
                }
                if e.running == 0 {
                    m.remove(&self.key);
                }
            }
        }
    }
}

/// Held by a key's running analysis: the key's entry (and its hub) lives while it runs.
struct RunningGuard {
    map: InterestMap,
    key: String,
    hub: Arc<Hub>,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(&self.key)
            && Arc::ptr_eq(&e.hub, &self.hub)
        {
            e.running -= 1;
            if e.running == 0 && e.count == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// The leader's side: tells the others when its analysis can be joined, or (dropped before that:
/// refused, or its client went away) that it is gone.
struct Leadership(Arc<watch::Sender<Lead>>);

impl Leadership {
    /// Followers may now join: call only once this leader's flight is registered (or over).
    fn admitted(&self) {
        self.0.send_replace(Lead::Admitted);
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.0.send_if_modified(|s| {
            let queued = *s == Lead::Queued;
            if queued {
                *s = Lead::Gone;
            }
            queued
        });
    }
}

impl AnalysisService {
    pub fn new(
        stages: Stages,
        admission: Admission,
        cache: TieredCache,
        analysis_timeout: Duration,
        upgrade_fallback: bool,
    ) -> Self {
        let settings_fingerprint = stages.fingerprint();
        Self {
            admission: Arc::new(admission),
            cache,
            stages: Arc::new(stages),
            settings_fingerprint,
            analysis_timeout,
            upgrade_fallback,
            upgrading: Arc::default(),
            interested: Arc::default(),
        }
    }

    pub fn coach(&self) -> &Arc<dyn Coach> {
        &self.stages.coach
    }

    pub fn transcriber_health(&self) -> crate::asr::AsrHealth {
        self.stages.transcriber.health()
    }

    /// The cache key: analysis version + settings fingerprint + requested language + content.
    pub fn cache_key(&self, content_hash: &str, language: Option<&str>) -> CacheKey {
        CacheKey::new(
            ANALYSIS_VERSION,
            &self.settings_fingerprint,
            language,
            content_hash,
        )
    }

    /// Analyses the upload at `job.path` (or serves it from the cache). `keep_alive` is
    /// whatever must live while the analysis runs (the upload's temp file).
    ///
    /// `job.progress` hears the key's analysis whether this request leads it or joins it (events
    /// so far are replayed). A caller that stops waiting by dropping this future while its sink
    /// says `is_cancelled()` leaves *cancelling*: when it is the last request interested in the
    /// key, the analysis stops at its next window or stage and frees its slot; otherwise the
    /// others keep it.
    pub async fn analyze<K: Send + Sync + 'static>(
        &self,
        job: Job,
        keep_alive: K,
    ) -> Result<Analyzed, AnalysisError> {
        let keep_alive = Arc::new(keep_alive);
        let mut restarts = 0;
        loop {
            let result = self.analyze_once(job.clone(), keep_alive.clone()).await;
            // We joined an analysis whose last listener had just cancelled it: start again.
            let own_cancel = job.progress.as_ref().is_some_and(|p| p.is_cancelled());
            let cancelled = matches!(&result, Err(e) if is_cancellation(e));
            if cancelled && !own_cancel && restarts < MAX_RESTARTS {
                restarts += 1;
                continue;
            }
            return result;
        }
    }

    async fn analyze_once<K: Send + Sync + 'static>(
        &self,
        mut job: Job,
        keep_alive: Arc<K>,
    ) -> Result<Analyzed, AnalysisError> {
        let key = self.cache_key(&job.content_hash, job.language.as_deref());
        let key = key.as_str();
        // Not counted as a miss here: `compute_missing` below counts this request once, as a
        // miss or as coalesced.
        if let Some((bytes, tier)) = self.cache.lookup(key).await {
            if let Some(report) = parse_cached_report(&bytes) {
                let report = self.maybe_upgrade(key, report).await;
                return Ok(finish(report, Outcome::Hit(tier)));
            }
            // Unusable entry (the validator normally catches these): drop it and recompute.
            self.cache.remove(key).await;
        }
        // Take a slot here, in the request's own task, unless an identical request leads (then we
        // wait for it without a slot or a queue place, and only join its analysis).
        let interest = Interest::register(&self.interested, key, job.progress.clone());
        let (permit, lead) = self.admit(&interest, &job).await?;

        let stages = self.stages.clone();
        let admission = self.admission.clone();
        let timeout = self.analysis_timeout;
        let leases = self.cache.leases().cloned();
        let lease_key = key.to_owned();
        let cache_ttl = self.cache.ttl();
        let flight_lead = lead.clone();
        let running = interest.running();
        // The run reports to the key's hub (and is cancelled through it), not to this request.
        job.progress = Some(interest.hub.clone());
        let compute = move || async move {
            let _running = running;
            // The flight is registered by now: identical requests waiting for us may join it.
            if let Some(lead) = flight_lead {
                lead.admitted();
            }
            let _keep_alive = keep_alive;
            // Rare: the flight we saw finished between the check and the join, so we lead
            // after all and need a slot of our own.
            let _permit = match permit {
                Some(p) => p,
                None => admission.acquire().await?,
            };
            // Across replicas: one analysis per key; the others wait for its report in Redis.
            let lease = match &leases {
                Some(l) => {
                    let valid = |b: &[u8]| parse_cached_report(b).is_some();
                    match l.acquire(&lease_key, &valid, timeout).await {
                        Leased::Ready(bytes) => return Ok(bytes),
                        Leased::Run(guard) => guard,
                    }
                }
                None => None,
            };
            run_in_budget(&stages, &admission, job, timeout, lease, cache_ttl).await
        };
        let result = self.cache.compute_missing(key, compute).await;
        // Joined another flight or found the value after all: the waiting twins will find it too.
        if let Some(lead) = &lead {
            lead.admitted();
        }
        drop(interest);
        let (bytes, outcome) = match result {
            Ok(v) => v,
            Err(ComputeError::Failed(e)) => return Err(AnalysisError::Shared(e)),
            Err(ComputeError::Aborted(why)) => return Err(AnalysisError::Internal(why)),
        };
        let report = parse_cached_report(&bytes)
            .ok_or_else(|| AnalysisError::Internal("stored report does not decode".into()))?;
        Ok(finish(report, outcome))
    }

    /// This request's slot for the analysis of `interest`'s key (it leads), or none when an
    /// identical request's admitted analysis is there to follow.
    async fn admit(
        &self,
        interest: &Interest,
        job: &Job,
    ) -> Result<(Option<OwnedSemaphorePermit>, Option<Arc<Leadership>>), AnalysisError> {
        loop {
            match interest.elect() {
                Ok(lead) => {
                    let held = job
                        .slot
                        .as_ref()
                        .and_then(|s| s.lock().unwrap_or_else(|p| p.into_inner()).take());
                    let permit = match held {
                        Some(permit) => permit,
                        None => {
                            let on_queued = |ticket| {
                                interest.hub.event(&ProgressEvent::Queued {
                                    ticket: Some(ticket),
                                })
                            };
                            self.admission
                                .acquire_with(job.queue_timeout, &on_queued)
                                .await?
                        }
                    };
                    return Ok((Some(permit), Some(Arc::new(lead))));
                }
                Err(mut leader) => {
                    // Following an identical upload's analysis needs no slot of our own.
                    if let Some(s) = &job.slot {
                        drop(s.lock().unwrap_or_else(|p| p.into_inner()).take());
                    }
                    let state = leader
                        .wait_for(|s| *s != Lead::Queued)
                        .await
                        .map_or(Lead::Gone, |s| *s);
                    if state == Lead::Admitted {
                        return Ok((None, None));
                    }
                }
            }
        }
    }

    /// A report cached with fallback feedback gets real coaching once the coach is healthy
    /// again (no ASR re-run), and the upgraded report replaces the cached one.
    ///
    /// "Healthy" is the breaker not open: closed, or half-open (then this call is the probe).
    /// Every fallback reason qualifies, `disabled` included: a disabled coach is never healthy,
    /// so such reports are only re-asked when a later run (sharing the disk or Redis tier) has
    /// GigaChat enabled, and then they should be.
    ///
    /// A cache hit must stay fast even when GigaChat is slow or hanging with the breaker still
    /// closed: the coach call runs in its own task (one per key), this request waits for it at
    /// most [`UPGRADE_INLINE_WAIT`] and otherwise serves the cached report as it is; the task
    /// still stores the upgrade when it arrives, for the next request.
    async fn maybe_upgrade(&self, key: &str, report: Report) -> Report {
        let coach = self.stages.coach.clone();
        if !(self.upgrade_fallback && should_upgrade(&report.feedback, coach.as_ref())) {
            return report;
        }
        let Some(guard) = UpgradeGuard::claim(&self.upgrading, key) else {
            return report; // another request is upgrading this key
        };
        let cache = self.cache.clone();
        let key = key.to_owned();
        let mut upgraded = report.clone();
        let task = tokio::spawn(async move {
            let _guard = guard;
            let feedback = coach.feedback(&upgraded).await;
            if feedback.source != FeedbackSource::Gigachat {
                return None;
            }
            upgraded.feedback = feedback;
            if let Ok(bytes) = serde_json::to_vec(&upgraded) {
                cache.set(&key, Bytes::from(bytes)).await;
            }
            tracing::info!("cached report upgraded with coach feedback");
            Some(upgraded)
        });
        match tokio::time::timeout(UPGRADE_INLINE_WAIT, task).await {
            Ok(Ok(Some(upgraded))) => upgraded,
            Ok(_) => report,
            Err(_) => {
                tracing::debug!("coach slower than the inline wait: serving the cached report");
                report
            }
        }
    }
}

/// How long a cache hit waits for the upgrade of its fallback feedback before serving the
/// cached report as it is (the upgrade then lands for a later request).
pub const UPGRADE_INLINE_WAIT: Duration = Duration::from_secs(1);

/// Marks a key as being upgraded until dropped.
struct UpgradeGuard {
    set: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl UpgradeGuard {
    fn claim(set: &Arc<Mutex<HashSet<String>>>, key: &str) -> Option<Self> {
        let mut s = set.lock().unwrap_or_else(|p| p.into_inner());
        s.insert(key.to_owned()).then(|| Self {
            set: set.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for UpgradeGuard {
    fn drop(&mut self) {
        let mut s = self.set.lock().unwrap_or_else(|p| p.into_inner());
        s.remove(&self.key);
    }
}

/// How often a request restarts an analysis that someone else cancelled just as it joined.
const MAX_RESTARTS: usize = 2;

/// Whether an analysis error is a cancellation (own or shared).
pub fn is_cancellation(e: &AnalysisError) -> bool {
    match e {
        AnalysisError::Asr(AsrError::Cancelled) => true,
        AnalysisError::Shared(inner) => is_cancellation(inner),
        _ => false,
    }
}

/// Runs the stages within the analysis budget, counts the outcome, and returns the report as
/// the bytes the cache stores (published to Redis before a held lease goes).
async fn run_in_budget(
    stages: &Arc<Stages>,
    admission: &Admission,
    job: Job,
    timeout: Duration,
    lease: Option<LeaseGuard>,
    cache_ttl: Duration,
) -> Result<Bytes, AnalysisError> {
    let started = Instant::now();
    match tokio::time::timeout(timeout, stages.run(job)).await {
        Ok(Ok((report, timings))) => {
            admission.record_success(started.elapsed(), &timings);
            let bytes = serde_json::to_vec(&report)
                .map(Bytes::from)
                .map_err(|e| AnalysisError::Internal(e.to_string()))?;
            if let Some(lease) = lease {
                // In Redis before the lease goes: waiting replicas find it there.
                lease.publish(bytes.clone(), cache_ttl).await;
            }
            Ok(bytes)
        }
        Ok(Err(e)) if is_cancellation(&e) => {
            admission.record_cancelled();
            Err(e)
        }
        Ok(Err(e)) => {
            admission.record_failure();
            Err(e)
        }
        Err(_) => {
            admission.record_timeout();
            Err(AnalysisError::Timeout(timeout))
        }
    }
}

/// Parses a report read back from the cache; anything else (older version, garbage) is `None`.
pub fn parse_cached_report(bytes: &[u8]) -> Option<Report> {
    serde_json::from_slice::<Report>(bytes)
        .ok()
        .filter(|r| r.analysis_version == ANALYSIS_VERSION)
}

fn finish(mut report: Report, outcome: Outcome) -> Analyzed {
    report.cache = CacheInfo {
        hit: matches!(outcome, Outcome::Hit(_)),
        tier: outcome.tier(),
    };
    Analyzed { report, outcome }
}
