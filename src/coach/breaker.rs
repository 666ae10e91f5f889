//! Circuit breaker around the GigaChat call.
//!
//! The *policy* (when to open, for how long) is failsafe's `consecutive_failures` with a
//! `constant` backoff. The *state machine* is ours, because failsafe's `StateMachine` does not
//! fit two requirements:
//! - it lets **every** call through while half-open; we let exactly one probe through;
//! - it reads time from `std::time::Instant` (mockable only inside `failsafe::clock::freeze` on
//!   one thread), so it cannot follow paused tokio time; ours uses `tokio::time::Instant`.
//!
//! A call holds a [`Permit`]. Resolving it (`success`/`failure`/`neutral`) feeds the policy;
//! dropping it unresolved (the caller's future was cancelled) frees the half-open probe slot, so
//! a cancelled probe never leaves the breaker stuck rejecting everything.

use failsafe::FailurePolicy;
use failsafe::backoff::{self, Constant};
use failsafe::failure_policy::{self, ConsecutiveFailures};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Externally visible state of the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected at once until the reset timeout has passed.
    Open,
    /// The reset timeout has passed; one probe call decides between closed and open.
    HalfOpen,
}

impl BreakerState {
    /// `closed` | `open` | `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

struct Inner {
    state: State,
    /// Failure accrual and backoff: failsafe decides when to open and for how long.
    policy: ConsecutiveFailures<Constant>,
}

/// The breaker in `/stats/coach`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BreakerStats {
    pub state: BreakerState,
    /// Consecutive failures that open it (`BREAKER_FAIL_MAX`).
    pub fail_max: u32,
    /// How long it stays open (`BREAKER_RESET_TIMEOUT_SEC`).
    pub reset_timeout_sec: f64,
    /// Seconds until the next probe is let through, while open.
    pub open_remaining_sec: Option<f64>,
    pub calls_permitted: u64,
    pub rejections: u64,
    pub successes: u64,
    pub failures: u64,
    /// Calls that ended saying nothing about GigaChat's health (e.g. a client error).
    pub neutral: u64,
    /// Calls dropped before they ended (the caller went away).
    pub abandoned: u64,
    pub transitions: BreakerTransitions,
}

/// State changes since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BreakerTransitions {
    pub opened: u64,
    pub half_opened: u64,
    pub closed: u64,
}

/// Counters since start, all monotonic.
#[derive(Debug, Default)]
struct Counters {
    permitted: AtomicU64,
    rejected: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    neutral: AtomicU64,
    abandoned: AtomicU64,
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
}

/// The call was not let through: the breaker is open (or half-open with its probe in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker is open")]
pub struct Rejected;

/// A circuit breaker: opens after `fail_max` consecutive failures, stays open for
/// `reset_timeout`, then lets one probe through.
pub struct Breaker {
    inner: Mutex<Inner>,
    counters: Counters,
    fail_max: u32,
    reset_timeout: Duration,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .finish()
    }
}

impl Breaker {
    /// A closed breaker. `fail_max` is clamped to at least 1.
    pub fn new(fail_max: u32, reset_timeout: Duration) -> Self {
        let fail_max = fail_max.max(1);
        Self {
            inner: Mutex::new(Inner {
                state: State::Closed,
                policy: failure_policy::consecutive_failures(
                    fail_max,
                    backoff::constant(reset_timeout),
                ),
            }),
            counters: Counters::default(),
            fail_max,
            reset_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The critical sections cannot panic half-way, so a poisoned lock still holds a
        // consistent state: keep serving rather than failing every call forever.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current state. An open breaker whose timeout has passed reports `half_open`: the next call
    /// will be the probe.
    pub fn state(&self) -> BreakerState {
        match self.lock().state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call. Never waits.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        let mut inner = self.lock();
        let probe = match inner.state {
            State::Closed => false,
            State::Open { until } if Instant::now() >= until => {
                inner.state = State::HalfOpen {
                    probe_in_flight: true,
                };
                self.counters.half_opened.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    breaker.from = "open",
                    breaker.to = "half_open",
                    "circuit breaker half-open: letting one probe call through"
                );
                true
            }
            State::HalfOpen {
                probe_in_flight: false,
            } => {
                inner.state = State::HalfOpen {
                    probe_in_flight: true,
                };
                true
            }
            State::Open { .. }
            | State::HalfOpen {
                probe_in_flight: true,
            } => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(Rejected);
            }
        };
        self.counters.permitted.fetch_add(1, Ordering::Relaxed);
        Ok(Permit {
            breaker: self,
            probe,
            resolved: false,
        })
    }

