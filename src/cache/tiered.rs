//! [`TieredCache`]: lookup order, promotion, background writes, validation, single-flight.

use bytes::Bytes;
use futures::FutureExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

use super::config::CacheConfig;
use super::disk::DiskTier;
use super::memory::MemoryTier;
use super::redis::{RedisOptions, RedisTier};
use super::singleflight::{
    ComputeError, FlightError, FlightResult, Flights, Produced, Role, spawn_flight,
};
use super::stats::{CacheHealth, CacheStats, CacheStatus, Counters, Snapshot, TierStatuses};
use super::{Tier, TierError, TierName, TierStats, TierStatus, TierUsage};

/// Decides whether stored bytes are still usable (e.g. they deserialize as the current report
/// version). A rejected value is removed from every tier and the lookup is a miss.
pub type Validator = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// What computes a missing value (any `FnOnce() -> impl Future<Output = Result<Bytes, E>>`):
/// run at most once per flight, in the flight's own task, hence owned and `Send`.
pub trait Compute<E>: Send + 'static {
    type Output: Future<Output = Result<Bytes, E>> + Send + 'static;

    fn run(self) -> Self::Output;
}

impl<F, Fut, E> Compute<E> for F
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
{
    type Output = Fut;

    fn run(self) -> Fut {
        self()
    }
}

/// Where a `get_or_compute` answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from this tier.
    Hit(TierName),
    /// Nothing cached: this caller's computation ran.
    Miss,
    /// Nothing cached: this caller waited for another caller's computation of the same key.
    Coalesced,
}

impl Outcome {
    /// The `x-cache` header value: `hit-memory`, `hit-redis`, `hit-disk`, `miss`, `coalesced`.
    pub fn header_value(self) -> &'static str {
        match self {
            Outcome::Hit(TierName::Memory) => "hit-memory",
            Outcome::Hit(TierName::Redis) => "hit-redis",
            Outcome::Hit(TierName::Disk) => "hit-disk",
            Outcome::Miss => "miss",
            Outcome::Coalesced => "coalesced",
        }
    }

    /// The tier for the report's `cache.tier` (`None` unless a hit).
    pub fn tier(self) -> Option<TierName> {
        match self {
            Outcome::Hit(t) => Some(t),
            Outcome::Miss | Outcome::Coalesced => None,
        }
    }
}

/// What `clear` did, per tier; serializable as the body of `DELETE /cache`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClearOutcome {
    /// Tiers now empty.
    pub cleared: Vec<TierName>,
    /// Tiers that could not be cleared, with the reason.
    pub failed: Vec<(TierName, String)>,
}

/// The three-tier cache. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct TieredCache {
    inner: Arc<Inner>,
}

struct Inner {
    /// Cross-replica leases on the Redis tier (`None`: no `REDIS_URL`).
    leases: Option<super::Leases>,
    /// The Redis tier, also used for cross-replica leases (`None`: no `REDIS_URL`).
    redis: Option<RedisTier>,
    /// Fastest first. Lookups go down this list; promotion writes back up it.
    tiers: Vec<Arc<dyn Tier>>,
    ttl: Duration,
    validator: Option<Validator>,
    counters: Counters,
    flights: Arc<Flights>,
    /// Background writes in progress, and a wake-up for [`TieredCache::flush`].
    pending_writes: AtomicU64,
    writes_done: Notify,
}

