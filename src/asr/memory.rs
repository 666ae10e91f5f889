//! The allocator setting that keeps the recogniser's peak memory down.
//!
//! CTranslate2 allocates its per-window buffers (encoder activations, the beam's cross-attention
//! cache: a few MiB to tens of MiB each) on the decoding threads. glibc serves blocks above its
//! mmap threshold with their own mapping, but after such a block is freed it raises the threshold
//! to that block's size (up to 32 MiB), so from then on the buffers come from each thread's heap
//! arena, whose free space is kept rather than returned. With two decoding lanes the process then
//! holds several arenas' worth of dead buffers. A fixed threshold keeps every large buffer a
//! mapping of its own, returned when freed (numbers in `docs/bench/asr.md`).

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
