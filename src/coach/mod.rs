//! Coaching feedback: GigaChat behind a circuit breaker, with an honest rule-based fallback.
//!
//! Layout:
//! - `config`: [`CoachConfig`], every GigaChat and breaker setting with its env variable.
//! - `gigachat`: the HTTP client (OAuth with RqUID, chat completions, 401 → refresh + retry) and
//!   [`GigaChatCoach`] (timeout inside the breaker, concurrency cap, fallback).
//! - `token`: the access-token cache (expiry in ms, refresh margin, single-flight refresh).
//! - `breaker`: the circuit breaker (failsafe's consecutive-failures policy, one half-open probe,
//!   tokio time).
//! - `prompt`: the chat request built from the report's measured facts.
//! - `reply`: lenient parsing and clamping of the model's JSON.
//! - `rules`: [`rule_based_feedback`], the fallback.
//! - `stats`: [`CoachStats`], what a coach reports about itself (`/stats/coach`, `/health`).
//!
//! Entry point for the application: [`build_coach`].

use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::Ordering;

mod breaker;
mod config;
mod gigachat;
mod prompt;
mod reply;
mod rules;
mod stats;
#[cfg(test)]
mod text_golden;
mod token;

pub use breaker::{Breaker, BreakerState, BreakerStats, Permit, Rejected};
pub use config::{CoachConfig, DEFAULT_API_URL, DEFAULT_AUTH_URL};
pub use gigachat::GigaChatCoach;
pub use rules::rule_based_feedback;
pub(crate) use stats::CoachCounters;
pub use stats::{
    AnswerCounts, CoachHealth, CoachStats, CoachStatus, FallbacksByReason, GigaChatStats,
};

pub use crate::domain::feedback::{FallbackReason, Feedback, FeedbackSource};

/// The coach reads the measured report (metrics, advice, timeline, transcript) and nothing else.
pub use crate::report::Report;

/// Writes feedback about a talk. Never fails: a coach that cannot reach its LLM returns
/// rule-based feedback with `source: rules` and the reason.
#[async_trait]
pub trait Coach: Send + Sync + 'static {
    async fn feedback(&self, report: &Report) -> Feedback;

    /// Feedback that also knows the speaker's earlier rehearsals: an LLM coach's prompt cites
    /// the change against the baseline. Coaches without an LLM answer as [`Coach::feedback`]
    /// (the history is in the report's advice already).
    async fn feedback_with_history(
        &self,
        report: &Report,
        _history: &[crate::domain::progress::MetricProgress],
    ) -> Feedback {
        self.feedback(report).await
    }

    /// State for `/health` and `/stats/coach` (breaker state, counters).
    fn stats(&self) -> CoachStats;

    /// Whether an LLM answer could be had now (enabled and breaker not open): the cache uses it
    /// to upgrade reports stored with fallback feedback.
    fn is_healthy(&self) -> bool;
}

/// Why the coach could not be built. Names the setting at fault; never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CoachBuildError {
    /// A setting is out of range or malformed.
    #[error("invalid coach setting: {0}")]
    Invalid(String),
    /// `GIGACHAT_CA_BUNDLE` cannot be read or holds no certificate.
    #[error("GIGACHAT_CA_BUNDLE {path}: {message}")]
    CaBundle {
        path: std::path::PathBuf,
        message: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the GigaChat HTTP client: {0}")]
    Http(String),
}

/// The coach for `cfg`: GigaChat when enabled with credentials, otherwise one that always
/// answers with rule-based feedback (reason `disabled`) and never touches the network.
/// Call once at startup (it reads the CA bundle and logs TLS warnings).
pub fn build_coach(cfg: &CoachConfig) -> Result<Arc<dyn Coach>, CoachBuildError> {
    if cfg.is_active() {
        tracing::info!(
            model = %cfg.model,
            api_url = %cfg.api_url,
            max_concurrency = cfg.max_concurrency,
            timeout_sec = cfg.timeout.as_secs_f64(),
            "coach: GigaChat enabled"
        );
        Ok(Arc::new(GigaChatCoach::new(cfg)?))
    } else {
        tracing::info!(
            enabled = cfg.enabled,
            credentials_set = cfg.credentials.is_some(),
            "coach: GigaChat disabled, feedback will be rule-based"
        );
        Ok(Arc::new(DisabledCoach::default()))
    }
}

