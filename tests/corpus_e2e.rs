//! End to end on the corpus with the real Whisper model, through the HTTP API: filler counts,
//! pauses and speaking time against manifest.json, per clip. Prints a table (run with
//! `--nocapture`) whose numbers are recorded in docs/QUALITY.md.
#![cfg(feature = "whisper")]

use serde_json::Value;
use speech_coach::app::Application;
use speech_coach::config::{Config, Source};
use std::collections::BTreeMap;

const CLIPS: &[&str] = &[
    "clips/en_talk_1.wav",
    "clips/en_talk_2.wav",
    "clips/ru_talk_1_fest.wav",
    "clips/ru_talk_2_fest.wav",
];

fn corpus(rel: &str) -> String {
    format!("{}/tests/corpus/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn model_dir() -> Option<String> {
    let dir = format!("{}/models/whisper-base", env!("CARGO_MANIFEST_DIR"));
    if std::path::Path::new(&dir).join("model.bin").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("SPEECH_COACH_REQUIRE_MODEL").is_none(),
        "model missing at {dir}: run scripts/fetch-model.sh"
    );
    eprintln!("SKIPPED: no model at {dir}");
    None
}

/// Fillers found in the transcript matched against the manifest's, word by word.
fn filler_match(
    expected: &BTreeMap<String, u64>,
    found: &BTreeMap<String, u64>,
) -> (u64, u64, u64) {
    let norm = |s: &str| s.to_lowercase().replace('ё', "е");
    let mut found_n: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in found {
        // "э-э-э", "эээ" and "э-э" are one hesitation.
        let key = if norm(k).starts_with('э') {
            "э-э".to_string()
        } else {
            norm(k)
        };
        *found_n.entry(key).or_default() += v;
    }
    let matched: u64 = expected
        .iter()
        .map(|(k, v)| (*v).min(*found_n.get(&norm(k)).unwrap_or(&0)))
        .sum();
    (matched, found_n.values().sum(), expected.values().sum())
}

#[tokio::test]
async fn corpus_metrics_match_the_manifest() {
    let Some(model) = model_dir() else { return };
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus("manifest.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_source(&Source::from_pairs([
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("LOG_FILE", String::new()),
        ("GIGACHAT_ENABLED", "false".into()),
        ("WHISPER_MODEL_DIR", model),
        ("CACHE_DIR", dir.path().join("cache").display().to_string()),
        ("DATA_DIR", dir.path().join("data").display().to_string()),
        ("UPLOAD_DIR", dir.path().join("up").display().to_string()),
    ]))
    .unwrap();
    let app = Application::build(config).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    println!(
        "| clip | fillers spoken | transcript fillers (matched) | acoustic | precision | recall | pauses ≥0.5 s found/expected | speaking time s (expected) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (mut all_matched, mut all_found, mut all_expected) = (0, 0, 0);
    for clip in CLIPS {
        let entry = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == *clip)
            .unwrap();
        let lang = entry["language"].as_str().unwrap();
        let bytes = std::fs::read(corpus(clip)).unwrap();
        let report: Value = client
            .post(format!("{base}/analyze?language={lang}"))
            .header("content-type", "audio/wav")
            .body(bytes)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(report.get("error").is_none(), "{clip}: {report}");
        let m = &report["metrics"];

        let expected: BTreeMap<String, u64> =
            serde_json::from_value(entry["fillers"].clone()).unwrap();
        let found: BTreeMap<String, u64> = m["fillers"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["word"].as_str().unwrap().to_string(),
                    i["count"].as_u64().unwrap(),
                )
            })
            .collect();
        let (matched, found_n, expected_n) = filler_match(&expected, &found);
        let acoustic = m["fillers"]["acoustic"].as_u64().unwrap();
        let precision = if found_n == 0 {
            1.0
        } else {
            matched as f64 / found_n as f64
        };
        let recall = matched as f64 / expected_n as f64;
        (all_matched, all_found, all_expected) = (
            all_matched + matched,
            all_found + found_n,
            all_expected + expected_n,
        );

        let long_pauses = m["pauses"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["duration_sec"].as_f64().unwrap() >= 0.5)
            .count();
        let expected_long = entry["pause_counts"]["min_0.5_s"].as_u64().unwrap() as usize;
        let segs = entry["segments"].as_array().unwrap();
        let expected_speaking =
            segs.last().unwrap()["end_s"].as_f64().unwrap() - segs[0]["start_s"].as_f64().unwrap();
        let speaking = m["speaking_time_sec"].as_f64().unwrap();
        println!(
            "| `{clip}` | {expected_n} | {found_n} ({matched}) | {acoustic} | {precision:.2} | {recall:.2} | {long_pauses}/{expected_long} | {speaking:.2} ({expected_speaking:.2}) |"
        );

        // Stated tolerances (measured, see docs/QUALITY.md).
        assert!(
            long_pauses.abs_diff(expected_long) <= 1,
            "{clip}: {long_pauses} pauses ≥ 0.5 s, manifest {expected_long}"
        );
        assert!(
            (speaking - expected_speaking).abs() <= 0.25,
            "{clip}: speaking time {speaking} vs {expected_speaking}"
        );
        assert!(precision >= 0.75, "{clip}: filler precision {precision}");
        assert!(recall >= 0.5, "{clip}: filler recall {recall}");
        assert_eq!(report["language"], lang);
    }
    let recall = all_matched as f64 / all_expected as f64;
    let precision = all_matched as f64 / all_found.max(1) as f64;
    println!("\noverall transcript fillers: precision {precision:.2}, recall {recall:.2}");
    assert!(recall >= 0.7, "overall filler recall {recall}");
    shutdown.cancel();
}
