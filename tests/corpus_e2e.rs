//! End to end on the corpus with the real Whisper model, through the HTTP API: filler counts,
//! pauses and speaking time against manifest.json, per clip. Prints a table (run with
//! `--nocapture`) whose numbers are recorded in docs/QUALITY.md.
#![cfg(feature = "whisper")]

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use support::app::{Services, spawn_app_services};
use support::corpus;

const CLIPS: &[&str] = &[
    "clips/en_talk_1.wav",
    "clips/en_talk_2.wav",
    "clips/ru_talk_1_fest.wav",
    "clips/ru_talk_2_fest.wav",
];

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
    let Some(model) = support::model::whisper_or_skip("the corpus e2e test") else {
        return;
    };
    let model = model.display().to_string();
    let app = spawn_app_services(&[("WHISPER_MODEL_DIR", &model)], Services::default()).await;

    println!(
        "| clip | fillers spoken | transcript fillers (matched) | acoustic | precision | recall | pauses ≥0.5 s found/expected | speaking time s (expected) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (mut all_matched, mut all_found, mut all_expected) = (0, 0, 0);
    for clip in CLIPS {
        let entry = corpus::entry(clip);
        let lang = entry["language"].as_str().unwrap();
        let report: Value = app
            .analyze_raw(
                corpus::read(clip),
                "audio/wav",
                &format!("?language={lang}"),
            )
            .await
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
}
