//! Loopback ports and bounded restarts for the servers the tests start. A leaf, includable on
//! its own with `#[path]`; `redis_server` and `postgres_server` use it as their sibling
//! `super::net`, so whoever includes one of them includes this next to it.

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A loopback port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

/// Calls `start` until it succeeds, pausing `pause` between tries; after `deadline`, panics
/// with `what` and the last error (a port's old socket may linger a moment after a stop).
pub fn retry_until(
    deadline: Instant,
    pause: Duration,
    what: &str,
    mut start: impl FnMut() -> Result<(), String>,
) {
    loop {
        match start() {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => panic!("{what} failed: {e}"),
            Err(_) => std::thread::sleep(pause),
        }
    }
}
