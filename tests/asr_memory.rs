//! The recogniser's allocator setting (`WHISPER_MMAP_THRESHOLD_KIB`) as glibc sees it. One test in
//! its own binary: glibc's counters are process-wide, so no other test may allocate meanwhile.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_fixed_mmap_threshold_keeps_every_large_buffer_a_mapping_of_its_own() {
    use speech_coach::asr::memory::set_mmap_threshold;
    // SAFETY: mallinfo2 only reads glibc's counters.
    let mapped = || unsafe { libc::mallinfo2() }.hblks;
    // glibc's own behaviour first: once a 4 MiB mapping is freed, the next one comes from the heap.
    let first = vec![1u8; 4 << 20];
    drop(first);
    let before = mapped();
    let second = vec![1u8; 4 << 20];
    let from_heap = mapped() == before;
    drop(second);
    assert!(
        from_heap,
        "expected glibc's dynamic threshold to move a freed 4 MiB size into the heap"
    );

    assert!(set_mmap_threshold(1024));
    for round in 0..3 {
        let before = mapped();
        let block = vec![1u8; 4 << 20];
        assert_eq!(
            mapped(),
            before + 1,
            "round {round}: 4 MiB is not its own mapping"
        );
        drop(block);
        assert_eq!(
            mapped(),
            before,
            "round {round}: the mapping was not returned"
        );
        // Below the threshold stays in the heap.
        let small = vec![1u8; 512 << 10];
        assert_eq!(
            mapped(),
            before,
            "round {round}: 512 KiB should come from the heap"
        );
        drop(small);
    }
    assert!(!set_mmap_threshold(0), "0 leaves glibc's threshold alone");
}
