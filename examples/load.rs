//! Load generator for admission control (bench/load.sh drives it): cache hits alone, then the
//! same hits while cold uploads keep the pipeline saturated. Loopback only, bounded in time.
//!
//!   cargo run --release --no-default-features --example load -- http://127.0.0.1:8080 <server pid>
//!
//! Environment: `CLIP` (WAV to upload; default the corpus' en_talk_2.wav), `HOT` distinct cached
//! uploads (4), `HIT_CONCURRENCY` (4), `HIT_REQUESTS` cap per phase (20000), `PHASE_SECS` time
//! cap per phase (20), `COLD_WORKERS` loops posting never-seen uploads (10).
//!
//! Prints a summary and one JSON line; exits 1 when a request failed at the transport level,
//! got a 5xx other than 503, or a hit was not a hit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Default)]
struct Tally {
    /// Latencies (ms) by `status[ x-cache]`.
    by_status: BTreeMap<String, Vec<f64>>,
    transport_errors: u64,
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

impl Tally {
    fn add(&mut self, outcome: &Result<(u16, Option<String>), String>, ms: f64) {
        match outcome {
            Ok((status, cache)) => {
                let key = match cache {
                    Some(c) => format!("{status} {c}"),
                    None => status.to_string(),
                };
                self.by_status.entry(key).or_default().push(ms);
            }
            Err(_) => self.transport_errors += 1,
        }
    }

    fn all(&self) -> Vec<f64> {
        self.by_status.values().flatten().copied().collect()
    }

    fn pct(&self, p: f64) -> f64 {
        pct(&self.all(), p)
    }

