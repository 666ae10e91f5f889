//! Tiered cache without Redis: memory + disk tiers, promotion, TTL, disk faults, validation,
//! single-flight and exact stats. Redis scenarios live in `cache_redis.rs`.

mod support;

use bytes::Bytes;
use speech_coach::cache::disk::envelope;
use speech_coach::cache::{
    CacheConfig, CacheStatus, ComputeError, DiskTier, MemoryTier, Outcome, Tier, TierName,
    TierStatus, TieredCache,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::cache_values::{counted, report};
use tokio::sync::Barrier;

const TTL: Duration = Duration::from_secs(3600);

struct Setup {
    cache: TieredCache,
    memory: Arc<MemoryTier>,
    disk: Arc<DiskTier>,
    _dir: tempfile::TempDir,
}

async fn memory_and_disk() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(MemoryTier::new(16 << 20));
    let disk = Arc::new(DiskTier::open(dir.path(), "v1", 64 << 20, Duration::ZERO).await);
    let cache = TieredCache::from_tiers(vec![memory.clone(), disk.clone()], TTL);
    Setup {
        cache,
        memory,
        disk,
        _dir: dir,
    }
}

/// A second caller of `k` (its own computation would answer `report(0)`), spawned once the
/// first caller's flight runs; returned once it has joined that flight.
async fn join_flight_of_k(
    cache: &TieredCache,
) -> tokio::task::JoinHandle<Result<(Bytes, Outcome), ComputeError<String>>> {
    let joiner = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_compute("k", || async { Ok::<_, String>(report(0)) })
                .await
        })
    };
    while cache.stats().await.coalesced < 1 {
        tokio::task::yield_now().await;
    }
    joiner
}

#[tokio::test]
async fn miss_then_memory_hit() {
    let s = memory_and_disk().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (v, o) = s
        .cache
        .get_or_compute("k", counted(&runs, report(1)))
        .await
        .unwrap();
    assert_eq!((v, o), (report(1), Outcome::Miss));
    let (v, o) = s
        .cache
        .get_or_compute("k", counted(&runs, report(2)))
        .await
        .unwrap();
    assert_eq!((v, o), (report(1), Outcome::Hit(TierName::Memory)));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    s.cache.flush().await;
    assert_eq!(
        s.disk.get("k").await.unwrap(),
        Some(report(1)),
        "written through to disk"
    );
}

#[tokio::test]
async fn disk_hit_is_promoted_to_memory() {
    let s = memory_and_disk().await;
    s.disk.set("k", report(3), TTL).await.unwrap();
    assert_eq!(s.cache.get("k").await, Some((report(3), TierName::Disk)));
    assert_eq!(s.memory.get("k").await.unwrap(), Some(report(3)));
    assert_eq!(s.cache.get("k").await, Some((report(3), TierName::Memory)));
}

#[tokio::test]
async fn disk_tier_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CacheConfig {
        dir: dir.path().join("cache"),
        ..CacheConfig::default()
    };
    let first = TieredCache::new(cfg.clone()).await.unwrap();
    first.set("k", report(4)).await;
    first.flush().await;
    drop(first);
    let second = TieredCache::new(cfg).await.unwrap();
    assert_eq!(second.stats().await.disk.entries, 1);
    assert_eq!(second.get("k").await, Some((report(4), TierName::Disk)));
    assert_eq!(second.get("k").await, Some((report(4), TierName::Memory)));
}

#[tokio::test(start_paused = true)]
async fn memory_entries_expire_with_paused_time() {
    let cache = TieredCache::from_tiers(
        vec![Arc::new(MemoryTier::new(1 << 20))],
        Duration::from_secs(60),
    );
    cache.set("k", report(1)).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(cache.get("k").await.is_some());
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(cache.get("k").await, None);
    let runs = Arc::new(AtomicUsize::new(0));
    let (_, o) = cache
        .get_or_compute("k", counted(&runs, report(2)))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Miss, "expired entry recomputed");
}

#[tokio::test]
async fn disk_entries_expire_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(DiskTier::open(dir.path(), "v1", 1 << 20, Duration::ZERO).await);
    // 3 s, not 1: on a loaded 2-core box the write and first read alone once took over a second.
    let cache = TieredCache::from_tiers(vec![disk.clone()], Duration::from_secs(3));
    cache.set("k", report(1)).await;
    assert_eq!(cache.get("k").await, Some((report(1), TierName::Disk)));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(cache.get("k").await, None);
    assert!(!disk.path_for("k").exists(), "expired file deleted on read");
}

