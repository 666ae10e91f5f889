//! What a failed analysis means to whoever asked for it: whose fault, a stable code, what to do.
//! The HTTP layer turns a [`Failure`] into a status and the JSON error body; the CLI into an
//! exit code and a line on stderr. Neither needs to know the pipeline's error variants.

use super::run::AnalysisError;
use crate::asr::AsrError;
use crate::audio::AudioError;

/// The class of a failure, which decides the HTTP status and the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The request is malformed (400).
    BadRequest,
    /// The recording is longer than the server accepts (413).
    TooLarge,
    /// Not a format we can read (415).
    UnsupportedMedia,
    /// A readable format with unusable content (422).
    Unprocessable,
    /// Every analysis slot and queue place is taken (503 + Retry-After).
    Overloaded { retry_after_sec: u64 },
    /// A service we depend on failed (502).
    Upstream,
    /// A component is not available now, e.g. the model is missing (503).
    Unavailable,
    /// The analysis or an upstream took too long (504).
    Timeout,
    /// The owner cancelled the work (409).
    Cancelled,
    /// Our bug (500); the message is the cause, for logs and the operator only.
    Internal,
}

/// A failed analysis, described for the one who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// Machine-readable, stable (`corrupt_audio`, `audio_too_long`, `timeout`…).
    pub code: &'static str,
    /// What happened and what to do about it.
    pub message: String,
}

impl Failure {
    fn new(kind: FailureKind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
        }
    }

    /// The input was at fault (the same input will fail again), not the service.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self.kind,
            FailureKind::BadRequest
                | FailureKind::TooLarge
                | FailureKind::UnsupportedMedia
                | FailureKind::Unprocessable
                | FailureKind::Cancelled
        )
    }
}

impl AnalysisError {
    /// The failure as the one who asked should see it.
    pub fn failure(&self) -> Failure {
        use FailureKind as K;
        match self {
            Self::Audio(a) => audio_failure(a),
            Self::Asr(a) => asr_failure(a),
            Self::Timeout(d) => Failure::new(
                K::Timeout,
                "timeout",
                format!(
                    "the analysis did not finish within {:.0} s (ANALYSIS_TIMEOUT_SEC); try a shorter recording",
                    d.as_secs_f64()
                ),
            ),
            Self::Rejected(r) => Failure::new(
                K::Overloaded {
                    retry_after_sec: r.retry_after_sec(),
                },
                "overloaded",
                r.to_string(),
            ),
            Self::Shared(inner) => inner.failure(),
            Self::Internal(m) => Failure::new(K::Internal, "internal_error", m.clone()),
        }
    }
}

fn audio_failure(a: &AudioError) -> Failure {
    use FailureKind as K;
    let kind = match a {
        AudioError::Empty => K::BadRequest,
        AudioError::Unsupported { .. } | AudioError::UnsupportedCodec { .. } => K::UnsupportedMedia,
        AudioError::TooLong { .. } => K::TooLarge,
        AudioError::Corrupt(_)
        | AudioError::InvalidHeader(_)
        | AudioError::Timeout(_)
        | AudioError::NoSamples => K::Unprocessable,
        AudioError::Io(_) => K::Internal,
    };
    let message = match a {
        AudioError::Empty => "the uploaded file is empty".to_string(),
        AudioError::TooLong { .. } => {
            format!("{a} (MAX_AUDIO_DURATION_SEC): send a shorter recording")
        }
        _ => a.to_string(),
    };
    Failure::new(kind, a.code(), message)
}

fn asr_failure(a: &AsrError) -> Failure {
    use FailureKind as K;
    match a {
        AsrError::ModelUnavailable(_) => Failure::new(
            K::Unavailable,
            "unavailable",
            "speech recognition is not available on this server right now",
        ),
        AsrError::Upstream(_) => {
            // The cause stays in the log; the one who asked learns only that it was not them.
            tracing::error!(error = %a, "remote ASR failed");
            Failure::new(
                K::Upstream,
                "upstream_error",
                "the speech recognition backend failed; retry later",
            )
        }
        AsrError::Timeout(_) => Failure::new(
            K::Timeout,
            "timeout",
            "the speech recognition backend did not answer in time",
        ),
        AsrError::InvalidLanguage(_) => {
            Failure::new(K::BadRequest, "invalid_parameter", a.to_string())
        }
        AsrError::Inference(_) => Failure::new(K::Internal, "internal_error", a.to_string()),
        AsrError::Cancelled => {
            Failure::new(K::Cancelled, "cancelled", "the analysis was cancelled")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_shared_error_describes_itself_like_the_original() {
        let e = AnalysisError::Audio(AudioError::Corrupt("bad frame".into()));
        let shared = AnalysisError::Shared(Arc::new(AnalysisError::Audio(AudioError::Corrupt(
            "bad frame".into(),
        ))));
        assert_eq!(e.failure(), shared.failure());
        assert_eq!(e.failure().code, "corrupt_audio");
        assert!(e.failure().is_client_error());
    }

    #[test]
    fn service_faults_are_not_the_clients() {
        for e in [
            AnalysisError::Asr(AsrError::ModelUnavailable("no model.bin".into())),
            AnalysisError::Asr(AsrError::Upstream("502".into())),
            AnalysisError::Internal("bug".into()),
            AnalysisError::Timeout(std::time::Duration::from_secs(3600)),
        ] {
            assert!(!e.failure().is_client_error(), "{e}");
        }
    }
}
