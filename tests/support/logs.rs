//! The JSON log files a server writes (`LOG_FILE`, rotated as `app.log.N`).
#![allow(dead_code)]

use std::path::Path;

/// Reads every line of every JSON log file (`app.log`, `app.log.N`) in a directory.
pub fn read_json_logs(dir: &Path, stem: &str) -> Vec<(String, Vec<serde_json::Value>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(stem))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.is_empty() || text.ends_with('\n'),
                "{} ends mid-line",
                p.display()
            );
            let lines = text
                .lines()
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("{}: invalid JSON line {l:?}: {e}", p.display()))
                })
                .collect();
            (p.file_name().unwrap().to_string_lossy().into_owned(), lines)
        })
        .collect()
}
