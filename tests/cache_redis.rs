//! The tiered cache against a real `redis-server` started on a free port: L2 hits and
//! promotion, TTL, two instances sharing Redis, Redis killed mid-run and restarted, exact stats.

mod support;

use secrecy::SecretString;
use speech_coach::cache::{
    CacheConfig, CacheStatus, MemoryTier, Outcome, RedisTier, Tier, TierName, TierStatus,
    TieredCache, redis::RedisOptions,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::cache_values::{counted, report};
use support::redis_server::RedisServer;
use support::wait;

/// Generous liveness bound for one cache call while Redis is down (its budget is ~100 ms):
/// it catches a request that hangs on Redis, without being a performance assertion.
const NO_HANG: Duration = Duration::from_secs(2);

fn config(redis: &RedisServer, dir: &tempfile::TempDir) -> CacheConfig {
    CacheConfig {
        redis_url: Some(SecretString::from(redis.url())),
        redis_probe_interval_ms: 50,
        redis_connect_timeout_ms: 200,
        redis_response_timeout_ms: 200,
        dir: dir.path().join("cache"),
        ..CacheConfig::default()
    }
}

#[tokio::test]
async fn second_instance_gets_an_l2_hit_then_promotes_it_to_memory() {
    let redis = RedisServer::start();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = TieredCache::new(config(&redis, &dir_a)).await.unwrap();
    let b = TieredCache::new(config(&redis, &dir_b)).await.unwrap();
    assert!(a.stats().await.redis_available && b.stats().await.redis_available);

    let runs = Arc::new(AtomicUsize::new(0));
    let (_, o) = a
        .get_or_compute("talk", counted(&runs, report(1)))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Miss);
    a.flush().await;

    // Replica b never saw this upload: Redis has it.
    let (v, o) = b
        .get_or_compute("talk", counted(&runs, report(2)))
        .await
        .unwrap();
    assert_eq!((v, o), (report(1), Outcome::Hit(TierName::Redis)));
    let (_, o) = b
        .get_or_compute("talk", counted(&runs, report(2)))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Hit(TierName::Memory));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "analysed once across replicas"
    );

    b.flush().await;
    assert_eq!(
        b.stats().await.disk.entries,
        0,
        "promotion goes up only: an L2 hit is not written down to disk"
    );
    let key_count =
        redis.command("EVAL \"return #redis.call('KEYS', ARGV[1])\" 0 speech-coach:v1:*");
    assert_eq!(key_count.trim(), ":1");
}

#[tokio::test]
async fn redis_hit_promotes_to_memory_and_disk_hit_promotes_to_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&redis, &dir);
    let cache = TieredCache::new(cfg.clone()).await.unwrap();
    let redis_tier = RedisTier::connect(cfg.redis_url.as_ref().unwrap(), opts(&cfg))
        .await
        .unwrap();

    redis_tier
        .set("r", report(1), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(cache.get("r").await, Some((report(1), TierName::Redis)));
    assert_eq!(cache.get("r").await, Some((report(1), TierName::Memory)));

    // A disk-only entry (e.g. written before this Redis existed) is pushed up to Redis.
    let disk =
        speech_coach::cache::DiskTier::open(cfg.dir.clone(), "v1", 1 << 20, Duration::ZERO).await;
    disk.set("d", report(2), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(cache.get("d").await, Some((report(2), TierName::Disk)));
    cache.flush().await;
    assert_eq!(redis_tier.get("d").await.unwrap(), Some(report(2)));
}

fn opts(cfg: &CacheConfig) -> RedisOptions {
    RedisOptions {
        connect_timeout: Duration::from_millis(cfg.redis_connect_timeout_ms),
        response_timeout: Duration::from_millis(cfg.redis_response_timeout_ms),
        probe_interval: Duration::from_millis(cfg.redis_probe_interval_ms),
        key_prefix: cfg.redis_key_prefix.clone(),
        namespace: cfg.namespace.clone(),
    }
}

#[tokio::test]
async fn redis_entries_carry_the_ttl_and_expire() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = CacheConfig {
        ttl_sec: 1,
        memory_max_mb: 0,
        disk_max_mb: 0,
        ..config(&redis, &dir)
    };
    let cache = TieredCache::new(cfg).await.unwrap();
    cache.set("k", report(1)).await;
    cache.flush().await;
    let ttl = redis.command("TTL speech-coach:v1:k");
    assert_eq!(ttl.trim(), ":1", "SET ... EX ttl");
    assert_eq!(cache.get("k").await, Some((report(1), TierName::Redis)));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(cache.get("k").await, None);
}