impl TieredCache {
    /// Builds the tiers `cfg` enables. Never fails because Redis is down (it starts unavailable
    /// and reconnects by itself) or because the disk directory is unusable (the disk tier starts
    /// degraded); fails only on an unparsable `REDIS_URL`, a configuration error.
    pub async fn new(cfg: CacheConfig) -> Result<Self, TierError> {
        let mut tiers: Vec<Arc<dyn Tier>> = Vec::new();
        let mut redis = None;
        if cfg.memory_max_mb > 0 {
            tiers.push(Arc::new(MemoryTier::new(cfg.memory_max_bytes())));
        }
        if let Some(url) = &cfg.redis_url {
            let opts = RedisOptions {
                connect_timeout: Duration::from_millis(cfg.redis_connect_timeout_ms),
                response_timeout: Duration::from_millis(cfg.redis_response_timeout_ms),
                probe_interval: Duration::from_millis(cfg.redis_probe_interval_ms.max(10)),
                key_prefix: cfg.redis_key_prefix.clone(),
                namespace: cfg.namespace.clone(),
            };
            redis = Some(RedisTier::connect(url, opts).await?);
            tiers.push(Arc::new(redis.clone().expect("just set")));
        }
        if cfg.disk_max_mb > 0 {
            let disk = DiskTier::open(
                cfg.dir.clone(),
                cfg.namespace.clone(),
                cfg.disk_max_bytes(),
                Duration::from_secs(cfg.disk_sweep_interval_sec),
            )
            .await;
            tiers.push(Arc::new(disk));
        }
        let mut cache = Self::from_tiers(tiers, cfg.ttl());
        let inner = Arc::get_mut(&mut cache.inner).expect("not shared yet");
        inner.leases = redis
            .clone()
            .map(|t| super::Leases::new(t, Duration::from_millis(cfg.redis_lease_ms)));
        inner.redis = redis;
        Ok(cache)
    }

    /// The shared Redis tier, if configured (cross-replica leases use it).
    pub fn redis(&self) -> Option<&RedisTier> {
        self.inner.redis.as_ref()
    }

    /// Cross-replica leases (one analysis per key across replicas), if Redis is configured.
    pub fn leases(&self) -> Option<&super::Leases> {
        self.inner.leases.as_ref()
    }

