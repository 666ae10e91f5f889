//! The analysis pipeline: admission control, then decode → VAD → ASR → analysis → feedback.
//!
//! Layout:
//! - `admission`: semaphore + bounded queue, stats, Retry-After estimates.
//! - `failure`: what a failed analysis means to the one who asked (kind, code, message).
//! - `progress`: the typed stage enum and the one progress sink (stages, recogniser windows).
//! - `run`: the stages of one analysis, CPU-heavy ones on the blocking pool.
//! - `service`: cache lookup → single-flight → admission → stages → cache store.

pub mod admission;
pub mod failure;
pub mod progress;
pub mod run;
pub mod service;

pub use admission::{Admission, PipelineStats, Rejection};
pub use failure::{Failure, FailureKind};
pub use progress::{Progress, ProgressEvent, ProgressSink, Stage};
pub use run::{AnalysisError, Job, Stages};
pub use service::{AnalysisService, Analyzed};
