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
    /// Keys whose feedback upgrade is running: one coach call per key at a time.
    upgrading: Arc<Mutex<HashSet<String>>>,
    /// Requests per key currently past their cache miss: the first one takes an admission slot
    /// in its own task; the others will only wait for its analysis.
    interested: Arc<Mutex<HashMap<String, usize>>>,
}

/// Counts a request as interested in a key until dropped.
struct Interest {
    map: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Interest {
    /// Registers interest; `true` when no other request is interested (this one leads).
    fn register(map: &Arc<Mutex<HashMap<String, usize>>>, key: &str) -> (Self, bool) {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(key.to_string()).or_insert(0);
        *n += 1;
        let first = *n == 1;
        (
            Self {
                map: map.clone(),
                key: key.to_string(),
            },
            first,
        )
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
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
        if let Some((bytes, tier)) = self.cache.get(&key).await {
            if let Some(report) = decode(&bytes) {
                let report = self.maybe_upgrade(&key, report).await;
                return Ok(finish(report, Outcome::Hit(tier)));
            }
            // Unusable entry (the validator normally catches these): drop it and recompute.
            self.cache.remove(&key).await;
        }
        // Take a slot here, in the request's own task, unless an identical analysis is already
        // running (then we only wait for it, without a slot).
        let (_interest, first) = Interest::register(&self.interested, &key);
        let permit = if first {
            Some(self.admission.acquire().await?)
        } else {
            None
        };

        let stages = self.stages.clone();
        let admission = self.admission.clone();
        let timeout = self.analysis_timeout;
        let compute = move || async move {
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
        let (bytes, outcome) = match self.cache.get_or_compute(&key, compute).await {
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
