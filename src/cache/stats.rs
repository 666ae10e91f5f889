//! Cache counters and the `/stats/cache` body.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{TierName, TierStats, TierStatus, TierUsage};

/// Live counters, updated lock-free on the request path.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Lookups answered, by the tier that answered.
    pub hits: PerTier,
    pub misses: AtomicU64,
    pub coalesced: AtomicU64,
    pub computations: AtomicU64,
    pub compute_errors: AtomicU64,
    pub invalid_removed: AtomicU64,
    /// Failed tier operations, by tier.
    pub errors: PerTier,
}

impl Counters {
    pub fn hit(&self, tier: TierName) {
        self.hits.bump(tier);
    }

    pub fn error(&self, tier: TierName) {
        self.errors.bump(tier);
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One counter per tier.
#[derive(Debug, Default)]
pub(crate) struct PerTier {
    memory: AtomicU64,
    redis: AtomicU64,
    disk: AtomicU64,
}

impl PerTier {
    fn bump(&self, tier: TierName) {
        match tier {
            TierName::Memory => &self.memory,
            TierName::Redis => &self.redis,
            TierName::Disk => &self.disk,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Memory, Redis and disk, in that order.
    fn load(&self) -> [u64; 3] {
        [load(&self.memory), load(&self.redis), load(&self.disk)]
    }
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Failed tier operations (reads, writes, promotions, removals), per tier, since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TierErrors {
    pub memory: u64,
    pub redis: u64,
    pub disk: u64,
}

/// Status of each tier (`disabled` when not configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TierStatuses {
    pub memory: TierStatus,
    pub redis: TierStatus,
    pub disk: TierStatus,
}

/// Whether every configured tier works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    Ok,
    /// A configured tier is degraded or unreachable: lookups skip it.
    Degraded,
}

/// The cache component of `/health`: each tier `ok`, `degraded`, `unavailable` or `disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CacheHealth {
    pub status: CacheStatus,
    pub tiers: TierStatuses,
}

/// The body of `GET /stats/cache`. Counters are since start of this process.
///
/// Every lookup lands in exactly one of `l1_memory_hits`, `l2_redis_hits`, `l3_disk_hits`,
/// `misses` or `coalesced`, and `total` is their sum:
/// - a hit is counted for the tier that answered (after promotion it is an L1 hit next time);
/// - `misses`: the lookup found nothing and this caller's computation ran (or, for a plain
///   `get`, nothing was found);
/// - `coalesced`: the lookup found nothing and the caller waited for another caller's
///   computation of the same key instead of running its own.
///
/// `hit_rate` = hits / `total` (0 when `total` is 0).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CacheStats {
    pub l1_memory_hits: u64,
    pub l2_redis_hits: u64,
    pub l3_disk_hits: u64,
    pub misses: u64,
    pub total: u64,
    /// Fraction of lookups served from a tier, 0..1.
    pub hit_rate: f64,
    /// `hit_rate` as text with one decimal, e.g. `"87.7%"`.
    pub hit_rate_percent: String,
    pub coalesced: u64,
    pub errors: TierErrors,
    pub memory: TierUsage,
    pub disk: TierUsage,
    /// Whether Redis answered the last command or probe (false when not configured).
    pub redis_available: bool,
    /// TTL of new entries, seconds.
    pub ttl_sec: u64,
    /// Computations started (a computation serves its leader and every coalesced caller).
    pub computations: u64,
    /// Computations that returned an error (not cached).
    pub compute_errors: u64,
    /// Stored values the validator rejected; they were removed from every tier.
    pub invalid_removed: u64,
    /// Background writes (to Redis/disk) not finished yet.
    pub pending_writes: u64,
    /// Computations running now.
    pub in_flight: u64,
    pub tiers: TierStatuses,
    /// Each configured tier in detail, fastest first.
    pub tier_details: Vec<TierStats>,
}

/// Inputs to [`CacheStats`] that don't live in [`Counters`].
pub(crate) struct Snapshot {
    pub memory: TierUsage,
    pub disk: TierUsage,
    pub tiers: TierStatuses,
    pub ttl_sec: u64,
    pub pending_writes: u64,
    pub in_flight: u64,
    pub details: Vec<TierStats>,
}

impl CacheStats {
    pub(crate) fn build(c: &Counters, s: Snapshot) -> Self {
        let [l1, l2, l3] = c.hits.load();
        let [memory_errors, redis_errors, disk_errors] = c.errors.load();
        let (misses, coalesced) = (load(&c.misses), load(&c.coalesced));
        let hits = l1 + l2 + l3;
        let total = hits + misses + coalesced;
        let hit_rate = if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        };
        Self {
            l1_memory_hits: l1,
            l2_redis_hits: l2,
            l3_disk_hits: l3,
            misses,
            total,
            hit_rate,
            hit_rate_percent: format!("{:.1}%", hit_rate * 100.0),
            coalesced,
            errors: TierErrors {
                memory: memory_errors,
                redis: redis_errors,
                disk: disk_errors,
            },
            memory: s.memory,
            disk: s.disk,
            redis_available: s.tiers.redis == TierStatus::Ok,
            ttl_sec: s.ttl_sec,
            computations: load(&c.computations),
            compute_errors: load(&c.compute_errors),
            invalid_removed: load(&c.invalid_removed),
            pending_writes: s.pending_writes,
            in_flight: s.in_flight,
            tiers: s.tiers,
            tier_details: s.details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            memory: TierUsage::default(),
            disk: TierUsage::default(),
            tiers: TierStatuses {
                memory: TierStatus::Ok,
                redis: TierStatus::Disabled,
                disk: TierStatus::Ok,
            },
            ttl_sec: 60,
            pending_writes: 0,
            in_flight: 0,
            details: Vec::new(),
        }
    }

    #[test]
    fn rates_and_percent_text() {
        let c = Counters::default();
        for _ in 0..5 {
            c.hit(TierName::Memory);
        }
        c.hit(TierName::Redis);
        c.hit(TierName::Disk);
        Counters::bump(&c.misses);
        let s = CacheStats::build(&c, snapshot());
        assert_eq!(s.total, 8);
        assert!((s.hit_rate - 0.875).abs() < 1e-12);
        assert_eq!(s.hit_rate_percent, "87.5%");
        assert!(!s.redis_available);
    }

    #[test]
    fn empty_stats_have_zero_rate() {
        let s = CacheStats::build(&Counters::default(), snapshot());
        assert_eq!(
            (s.total, s.hit_rate, s.hit_rate_percent.as_str()),
            (0, 0.0, "0.0%")
        );
        let json = serde_json::to_value(&s).unwrap();
        for field in [
            "l1_memory_hits",
            "l2_redis_hits",
            "l3_disk_hits",
            "misses",
            "total",
            "hit_rate",
            "hit_rate_percent",
            "coalesced",
            "errors",
            "memory",
            "disk",
            "redis_available",
            "ttl_sec",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert!(json["errors"].get("redis").is_some() && json["errors"].get("disk").is_some());
        for f in ["entries", "bytes", "max_bytes"] {
            assert!(json["memory"].get(f).is_some() && json["disk"].get(f).is_some());
        }
    }
}