    fn on_success(&self) {
        self.counters.successes.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        inner.policy.record_success();
        if let State::HalfOpen { .. } = inner.state {
            inner.state = State::Closed;
            inner.policy.revived();
            self.counters.closed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                breaker.from = "half_open",
                breaker.to = "closed",
                "circuit breaker closed: probe call succeeded"
            );
        }
    }

    fn on_failure(&self) {
        self.counters.failures.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        match inner.state {
            State::Closed => {
                if let Some(delay) = inner.policy.mark_dead_on_failure() {
                    inner.state = State::Open {
                        until: Instant::now() + delay,
                    };
                    self.counters.opened.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        breaker.from = "closed",
                        breaker.to = "open",
                        fail_max = self.fail_max,
                        open_for_sec = delay.as_secs_f64(),
                        "circuit breaker opened: GigaChat keeps failing, answering with rule-based feedback"
                    );
                }
            }
            State::HalfOpen { .. } => {
                // Still dead in the policy's count (it was not revived): it gives the next
                // backoff; the fallback only guards a policy that would say "not dead".
                let delay = inner
                    .policy
                    .mark_dead_on_failure()
                    .unwrap_or(self.reset_timeout);
                inner.state = State::Open {
                    until: Instant::now() + delay,
                };
                self.counters.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    breaker.from = "half_open",
                    breaker.to = "open",
                    open_for_sec = delay.as_secs_f64(),
                    "circuit breaker re-opened: probe call failed"
                );
            }
            // A call let through while closed that ends after the breaker opened: the breaker has
            // already decided; extending the open period for it would punish the recovery.
            State::Open { .. } => {}
        }
    }

    fn on_neutral(&self, probe: bool) {
        self.counters.neutral.fetch_add(1, Ordering::Relaxed);
        if probe {
            self.free_probe_slot();
        }
    }

    fn on_abandoned(&self, probe: bool) {
        self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
        if probe {
            self.free_probe_slot();
        }
    }

    /// The probe ended without telling us whether GigaChat is healthy: let the next call probe.
    fn free_probe_slot(&self) {
        let mut inner = self.lock();
        if let State::HalfOpen {
            probe_in_flight: true,
        } = inner.state
        {
            inner.state = State::HalfOpen {
                probe_in_flight: false,
            };
        }
    }

    /// State and counters for `/health` and `/stats/coach`.
    pub fn stats(&self) -> BreakerStats {
        let (state, open_remaining_sec) = {
            let inner = self.lock();
            let now = Instant::now();
            match inner.state {
                State::Closed => (BreakerState::Closed, None),
                State::Open { until } if now >= until => (BreakerState::HalfOpen, None),
                State::Open { until } => {
                    (BreakerState::Open, Some((until - now).as_secs_f64().ceil()))
                }
                State::HalfOpen { .. } => (BreakerState::HalfOpen, None),
            }
        };
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BreakerStats {
            state,
            fail_max: self.fail_max,
            reset_timeout_sec: self.reset_timeout.as_secs_f64(),
            open_remaining_sec,
            calls_permitted: get(&c.permitted),
            rejections: get(&c.rejected),
            successes: get(&c.successes),
            failures: get(&c.failures),
            neutral: get(&c.neutral),
            abandoned: get(&c.abandoned),
            transitions: BreakerTransitions {
                opened: get(&c.opened),
                half_opened: get(&c.half_opened),
                closed: get(&c.closed),
            },
        }
    }

    /// Calls rejected without reaching GigaChat.
    pub fn rejections(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }
}

/// Permission for one call. Resolve it with the call's outcome; dropping it unresolved means the
/// call was cancelled.
#[must_use = "resolve the permit with the call's outcome"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    resolved: bool,
}

