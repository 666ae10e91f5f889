//! What keeps the recogniser's peak memory down: the allocator setting, trimming the heap
//! between windows, and a gate on how many model copies encode at once.
//!
//! CTranslate2 allocates its per-window buffers (encoder activations, the beam's cross-attention
//! cache: a few MiB to tens of MiB each) on the decoding threads. glibc serves blocks above its
//! mmap threshold with their own mapping, but after such a block is freed it raises the threshold
//! to that block's size (up to 32 MiB), so from then on the buffers come from each thread's heap
//! arena, whose free space is kept rather than returned. With two decoding lanes the process then
//! holds several arenas' worth of dead buffers. A fixed threshold keeps every large buffer a
//! mapping of its own, returned when freed (numbers in `docs/bench/asr.md`).
//!
//! Two more peaks remain with several copies. The smaller blocks freed during a window stay in
//! the arenas and the floor creeps up over a long talk; [`release_free_heap`] hands their pages
//! back between windows. And the encoder's self-attention scores are the largest buffers of all
//! (heads × 1500 × 1500 floats per window, 72 MiB for base at batch 1): two copies encoding at the
//! same moment hold them twice. [`EncodeGate`] lets a set number of copies encode at once; the
//! others wait for it while the rest of their work (decoding) goes on.

use std::sync::{Condvar, Mutex, PoisonError};

/// Sets glibc's `M_MMAP_THRESHOLD` to `kib` KiB, which also switches its dynamic threshold off
/// (0: leave glibc's own, and the `MALLOC_MMAP_THRESHOLD_` variable if set). Process-wide.
/// Returns whether the setting is in force; always `false` off glibc.
pub fn set_mmap_threshold(kib: usize) -> bool {
    if kib == 0 {
        return false;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let bytes = libc::c_int::try_from(kib.saturating_mul(1024)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes an allocator parameter, under glibc's own lock; calling it
        // while other threads allocate is allowed.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) } == 1;
        if !ok {
            tracing::warn!(
                kib,
                "glibc refused M_MMAP_THRESHOLD; its own threshold stays"
            );
        }
        ok
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Returns the free pages of every heap arena to the system (glibc's `malloc_trim`), so blocks
/// freed during a window do not stay resident into the next. A few milliseconds; no-op off glibc.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes glibc's arena locks itself; it may run while other threads allocate.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// At most `limit` holders at once (0: no limit): a counting gate for blocking threads, so the
/// model copies' encoder passes, the largest buffers of a window, do not pile up.
#[derive(Debug)]
pub struct EncodeGate {
    limit: usize,
    inside: Mutex<usize>,
    left: Condvar,
}

/// A place inside an [`EncodeGate`], given back when dropped.
#[derive(Debug)]
pub struct GatePass<'a>(Option<&'a EncodeGate>);

impl EncodeGate {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inside: Mutex::new(0),
            left: Condvar::new(),
        }
    }

    /// Waits for a place (blocking the thread) and holds it until the pass is dropped.
    pub fn enter(&self) -> GatePass<'_> {
        if self.limit == 0 {
            return GatePass(None);
        }
        // The counter stays right even if a holder panicked: it is only touched here and in drop.
        let inside = self.inside.lock().unwrap_or_else(PoisonError::into_inner);
        let mut inside = self
            .left
            .wait_while(inside, |n| *n >= self.limit)
            .unwrap_or_else(PoisonError::into_inner);
        *inside += 1;
        GatePass(Some(self))
    }
}

impl Drop for GatePass<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.0 {
            *gate.inside.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
            gate.left.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Most threads inside the gate at once, with `threads` threads each passing `rounds` times.
    fn most_inside(limit: usize, threads: usize, rounds: usize) -> usize {
        let gate = Arc::new(EncodeGate::new(limit));
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (gate, now, most) = (gate.clone(), now.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..rounds {
                        let _pass = gate.enter();
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        most.load(Ordering::SeqCst)
    }

    #[test]
    fn the_gate_never_holds_more_than_its_limit() {
        assert_eq!(most_inside(1, 4, 20), 1);
        let two = most_inside(2, 4, 20);
        assert!((1..=2).contains(&two), "{two} inside a gate of 2");
    }

    #[test]
    fn limit_zero_lets_everyone_in() {
        // Four threads inside at once meet at a barrier: a gate that held one back would hang.
        let gate = Arc::new(EncodeGate::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (gate, barrier, now, most) =
                    (gate.clone(), barrier.clone(), now.clone(), most.clone());
                std::thread::spawn(move || {
                    let _pass = gate.enter();
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    barrier.wait();
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_panicking_holder_gives_its_place_back() {
        let gate = Arc::new(EncodeGate::new(1));
        let g = gate.clone();
        let r = std::thread::spawn(move || {
            let _pass = g.enter();
            panic!("encoder failed");
        })
        .join();
        assert!(r.is_err());
        // Would block forever if the place were lost.
        let _pass = gate.enter();
    }
}
