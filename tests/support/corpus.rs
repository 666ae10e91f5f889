//! The shared test corpus (`tests/corpus/`, described in its README): paths, the manifest, clip
//! bytes. The one place that spells out where the corpus is.
//!
//! Self-contained, so a bench or example (or another support file) can include it on its own
//! with `#[path = ".../tests/support/corpus.rs"] mod corpus;`.
#![allow(dead_code)] // each test binary uses a different part

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `tests/corpus`, absolute.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// The corpus directory.
pub fn dir() -> PathBuf {
    PathBuf::from(DIR)
}

/// A file of the corpus (`clips/en_talk_1.wav`, `manifest.json`…).
pub fn path(rel: &str) -> PathBuf {
    Path::new(DIR).join(rel)
}

/// The bytes of a corpus file.
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("read corpus {rel}: {e}"))
}

/// `manifest.json`, read once.
pub fn manifest() -> &'static Value {
    static M: OnceLock<Value> = OnceLock::new();
    M.get_or_init(|| {
        let p = path("manifest.json");
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
        serde_json::from_str(&text).expect("manifest.json is JSON")
    })
}

/// Every manifest entry.
pub fn files() -> &'static [Value] {
    manifest()["files"].as_array().expect("manifest `files`")
}

/// The manifest entries of one `kind` (`speech`, `format`, `bad`…).
pub fn entries(kind: &str) -> Vec<&'static Value> {
    files().iter().filter(|e| e["kind"] == kind).collect()
}

/// The manifest entry of a corpus file (`clips/en_talk_1.wav`).
pub fn entry(file: &str) -> &'static Value {
    files()
        .iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} not in the manifest"))
}

/// The exact text spoken in a corpus clip (its manifest `text`).
pub fn text(file: &str) -> &'static str {
    entry(file)["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{file} has no text in the manifest"))
}

/// A corpus WAV made a different upload (another content hash): the low byte of its last sample
/// is XORed with `i`. The duration, so what the fake transcriber hears, is unchanged (the
/// corpus WAVs have `data` running to the end of the file).
pub fn variant(rel: &str, i: u8) -> Vec<u8> {
    let mut bytes = read(rel);
    let n = bytes.len();
    bytes[n - 2] ^= i;
    bytes
}