#[tokio::test]
async fn redis_killed_mid_run_then_restarted() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = CacheConfig {
        // Memory off so every lookup really consults Redis.
        memory_max_mb: 0,
        disk_max_mb: 0,
        ..config(&redis, &dir)
    };
    let a = TieredCache::new(cfg.clone()).await.unwrap();
    let b = TieredCache::new(cfg).await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));

    a.set("before", report(1)).await;
    a.flush().await;
    assert_eq!(b.get("before").await, Some((report(1), TierName::Redis)));

    redis.stop();
    // Requests keep being answered (computed), none hangs on Redis.
    for i in 0..10u32 {
        let key = format!("during-{i}");
        let r = tokio::time::timeout(NO_HANG, a.get_or_compute(&key, counted(&runs, report(i))))
            .await
            .expect("a request hung on a dead Redis");
        assert_eq!(r.unwrap(), (report(i), Outcome::Miss));
    }
    let r = tokio::time::timeout(NO_HANG, b.get("before"))
        .await
        .unwrap();
    assert_eq!(r, None, "Redis down: a miss, not an error");
    a.flush().await;
    let st = a.stats().await;
    assert!(!st.redis_available);
    assert_eq!(st.tiers.redis, TierStatus::Unavailable);
    assert!(st.errors.redis >= 1, "{st:?}");
    assert_eq!(a.health().tiers.redis, TierStatus::Unavailable);

    redis.start_again();
    wait::until_async(
        Duration::from_secs(10),
        "redis_available again",
        async || a.stats().await.redis_available,
    )
    .await;
    wait::until_async(Duration::from_secs(10), "b sees redis again", async || {
        b.stats().await.redis_available
    })
    .await;
    a.set("after", report(2)).await;
    a.flush().await;
    assert_eq!(
        b.get("after").await,
        Some((report(2), TierName::Redis)),
        "L2 hits resume without restarting the service"
    );
    assert_eq!(a.health().status, CacheStatus::Ok);
}

#[tokio::test]
async fn a_frozen_redis_costs_a_timeout_once_then_fast_misses() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = CacheConfig {
        memory_max_mb: 0,
        disk_max_mb: 0,
        redis_connect_timeout_ms: 50,
        redis_response_timeout_ms: 50,
        ..config(&redis, &dir)
    };
    let cache = TieredCache::new(cfg).await.unwrap();
    cache.set("k", report(1)).await;
    assert_eq!(cache.get("k").await.unwrap().1, TierName::Redis);

    redis.freeze();
    // The first command waits out its deadline and marks Redis unavailable; after that,
    // lookups don't touch the socket at all.
    let r = tokio::time::timeout(NO_HANG, cache.get("k"))
        .await
        .expect("hung on a frozen Redis");
    assert_eq!(r, None);
    assert!(!cache.stats().await.redis_available);
    for _ in 0..20 {
        let r = tokio::time::timeout(NO_HANG, cache.get("k")).await.unwrap();
        assert_eq!(r, None);
    }
    assert_eq!(cache.stats().await.errors.redis, 21);

    redis.thaw();
    wait::until_async(
        Duration::from_secs(10),
        "redis_available after thaw",
        async || cache.stats().await.redis_available,
    )
    .await;
    assert_eq!(cache.get("k").await.unwrap().1, TierName::Redis);
}

