//! `GET /speakers/{id}/progress` latency with 1,000 rehearsals for the speaker asked about and
//! 100,000 rehearsals in the database (100 speakers × 1,000), SQLite by default.
//!
//! The real server (in-process, loopback HTTP) answers; the database is seeded directly with
//! realistic rows (tracked-metrics JSON as the service writes it, a 2 KiB report body). Latency
//! is measured at the client, one request at a time, after a warm-up.
//!
//! Run: `cargo run --no-default-features --example history_progress` (the dev profile: the crate at
//! opt-level 1, dependencies — sqlx, SQLite, serde — at 2; add `--release` for full optimisation). `BENCH_SAMPLES` sets the number of
//! timed requests (default 500); `BENCH_DATABASE_URL=postgres://…` measures a PostgreSQL
//! instead (its tables must be empty).

use std::time::{Duration, Instant};

use speech_coach::app::Application;
use speech_coach::config::{Config, Source};
use speech_coach::domain::progress::{MetricValues, PACE_BAND_MAX, PACE_BAND_MIN};

const SPEAKERS: usize = 100;
const PER_SPEAKER: usize = 1_000;
/// Size of the stored report body of each seeded row (progress never reads it; it makes the
/// table as large as a real one would be, relative to the rows read).
const REPORT_BYTES: usize = 2048;

fn values(i: usize) -> MetricValues {
    // Deterministic, varied numbers in realistic ranges.
    let w = |k: usize, lo: f64, span: f64| {
        lo + ((i * 7919 + k * 104_729) % 1000) as f64 / 1000.0 * span
    };
    let mut v = MetricValues::new();
    for (k, (name, lo, span)) in [
        ("pace_wpm", 90.0, 120.0),
        ("fillers_per_minute", 0.0, 10.0),
        ("fillers_per_100_words", 0.0, 8.0),
        ("filler_clusters", 0.0, 5.0),
        ("long_pauses", 0.0, 6.0),
        ("awkward_pauses", 0.0, 3.0),
        ("longest_pause_sec", 0.5, 8.0),
        ("speaking_ratio", 0.5, 0.45),
        ("pitch_spread_semitones", 2.0, 10.0),
        ("monotone_stretches", 0.0, 4.0),
        ("phrase_avg_words", 3.0, 15.0),
    ]
    .into_iter()
    .enumerate()
    {
        v.insert(name.into(), w(k, lo, span));
    }
    v.insert(PACE_BAND_MIN.into(), 100.0);
    v.insert(PACE_BAND_MAX.into(), 180.0);
    v
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let pairs = [
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("LOG_FILE", String::new()),
        ("LOG_LEVEL", "warn".into()),
        ("GIGACHAT_ENABLED", "false".into()),
        ("ASR_BACKEND", "openai".into()),
        ("CACHE_DIR", dir.path().join("cache").display().to_string()),
        ("DATABASE_URL", url.clone()),
        // Seeding writes 100,000 rows: give the setup calls room (the measured reads are far
        // below any budget).
        ("DATABASE_QUERY_TIMEOUT_MS", "60000".into()),
    ];
    let config = Config::from_source(&Source::from_pairs(pairs)).expect("bench config");
    let app = Application::build(config).await.expect("build app");
    let addr = app.local_addr();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());

    // Seed through the app's own store (it migrated the schema at startup), a transaction per speaker.
    let started = Instant::now();
    let store = &state.history.store;
    let report = "x".repeat(REPORT_BYTES);
    let mut target = String::new();
    let seed_started = Instant::now();
    let base_ms: i64 = 1_700_000_000_000;
    for s in 0..SPEAKERS {
        let speaker = format!("{:032x}", 0xbe_u128 << 120 | s as u128);
        if s == 0 {
            target = speaker.clone();
        }
        store.create_speaker(&speaker, base_ms).await.unwrap();
        let rows: Vec<speech_coach::history::RehearsalRow> = (0..PER_SPEAKER)
            .map(|i| speech_coach::history::RehearsalRow {
                id: format!("{:032x}", (s as u128) << 64 | i as u128),
                speaker_id: speaker.clone(),
                recorded_at_ms: base_ms + (i as i64) * 60_000,
                title: Some(format!("take {i}")),
                language: "en".into(),
                duration_sec: 300.0,
                report_id: format!("{:064x}", i),
                metrics_json: serde_json::to_string(&values(s * PER_SPEAKER + i)).unwrap(),
                report_json: report.clone(),
            })
            .collect();
        store.insert_rehearsals_bulk(&rows).await.unwrap();
    }
    let seeded = seed_started.elapsed();
    eprintln!(
        "seeded {} rehearsals in {:.1} s ({})",
        SPEAKERS * PER_SPEAKER,
        seeded.as_secs_f64(),
        store.backend()
    );

    let client = reqwest::Client::new();
    let path = format!("http://{addr}/speakers/{target}/progress");
    let mut body_len = 0;
    for _ in 0..20 {
        let r = client.get(&path).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        body_len = r.bytes().await.unwrap().len();
    }
    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let r = client.get(&path).send().await.unwrap();
        let b = r.bytes().await.unwrap();
        lat.push(t.elapsed());
        assert_eq!(b.len(), body_len);
    }
    lat.sort_unstable();
    println!(
        "| backend | rehearsals (speaker / total) | samples | p50 ms | p90 ms | p99 ms | max ms | body KiB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} / {} | {} | {} | {} | {} | {} | {} |",
        store.backend(),
        PER_SPEAKER,
        SPEAKERS * PER_SPEAKER,
        samples,
        ms(pct(&lat, 0.50)),
        ms(pct(&lat, 0.90)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().unwrap()),
        body_len / 1024
    );
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
}
