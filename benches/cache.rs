//! Cache benchmarks: get latency per tier (p50/p90/p99/max from individual samples) and
//! BLAKE3 hashing throughput of 1 MB / 10 MB uploads (the server-side cost of a hit).
//!
//! Run: `cargo bench --no-default-features --bench cache` (needs `redis-server` for L2; the L2
//! rows are skipped with a note if it can't be started). `BENCH_SAMPLES` overrides the number
//! of timed gets per case (default 20000).

#[path = "../tests/support/net.rs"]
mod net;
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use bytes::Bytes;
use secrecy::SecretString;
use speech_coach::cache::redis::RedisOptions;
use speech_coach::cache::{DiskTier, MemoryTier, RedisTier, Tier, TieredCache};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Typical size of a stored report (full transcript with words of a ~10 minute talk).
const VALUE_SIZES: [usize; 2] = [16 * 1024, 256 * 1024];
const TTL: Duration = Duration::from_secs(3600);
/// Distinct keys cycled through, so a case isn't one hot cache line.
const KEYS: usize = 256;

struct Summary {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Summary {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: *samples.last().unwrap(),
    }
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn row(case: &str, size: usize, s: &Summary) {
    println!(
        "| {case} | {} KiB | {} | {} | {} | {} |",
        size / 1024,
        us(s.p50),
        us(s.p90),
        us(s.p99),
        us(s.max)
    );
}

async fn time_gets(cache: &TieredCache, samples: usize) -> Vec<Duration> {
    // Warm-up: connections, page cache, allocator.
    for i in 0..KEYS {
        black_box(cache.get(&format!("k{i}")).await);
    }
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let key = format!("k{}", i % KEYS);
        let t = Instant::now();
        let v = cache.get(&key).await;
        out.push(t.elapsed());
        // A miss here would mean a tier failed (e.g. a Redis timeout): the numbers are then
        // not those of hits, so stop rather than print them.
        assert!(
            v.is_some(),
            "bench key {key} missing: {:?}",
            cache.stats().await.errors
        );
    }
    out
}

/// A cache of just `tier`, filled with KEYS values of `size` bytes.
async fn single_tier(tier: Arc<dyn Tier>, size: usize) -> TieredCache {
    let value = Bytes::from(vec![b'x'; size]);
    for i in 0..KEYS {
        tier.set(&format!("k{i}"), value.clone(), TTL)
            .await
            .unwrap();
    }
    TieredCache::from_tiers(vec![tier], TTL)
}

fn hashing() {
    println!("\n| upload | BLAKE3 throughput (1 thread) | time per upload |");
    println!("|---|---|---|");
    for mb in [1usize, 10] {
        let buf: Vec<u8> = (0..mb << 20).map(|i| (i * 31 % 251) as u8).collect();
        let rounds = 200 / mb;
        black_box(blake3::hash(&buf));
        let t = Instant::now();
        for _ in 0..rounds {
            // Hashed in 64 KiB pieces like a streamed upload body.
            let mut h = blake3::Hasher::new();
            for chunk in buf.chunks(64 * 1024) {
                h.update(chunk);
            }
            black_box(h.finalize());
        }
        let per = t.elapsed() / rounds as u32;
        let gbps = (mb << 20) as f64 / per.as_secs_f64() / 1e9;
        println!(
            "| {mb} MB | {gbps:.2} GB/s | {:.2} ms |",
            per.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is taken as a name filter we ignore.
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    hashing();

    println!("\n| tier | value | p50 µs | p90 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|---|");
    let redis = std::panic::catch_unwind(redis_server::RedisServer::start).ok();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        for size in VALUE_SIZES {
            let mem = single_tier(Arc::new(MemoryTier::new(1 << 30)), size).await;
            row(
                "L1 memory",
                size,
                &summarize(time_gets(&mem, samples).await),
            );

            if let Some(redis) = &redis {
                // Generous deadlines: measure the latency distribution, don't cut it off (a
                // timeout would mark Redis unavailable and turn the rest into fast misses).
                let opts = RedisOptions {
                    connect_timeout: Duration::from_secs(1),
                    response_timeout: Duration::from_secs(1),
                    probe_interval: Duration::from_millis(500),
                    key_prefix: "bench".into(),
                    namespace: "v1".into(),
                };
                let tier = RedisTier::connect(&SecretString::from(redis.url()), opts)
                    .await
                    .unwrap();
                let l2 = single_tier(Arc::new(tier), size).await;
                row(
                    "L2 redis (loopback)",
                    size,
                    &summarize(time_gets(&l2, samples).await),
                );
            }

            let disk = DiskTier::open(
                dir.path().join(size.to_string()),
                "v1",
                1 << 30,
                Duration::ZERO,
            )
            .await;
            let l3 = single_tier(Arc::new(disk), size).await;
            row(
                "L3 disk (page cache)",
                size,
                &summarize(time_gets(&l3, samples / 4).await),
            );
        }

        // The whole hit path of `/analyze` minus HTTP: lookup + outcome in `get_or_compute`.
        let mem = single_tier(Arc::new(MemoryTier::new(1 << 30)), VALUE_SIZES[0]).await;
        let mut out = Vec::with_capacity(samples);
        for i in 0..samples {
            let key = format!("k{}", i % KEYS);
            let t = Instant::now();
            let r = mem
                .get_or_compute(&key, || async { Err::<Bytes, ()>(()) })
                .await;
            out.push(t.elapsed());
            assert!(r.is_ok());
        }
        row("get_or_compute hit (L1)", VALUE_SIZES[0], &summarize(out));
    });
    if redis.is_none() {
        println!("\n(L2 rows skipped: redis-server could not be started)");
    }
}