/// Writes `bytes` where the disk tier keeps `key`, then checks the entry is a miss, is deleted,
/// and the cache recomputes and serves the fresh value.
async fn assert_broken_entry_is_a_miss(s: &Setup, key: &str, bytes: &[u8]) {
    let path = s.disk.path_for(key);
    std::fs::write(&path, bytes).unwrap();
    let before = s.disk.corrupt_removed();
    assert_eq!(s.cache.get(key).await, None, "broken entry served");
    assert!(!path.exists(), "broken entry not deleted");
    assert_eq!(s.disk.corrupt_removed(), before + 1);
    let runs = Arc::new(AtomicUsize::new(0));
    let (v, o) = s
        .cache
        .get_or_compute(key, counted(&runs, report(9)))
        .await
        .unwrap();
    assert_eq!((v, o), (report(9), Outcome::Miss));
    s.cache.flush().await;
    assert_eq!(s.disk.get(key).await.unwrap(), Some(report(9)), "rewritten");
}

#[tokio::test]
async fn truncated_disk_entry_is_a_miss_and_deleted() {
    let s = memory_and_disk().await;
    s.disk.set("k", report(1), TTL).await.unwrap();
    let full = std::fs::read(s.disk.path_for("k")).unwrap();
    assert_broken_entry_is_a_miss(&s, "k", &full[..full.len() - 7]).await;
    // Cut inside the header too.
    assert_broken_entry_is_a_miss(&s, "k2", &full[..5]).await;
}

#[tokio::test]
async fn garbage_disk_entry_is_a_miss_and_deleted() {
    let s = memory_and_disk().await;
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert_broken_entry_is_a_miss(&s, "k", &garbage).await;
    assert_broken_entry_is_a_miss(&s, "k3", b"").await;
}

#[tokio::test]
async fn bit_flipped_disk_entry_fails_its_checksum() {
    let s = memory_and_disk().await;
    s.disk.set("k", report(1), TTL).await.unwrap();
    let mut bytes = std::fs::read(s.disk.path_for("k")).unwrap();
    let last_payload_byte = bytes.len() - 33;
    bytes[last_payload_byte] ^= 0x20;
    assert_broken_entry_is_a_miss(&s, "k", &bytes).await;
}

#[tokio::test]
async fn entry_from_an_older_analysis_version_is_a_miss_and_deleted() {
    let s = memory_and_disk().await;
    // What the previous release (namespace v0) left in the same directory.
    let far = u64::MAX;
    let old = envelope::encode("v0", "k", far, &report(1));
    assert_broken_entry_is_a_miss(&s, "k", &old).await;
    // And an older envelope layout.
    let mut old_layout = envelope::encode("v1", "k4", far, &report(1));
    old_layout[4..6].copy_from_slice(&0u16.to_le_bytes());
    assert_broken_entry_is_a_miss(&s, "k4", &old_layout).await;
}

#[tokio::test]
async fn unwritable_cache_dir_degrades_the_disk_tier_but_the_cache_serves() {
    let tmp = tempfile::tempdir().unwrap();
    // Root ignores permission bits, so make the directory impossible instead: its parent is
    // a regular file.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let cfg = CacheConfig {
        dir: file.join("cache"),
        ..CacheConfig::default()
    };
    let cache = TieredCache::new(cfg).await.unwrap();
    assert_eq!(cache.statuses().disk, TierStatus::Degraded);
    assert_eq!(cache.health().status, CacheStatus::Degraded);
    assert_eq!(cache.health().tiers.disk, TierStatus::Degraded);

    let runs = Arc::new(AtomicUsize::new(0));
    let (v, o) = cache
        .get_or_compute("k", counted(&runs, report(1)))
        .await
        .unwrap();
    assert_eq!((v, o), (report(1), Outcome::Miss));
    cache.flush().await;
    let (v, o) = cache
        .get_or_compute("k", counted(&runs, report(2)))
        .await
        .unwrap();
    assert_eq!((v, o), (report(1), Outcome::Hit(TierName::Memory)));

    let stats = cache.stats().await;
    assert_eq!(
        stats.errors.disk, 2,
        "one failed write + one failed read: {stats:?}"
    );
    assert_eq!(stats.tiers.disk, TierStatus::Degraded);
    assert_eq!(stats.disk.entries, 0);
}

