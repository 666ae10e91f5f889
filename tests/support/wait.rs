//! Bounded polling: a stuck server fails the test with what was awaited and what was last
//! seen, it does not hang it. No test asserts a duration; these limits are only there to end a
//! hang and are far above what anything takes on an idle machine.
#![allow(dead_code)]

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// The default upper bound of a wait.
pub const LIMIT: Duration = Duration::from_secs(60);
/// How often a condition is looked at.
pub const EVERY: Duration = Duration::from_millis(10);

/// Waits until `cond` holds (at most [`LIMIT`]).
pub async fn until(what: &str, cond: impl FnMut() -> bool) {
    until_within(LIMIT, what, cond).await;
}

/// Waits until `cond` holds, failing after `limit`.
pub async fn until_within(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(EVERY).await;
    }
}

/// Waits until the async `cond` holds, failing after `limit`.
pub async fn until_async(limit: Duration, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(EVERY).await;
    }
}

/// Calls `probe` until its value satisfies `pred` (at most `limit`); returns that value. The
/// failure names `what` and shows the last value.
pub async fn value<T, F, Fut>(
    limit: Duration,
    what: &str,
    mut probe: F,
    pred: impl Fn(&T) -> bool,
) -> T
where
    T: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let start = Instant::now();
    loop {
        let v = probe().await;
        if pred(&v) {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "gave up waiting for {what}; last: {v}"
        );
        tokio::time::sleep(EVERY).await;
    }
}