/// Whether a stored report's feedback should be asked for again: it is a fallback and the coach
/// can answer now. Used by the cache to upgrade reports without re-running ASR.
pub fn should_upgrade(feedback: &Feedback, coach: &dyn Coach) -> bool {
    feedback.source == FeedbackSource::Rules && coach.is_healthy()
}

/// The coach when GigaChat is off: rules, reason `disabled`, no network.
#[derive(Debug, Default)]
pub struct DisabledCoach {
    counters: CoachCounters,
}

#[async_trait]
impl Coach for DisabledCoach {
    async fn feedback(&self, report: &Report) -> Feedback {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters.fallback(FallbackReason::Disabled);
        rule_based_feedback(report, FallbackReason::Disabled)
    }

    fn stats(&self) -> CoachStats {
        CoachStats::disabled(self.counters.snapshot())
    }

    fn is_healthy(&self) -> bool {
        false
    }
}

/// The recording's language and the moment format are the domain's text helpers (one for the
/// advice and the coach alike); `mmss` stays importable from here for the CLI.
pub(crate) use crate::domain::text::mmss;

#[cfg(test)]
pub(crate) mod test_support {
    //! A hand-built report with known numbers for the coach's unit tests.
    use super::Feedback;
    use crate::audio::AudioInfo;
    use crate::domain::labels::{PaceFlag, PauseClass, PhraseLength};
    use crate::domain::metrics::*;
    use crate::domain::transcript::Segment;
    use crate::report::{CacheInfo, Report, TranscriptView};

