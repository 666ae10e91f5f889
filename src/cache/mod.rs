//! Three-tier analysis cache: moka memory (L1) → Redis (L2) → disk (L3), with single-flight.
//!
//! The cache stores opaque bytes (a versioned, serialized report); it knows nothing of reports.
//!
//! # Layout
//! - [`config`]: [`CacheConfig`], the typed settings (env var names in the field docs).
//! - [`key`]: [`CacheKey`], content hash of the upload + fingerprint of the analysis settings.
//! - [`memory`]: L1, a byte-bounded `moka` cache with per-entry TTL.
//! - [`redis`]: L2, Redis through a `ConnectionManager`; fails fast while Redis is down and
//!   reconnects by itself.
//! - [`lease`]: cross-replica single-flight (a Redis lease per key).
//! - [`disk`]: L3, one file per key in a checksummed envelope, written atomically, size-capped.
//! - [`singleflight`]: identical concurrent misses share one computation.
//! - [`stats`]: counters and the `/stats/cache` body ([`CacheStats`]).
//! - [`tiered`]: [`TieredCache`], which puts it all together (lookup order, promotion,
//!   background writes, validation, health).

use async_trait::async_trait;
use std::time::Duration;

pub mod config;
pub mod disk;
pub mod key;
pub mod lease;
pub mod memory;
pub mod redis;
pub mod singleflight;
pub mod stats;
pub mod tiered;

pub use config::CacheConfig;
pub use disk::DiskTier;
pub use key::CacheKey;
pub use lease::{LeaseGuard, Leased, Leases};
pub use memory::MemoryTier;
pub use redis::RedisTier;
pub use singleflight::ComputeError;
pub use stats::{CacheHealth, CacheStats, CacheStatus, TierErrors, TierStatuses};
pub use tiered::{ClearOutcome, Outcome, TieredCache, Validator};

/// Which tier answered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TierName {
    Memory,
    Redis,
    Disk,
}

impl TierName {
    /// The lowercase name used in JSON, logs and the `x-cache` header (`hit-<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            TierName::Memory => "memory",
            TierName::Redis => "redis",
            TierName::Disk => "disk",
        }
    }
}

impl std::fmt::Display for TierName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tier failed (IO, network, timeout). Callers treat it as a miss and count it.
#[derive(Debug, thiserror::Error)]
#[error("{tier:?} cache tier error: {message}")]
pub struct TierError {
    pub tier: TierName,
    pub message: String,
}

impl TierError {
    /// Shorthand used by the tier implementations.
    pub fn new(tier: TierName, message: impl Into<String>) -> Self {
        Self {
            tier,
            message: message.into(),
        }
    }
}

/// How a tier is doing, for `/health` and `/stats/cache`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TierStatus {
    /// Working normally.
    Ok,
    /// Serving, but some operations fail (e.g. the disk dir is unwritable: reads may still work).
    Degraded,
    /// Configured but not reachable now (e.g. Redis is down); every operation is a fast miss.
    Unavailable,
    /// Not configured (e.g. no `REDIS_URL`).
    Disabled,
}

/// Size of what a tier holds, for `/stats/cache`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct TierUsage {
    /// Number of entries held.
    pub entries: u64,
    /// Bytes held (the tier's own accounting: weighted size for memory, file sizes for disk).
    pub bytes: u64,
    /// The tier's byte budget; 0 when it has none (Redis: its own `maxmemory` applies).
    pub max_bytes: u64,
}

/// One tier in `/stats/cache`'s `tier_details`: what it holds and what it has done since start.
/// Counters a tier does not keep stay 0 (only the disk tier removes corrupt or expired files;
/// only Redis has outages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TierStats {
    pub name: TierName,
    pub status: TierStatus,
    #[serde(flatten)]
    pub usage: TierUsage,
    /// Entries found unreadable, truncated or of another format, and removed.
    pub corrupt_removed: u64,
    /// Entries found past their TTL, and removed.
    pub expired_removed: u64,
    /// Entries removed to stay within the byte budget.
    pub evicted: u64,
    /// Times the tier went from reachable to unreachable.
    pub outages: u64,
}

impl TierStats {
    /// Stats with every housekeeping counter at 0.
    pub fn new(name: TierName, status: TierStatus, usage: TierUsage) -> Self {
        Self {
            name,
            status,
            usage,
            corrupt_removed: 0,
            expired_removed: 0,
            evicted: 0,
            outages: 0,
        }
    }
}

/// One cache tier. Values are opaque bytes; keys are short ASCII strings.
#[async_trait]
pub trait Tier: Send + Sync + 'static {
    fn name(&self) -> TierName;
    /// `Ok(None)` on a miss (including expired or corrupt entries, which the tier removes).
    async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>, TierError>;
    async fn set(&self, key: &str, value: bytes::Bytes, ttl: Duration) -> Result<(), TierError>;
    /// Removes one entry (absent is fine). Used when the caller rejects a stored value.
    async fn remove(&self, key: &str) -> Result<(), TierError>;
    async fn clear(&self) -> Result<(), TierError>;
    /// Entries and bytes held, for the fixed fields of `/stats/cache`.
    async fn usage(&self) -> TierUsage {
        TierUsage::default()
    }
    /// Usage, status and housekeeping counters, for `tier_details` in `/stats/cache`.
    async fn stats(&self) -> TierStats {
        TierStats::new(self.name(), self.status(), self.usage().await)
    }
    /// Current health; cheap (no IO), safe to call per request.
    fn status(&self) -> TierStatus {
        TierStatus::Ok
    }
}
