//! The Whisper model the real-recogniser tests use: `$WHISPER_MODEL_DIR`, else
//! `models/whisper-base` (`scripts/fetch-model.sh` fetches it).
#![allow(dead_code)]

use std::path::PathBuf;

/// Where the model is expected (it may be absent).
pub fn whisper_dir() -> PathBuf {
    std::env::var("WHISPER_MODEL_DIR").map_or_else(
        |_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/whisper-base")),
        PathBuf::from,
    )
}

/// Whether a missing model must fail the test instead of skipping it.
pub fn required() -> bool {
    std::env::var_os("SPEECH_COACH_REQUIRE_MODEL").is_some()
}

/// The model directory, or `None` after saying loudly that `what` is skipped. Panics instead
/// when `SPEECH_COACH_REQUIRE_MODEL` is set.
pub fn whisper_or_skip(what: &str) -> Option<PathBuf> {
    let dir = whisper_dir();
    if dir.join("model.bin").is_file() {
        return Some(dir);
    }
    assert!(
        !required(),
        "SPEECH_COACH_REQUIRE_MODEL is set but no model at {}: run scripts/fetch-model.sh",
        dir.display()
    );
    eprintln!(
        "\n!!!!! SKIPPING {what}: no model at {} (run scripts/fetch-model.sh) !!!!!\n",
        dir.display()
    );
    None
}
