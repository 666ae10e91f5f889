//! What a coach reports about itself: the body of `/stats/coach` and its part of `/health`.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

use super::breaker::{BreakerState, BreakerStats};
use crate::domain::feedback::FallbackReason;

/// The body of `GET /stats/coach`. Counters are since start of this process.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CoachStats {
    /// GigaChat is configured and asked; `false`: every answer is rule-based (`disabled`).
    pub enabled: bool,
    /// The LLM model asked (`None` when disabled).
    pub model: Option<String>,
    #[serde(flatten)]
    pub answers: AnswerCounts,
    /// The breaker's state; `None` when there is no breaker (coach disabled).
    pub breaker_state: Option<BreakerState>,
    /// Calls that failed (breaker's count; 0 without a breaker).
    pub failures: u64,
    /// Calls rejected by the open breaker without reaching GigaChat.
    pub rejections: u64,
    /// The breaker in detail; `None` when there is none.
    pub breaker: Option<BreakerStats>,
    /// The GigaChat client's own counters (only for the GigaChat coach).
    #[serde(flatten)]
    pub gigachat: Option<GigaChatStats>,
}

impl CoachStats {
    /// The stats of a coach without an LLM or breaker.
    pub fn disabled(answers: AnswerCounts) -> Self {
        Self {
            enabled: false,
            model: None,
            answers,
            breaker_state: None,
            failures: 0,
            rejections: 0,
            breaker: None,
            gigachat: None,
        }
    }

    /// The coach's part of `/health`: `disabled`, `degraded` (breaker open) or `ok`.
    pub fn health(&self) -> CoachHealth {
        let status = match (self.enabled, self.breaker_state) {
            (false, _) => CoachStatus::Disabled,
            (true, Some(BreakerState::Open)) => CoachStatus::Degraded,
            _ => CoachStatus::Ok,
        };
        CoachHealth {
            status,
            breaker_state: self.breaker_state,
            enabled: self.enabled,
        }
    }
}

/// Whether coaching feedback comes from the LLM now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoachStatus {
    Ok,
    /// The breaker is open: answers are rule-based until a probe succeeds.
    Degraded,
    /// No LLM configured.
    Disabled,
}

/// The coach's part of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CoachHealth {
    pub status: CoachStatus,
    pub breaker_state: Option<BreakerState>,
    pub enabled: bool,
}

/// Answers by where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AnswerCounts {
    /// `feedback` calls.
    pub requests: u64,
    /// Answers written by the LLM.
    pub gigachat_answers: u64,
    /// Rule-based answers, all reasons.
    pub fallbacks: u64,
    pub fallbacks_by_reason: FallbacksByReason,
}

/// Rule-based answers per [`FallbackReason`] (the field names are the reasons' JSON names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FallbacksByReason {
    pub disabled: u64,
    pub breaker_open: u64,
    pub timeout: u64,
    pub upstream_error: u64,
    pub rate_limited: u64,
    pub invalid_reply: u64,
}

impl FallbacksByReason {
    fn total(&self) -> u64 {
        self.disabled
            + self.breaker_open
            + self.timeout
            + self.upstream_error
            + self.rate_limited
            + self.invalid_reply
    }
}

/// The GigaChat client's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GigaChatStats {
    /// Chat-completion requests sent (retries after 401 included).
    pub upstream_calls: u64,
    /// Answers GigaChat refused as the client's fault (4xx other than 401/429).
    pub client_errors: u64,
    /// OAuth token fetches.
    pub token_requests: u64,
    /// Whether a token valid past its refresh margin is held now.
    pub token_cached: bool,
    /// Calls retried once with a fresh token after a 401.
    pub token_retries_after_401: u64,
    /// Concurrent GigaChat calls allowed.
    pub max_concurrency: usize,
    /// Of those, free now.
    pub slots_available: usize,
}

/// Counters common to every coach, updated lock-free.
#[derive(Debug, Default)]
pub(crate) struct CoachCounters {
    /// `feedback` calls.
    pub requests: AtomicU64,
    /// Answers written by the LLM.
    pub llm_answers: AtomicU64,
    fallbacks: [AtomicU64; 6],
}

fn reason_index(r: FallbackReason) -> usize {
    match r {
        FallbackReason::Disabled => 0,
        FallbackReason::BreakerOpen => 1,
        FallbackReason::Timeout => 2,
        FallbackReason::UpstreamError => 3,
        FallbackReason::RateLimited => 4,
        FallbackReason::InvalidReply => 5,
    }
}

impl CoachCounters {
    pub(crate) fn fallback(&self, reason: FallbackReason) {
        self.fallbacks[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> AnswerCounts {
        let n = |r| self.fallbacks[reason_index(r)].load(Ordering::Relaxed);
        let by_reason = FallbacksByReason {
            disabled: n(FallbackReason::Disabled),
            breaker_open: n(FallbackReason::BreakerOpen),
            timeout: n(FallbackReason::Timeout),
            upstream_error: n(FallbackReason::UpstreamError),
            rate_limited: n(FallbackReason::RateLimited),
            invalid_reply: n(FallbackReason::InvalidReply),
        };
        AnswerCounts {
            requests: self.requests.load(Ordering::Relaxed),
            gigachat_answers: self.llm_answers.load(Ordering::Relaxed),
            fallbacks: by_reason.total(),
            fallbacks_by_reason: by_reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-reason field names are the reasons' own JSON names, so a new reason cannot be
    /// counted under a name the report does not use.
    #[test]
    fn fallback_fields_are_named_like_the_reasons() {
        let c = CoachCounters::default();
        for (i, r) in FallbackReason::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                c.fallback(r);
            }
        }
        let s = c.snapshot();
        assert_eq!(s.fallbacks, 21);
        let json = serde_json::to_value(s.fallbacks_by_reason).unwrap();
        for (i, r) in FallbackReason::ALL.into_iter().enumerate() {
            let name = serde_json::to_value(r).unwrap();
            assert_eq!(json[name.as_str().unwrap()], i as u64 + 1, "{name}");
        }
    }

    #[test]
    fn a_disabled_coach_has_no_breaker_in_health() {
        let s = CoachStats::disabled(CoachCounters::default().snapshot());
        let h = s.health();
        assert_eq!(h.status, CoachStatus::Disabled);
        assert_eq!(h.breaker_state, None);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["breaker_state"].is_null() && json["breaker"].is_null());
        assert_eq!(json["fallbacks_by_reason"]["disabled"], 0);
    }
}