    fn summary(&self) -> Value {
        let statuses: BTreeMap<&String, Value> = self
            .by_status
            .iter()
            .map(|(k, v)| {
                (
                    k,
                    json!({"count": v.len(), "p50_ms": round(pct(v, 0.5)),
                           "p99_ms": round(pct(v, 0.99)), "max_ms": round(pct(v, 1.0))}),
                )
            })
            .collect();
        json!({
            "requests": self.all().len() as u64 + self.transport_errors,
            "transport_errors": self.transport_errors,
            "p50_ms": round(self.pct(0.50)),
            "p99_ms": round(self.pct(0.99)),
            "statuses": statuses,
        })
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The clip with its last four bytes (two samples) replaced by `id`: distinct content hash,
/// same valid audio.
fn variant(clip: &[u8], id: u32) -> Vec<u8> {
    let mut b = clip.to_vec();
    let n = b.len();
    b[n - 4..].copy_from_slice(&id.to_le_bytes());
    b
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> Result<(u16, Option<String>), String> {
    let r = client
        .post(format!("{url}/analyze"))
        .header("content-type", "audio/wav")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Read the whole answer: a client that drops it would measure less than a real one.
    r.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, cache))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `HIT_CONCURRENCY` workers post the hot uploads round robin until `HIT_REQUESTS` are done or
/// `PHASE_SECS` passed.
async fn hits(client: &reqwest::Client, url: &str, hot: &[Vec<u8>]) -> Tally {
    let concurrency: usize = env_num("HIT_CONCURRENCY", 4);
    let total: u32 = env_num("HIT_REQUESTS", 20_000);
    let cap = Duration::from_secs(env_num("PHASE_SECS", 20));
    let next = Arc::new(AtomicU32::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, hot) = (client.clone(), url.to_string(), hot.to_vec());
        let (next, tally) = (next.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || start.elapsed() > cap {
                    break;
                }
                let body = hot[i as usize % hot.len()].clone();
                let t = Instant::now();
                let out = post(&client, &url, body).await;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                tally.lock().unwrap().add(&out, ms);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    Arc::try_unwrap(tally).ok().unwrap().into_inner().unwrap()
}

async fn pipeline_stats(client: &reqwest::Client, url: &str) -> Value {
    match client.get(format!("{url}/stats/pipeline")).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let pid: u32 = args.next().unwrap_or_default().parse().unwrap_or(0);
    let host = reqwest::Url::parse(&url)?;
    anyhow::ensure!(
        matches!(host.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        "load tests target loopback only"
    );
    let clip_path = std::env::var("CLIP").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/corpus/clips/en_talk_2.wav"
        )
        .into()
    });
    let clip = std::fs::read(&clip_path)?;
    let hot_n: u32 = env_num("HOT", 4);
    let cold_workers: usize = env_num("COLD_WORKERS", 10);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let t0 = Instant::now();

    // RSS of the server, sampled throughout.
    let rss: Arc<Mutex<Vec<(f64, u64)>>> = Arc::default();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (rss, sampling) = (rss.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if pid != 0 {
                    rss.lock()
                        .unwrap()
                        .push((t0.elapsed().as_secs_f64(), rss_kib(pid)));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let rss_now = || rss_kib(pid);

    // 1. Warm the cache with the hot uploads.
    let hot: Vec<Vec<u8>> = (0..hot_n)
        .map(|i| variant(&clip, 0xF000_0000 + i))
        .collect();
    for h in &hot {
        let out = post(&client, &url, h.clone()).await;
        anyhow::ensure!(
            matches!(out, Ok((200, _))),
            "warm-up upload failed: {out:?}"
        );
    }
    let rss_after_warmup = rss_now();

    // 2. Hits with an idle pipeline.
    let idle = hits(&client, &url, &hot).await;
    let rss_after_idle = rss_now();

    // 3. Cold uploads saturate the pipeline; the same hits run meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let next_cold = Arc::new(AtomicU32::new(1));
    let cold = Arc::new(Mutex::new(Tally::default()));
    let mut cold_tasks = Vec::new();
    for _ in 0..cold_workers {
        let (client, url, clip) = (client.clone(), url.clone(), clip.clone());
        let (stop, next_cold, cold) = (stop.clone(), next_cold.clone(), cold.clone());
        cold_tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = next_cold.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let out = post(&client, &url, variant(&clip, id)).await;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                let refused = matches!(out, Ok((503, _)));
                cold.lock().unwrap().add(&out, ms);
                if refused {
                    // A real client honours Retry-After; this one only avoids a hot loop.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    // Saturated means every slot busy and someone waiting (bounded wait).
    let mut saturation = Value::Null;
    let wait_start = Instant::now();
    while wait_start.elapsed() < Duration::from_secs(20) {
        let s = pipeline_stats(&client, &url).await;
        if s["active"] == s["max_parallel"] && s["queued"].as_u64().unwrap_or(0) > 0 {
            saturation = s;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let watcher_stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (client, url, watcher_stop) = (client.clone(), url.clone(), watcher_stop.clone());
        tokio::spawn(async move {
            // Fraction of samples with every slot busy, while the saturated hits run.
            let (mut busy, mut n) = (0u32, 0u32);
            while !watcher_stop.load(Ordering::Relaxed) {
                let s = pipeline_stats(&client, &url).await;
                n += 1;
                if s["active"] == s["max_parallel"] {
                    busy += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (busy, n)
        })
    };
    let saturated_from = t0.elapsed().as_secs_f64();
    let saturated = hits(&client, &url, &hot).await;
    let saturated_to = t0.elapsed().as_secs_f64();
    watcher_stop.store(true, Ordering::Relaxed);
    let (busy, samples) = watcher.await?;
    stop.store(true, Ordering::Relaxed);
    for t in cold_tasks {
        t.await?;
    }
    let rss_after_saturated = rss_now();
    let final_stats = pipeline_stats(&client, &url).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;

    let rss = rss.lock().unwrap().clone();
    let rss_max = rss.iter().map(|r| r.1).max().unwrap_or(0);
    // RSS over the saturated phase in quarters: flat means no growth from quarter to quarter.
    let during: Vec<u64> = rss
        .iter()
        .filter(|(t, _)| (saturated_from..=saturated_to).contains(t))
        .map(|r| r.1)
        .collect();
    let quarters: Vec<u64> = (1..=4)
        .map(|q| {
            during
                .get((during.len() * q / 4).saturating_sub(1))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let cold = Arc::try_unwrap(cold).ok().unwrap().into_inner().unwrap();
    let ratio = saturated.pct(0.99) / idle.pct(0.99);
    let result = json!({
        "elapsed_sec": round(t0.elapsed().as_secs_f64()),
        "hits_idle": idle.summary(),
        "hits_saturated": saturated.summary(),
        "hit_p99_ratio_saturated_over_idle": (ratio * 100.0).round() / 100.0,
        "cold_uploads": cold.summary(),
        "saturation_reached": saturation,
        "all_slots_busy_fraction_during_saturated_hits":
            if samples == 0 { 0.0 } else { round(f64::from(busy) / f64::from(samples) * 100.0) / 100.0 },
        "rss_kib": {
            "after_warmup": rss_after_warmup,
            "after_idle_hits": rss_after_idle,
            "after_saturated": rss_after_saturated,
            "max": rss_max,
            "saturated_phase_at_quarters": quarters,
            "samples": rss.len(),
        },
        "pipeline_stats_end": final_stats,
    });
    println!("{}", serde_json::to_string_pretty(&result)?);

    // Verdicts.
    let mut problems = Vec::new();
    for (name, t) in [
        ("idle hits", &idle),
        ("saturated hits", &saturated),
        ("cold", &cold),
    ] {
        if t.transport_errors > 0 {
            problems.push(format!("{name}: {} transport errors", t.transport_errors));
        }
        for status in t.by_status.keys() {
            if status.starts_with('5') && !status.starts_with("503") {
                problems.push(format!("{name}: got {status}"));
            }
        }
    }
    for (name, t) in [("idle hits", &idle), ("saturated hits", &saturated)] {
        if t.by_status.keys().any(|k| k != "200 hit-memory") {
            let seen: Vec<_> = t.by_status.keys().collect();
            problems.push(format!("{name}: not all memory hits: {seen:?}"));
        }
    }
    if saturation.is_null() {
        problems.push("the pipeline never saturated".into());
    }
    println!(
        "hit p99 idle {:.1} ms, saturated {:.1} ms (ratio {:.2}, goal <= 2); RSS max {} KiB",
        idle.pct(0.99),
        saturated.pct(0.99),
        ratio,
        rss_max
    );
    if problems.is_empty() {
        println!("OK: no 5xx other than 503, every hit a memory hit");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("FAIL: {p}");
        }
        std::process::exit(1);
    }
}