impl Permit<'_> {
    /// Whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// GigaChat answered (any usable HTTP answer, including other 4xx: the service is up).
    pub fn success(mut self) {
        self.resolved = true;
        self.breaker.on_success();
    }

    /// Timeout, connection error, 5xx or 429: counts towards opening.
    pub fn failure(mut self) {
        self.resolved = true;
        self.breaker.on_failure();
    }

    /// The call never reached GigaChat for reasons of our own (e.g. no concurrency slot in
    /// time): says nothing about its health.
    pub fn neutral(mut self) {
        self.resolved = true;
        self.breaker.on_neutral(self.probe);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.resolved {
            self.breaker.on_abandoned(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESET: Duration = Duration::from_secs(60);

    fn fail_n(b: &Breaker, n: usize) {
        for _ in 0..n {
            b.try_acquire()
                .expect("closed breaker lets calls through")
                .failure();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_exactly_fail_max_consecutive_failures() {
        let b = Breaker::new(5, RESET);
        fail_n(&b, 4);
        assert_eq!(b.state(), BreakerState::Closed);
        fail_n(&b, 1);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.try_acquire().err(), Some(Rejected));
        assert_eq!(b.rejections(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_consecutive_count() {
        let b = Breaker::new(5, RESET);
        fail_n(&b, 4);
        b.try_acquire().unwrap().success();
        fail_n(&b, 4);
        assert_eq!(b.state(), BreakerState::Closed);
        fail_n(&b, 1);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn neutral_outcomes_neither_trip_nor_reset() {
        let b = Breaker::new(2, RESET);
        fail_n(&b, 1);
        b.try_acquire().unwrap().neutral();
        fail_n(&b, 1);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_lets_exactly_one_probe_through_and_closes_on_success() {
        let b = Breaker::new(5, RESET);
        fail_n(&b, 5);
        tokio::time::advance(RESET - Duration::from_millis(1)).await;
        assert!(
            b.try_acquire().is_err(),
            "still open just before the timeout"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);

        let probe = b
            .try_acquire()
            .expect("first call after the timeout is the probe");
        assert!(probe.is_probe());
        for _ in 0..10 {
            assert!(b.try_acquire().is_err(), "only one probe at a time");
        }
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        let p = b.try_acquire().unwrap();
        assert!(!p.is_probe());
        p.success();
        // After closing, it again takes fail_max failures to open.
        fail_n(&b, 4);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_another_reset_timeout() {
        let b = Breaker::new(5, RESET);
        fail_n(&b, 5);
        tokio::time::advance(RESET).await;
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(RESET / 2).await;
        assert!(b.try_acquire().is_err());
        tokio::time::advance(RESET / 2).await;
        assert!(b.try_acquire().unwrap().is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_probe_frees_the_slot() {
        let b = Breaker::new(1, RESET);
        fail_n(&b, 1);
        tokio::time::advance(RESET).await;
        let probe = b.try_acquire().unwrap();
        drop(probe); // the caller's future was dropped mid-call
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().expect("next call may probe");
        assert!(probe.is_probe());
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.stats().abandoned, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_future_holding_the_probe_does_not_stick() {
        let b = Breaker::new(1, RESET);
        fail_n(&b, 1);
        tokio::time::advance(RESET).await;
        // A probe whose call hangs and is cut off by an outer timeout (future dropped).
        let hung = async {
            let _permit = b.try_acquire().unwrap();
            std::future::pending::<()>().await;
        };
        assert!(
            tokio::time::timeout(Duration::from_secs(5), hung)
                .await
                .is_err()
        );
        assert!(b.try_acquire().is_ok(), "the slot was released on drop");
    }

    #[tokio::test(start_paused = true)]
    async fn late_failure_while_open_does_not_extend_the_open_period() {
        let b = Breaker::new(1, RESET);
        let late = b.try_acquire().unwrap();
        fail_n(&b, 1);
        tokio::time::advance(RESET / 2).await;
        late.failure();
        tokio::time::advance(RESET / 2).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn stats_report_state_and_transitions() {
        let b = Breaker::new(2, RESET);
        fail_n(&b, 2);
        let _ = b.try_acquire();
        let s = b.stats();
        assert_eq!(s.state, BreakerState::Open);
        assert_eq!(s.open_remaining_sec, Some(60.0));
        assert_eq!(s.failures, 2);
        assert_eq!(s.rejections, 1);
        assert_eq!(s.transitions.opened, 1);
        tokio::time::advance(RESET).await;
        b.try_acquire().unwrap().success();
        let s = b.stats();
        assert_eq!(s.state, BreakerState::Closed);
        assert_eq!(s.transitions.half_opened, 1);
        assert_eq!(s.transitions.closed, 1);
    }
}
