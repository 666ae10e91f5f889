//! Load generator for cache hits on `POST /analyze` (driven by `bench/hit_load.sh`).
//!
//! Sends the same file as a raw body over C keep-alive connections for a bounded time (and
//! count), checks that every answer is a 200 cache hit, and prints one Markdown table row:
//! latency percentiles, throughput, and — given the server's pid — server CPU time per request
//! (from `/proc/<pid>/stat`, user + system, 10 ms ticks, so only meaningful over many requests).
//!
//! Usage: `hit_load URL FILE CONNECTIONS [SECONDS] [MAX_REQUESTS] [SERVER_PID]`
//! e.g. `hit_load http://127.0.0.1:18080/analyze talk.wav 16 10 20000 4242`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Requests sent before measuring, per connection (connection setup, first-touch effects).
const WARMUP_PER_CONNECTION: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        anyhow::bail!("usage: hit_load URL FILE CONNECTIONS [SECONDS] [MAX_REQUESTS] [SERVER_PID]");
    }
    let url = args[1].clone();
    let file = &args[2];
    let connections: usize = args[3].parse()?;
    let seconds: f64 = args.get(4).map_or(Ok(10.0), |s| s.parse())?;
    let max_requests: u64 = args.get(5).map_or(Ok(20_000), |s| s.parse())?;
    let pid: Option<u32> = args.get(6).map(|s| s.parse()).transpose()?;

    let body = bytes::Bytes::from(std::fs::read(file)?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(60))
        .build()?;

    // Warm up every connection, and check the file is already cached (a hit).
    let warm: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                for _ in 0..WARMUP_PER_CONNECTION {
                    one(&client, &url, &body).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for w in warm {
        w.await??;
    }

    let cpu_before = pid.map(server_cpu_ticks).transpose()?;
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, body, sent) =
                (client.clone(), url.clone(), body.clone(), sent.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::Relaxed) < max_requests
                {
                    let t = Instant::now();
                    one(&client, &url, &body).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = pid.map(server_cpu_ticks).transpose()?;

    latencies.sort_unstable();
    let n = latencies.len();
    let pct = |p: f64| latencies[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    let rps = n as f64 / elapsed;
    let cpu_per_req = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => {
            let tick_ms = 1000.0 / clock_ticks_per_sec();
            format!("{:.3}", (b - a) as f64 * tick_ms / n as f64)
        }
        _ => "–".into(),
    };
    println!(
        "| {:.1} MB | {connections} | {n} | {} | {} | {} | {} | {rps:.0} | {:.0} | {cpu_per_req} |",
        body.len() as f64 / 1e6,
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(latencies[n - 1]),
        rps * body.len() as f64 / 1e6,
    );
    Ok(())
}

/// One request; anything but a 200 cache hit is an error (the benchmark measures hits only).
async fn one(client: &reqwest::Client, url: &str, body: &bytes::Bytes) -> anyhow::Result<()> {
    let r = client
        .post(url)
        .header("content-type", "audio/wav")
        .body(body.clone())
        .send()
        .await?;
    let status = r.status();
    let cache = r
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    r.bytes().await?;
    if status != 200 || !cache.starts_with("hit-") {
        anyhow::bail!("expected a 200 cache hit, got {status} x-cache={cache:?}");
    }
    Ok(())
}

/// utime + stime of a process, in clock ticks.
fn server_cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("odd /proc stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}
