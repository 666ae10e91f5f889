//! The analysis service: cache lookup → single-flight → admission → stages → cache store.
//!
//! Order matters (DESIGN §3): the cache is asked first, so a hit never queues behind running
//! analyses; a request that would start a new analysis takes its queue place in its own task,
//! so a client that goes away while queued frees the place; the analysis itself runs in a
//! spawned task (inside the cache's single-flight), so a client that goes away while it runs
//! neither aborts it nor breaks the other waiters, and the result is cached.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use super::admission::Admission;
use super::run::{AnalysisError, Job, Stages};
use crate::cache::{ComputeError, Outcome, TieredCache};
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
}

type InterestMap = Arc<Mutex<HashMap<String, Interested>>>;

/// Counts a request as interested in a key until dropped.
struct Interest {
    map: InterestMap,
    key: String,
}

impl Interest {
    fn register(map: &InterestMap, key: &str) -> Self {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key.to_string()).or_default().count += 1;
        Self {
            map: map.clone(),
            key: key.to_string(),
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
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(&self.key) {
            e.count -= 1;
            if e.count == 0 {
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

    pub fn transcriber_health(&self) -> serde_json::Value {
        self.stages.transcriber.health()
    }

    /// The cache key: content hash + settings fingerprint + requested language.
    pub fn cache_key(&self, content_hash: &str, language: Option<&str>) -> String {
        format!(
            "v{ANALYSIS_VERSION}:{}:{}:{content_hash}",
            &self.settings_fingerprint[..16],
            language.unwrap_or("auto")
        )
    }

    /// Analyses the upload at `job.path` (or serves it from the cache). `keep_alive` is
    /// whatever must live while the analysis runs (the upload's temp file).
    pub async fn analyze<K: Send + 'static>(
        &self,
        job: Job,
        keep_alive: K,
    ) -> Result<Analyzed, AnalysisError> {
        let key = self.cache_key(&job.content_hash, job.language.as_deref());
        // Not counted as a miss here: `compute_missing` below counts this request once, as a
        // miss or as coalesced.
        if let Some((bytes, tier)) = self.cache.lookup(&key).await {
            if let Some(report) = decode(&bytes) {
                let report = self.maybe_upgrade(&key, report).await;
                return Ok(finish(report, Outcome::Hit(tier)));
            }
            // Unusable entry (the validator normally catches these): drop it and recompute.
            self.cache.remove(&key).await;
        }
        // Take a slot here, in the request's own task, unless an identical request leads (then we
        // wait for it without a slot or a queue place, and only join its analysis).
        let interest = Interest::register(&self.interested, &key);
        let (permit, lead) = loop {
            match interest.elect() {
                Ok(lead) => {
                    let permit = self.admission.acquire().await?;
                    break (Some(permit), Some(Arc::new(lead)));
                }
                Err(mut leader) => {
                    let state = leader
                        .wait_for(|s| *s != Lead::Queued)
                        .await
                        .map_or(Lead::Gone, |s| *s);
                    if state == Lead::Admitted {
                        break (None, None);
                    }
                }
            }
        };

        let stages = self.stages.clone();
        let admission = self.admission.clone();
        let timeout = self.analysis_timeout;
        let flight_lead = lead.clone();
        let compute = move || async move {
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
            let started = Instant::now();
            match tokio::time::timeout(timeout, stages.run(job)).await {
                Ok(Ok((report, timings))) => {
                    admission.record_success(started.elapsed(), &timings);
                    serde_json::to_vec(&report)
                        .map(Bytes::from)
                        .map_err(|e| AnalysisError::Internal(e.to_string()))
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
        };
        let result = self.cache.compute_missing(&key, compute).await;
        // Joined another flight or found the value after all: the waiting twins will find it too.
        if let Some(lead) = &lead {
            lead.admitted();
        }
        let (bytes, outcome) = match result {
            Ok(v) => v,
            Err(ComputeError::Failed(e)) => return Err(AnalysisError::Shared(e)),
            Err(ComputeError::Aborted(why)) => return Err(AnalysisError::Internal(why)),
        };
        let report = decode(&bytes)
            .ok_or_else(|| AnalysisError::Internal("stored report does not decode".into()))?;
        Ok(finish(report, outcome))
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

/// Parses a stored report; anything else (older version, garbage) is `None`.
pub fn decode(bytes: &[u8]) -> Option<Report> {
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
