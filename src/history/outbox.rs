//! Rehearsal writes that could not land because the database was down: queued (bounded) and
//! retried in the background, oldest first, until they land or turn out impossible.
//!
//! Each queued write is also a file in the outbox directory (`<DATA_DIR>/history-outbox/`,
//! written atomically), removed once the write landed or was given up; a process that stops
//! while the database is down finds its pending writes there at the next start and retries
//! them. Each write carries its own random id and the insert ignores a known id, so a write
//! that landed although its attempt reported a failure (or that two processes sharing the
//! directory both retry) is not duplicated.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::store::RehearsalRow;
use crate::files::{TEMP_PREFIX, write_atomically};

/// Extension of the outbox's files.
const EXT: &str = "json";

/// The pending writes and counters of what happened to them.
pub struct Outbox {
    queue: Mutex<VecDeque<RehearsalRow>>,
    capacity: usize,
    /// Where pending writes are kept across restarts; `None`: in memory only.
    dir: Option<PathBuf>,
    /// Writes that landed on a retry.
    pub landed: AtomicU64,
    /// Writes given up: their speaker is gone, or the row was refused for good.
    pub dropped: AtomicU64,
    /// Writes refused because the outbox was full.
    pub overflowed: AtomicU64,
}

/// What [`Outbox::open`] found in its directory.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Pending writes of an earlier run, queued again.
    pub pending: usize,
    /// Files that could not be read as a write (renamed to `*.unreadable`, kept for a human).
    pub unreadable: usize,
}