#[tokio::test]
async fn starts_with_redis_down_and_connects_when_it_comes_up() {
    let mut redis = RedisServer::start();
    redis.stop();
    let dir = tempfile::tempdir().unwrap();
    let cache = TieredCache::new(CacheConfig {
        memory_max_mb: 0,
        ..config(&redis, &dir)
    })
    .await
    .unwrap();
    assert!(!cache.stats().await.redis_available);
    let runs = Arc::new(AtomicUsize::new(0));
    let (_, o) = cache
        .get_or_compute("k", counted(&runs, report(1)))
        .await
        .unwrap();
    assert_eq!(o, Outcome::Miss);
    cache.flush().await;
    assert_eq!(cache.get("k").await.unwrap().1, TierName::Disk);

    redis.start_again();
    wait::until_async(Duration::from_secs(10), "redis_available", async || {
        cache.stats().await.redis_available
    })
    .await;
    // A disk hit now also fills Redis, where the next lookup finds it.
    assert_eq!(cache.get("k").await.unwrap().1, TierName::Disk);
    cache.flush().await;
    assert_eq!(redis.command("EXISTS speech-coach:v1:k").trim(), ":1");
    assert_eq!(cache.get("k").await.unwrap().1, TierName::Redis);
}

#[tokio::test]
async fn stats_are_exact_with_all_three_tiers() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&redis, &dir);
    let cache = TieredCache::new(cfg.clone()).await.unwrap();
    let other = TieredCache::new(CacheConfig {
        dir: dir.path().join("other"),
        ..cfg
    })
    .await
    .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));

    // 1 miss + 2 memory hits on `a`.
    for _ in 0..3 {
        cache
            .get_or_compute("a", counted(&runs, report(1)))
            .await
            .unwrap();
    }
    // `b` computed elsewhere: a Redis hit, then memory.
    other.set("b", report(2)).await;
    other.flush().await;
    assert_eq!(cache.get("b").await.unwrap().1, TierName::Redis);
    assert_eq!(cache.get("b").await.unwrap().1, TierName::Memory);
    // A plain miss.
    assert!(cache.get("zzz").await.is_none());
    cache.flush().await;

    let st = cache.stats().await;
    assert_eq!(
        (
            st.l1_memory_hits,
            st.l2_redis_hits,
            st.l3_disk_hits,
            st.misses,
            st.coalesced
        ),
        (3, 1, 0, 2, 0)
    );
    assert_eq!(st.total, 6);
    assert_eq!(st.hit_rate_percent, "66.7%");
    assert_eq!((st.errors.redis, st.errors.disk), (0, 0));
    assert!(st.redis_available);
    // `b` came from Redis: promoted to memory, not written down to disk.
    assert_eq!((st.memory.entries, st.disk.entries), (2, 1));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn clear_removes_our_redis_keys_only() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = TieredCache::new(config(&redis, &dir)).await.unwrap();
    cache.set("a", report(1)).await;
    cache.set("b", report(2)).await;
    cache.flush().await;
    assert_eq!(redis.command("SET someone-else:key 1").trim(), "+OK");
    let out = cache.clear().await;
    assert_eq!(
        out.cleared,
        vec![TierName::Memory, TierName::Redis, TierName::Disk]
    );
    assert_eq!(redis.command("EXISTS speech-coach:v1:a").trim(), ":0");
    assert_eq!(redis.command("EXISTS someone-else:key").trim(), ":1");
    assert_eq!(cache.get("a").await, None);
}

#[tokio::test]
async fn memory_only_tier_behind_redis_reports_usage() {
    // A small sanity check that `from_tiers` accepts a Redis tier like any other.
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&redis, &dir);
    let redis_tier = Arc::new(
        RedisTier::connect(cfg.redis_url.as_ref().unwrap(), opts(&cfg))
            .await
            .unwrap(),
    );
    let cache = TieredCache::from_tiers(
        vec![Arc::new(MemoryTier::new(1 << 20)), redis_tier.clone()],
        Duration::from_secs(60),
    );
    cache.set("k", report(1)).await;
    cache.flush().await;
    assert_eq!(redis_tier.get("k").await.unwrap(), Some(report(1)));
    let st = cache.stats().await;
    assert_eq!(st.memory.entries, 1);
    assert_eq!(st.tiers.disk, TierStatus::Disabled);
}
