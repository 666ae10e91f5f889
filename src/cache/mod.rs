//! Three-tier analysis cache: moka memory (L1) → Redis (L2) → disk (L3), with single-flight.
//!
//! The cache stores opaque bytes (a versioned, serialized report); it knows nothing of reports.

use async_trait::async_trait;
use std::time::Duration;

/// Which tier answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierName {
    Memory,
    Redis,
    Disk,
}

/// A tier failed (IO, network, timeout). Callers treat it as a miss and count it.
#[derive(Debug, thiserror::Error)]
#[error("{tier:?} cache tier error: {message}")]
pub struct TierError {
    pub tier: TierName,
    pub message: String,
}

/// One cache tier. Values are opaque bytes; keys are short ASCII strings.
#[async_trait]
pub trait Tier: Send + Sync + 'static {
    fn name(&self) -> TierName;
    /// `Ok(None)` on a miss (including expired or corrupt entries, which the tier removes).
    async fn get(&self, key: &str) -> Result<Option<bytes::Bytes>, TierError>;
    async fn set(&self, key: &str, value: bytes::Bytes, ttl: Duration) -> Result<(), TierError>;
    async fn clear(&self) -> Result<(), TierError>;
    /// Tier-specific stats for `/stats/cache` (entries, bytes, availability).
    async fn stats(&self) -> serde_json::Value;
}