impl Outbox {
    /// An outbox kept in memory only.
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            dir: None,
            landed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    /// An outbox kept in `dir`, with the writes an earlier run left there queued again (oldest
    /// first; beyond `capacity` too: they were accepted once). Leftover temporary files of a
    /// crashed write are removed. A missing directory is created on the first write.
    pub fn open(dir: PathBuf, capacity: usize) -> (Self, Recovered) {
        let mut found = Recovered::default();
        let mut rows = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some(EXT) {
                continue;
            }
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<RehearsalRow>(&b).map_err(|e| e.to_string()))
                .and_then(|row| {
                    if file_name(&row.id) == name {
                        Ok(row)
                    } else {
                        Err(format!("a file under a foreign name (holds {})", row.id))
                    }
                });
            match read {
                Ok(row) => rows.push(row),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unreadable outbox file kept aside");
                    found.unreadable += 1;
                    let _ = std::fs::rename(&path, path.with_extension("unreadable"));
                }
            }
        }
        rows.sort_by(|a, b| (a.recorded_at_ms, &a.id).cmp(&(b.recorded_at_ms, &b.id)));
        found.pending = rows.len();
        let outbox = Self {
            queue: Mutex::new(rows.into()),
            dir: Some(dir),
            ..Self::new(capacity)
        };
        (outbox, found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<RehearsalRow>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a write (its file first, when the outbox has a directory); false (and counted)
    /// when full. A file that cannot be written leaves the write queued in memory only (logged).
    pub async fn push(&self, row: RehearsalRow) -> bool {
        if self.lock().len() >= self.capacity {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if let Some(dir) = &self.dir {
            let bytes = serde_json::to_vec(&row).expect("a row serialises");
            let (dir, name) = (dir.clone(), file_name(&row.id));
            let written =
                tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes)).await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(rehearsal = %row.id, error = %e, "outbox file not written: the write is kept in memory only")
                }
                Err(e) => {
                    tracing::warn!(rehearsal = %row.id, error = %e, "outbox file task failed")
                }
            }
        }
        self.lock().push_back(row);
        true
    }

    /// The oldest pending write (left in place until [`Outbox::pop_done`]).
    pub fn front(&self) -> Option<RehearsalRow> {
        self.lock().front().cloned()
    }

    /// Removes the oldest write once it landed or was given up: its file first, then its place
    /// in the queue, so no write counts as done while its file is still on disk.
    pub async fn pop_done(&self, id: &str) {
        let Some(row) = self.front().filter(|r| r.id == id) else {
            return;
        };
        self.remove_files(std::slice::from_ref(&row)).await;
        let mut q = self.lock();
        if q.front().is_some_and(|r| r.id == id) {
            q.pop_front();
        }
    }

    /// Forgets every pending write of a speaker (it was deleted), files included. Returns how
    /// many.
    pub async fn forget_speaker(&self, speaker: &str) -> usize {
        let gone: Vec<RehearsalRow> = {
            let mut q = self.lock();
            let (gone, kept): (Vec<_>, Vec<_>) = q.drain(..).partition(|r| r.speaker_id == speaker);
            *q = kept.into();
            gone
        };
        self.remove_files(&gone).await;
        gone.len()
    }

    async fn remove_files(&self, rows: &[RehearsalRow]) {
        let Some(dir) = &self.dir else { return };
        for row in rows {
            match tokio::fs::remove_file(dir.join(file_name(&row.id))).await {
                Ok(()) => {}
                // Never written (disk trouble at push), or another process sharing the
                // directory retried it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(rehearsal = %row.id, error = %e, "outbox file not removed")
                }
            }
        }
    }

    /// Pending writes of one speaker (for listing them as pending).
    pub fn pending_for(&self, speaker: &str) -> usize {
        self.lock()
            .iter()
            .filter(|r| r.speaker_id == speaker)
            .count()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The file of a write: its id is 32 hex digits (a [`super::RehearsalId`]), safe as a name.
fn file_name(id: &str) -> String {
    format!("{id}.{EXT}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn row(id: &str, speaker: &str, at: i64) -> RehearsalRow {
        RehearsalRow {
            id: id.into(),
            speaker_id: speaker.into(),
            recorded_at_ms: at,
            title: Some("t".into()),
            language: "en".into(),
            duration_sec: 1.0,
            report_id: "r".into(),
            metrics_json: "{}".into(),
            report_json: "{}".into(),
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[tokio::test]
    async fn bounded_fifo_that_forgets_deleted_speakers() {
        let o = Outbox::new(2);
        assert!(o.push(row("a", "s1", 0)).await);
        assert!(o.push(row("b", "s2", 0)).await);
        assert!(!o.push(row("c", "s1", 0)).await, "full");
        assert_eq!(o.overflowed.load(Ordering::Relaxed), 1);
        assert_eq!(o.front().unwrap().id, "a");
        o.pop_done("b").await; // not the front: nothing happens
        assert_eq!(o.len(), 2);
        o.pop_done("a").await;
        assert_eq!(o.front().unwrap().id, "b");
        assert_eq!(o.pending_for("s2"), 1);
        assert_eq!(o.forget_speaker("s2").await, 1);
        assert!(o.is_empty());
    }

    #[tokio::test]
    async fn pending_writes_survive_a_restart_oldest_first_and_leave_no_file_once_done() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("outbox");
        let (o, found) = Outbox::open(dir.clone(), 10);
        assert_eq!(
            found,
            Recovered::default(),
            "a missing directory is an empty outbox"
        );
        o.push(row("b", "s1", 20)).await;
        o.push(row("a", "s1", 10)).await;
        o.push(row("c", "s2", 30)).await;
        assert_eq!(files(&dir), ["a.json", "b.json", "c.json"]);
        drop(o); // the process stops with the database still down

        // A crashed write's temporary file and a torn foreign file are dealt with at start.
        std::fs::write(dir.join(format!("{TEMP_PREFIX}x")), b"{").unwrap();
        std::fs::write(dir.join("d.json"), b"{\"id\":").unwrap();
        let (o, found) = Outbox::open(dir.clone(), 10);
        assert_eq!(
            found,
            Recovered {
                pending: 3,
                unreadable: 1
            }
        );
        assert_eq!(
            o.front().unwrap(),
            row("a", "s1", 10),
            "oldest first, intact"
        );
        assert_eq!(files(&dir), ["a.json", "b.json", "c.json", "d.unreadable"]);

        o.pop_done("a").await;
        assert_eq!(o.forget_speaker("s2").await, 1);
        assert_eq!(files(&dir), ["b.json", "d.unreadable"]);
        let (o, found) = Outbox::open(dir.clone(), 10);
        assert_eq!(found.pending, 1);
        assert_eq!(o.front().unwrap().id, "b");
    }
}
