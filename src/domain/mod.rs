//! Pure, deterministic speech analysis. No IO, no tokio, no HTTP.
//!
//! Layout:
//! - `transcript`, `signal`: the inputs (what was said, where the voice is).
//! - `metrics`: the output types (the report's `metrics`, `advice`, `timeline`).
//! - `feedback`: the coach's feedback schema.
pub mod feedback;
pub mod metrics;
pub mod signal;
pub mod transcript;
