//! L1: an in-process `moka` cache bounded by bytes, with a per-entry TTL.

use async_trait::async_trait;
use bytes::Bytes;
use moka::Expiry;
use std::time::{Duration, Instant as StdInstant};
use tokio::time::Instant;

use super::{Tier, TierError, TierName, TierUsage};

/// Per-entry bookkeeping cost added to the weight, so a flood of tiny values can't exceed the
/// budget by their overhead (moka's node, the `String` key and `Bytes` header ≈ 100 bytes).
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// A stored value with its deadline.
///
/// The deadline is checked on read with tokio's clock, so TTL is testable with paused time
/// (moka's own clock can't be paused); moka's `expire_after` with the same TTL frees the memory
/// of entries nobody reads again.
#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    expires_at: Instant,
}

/// Tells moka the TTL of each entry (values may carry different TTLs).
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, e: &Entry, _: StdInstant) -> Option<Duration> {
        Some(e.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        e: &Entry,
        _: StdInstant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        // A re-insert restarts the clock with the new entry's TTL.
        Some(e.ttl)
    }
}

/// L1 memory tier.
pub struct MemoryTier {
    /// Weighted by value + key + overhead bytes; capacity is the byte budget.
    cache: moka::future::Cache<String, Entry>,
    /// The byte budget, reported in stats.
    max_bytes: u64,
}

impl MemoryTier {
    /// A tier holding at most `max_bytes` (approximately: moka evicts asynchronously).
    pub fn new(max_bytes: u64) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, e: &Entry| {
                u32::try_from(e.value.len() + k.len() + ENTRY_OVERHEAD_BYTES).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { cache, max_bytes }
    }
}

#[async_trait]
impl Tier for MemoryTier {
    fn name(&self) -> TierName {
        TierName::Memory
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, TierError> {
        match self.cache.get(key).await {
            Some(e) if Instant::now() < e.expires_at => Ok(Some(e.value)),
            Some(_) => {
                self.cache.invalidate(key).await;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), TierError> {
        let entry = Entry {
            value,
            ttl,
            expires_at: Instant::now() + ttl,
        };
        self.cache.insert(key.to_owned(), entry).await;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), TierError> {
        self.cache.invalidate(key).await;
        Ok(())
    }

    async fn clear(&self) -> Result<(), TierError> {
        self.cache.invalidate_all();
        // Make the counts in stats reflect the clear right away.
        self.cache.run_pending_tasks().await;
        Ok(())
    }

    async fn usage(&self) -> TierUsage {
        // moka's counters lag behind until its housekeeping runs; stats are not hot.
        self.cache.run_pending_tasks().await;
        TierUsage {
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
            max_bytes: self.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_then_get_returns_the_value_and_remove_forgets_it() {
        let t = MemoryTier::new(1 << 20);
        assert_eq!(t.get("k").await.unwrap(), None);
        t.set("k", Bytes::from_static(b"v"), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(t.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        t.remove("k").await.unwrap();
        assert_eq!(t.get("k").await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_their_ttl() {
        let t = MemoryTier::new(1 << 20);
        t.set("k", Bytes::from_static(b"v"), Duration::from_secs(10))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(t.get("k").await.unwrap().is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(t.get("k").await.unwrap(), None);
        assert_eq!(t.usage().await.entries, 0, "expired entry is dropped");
    }

    #[tokio::test]
    async fn byte_budget_is_enforced() {
        let t = MemoryTier::new(64 * 1024);
        for i in 0..100 {
            t.set(
                &format!("k{i}"),
                Bytes::from(vec![0u8; 4096]),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        }
        let u = t.usage().await;
        assert!(
            u.bytes <= 64 * 1024,
            "weighted size {} over budget",
            u.bytes
        );
        assert!(u.entries < 100 && u.entries > 0);
        assert_eq!(u.max_bytes, 64 * 1024);
    }

    #[tokio::test]
    async fn clear_empties_the_tier() {
        let t = MemoryTier::new(1 << 20);
        t.set("a", Bytes::from_static(b"1"), Duration::from_secs(60))
            .await
            .unwrap();
        t.clear().await.unwrap();
        assert_eq!(t.get("a").await.unwrap(), None);
        assert_eq!(t.usage().await.entries, 0);
    }
}
