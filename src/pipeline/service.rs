//! The analysis service: cache lookup → single-flight → admission → stages → cache store.
//!
//! Order matters (DESIGN §3): the cache is asked first, so a hit never queues behind running
//! analyses; a request that would start a new analysis takes its queue place in its own task,
//! so a client that goes away while queued frees the place; the analysis itself runs in a
//! spawned task (inside the cache's single-flight), so a client that goes away while it runs
//! neither aborts it nor breaks the other waiters, and the result is cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::admission::Admission;
use super::run::{AnalysisError, Job, Stages};
use crate::cache::{ComputeError, Outcome, TieredCache};
use crate::coach::{Coach, FallbackReason, FeedbackSource};
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
        let (bytes, outcome) = match self.cache.compute_missing(&key, compute).await {
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
    async fn maybe_upgrade(&self, key: &str, mut report: Report) -> Report {
        let coach = &self.stages.coach;
        let upgradable = self.upgrade_fallback
            && report.feedback.source == FeedbackSource::Rules
            && report.feedback.reason != Some(FallbackReason::Disabled)
            && coach.is_healthy();
        if !upgradable {
            return report;
        }
        let feedback = coach.feedback(&report).await;
        if feedback.source == FeedbackSource::Gigachat {
            report.feedback = feedback;
            if let Ok(bytes) = serde_json::to_vec(&report) {
                self.cache.set(key, Bytes::from(bytes)).await;
            }
            tracing::info!("cached report upgraded with coach feedback");
        }
        report
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
