//! Coaching feedback: what the coach (GigaChat) or the rule-based fallback says about a talk.

use serde::{Deserialize, Serialize};

/// Who wrote the feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackSource {
    /// Written by the GigaChat LLM.
    Gigachat,
    /// Built by rules from the measured report (no LLM involved).
    Rules,
}

/// Why rule-based feedback was given instead of the LLM's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    Disabled,
    BreakerOpen,
    Timeout,
    UpstreamError,
    RateLimited,
    InvalidReply,
}

impl FallbackReason {
    /// Every reason, in declaration order.
    pub const ALL: [FallbackReason; 6] = [
        FallbackReason::Disabled,
        FallbackReason::BreakerOpen,
        FallbackReason::Timeout,
        FallbackReason::UpstreamError,
        FallbackReason::RateLimited,
        FallbackReason::InvalidReply,
    ];
}

/// The coach's feedback in one schema whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Feedback {
    pub source: FeedbackSource,
    /// Set when `source` is `rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FallbackReason>,
    /// LLM model name when `source` is `gigachat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub overall_assessment: String,
    pub strengths: Vec<String>,
    pub areas_for_improvement: Vec<String>,
    pub recommendations: Vec<String>,
    #[serde(default)]
    #[schema(required = true)]
    pub key_insights: Vec<String>,
    /// 0..=1: how sure the coach is (rules: how much speech there was to judge).
    pub confidence: f64,
}

impl Feedback {
    /// Feedback not written yet: a placeholder for a report whose coach has not answered (the
    /// coach reads the report, so the report exists before its feedback). Never served.
    pub fn pending() -> Self {
        Self {
            source: FeedbackSource::Rules,
            reason: Some(FallbackReason::Disabled),
            model: None,
            overall_assessment: String::new(),
            strengths: Vec::new(),
            areas_for_improvement: Vec::new(),
            recommendations: Vec::new(),
            key_insights: Vec::new(),
            confidence: 0.0,
        }
    }
}
