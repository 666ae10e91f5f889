//! Values and compute closures for tests of the cache itself (`TieredCache` without a server).
#![allow(dead_code)]

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A small report-like value, different per `n`.
pub fn report(n: u32) -> Bytes {
    Bytes::from(format!("{{\"report\":{n}}}"))
}

/// A compute closure for `get_or_compute` that counts its runs and yields `value`.
pub fn counted(
    counter: &Arc<AtomicUsize>,
    value: Bytes,
) -> impl FnOnce() -> futures::future::BoxFuture<'static, Result<Bytes, String>> + Send + 'static {
    let counter = counter.clone();
    move || {
        Box::pin(async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(value)
        })
    }
}
