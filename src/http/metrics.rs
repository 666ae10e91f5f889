//! `GET /metrics`: Prometheus text exposition (prometheus-client).
//!
//! HTTP request counts and latencies are recorded by a middleware as requests finish; cache
//! outcomes by the analyze handler; pipeline and coach state are read at scrape time.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::cache::CacheStats;
use crate::coach::{BreakerState, CoachStats};
use crate::pipeline::PipelineStats;

type HttpLabels = Vec<(&'static str, String)>;

/// Metrics recorded as things happen.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram>,
    cache_outcomes: Family<Vec<(&'static str, &'static str)>, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            // 1 ms … ~33 s.
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            cache_outcomes: Family::default(),
        }
    }
}

/// Routes we label by name; anything else is `unmatched` (bounded label cardinality).
const ROUTES: &[&str] = &[
    "/",
    "/analyze",
    "/health",
    "/metrics",
    "/cache",
    "/stats/cache",
    "/stats/pipeline",
    "/stats/coach",
    "/openapi.json",
    "/api/config",
];

fn route_label(path: &str) -> String {
    if ROUTES.contains(&path) {
        path.to_string()
    } else if let Some(rest) = path.strip_prefix("/jobs/") {
        // Job ids would make one label per job: name the route, not the id.
        if rest.ends_with("/events") {
            "/jobs/{id}/events".to_string()
        } else {
            "/jobs/{id}".to_string()
        }
    } else if path == "/jobs" {
        path.to_string()
    } else if path.starts_with("/static/") {
        "/static/*".to_string()
    } else {
        "unmatched".to_string()
    }
}

impl Metrics {
    /// Counts an `/analyze` answer by its `x-cache` value.
    pub fn cache_outcome(&self, outcome: &'static str) {
        self.cache_outcomes
            .get_or_create(&vec![("outcome", outcome)])
            .inc();
    }
}

/// Middleware: counts every request by method, route and status, and times it.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = route_label(req.uri().path());
    let started = Instant::now();
    let resp = next.run(req).await;
    let labels = vec![
        ("method", method.clone()),
        ("route", route.clone()),
        ("status", resp.status().as_u16().to_string()),
    ];
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .latency
        .get_or_create(&vec![("method", method), ("route", route)])
        .observe(started.elapsed().as_secs_f64());
    resp
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Pipeline, cache and coach state, snapshotted per scrape.
#[derive(Debug)]
struct Snapshot {
    pipeline: PipelineStats,
    /// Jobs by state (`None`: the job store did not answer).
    jobs: Option<crate::jobs::JobCounts>,
    cache: CacheStats,
    coach: CoachStats,
}

/// Whether a stat only grows (a counter) or goes up and down (a gauge).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// One exported stat: `speech_coach_<group>_<key>` reads the field `<key>` of the group's stats
/// type, the one `/stats/<group>` serves under the same name (a test holds them together).
struct Stat<T> {
    key: &'static str,
    help: &'static str,
    kind: Kind,
    read: fn(&T) -> f64,
}

const fn counter<T>(key: &'static str, help: &'static str, read: fn(&T) -> f64) -> Stat<T> {
    Stat {
        key,
        help,
        kind: Kind::Counter,
        read,
    }
}

const fn gauge<T>(key: &'static str, help: &'static str, read: fn(&T) -> f64) -> Stat<T> {
    Stat {
        key,
        help,
        kind: Kind::Gauge,
        read,
    }
}

const PIPELINE: &[Stat<PipelineStats>] = &[
    gauge("active", "Analyses running now", |p| p.active as f64),
    gauge("queued", "Analyses waiting for a slot", |p| p.queued as f64),
    gauge("max_parallel", "Analysis slots", |p| p.max_parallel as f64),
    counter("completed", "Analyses completed", |p| p.completed as f64),
    counter("failed", "Analyses failed", |p| p.failed as f64),
    counter("rejected", "Requests refused with 503", |p| {
        p.rejected as f64
    }),
    counter("timed_out", "Queue or analysis timeouts", |p| {
        p.timed_out as f64
    }),
    counter(
        "cancelled",
        "Analyses stopped because every job waiting for them was cancelled",
        |p| p.cancelled as f64,
    ),
];

const CACHE: &[Stat<CacheStats>] = &[
    counter("l1_memory_hits", "Hits in the memory tier", |c| {
        c.l1_memory_hits as f64
    }),
    counter("l2_redis_hits", "Hits in the Redis tier", |c| {
        c.l2_redis_hits as f64
    }),
    counter("l3_disk_hits", "Hits in the disk tier", |c| {
        c.l3_disk_hits as f64
    }),
    counter("misses", "Cache misses", |c| c.misses as f64),
    counter(
        "coalesced",
        "Requests that waited for an identical analysis",
        |c| c.coalesced as f64,
    ),
    gauge("redis_available", "1 when Redis answers", |c| {
        f64::from(u8::from(c.redis_available))
    }),
];

