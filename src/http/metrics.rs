//! `GET /metrics`: Prometheus text exposition (prometheus-client).
//!
//! HTTP request counts and latencies are recorded by a middleware as requests finish; cache
//! outcomes by the analyze handler; pipeline and coach state are read at scrape time.

use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::AppState;

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

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Pipeline, cache and coach state, snapshotted per scrape.
#[derive(Debug)]
struct Snapshot {
    pipeline: crate::pipeline::PipelineStats,
    /// Jobs by state (`None`: the job store did not answer).
    jobs: Option<crate::jobs::JobCounts>,
    cache: serde_json::Value,
    coach: serde_json::Value,
}

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = &self.pipeline;
        gauge(
            &mut enc,
            "pipeline_active",
            "Analyses running now",
            p.active as f64,
        )?;
        gauge(
            &mut enc,
            "pipeline_queued",
            "Analyses waiting for a slot",
            p.queued as f64,
        )?;
        gauge(
            &mut enc,
            "pipeline_max_parallel",
            "Analysis slots",
            p.max_parallel as f64,
        )?;
        counter(
            &mut enc,
            "pipeline_completed",
            "Analyses completed",
            p.completed,
        )?;
        counter(&mut enc, "pipeline_failed", "Analyses failed", p.failed)?;
        counter(
            &mut enc,
            "pipeline_rejected",
            "Requests refused with 503",
            p.rejected,
        )?;
        counter(
            &mut enc,
            "pipeline_timed_out",
            "Queue or analysis timeouts",
            p.timed_out,
        )?;
        counter(
            &mut enc,
            "pipeline_cancelled",
            "Analyses stopped because every job waiting for them was cancelled",
            p.cancelled,
        )?;
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
        let u = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
        let c = &self.cache;
        counter(
            &mut enc,
            "cache_l1_memory_hits",
            "Hits in the memory tier",
            u(c, "l1_memory_hits"),
        )?;
        counter(
            &mut enc,
            "cache_l2_redis_hits",
            "Hits in the Redis tier",
            u(c, "l2_redis_hits"),
        )?;
        counter(
            &mut enc,
            "cache_l3_disk_hits",
            "Hits in the disk tier",
            u(c, "l3_disk_hits"),
        )?;
        counter(&mut enc, "cache_misses", "Cache misses", u(c, "misses"))?;
        counter(
            &mut enc,
            "cache_coalesced",
            "Requests that waited for an identical analysis",
            u(c, "coalesced"),
        )?;
        let redis_up = c
            .get("redis_available")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        gauge(
            &mut enc,
            "cache_redis_available",
            "1 when Redis answers",
            f64::from(u8::from(redis_up)),
        )?;
        // The disabled coach reports its (non-existent) breaker as "closed" in /stats/coach so
        // dashboards keep one shape; here it is -1, as documented below.
        let enabled = self
            .coach
            .get("enabled")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let state = self
            .coach
            .get("breaker_state")
            .and_then(|v| v.as_str())
            .filter(|_| enabled)
            .unwrap_or("disabled");
        // 0 closed, 1 half-open, 2 open, -1 no breaker (coach disabled).
        let code = match state {
            "closed" => 0.0,
            "half_open" => 1.0,
            "open" => 2.0,
            _ => -1.0,
        };
        gauge(
            &mut enc,
            "coach_breaker_state",
            "GigaChat breaker: 0 closed, 1 half-open, 2 open, -1 disabled",
            code,
        )?;
        for (name, key) in [
            ("coach_requests", "requests"),
            ("coach_failures", "failures"),
            ("coach_fallbacks", "fallbacks"),
            ("coach_rejections", "rejections"),
        ] {
            counter(
                &mut enc,
                name,
                "GigaChat coach counter (see /stats/coach)",
                u(&self.coach, key),
            )?;
        }
        Ok(())
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let snapshot = Snapshot {
        pipeline: state.analysis.admission.stats(),
        jobs: state.jobs.counts().await.ok(),
        cache: serde_json::to_value(state.analysis.cache.stats().await).unwrap_or_default(),
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
