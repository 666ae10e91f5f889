//! Rehearsal writes that could not land because the database was down: kept in memory (bounded)
//! and retried in the background, oldest first, until they land or turn out impossible.
//!
//! In memory only: a process that stops while the database is down loses what is pending here
//! (logged at shutdown). Each write carries its own random id, so a write that landed although
//! its attempt reported a failure is not duplicated by the retry.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::store::RehearsalRow;

/// The pending writes and counters of what happened to them.
pub struct Outbox {
    queue: Mutex<VecDeque<RehearsalRow>>,
    capacity: usize,
    /// Writes that landed on a retry.
    pub landed: AtomicU64,
    /// Writes given up: their speaker is gone, or the row was refused for good.
    pub dropped: AtomicU64,
    /// Writes refused because the outbox was full.
    pub overflowed: AtomicU64,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            capacity,
            landed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<RehearsalRow>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a write; false (and counted) when full.
    pub fn push(&self, row: RehearsalRow) -> bool {
        let mut q = self.lock();
        if q.len() >= self.capacity {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        q.push_back(row);
        true
    }

    /// The oldest pending write (left in place until [`Outbox::pop_done`]).
    pub fn front(&self) -> Option<RehearsalRow> {
        self.lock().front().cloned()
    }

    /// Removes the oldest write once it landed or was given up.
    pub fn pop_done(&self, id: &str) {
        let mut q = self.lock();
        if q.front().is_some_and(|r| r.id == id) {
            q.pop_front();
        }
    }

    /// Forgets every pending write of a speaker (it was deleted). Returns how many.
    pub fn forget_speaker(&self, speaker: &str) -> usize {
        let mut q = self.lock();
        let before = q.len();
        q.retain(|r| r.speaker_id != speaker);
        before - q.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, speaker: &str) -> RehearsalRow {
        RehearsalRow {
            id: id.into(),
            speaker_id: speaker.into(),
            recorded_at_ms: 0,
            title: None,
            language: "en".into(),
            duration_sec: 1.0,
            report_id: "r".into(),
            metrics_json: "{}".into(),
            report_json: "{}".into(),
        }
    }

    #[test]
    fn bounded_fifo_that_forgets_deleted_speakers() {
        let o = Outbox::new(2);
        assert!(o.push(row("a", "s1")));
        assert!(o.push(row("b", "s2")));
        assert!(!o.push(row("c", "s1")), "full");
        assert_eq!(o.overflowed.load(Ordering::Relaxed), 1);
        assert_eq!(o.front().unwrap().id, "a");
        o.pop_done("b"); // not the front: nothing happens
        assert_eq!(o.len(), 2);
        o.pop_done("a");
        assert_eq!(o.front().unwrap().id, "b");
        assert_eq!(o.pending_for("s2"), 1);
        assert_eq!(o.forget_speaker("s2"), 1);
        assert!(o.is_empty());
    }
}