const COACH: &[Stat<CoachStats>] = &[
    gauge(
        "breaker_state",
        "GigaChat breaker: 0 closed, 1 half-open, 2 open, -1 no breaker (coach disabled)",
        |c| match c.breaker_state {
            None => -1.0,
            Some(BreakerState::Closed) => 0.0,
            Some(BreakerState::HalfOpen) => 1.0,
            Some(BreakerState::Open) => 2.0,
        },
    ),
    counter("requests", "Feedback requests", |c| {
        c.answers.requests as f64
    }),
    counter("failures", "GigaChat calls that failed", |c| {
        c.failures as f64
    }),
    counter("fallbacks", "Rule-based answers, all reasons", |c| {
        c.answers.fallbacks as f64
    }),
    counter(
        "rejections",
        "Calls the open breaker refused without reaching GigaChat",
        |c| c.rejections as f64,
    ),
];

/// Encodes each stat of `table` read from `stats` as `<group>_<key>`.
fn encode_group<T>(
    enc: &mut DescriptorEncoder,
    group: &str,
    stats: &T,
    table: &[Stat<T>],
) -> Result<(), std::fmt::Error> {
    for stat in table {
        let name = format!("{group}_{}", stat.key);
        let v = (stat.read)(stats);
        match stat.kind {
            Kind::Counter => {
                let c = ConstCounter::new(v as u64);
                c.encode(enc.encode_descriptor(&name, stat.help, None, c.metric_type())?)?;
            }
            Kind::Gauge => {
                let g = ConstGauge::new(v);
                g.encode(enc.encode_descriptor(&name, stat.help, None, g.metric_type())?)?;
            }
        }
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_group(&mut enc, "pipeline", &self.pipeline, PIPELINE)?;
        if let Some(jobs) = &self.jobs {
            let family = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
            for (state, n) in jobs.by_state() {
                family
                    .get_or_create(&vec![("state", state.as_str())])
                    .set(n as i64);
            }
            family.encode(enc.encode_descriptor(
                "jobs",
                "Jobs in the job store by state",
                None,
                family.metric_type(),
            )?)?;
        }
        encode_group(&mut enc, "cache", &self.cache, CACHE)?;
        encode_group(&mut enc, "coach", &self.coach, COACH)
    }
}

/// Prometheus/OpenMetrics text exposition: HTTP requests and latencies, cache outcomes,
/// pipeline, jobs, cache and coach state.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "OpenMetrics text", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"))
)]
async fn metrics(State(state): State<AppState>) -> Response {
    let snapshot = Snapshot {
        pipeline: state.analysis.admission.stats(),
        jobs: state.jobs.counts().await.ok(),
        cache: state.analysis.cache.stats().await,
        coach: state.analysis.coach().stats(),
    };
    let mut registry = Registry::with_prefix("speech_coach");
    let m = &state.metrics;
    registry.register(
        "http_requests",
        "HTTP requests by method, route and status",
        m.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "HTTP request latency by method and route",
        m.latency.clone(),
    );
    registry.register(
        "analyze_cache_outcomes",
        "POST /analyze answers by x-cache outcome",
        m.cache_outcomes.clone(),
    );
    registry.register_collector(Box::new(snapshot));
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &registry) {
        return crate::http::ApiError::internal(e).into_response();
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheConfig, TieredCache};
    use crate::coach::{Coach, CoachConfig, DisabledCoach, GigaChatCoach};
    use crate::pipeline::Admission;
    use std::time::Duration;

    /// Every exported stat names a field its group's stats type serves, and reads that field.
    fn check<T: serde::Serialize>(group: &str, stats: &T, table: &[Stat<T>]) {
        let json = serde_json::to_value(stats).unwrap();
        for stat in table {
            let field = json.get(stat.key).unwrap_or_else(|| {
                panic!(
                    "speech_coach_{group}_{} reads a stat /stats/{group} does not serve: {json}",
                    stat.key
                )
            });
            let served = match field {
                serde_json::Value::Bool(b) => Some(f64::from(u8::from(*b))),
                serde_json::Value::Number(n) => n.as_f64(),
                // An enum (breaker state) or null: encoded as a code, checked by its own test.
                _ => None,
            };
            if let Some(served) = served {
                assert_eq!((stat.read)(stats), served, "{group}_{}", stat.key);
            }
        }
    }

    #[tokio::test]
    async fn every_metric_is_a_stat_the_stats_types_serve() {
        let admission = Admission::new(3, 7, Duration::from_secs(1));
        admission.record_failure();
        check("pipeline", &admission.stats(), PIPELINE);

        let dir = tempfile::tempdir().unwrap();
        let cache = TieredCache::new(CacheConfig {
            dir: dir.path().to_path_buf(),
            ..CacheConfig::default()
        })
        .await
        .unwrap();
        let _ = cache.lookup("absent").await;
        check("cache", &cache.stats().await, CACHE);

        check("coach", &DisabledCoach::default().stats(), COACH);
        let gigachat = GigaChatCoach::new(&CoachConfig {
            credentials: Some(secrecy::SecretString::from("key")),
            ..CoachConfig::default()
        })
        .unwrap();
        check("coach", &gigachat.stats(), COACH);
    }

    #[test]
    fn the_breaker_state_code_follows_the_typed_state() {
        let read = COACH
            .iter()
            .find(|s| s.key == "breaker_state")
            .unwrap()
            .read;
        let mut stats = DisabledCoach::default().stats();
        assert_eq!(read(&stats), -1.0);
        for (state, code) in [
            (BreakerState::Closed, 0.0),
            (BreakerState::HalfOpen, 1.0),
            (BreakerState::Open, 2.0),
        ] {
            stats.breaker_state = Some(state);
            assert_eq!(read(&stats), code);
        }
    }
}