    pub(crate) fn sample_report(language: &str) -> Report {
        let metrics = Metrics {
            words_total: 200,
            unique_words: 120,
            words_per_minute: 172.0,
            articulation_rate_wpm: 95.0,
            speaking_time_sec: 70.0,
            voiced_time_sec: 60.0,
            speaking_ratio: 0.8,
            pace_band_wpm: PaceBand {
                min_wpm: 120.0,
                max_wpm: 160.0,
            },
            pace_windows: vec![PaceWindow {
                start_sec: 20.0,
                end_sec: 40.0,
                wpm: 190.0,
                flag: PaceFlag::TooFast,
            }],
            fillers: FillerMetrics {
                total: 12,
                from_transcript: 10,
                acoustic: 2,
                per_100_words: 6.0,
                per_minute: 10.0,
                items: vec![FillerCount {
                    word: "ну".into(),
                    count: 7,
                }],
                events: vec![],
                bursts: vec![FillerBurst {
                    start_sec: 80.0,
                    end_sec: 84.0,
                    count: 4,
                }],
                ..Default::default()
            },
            pauses: PauseMetrics {
                count: 9,
                avg_sec: 0.9,
                median_sec: 0.7,
                max_sec: 3.2,
                total_sec: 8.1,
                classes: PauseClasses {
                    natural: 5,
                    deliberate: 3,
                    long: 0,
                    awkward: 1,
                },
                events: vec![PauseEvent {
                    start_sec: 65.0,
                    end_sec: 68.2,
                    duration_sec: 3.2,
                    class: PauseClass::Awkward,
                    word_before: Some("итак".into()),
                    word_after: Some("ну".into()),
                }],
            },
            phrases: PhraseMetrics {
                count: 14,
                avg_words: 9.5,
                length_class: Some(PhraseLength::Balanced),
                ..Default::default()
            },
            voice: VoiceMetrics {
                pitch_median_hz: Some(140.0),
                pitch_range_semitones: Some(3.0),
                pitch_std_semitones: Some(1.2),
                monotone_stretches: vec![MonotoneStretch {
                    start_sec: 30.0,
                    end_sec: 45.0,
                    pitch_std_semitones: 0.8,
                }],
                loudness_variation_db: 6.0,
                loudness_mean_dbfs: -22.0,
            },
            ..Default::default()
        };
        Report {
            id: "abc".into(),
            analysis_version: crate::report::ANALYSIS_VERSION,
            language: language.into(),
            audio: AudioInfo {
                container: "wav".into(),
                codec: "pcm_s16le".into(),
                sample_rate: 16_000,
                channels: 1,
                duration_sec: 90.0,
                decoder: "symphonia".into(),
            },
            transcript: TranscriptView {
                language_probability: 1.0,
                text: "Добрый день, коллеги.".into(),
                segments: vec![Segment {
                    start_sec: 0.4,
                    end_sec: 3.0,
                    text: " Добрый день, коллеги.".into(),
                    avg_logprob: 0.0,
                    no_speech_prob: 0.0,
                    words: vec![],
                }],
                words: vec![],
            },
            metrics,
            advice: vec![Advice {
                category: crate::domain::labels::AdviceCategory::Fillers,
                severity: crate::domain::labels::Severity::Warning,
                title: "Много слов-паразитов".into(),
                observation: "12 паразитов, 6.0 на 100 слов".into(),
                recommendation: "Замените «ну» паузой.".into(),
                evidence: vec![],
            }],
            timeline: vec![],
            feedback: Feedback::pending(),
            cache: CacheInfo::default(),
            warnings: vec![],
            timings_ms: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::sample_report;
    use super::*;

    #[test]
    fn mmss_formats_moments() {
        assert_eq!(mmss(0.4), "0:00");
        assert_eq!(mmss(65.0), "1:05");
        assert_eq!(mmss(3725.0), "1:02:05");
        assert_eq!(mmss(f64::NAN), "0:00");
    }

    #[test]
    fn language_detection() {
        use crate::domain::text::Lang;
        assert_eq!(Lang::of("ru"), Lang::Ru);
        assert_eq!(Lang::of("RU-ru"), Lang::Ru);
        assert_eq!(Lang::of("en"), Lang::En);
        assert_eq!(Lang::of(""), Lang::En);
    }

    #[tokio::test]
    async fn disabled_or_credential_less_config_gives_the_rules_coach() {
        for cfg in [
            CoachConfig::default(),
            CoachConfig {
                enabled: false,
                credentials: Some(secrecy::SecretString::from("key")),
                ..CoachConfig::default()
            },
        ] {
            let coach = build_coach(&cfg).unwrap();
            let f = coach.feedback(&sample_report("ru")).await;
            assert_eq!(f.source, FeedbackSource::Rules);
            assert_eq!(f.reason, Some(FallbackReason::Disabled));
            assert!(!coach.is_healthy());
            let s = coach.stats();
            assert!(!s.enabled);
            assert_eq!(s.answers.requests, 1);
            assert_eq!(s.answers.fallbacks, 1);
            assert_eq!(s.answers.fallbacks_by_reason.disabled, 1);
            assert!(!should_upgrade(&f, coach.as_ref()));
        }
    }

    #[tokio::test]
    async fn enabled_with_credentials_builds_gigachat_without_network() {
        let cfg = CoachConfig {
            credentials: Some(secrecy::SecretString::from("key")),
            ..CoachConfig::default()
        };
        let coach = build_coach(&cfg).unwrap();
        let s = coach.stats();
        assert!(s.enabled);
        assert_eq!(s.breaker_state, Some(BreakerState::Closed));
        let g = s.gigachat.expect("GigaChat counters");
        assert_eq!(g.upstream_calls, 0);
        assert_eq!(g.token_requests, 0);
        assert!(coach.is_healthy());
    }
}
