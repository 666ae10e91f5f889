//! One progress sink for every consumer of an analysis (jobs, the CLI's bar, anything else): the
//! stages report when each is entered and the recogniser reports every decoded window; the sink
//! can ask the analysis to stop.
//!
//! The events come from the stages themselves (no timers), in order. `event` may be called from a
//! blocking-pool thread (Whisper decodes there), so sinks must not block: forward to a channel.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::asr::{AsrWatcher, WindowDone};

/// Where an analysis is. Serialised in lowercase (`"decode"`, `"asr"`…), the names of
/// [`super::admission::STAGES`] plus `queued`; ordered as the pipeline runs them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Waiting for an analysis slot (or for an identical upload's analysis to be admitted).
    Queued,
    /// Decoding the upload to 16 kHz mono.
    Decode,
    /// Finding speech and silence.
    Vad,
    /// Speech recognition, window by window.
    Asr,
    /// Pace, fillers, pauses, phrases, voice, advice.
    Analysis,
    /// Coaching feedback (GigaChat or the rules).
    Feedback,
}

impl Stage {
    /// The name used in timings, stats and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Decode => "decode",
            Self::Vad => "vad",
            Self::Asr => "asr",
            Self::Analysis => "analysis",
            Self::Feedback => "feedback",
        }
    }
}

/// Something an analysis reports while it runs.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// Waiting in the admission queue; `ticket` orders the waiters
    /// ([`super::Admission::queue_position`]). `None`: waiting on an identical upload's leader.
    Queued { ticket: Option<u64> },
    /// A stage started.
    Stage(Stage),
    /// The recogniser finished one window (audio seconds done/total, its words).
    Window(WindowDone),
}

/// Receives an analysis' progress and may cancel it.
pub trait ProgressSink: Send + Sync + std::fmt::Debug {
    /// Called for every event, in order. Must not block.
    fn event(&self, event: &ProgressEvent);
    /// Asked before each stage and each recogniser window: `true` stops the analysis
    /// ([`crate::asr::AsrError::Cancelled`]).
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A shared sink.
pub type Progress = Arc<dyn ProgressSink>;

/// The recogniser's view of a sink: windows become [`ProgressEvent::Window`].
#[derive(Debug)]
pub struct AsrProgress(pub Progress);

impl AsrWatcher for AsrProgress {
    fn window_done(&self, done: WindowDone) {
        self.0.event(&ProgressEvent::Window(done));
    }

    fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// A sink from a closure (the CLI), never cancelling.
pub struct FnSink<F>(pub F);

impl<F> std::fmt::Debug for FnSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnSink")
    }
}

impl<F: Fn(&ProgressEvent) + Send + Sync> ProgressSink for FnSink<F> {
    fn event(&self, event: &ProgressEvent) {
        (self.0)(event)
    }
}