    /// Entry lifetime in every tier.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// A cache over the given tiers, fastest first (e.g. fakes in tests).
    pub fn from_tiers(tiers: Vec<Arc<dyn Tier>>, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis: None,
                leases: None,
                tiers,
                ttl,
                validator: None,
                counters: Counters::default(),
                flights: Arc::new(Flights::default()),
                pending_writes: AtomicU64::new(0),
                writes_done: Notify::new(),
            }),
        }
    }

    /// Sets the validator applied to every stored value found by a lookup. Call before
    /// sharing the cache (it needs the only handle).
    ///
    /// # Panics
    /// If the cache has already been cloned.
    pub fn with_validator(mut self, validator: Validator) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_validator must be called before the cache is cloned")
            .validator = Some(validator);
        self
    }

    /// Looks `key` up, fastest tier first; a hit in a lower tier is promoted to the ones above.
    pub async fn get(&self, key: &str) -> Option<(Bytes, TierName)> {
        let found = self.inner.lookup(key).await;
        if found.is_none() {
            Counters::bump(&self.inner.counters.misses);
        }
        found
    }

    /// Like [`Self::get`], but a miss is not counted: for a caller that follows a miss with
    /// [`Self::compute_missing`], which counts it (as `misses` or `coalesced`) exactly once.
    pub async fn lookup(&self, key: &str) -> Option<(Bytes, TierName)> {
        self.inner.lookup(key).await
    }

    /// Stores `value` in every tier: memory before returning, Redis and disk in the background
    /// (see [`Self::flush`]); failures are counted in `errors`.
    pub async fn set(&self, key: &str, value: Bytes) {
        self.inner.store(key, value).await;
    }

    /// The value of `key` from the cache, or computed by `compute` exactly once however many
    /// callers ask for the same key at the same time.
    ///
    /// On a miss the computation runs in its own task: dropping this future (client gone)
    /// cancels nothing, and the callers still waiting get the result. Successful results are
    /// stored in every tier; errors are returned to every waiting caller and not cached. A hit
    /// never waits for anything but the lookup, so `compute` is the place for admission control.
    pub async fn get_or_compute<E: Send + Sync + 'static>(
        &self,
        key: &str,
        compute: impl Compute<E>,
    ) -> Result<(Bytes, Outcome), ComputeError<E>> {
        if let Some((value, tier)) = self.inner.lookup(key).await {
            return Ok((value, Outcome::Hit(tier)));
        }
        self.compute_missing(key, compute).await
    }

    /// The miss half of [`Self::get_or_compute`], for a caller whose own [`Self::lookup`] just
    /// missed (and who did something in between, such as taking an admission slot): joins the
    /// flight of `key` or starts it, without looking every tier up a second time. The leader
    /// still re-checks the first tier, so a flight that finished in between is a hit.
    pub async fn compute_missing<E: Send + Sync + 'static>(
        &self,
        key: &str,
        compute: impl Compute<E>,
    ) -> Result<(Bytes, Outcome), ComputeError<E>> {
        let (flight, role) = self.inner.flights.join_or_start::<E>(key, |ticket| {
            let inner = self.inner.clone();
            let key = key.to_owned();
            spawn_flight(async move {
                let result = inner.lead_flight(&key, compute).await;
                // Release the key only now: the value is in the first tier, so a caller that
                // no longer finds the flight finds the value.
                drop(ticket);
                result
            })
        });
        if role == Role::Follower {
            Counters::bump(&self.inner.counters.coalesced);
        }
        match flight.await {
            Ok(Produced { value, found_in }) => {
                let outcome = match (role, found_in) {
                    (Role::Follower, _) => Outcome::Coalesced,
                    (Role::Leader, Some(tier)) => Outcome::Hit(tier),
                    (Role::Leader, None) => Outcome::Miss,
                };
                Ok((value, outcome))
            }
            Err(e) => Err(e.into_typed()),
        }
    }

    /// Removes `key` from every tier (errors are counted, not returned).
    pub async fn remove(&self, key: &str) {
        for tier in &self.inner.tiers {
            if let Err(e) = tier.remove(key).await {
                self.inner.record_error(&e);
            }
        }
    }

    /// Empties every tier (Redis: every key under the prefix, all namespaces).
    pub async fn clear(&self) -> ClearOutcome {
        let mut out = ClearOutcome::default();
        for tier in &self.inner.tiers {
            match tier.clear().await {
                Ok(()) => out.cleared.push(tier.name()),
                Err(e) => {
                    self.inner.record_error(&e);
                    out.failed.push((tier.name(), e.message));
                }
            }
        }
        out
    }

    /// Waits until every background write started so far has finished.
    pub async fn flush(&self) {
        loop {
            let notified = self.inner.writes_done.notified();
            if self.inner.pending_writes.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The body of `GET /stats/cache`.
    pub async fn stats(&self) -> CacheStats {
        let usage = |name| async move {
            match self.inner.tier(name) {
                Some(t) => t.usage().await,
                None => TierUsage::default(),
            }
        };
        let snapshot = Snapshot {
            memory: usage(TierName::Memory).await,
            disk: usage(TierName::Disk).await,
            tiers: self.statuses(),
            ttl_sec: self.inner.ttl.as_secs(),
            pending_writes: self.inner.pending_writes.load(Ordering::Acquire),
            in_flight: self.inner.flights.in_flight() as u64,
            details: self.tier_details().await,
        };
        CacheStats::build(&self.inner.counters, snapshot)
    }

    /// Per-tier status (cheap, no IO).
    pub fn statuses(&self) -> TierStatuses {
        let status = |name| {
            self.inner
                .tier(name)
                .map_or(TierStatus::Disabled, |t| t.status())
        };
        TierStatuses {
            memory: status(TierName::Memory),
            redis: status(TierName::Redis),
            disk: status(TierName::Disk),
        }
    }

    /// For `/health`: degraded when a configured tier is not ok. A degraded cache never makes
    /// the service unhealthy: it still answers, only slower.
    pub fn health(&self) -> CacheHealth {
        let tiers = self.statuses();
        let all_ok = [tiers.memory, tiers.redis, tiers.disk]
            .iter()
            .all(|s| matches!(s, TierStatus::Ok | TierStatus::Disabled));
        CacheHealth {
            status: if all_ok {
                CacheStatus::Ok
            } else {
                CacheStatus::Degraded
            },
            tiers,
        }
    }

    /// [`Tier::stats`] of each configured tier, fastest first.
    pub async fn tier_details(&self) -> Vec<TierStats> {
        let mut details = Vec::with_capacity(self.inner.tiers.len());
        for tier in &self.inner.tiers {
            details.push(tier.stats().await);
        }
        details
    }
}

impl Inner {
    fn tier(&self, name: TierName) -> Option<&Arc<dyn Tier>> {
        self.tiers.iter().find(|t| t.name() == name)
    }

    fn record_error(&self, e: &TierError) {
        self.counters.error(e.tier);
        tracing::debug!(tier = %e.tier, error = %e.message, "cache tier operation failed");
    }

    /// Lookup without counting a miss (the caller knows whether it is one).
    async fn lookup(self: &Arc<Self>, key: &str) -> Option<(Bytes, TierName)> {
        for (level, tier) in self.tiers.iter().enumerate() {
            match tier.get(key).await {
                Ok(Some(value)) => {
                    if !self.is_valid(&value) {
                        self.reject(key).await;
                        return None;
                    }
                    self.counters.hit(tier.name());
                    if level > 0 {
                        self.promote(key, value.clone(), level).await;
                    }
                    return Some((value, tier.name()));
                }
                Ok(None) => {}
                Err(e) => self.record_error(&e),
            }
        }
        None
    }

    fn is_valid(&self, value: &[u8]) -> bool {
        self.validator.as_ref().is_none_or(|v| v(value))
    }

    /// A stored value the caller can't use: gone from every tier.
    async fn reject(self: &Arc<Self>, key: &str) {
        Counters::bump(&self.counters.invalid_removed);
        tracing::warn!(
            key,
            "cached value rejected by the validator; removed from every tier"
        );
        for tier in &self.tiers {
            if tier.name() == TierName::Memory {
                let _ = tier.remove(key).await;
            } else {
                let (this, tier, key) = (self.clone(), tier.clone(), key.to_owned());
                self.background(async move {
                    if let Err(e) = tier.remove(&key).await {
                        this.record_error(&e);
                    }
                });
            }
        }
    }

    /// Writes a value found at `level` into the tiers above it.
    async fn promote(self: &Arc<Self>, key: &str, value: Bytes, level: usize) {
        for tier in &self.tiers[..level] {
            self.write_one(tier, key, value.clone(), false).await;
        }
    }

    /// Writes to every tier: the first (fastest) one before returning, so a caller that no
    /// longer finds the flight finds the value; the rest in the background.
    async fn store(self: &Arc<Self>, key: &str, value: Bytes) {
        for (i, tier) in self.tiers.iter().enumerate() {
            self.write_one(tier, key, value.clone(), i == 0).await;
        }
    }

    /// Memory writes (and `inline` ones) are awaited, others go to the background.
    async fn write_one(
        self: &Arc<Self>,
        tier: &Arc<dyn Tier>,
        key: &str,
        value: Bytes,
        inline: bool,
    ) {
        if inline || tier.name() == TierName::Memory {
            if let Err(e) = tier.set(key, value, self.ttl).await {
                self.record_error(&e);
            }
            return;
        }
        let (this, tier, key) = (self.clone(), tier.clone(), key.to_owned());
        self.background(async move {
            if let Err(e) = tier.set(&key, value, this.ttl).await {
                tracing::warn!(tier = %e.tier, error = %e.message, "cache write failed");
                this.record_error(&e);
            }
        });
    }

    /// Spawns a tracked background write.
    fn background(self: &Arc<Self>, work: impl Future<Output = ()> + Send + 'static) {
        /// Decrements the pending count even if the write panics.
        struct Done(Arc<Inner>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.pending_writes.fetch_sub(1, Ordering::AcqRel);
                self.0.writes_done.notify_waiters();
            }
        }
        self.pending_writes.fetch_add(1, Ordering::AcqRel);
        let done = Done(self.clone());
        tokio::spawn(work.map(move |()| drop(done)));
    }

    /// The leader's side of a flight: re-check the first tier (a flight for this key may have
    /// finished between our lookup and our registration), else compute and store.
    async fn lead_flight<E: Send + Sync + 'static>(
        self: &Arc<Self>,
        key: &str,
        compute: impl Compute<E>,
    ) -> FlightResult {
        if let Some(first) = self.tiers.first() {
            match first.get(key).await {
                Ok(Some(value)) if self.is_valid(&value) => {
                    self.counters.hit(first.name());
                    return Ok(Produced {
                        value,
                        found_in: Some(first.name()),
                    });
                }
                // Invalid values were already removed by the caller's lookup; a miss it is.
                Ok(_) => {}
                Err(e) => self.record_error(&e),
            }
        }
        Counters::bump(&self.counters.misses);
        Counters::bump(&self.counters.computations);
        match compute.run().await {
            Ok(value) => {
                self.store(key, value.clone()).await;
                Ok(Produced {
                    value,
                    found_in: None,
                })
            }
            Err(e) => {
                Counters::bump(&self.counters.compute_errors);
                Err(FlightError::Failed(Arc::new(e)))
            }
        }
    }
}
