//! Coaching feedback: GigaChat behind a circuit breaker, with an honest rule-based fallback.

use async_trait::async_trait;

pub use crate::domain::feedback::{FallbackReason, Feedback, FeedbackSource};

/// The coach reads the measured report (metrics, advice, timeline, transcript) and nothing else.
pub use crate::report::Report;

/// Writes feedback about a talk. Never fails: a coach that cannot reach its LLM returns
/// rule-based feedback with `source: rules` and the reason.
#[async_trait]
pub trait Coach: Send + Sync + 'static {
    async fn feedback(&self, report: &Report) -> Feedback;

    /// State for `/health` and `/stats/coach` (breaker state, counters).
    fn stats(&self) -> serde_json::Value;

    /// Whether an LLM answer could be had now (enabled and breaker not open): the cache uses it
    /// to upgrade reports stored with fallback feedback.
    fn is_healthy(&self) -> bool;
}
