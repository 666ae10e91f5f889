//! The analysis pipeline: admission control, then decode → VAD → ASR → analysis → feedback.
//!
//! Layout:
//! - `admission`: semaphore + bounded queue, stats, Retry-After estimates.

pub mod admission;

pub use admission::{Admission, PipelineStats, Rejection};
