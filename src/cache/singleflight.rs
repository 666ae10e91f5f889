//! Single-flight: identical concurrent misses share one computation.
//!
//! The first caller for a key (the leader) starts the computation in a spawned task and
//! registers its shared result; callers arriving while it runs (followers) await the same
//! result. The task owns a [`Ticket`] that unregisters the flight when the task ends (success,
//! error or panic), so a key is never stuck and errors are never cached. Because the work lives
//! in its own task, a caller that goes away (client disconnect) cancels nothing.

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::TierName;

/// Why `get_or_compute` has no value.
#[derive(Debug)]
pub enum ComputeError<E> {
    /// The computation returned this error (shared by every caller that awaited it).
    Failed(Arc<E>),
    /// The computation panicked or was cancelled (runtime shutdown); the text says which.
    Aborted(String),
}

impl<E> Clone for ComputeError<E> {
    fn clone(&self) -> Self {
        match self {
            Self::Failed(e) => Self::Failed(e.clone()),
            Self::Aborted(s) => Self::Aborted(s.clone()),
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for ComputeError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "{e}"),
            Self::Aborted(why) => write!(f, "analysis aborted: {why}"),
        }
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for ComputeError<E> {}

/// What a flight produced: the value and, when the leader found it in a tier after all
/// (another flight finished in between), which tier.
#[derive(Clone)]
pub(crate) struct Produced {
    pub value: Bytes,
    pub found_in: Option<TierName>,
}

/// A flight's error with its type erased, so flights of any error type share one map.
#[derive(Clone)]
pub(crate) enum FlightError {
    Failed(Arc<dyn Any + Send + Sync>),
    Aborted(String),
}

impl FlightError {
    /// Restores the caller's error type. The map is keyed by the error's `TypeId`, so the
    /// downcast cannot fail; if it ever did, the error is reported as an abort, not a panic.
    pub fn into_typed<E: Send + Sync + 'static>(self) -> ComputeError<E> {
        match self {
            Self::Failed(any) => match any.downcast::<E>() {
                Ok(e) => ComputeError::Failed(e),
                Err(_) => ComputeError::Aborted("error type mismatch".to_owned()),
            },
            Self::Aborted(why) => ComputeError::Aborted(why),
        }
    }
}

pub(crate) type FlightResult = Result<Produced, FlightError>;
pub(crate) type SharedFlight = Shared<BoxFuture<'static, FlightResult>>;

/// The flights in progress, by (error type, key).
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<(TypeId, String), (u64, SharedFlight)>>,
    next_id: AtomicU64,
}

/// Whether this caller started the flight or joined one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Leader,
    Follower,
}

/// Held by the leader's task; dropping it (at the end of the task, even by panic)
/// unregisters the flight.
pub(crate) struct Ticket {
    flights: Arc<Flights>,
    slot: (TypeId, String),
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock().expect("flights lock");
        if map.get(&self.slot).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.slot);
        }
    }
}

impl Flights {
    /// Joins the flight for `key` or, if there is none, starts one with `start`, which gets
    /// the ticket and must spawn the work (the ticket goes into the spawned task) and return
    /// a future of its result.
    pub fn join_or_start<E: 'static>(
        self: &Arc<Self>,
        key: &str,
        start: impl FnOnce(Ticket) -> BoxFuture<'static, FlightResult>,
    ) -> (SharedFlight, Role) {
        let slot = (TypeId::of::<E>(), key.to_owned());
        let mut map = self.map.lock().expect("flights lock");
        if let Some((_, flight)) = map.get(&slot) {
            return (flight.clone(), Role::Follower);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ticket = Ticket {
            flights: self.clone(),
            slot: slot.clone(),
            id,
        };
        // `start` only spawns; the ticket's drop in that task waits for this lock, so the
        // flight is always registered before it can be unregistered.
        let flight = start(ticket).shared();
        map.insert(slot, (id, flight.clone()));
        (flight, Role::Leader)
    }

    /// Number of flights in progress.
    pub fn in_flight(&self) -> usize {
        self.map.lock().expect("flights lock").len()
    }
}

/// Spawns `work` and returns its result as a flight future; a panic or cancellation of the
/// task becomes [`FlightError::Aborted`].
pub(crate) fn spawn_flight(
    work: impl Future<Output = FlightResult> + Send + 'static,
) -> BoxFuture<'static, FlightResult> {
    let handle = tokio::spawn(work);
    async move {
        match handle.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(FlightError::Aborted("computation panicked".into())),
            Err(_) => Err(FlightError::Aborted("computation cancelled".into())),
        }
    }
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &'static [u8]) -> FlightResult {
        Ok(Produced {
            value: Bytes::from_static(v),
            found_in: None,
        })
    }

    #[tokio::test]
    async fn second_caller_joins_and_ticket_drop_releases_the_key() {
        let flights = Arc::new(Flights::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (f1, r1) = flights.join_or_start::<()>("k", |ticket| {
            spawn_flight(async move {
                let _t = ticket;
                rx.await.ok();
                ok(b"v")
            })
        });
        let (f2, r2) = flights.join_or_start::<()>("k", |_| unreachable!("must join"));
        assert_eq!((r1, r2), (Role::Leader, Role::Follower));
        assert_eq!(flights.in_flight(), 1);
        tx.send(()).unwrap();
        assert_eq!(f1.await.ok().unwrap().value, "v");
        assert_eq!(f2.await.ok().unwrap().value, "v");
        assert_eq!(flights.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_panicking_computation_aborts_and_releases_the_key() {
        let flights = Arc::new(Flights::default());
        let (f, _) = flights.join_or_start::<()>("k", |ticket| {
            spawn_flight(async move {
                let _t = ticket;
                panic!("boom");
            })
        });
        let err = f.await.err().unwrap().into_typed::<()>();
        assert!(matches!(err, ComputeError::Aborted(ref s) if s.contains("panicked")));
        assert_eq!(flights.in_flight(), 0);
    }

    #[tokio::test]
    async fn different_error_types_do_not_share_a_flight() {
        let flights = Arc::new(Flights::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (_f1, r1) = flights.join_or_start::<u8>("k", |ticket| {
            spawn_flight(async move {
                let _t = ticket;
                rx.await.ok();
                ok(b"v")
            })
        });
        let (f2, r2) = flights.join_or_start::<u16>("k", |ticket| {
            spawn_flight(async move {
                let _t = ticket;
                Err(FlightError::Failed(Arc::new(7u16)))
            })
        });
        assert_eq!((r1, r2), (Role::Leader, Role::Leader));
        let err = f2.await.err().unwrap().into_typed::<u16>();
        assert!(matches!(err, ComputeError::Failed(e) if *e == 7));
        tx.send(()).unwrap();
    }
}