#[tokio::test]
async fn degraded_disk_tier_recovers_when_the_directory_becomes_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("cache");
    std::fs::write(&blocker, b"x").unwrap();
    let disk = DiskTier::open(blocker.join("analysis"), "v1", 1 << 20, Duration::ZERO).await;
    assert_eq!(disk.status(), TierStatus::Degraded);
    assert!(disk.set("k", report(1), TTL).await.is_err());
    std::fs::remove_file(&blocker).unwrap();
    disk.set("k", report(1), TTL).await.unwrap();
    assert_eq!(disk.status(), TierStatus::Ok);
    assert_eq!(disk.get("k").await.unwrap(), Some(report(1)));
}

#[tokio::test]
async fn validator_rejection_removes_the_entry_from_every_tier() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(MemoryTier::new(1 << 20));
    let disk = Arc::new(DiskTier::open(dir.path(), "v1", 1 << 20, Duration::ZERO).await);
    let cache = TieredCache::from_tiers(vec![memory.clone(), disk.clone()], TTL)
        .with_validator(Arc::new(|b: &[u8]| b.starts_with(b"{")));
    disk.set("k", Bytes::from_static(b"not json"), TTL)
        .await
        .unwrap();
    memory
        .set("k", Bytes::from_static(b"not json"), TTL)
        .await
        .unwrap();

    let runs = Arc::new(AtomicUsize::new(0));
    let (v, o) = cache
        .get_or_compute("k", counted(&runs, report(5)))
        .await
        .unwrap();
    assert_eq!((v, o), (report(5), Outcome::Miss));
    cache.flush().await;
    assert_eq!(memory.get("k").await.unwrap(), Some(report(5)));
    assert_eq!(disk.get("k").await.unwrap(), Some(report(5)));
    let stats = cache.stats().await;
    assert_eq!(
        (stats.invalid_removed, stats.misses, stats.l1_memory_hits),
        (1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_misses_run_one_computation() {
    const N: usize = 32;
    let s = memory_and_disk().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(N));
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..N {
        let (cache, runs, barrier) = (s.cache.clone(), runs.clone(), barrier.clone());
        let mut release = release_rx.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            cache
                .get_or_compute("talk", move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Hold the flight open until the test says so, so every caller joins it.
                    release.wait_for(|r| *r).await.unwrap();
                    Ok::<_, String>(Bytes::from(format!("report computed by caller {i}")))
                })
                .await
                .unwrap()
        }));
    }
    // Wait until all N callers have looked up and either led or joined the flight.
    while s.cache.stats().await.coalesced < (N - 1) as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    release_tx.send(true).unwrap();
    let mut outcomes = Vec::new();
    let mut values = Vec::new();
    for t in tasks {
        let (v, o) = t.await.unwrap();
        values.push(v);
        outcomes.push(o);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "exactly one analysis");
    assert!(
        values.iter().all(|v| *v == values[0]),
        "everyone got the same report"
    );
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Miss).count(), 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Coalesced)
            .count(),
        N - 1
    );
    let stats = s.cache.stats().await;
    assert_eq!(
        (stats.misses, stats.coalesced, stats.computations),
        (1, N as u64 - 1, 1)
    );
    assert_eq!(stats.in_flight, 0, "key released");
}

#[tokio::test]
async fn a_dropped_caller_does_not_cancel_the_computation() {
    let s = memory_and_disk().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
    let leader = {
        let (cache, runs) = (s.cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute("k", move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    finish_rx.await.unwrap();
                    Ok::<_, String>(report(7))
                })
                .await
        })
    };
    started_rx.await.unwrap();
    // A second caller joins the same flight, then the first one goes away (client disconnect).
    let follower = join_flight_of_k(&s.cache).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    finish_tx.send(()).unwrap();

    let (v, o) = follower.await.unwrap().unwrap();
    assert_eq!(
        (v, o),
        (report(7), Outcome::Coalesced),
        "waiter got the leader's result"
    );
    assert_eq!(
        s.cache.get("k").await,
        Some((report(7), TierName::Memory)),
        "the result was stored although its requester left"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn errors_reach_every_waiter_and_are_not_cached() {
    let s = memory_and_disk().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let first = {
        let (cache, runs) = (s.cache.clone(), runs.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute("k", move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    go_rx.await.unwrap();
                    Err::<Bytes, _>("decoder exploded".to_string())
                })
                .await
        })
    };
    while s.cache.stats().await.in_flight < 1 {
        tokio::task::yield_now().await;
    }
    let second = join_flight_of_k(&s.cache).await;
    go_tx.send(()).unwrap();
    for r in [first.await.unwrap(), second.await.unwrap()] {
        match r {
            Err(ComputeError::Failed(e)) => assert_eq!(*e, "decoder exploded"),
            other => panic!("expected the shared error, got {other:?}"),
        }
    }
    assert_eq!(s.cache.get("k").await, None, "error not cached");
    let (v, o) = s
        .cache
        .get_or_compute("k", counted(&runs, report(8)))
        .await
        .unwrap();
    assert_eq!(
        (v, o),
        (report(8), Outcome::Miss),
        "next call computes again"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(s.cache.stats().await.compute_errors, 1);
}

#[tokio::test]
async fn a_panicking_computation_is_an_abort_not_a_stuck_key() {
    let s = memory_and_disk().await;
    let r = s
        .cache
        .get_or_compute::<String>("k", || async { panic!("bug in the pipeline") })
        .await;
    assert!(matches!(r, Err(ComputeError::Aborted(_))), "{r:?}");
    let (_, o) = s
        .cache
        .get_or_compute("k", || async { Ok::<_, String>(report(1)) })
        .await
        .unwrap();
    assert_eq!(o, Outcome::Miss);
}

#[tokio::test]
async fn stats_are_exact_after_a_scripted_sequence() {
    let s = memory_and_disk().await;
    let runs = Arc::new(AtomicUsize::new(0));
    // a: miss, then 3 memory hits.
    s.cache
        .get_or_compute("a", counted(&runs, report(1)))
        .await
        .unwrap();
    for _ in 0..3 {
        s.cache
            .get_or_compute("a", counted(&runs, report(1)))
            .await
            .unwrap();
    }
    // b: only on disk → disk hit, then memory hit.
    s.disk.set("b", report(2), TTL).await.unwrap();
    assert_eq!(s.cache.get("b").await.unwrap().1, TierName::Disk);
    assert_eq!(s.cache.get("b").await.unwrap().1, TierName::Memory);
    // c: plain get miss.
    assert_eq!(s.cache.get("c").await, None);
    // d: computation fails (a miss that ran a computation).
    let r = s
        .cache
        .get_or_compute("d", || async { Err::<Bytes, _>("bad input") })
        .await;
    assert!(r.is_err());
    s.cache.flush().await;

    let st = s.cache.stats().await;
    assert_eq!(st.l1_memory_hits, 4);
    assert_eq!(st.l2_redis_hits, 0);
    assert_eq!(st.l3_disk_hits, 1);
    assert_eq!(st.misses, 3);
    assert_eq!(st.coalesced, 0);
    assert_eq!(st.total, 8);
    assert!((st.hit_rate - 5.0 / 8.0).abs() < 1e-12);
    assert_eq!(st.hit_rate_percent, "62.5%");
    assert_eq!((st.computations, st.compute_errors), (2, 1));
    assert_eq!((st.errors.redis, st.errors.disk), (0, 0));
    assert!(!st.redis_available);
    assert_eq!(st.tiers.redis, TierStatus::Disabled);
    assert_eq!(st.ttl_sec, 3600);
    assert_eq!(st.memory.entries, 2);
    assert_eq!(st.disk.entries, 2);
    assert_eq!(st.pending_writes, 0);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["hit_rate_percent"], "62.5%");
    assert_eq!(json["errors"]["disk"], 0);
}

#[tokio::test]
async fn clear_empties_every_tier() {
    let s = memory_and_disk().await;
    s.cache.set("a", report(1)).await;
    s.cache.set("b", report(2)).await;
    s.cache.flush().await;
    let out = s.cache.clear().await;
    assert_eq!(out.cleared, vec![TierName::Memory, TierName::Disk]);
    assert!(out.failed.is_empty());
    assert_eq!(s.cache.get("a").await, None);
    let st = s.cache.stats().await;
    assert_eq!(
        (st.memory.entries, st.disk.entries, st.disk.bytes),
        (0, 0, 0)
    );
}
