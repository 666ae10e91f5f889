//! A job's record and the state machine that turns analysis progress into record changes and
//! events: `queued → running → done | failed | cancelled` (a cached upload goes `queued → done`;
//! a queued job can be cancelled or fail). Terminal states are final: later updates are ignored.
//!
//! Pure: no clock (callers pass `now_ms`), no IO, so every store applies the same rules.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::JobId;
use crate::asr::{WindowDone, Word};
use crate::pipeline::Stage;
use crate::report::Report;

/// Where a job is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, waiting for an analysis slot (or for an identical upload's analysis).
    Queued,
    /// Its analysis runs (decode, VAD, ASR, analysis or feedback).
    Running,
    /// The report is ready.
    Done,
    /// The analysis failed; `error` is the JSON error `/analyze` would have answered.
    Failed,
    /// Cancelled by `DELETE /jobs/{id}`.
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        Self::Queued,
        Self::Running,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// How much of the audio is transcribed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobProgress {
    /// Seconds of audio the recogniser has finished (never decreases).
    pub audio_sec_done: f64,
    /// Length of the recording, seconds (`None` until the recogniser reports its first window).
    pub audio_sec_total: Option<f64>,
    /// `audio_sec_done / audio_sec_total`, 0…1; exactly 1 when the job is done.
    pub fraction: f64,
}

/// The transcript so far: the words of every window transcribed, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Partial {
    pub text: String,
    pub words: Vec<Word>,
}

/// The JSON error `/analyze` would have answered, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobError {
    pub status: u16,
    pub error: String,
    pub message: String,
    /// The request id of the `POST /jobs` that created the job.
    pub request_id: Option<String>,
}

/// The part of a job's record that clients see as it is stored: `GET /jobs/{id}` serves it
/// flattened, beside the ETA as of now, the queue position and the report as asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobPublic {
    pub state: JobState,
    /// The stage last entered (`queued` until the analysis starts).
    pub stage: Stage,
    pub progress: JobProgress,
    /// The transcript so far.
    pub partial: Partial,
    /// When `failed`: the error `POST /analyze` would have answered, with its status.
    pub error: Option<JobError>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// The id of the job's last event (resume `GET /jobs/{id}/events` from it).
    pub last_event_id: u64,
    /// With jobs on Redis: the worker running (or that last ran) the job, `<consumer>/<n>`;
    /// null for in-process jobs.
    #[serde(default)]
    pub worker: Option<String>,
    /// Attempts so far (with jobs on Redis; 0 for in-process jobs).
    #[serde(default)]
    #[schema(required = true)]
    pub attempt: u32,
}

/// Everything known about one job. Its events are numbered 1, 2, 3… (`public.last_event_id` is
/// the last one appended); a `public.worker` names a consumer unique per process start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    #[serde(flatten)]
    pub public: JobPublic,
    /// Seconds left at the recogniser's rate so far, as of `updated_at_ms` (`None` until the
    /// first window; 0 when done).
    pub eta_sec: Option<f64>,
    /// The admission queue ticket while waiting for a slot (gives the queue position).
    pub queue_ticket: Option<u64>,
    /// The report, when done (the full one; `summary` says whether to serve its summary).
    pub report: Option<Report>,
    /// `detail=summary` was asked for at `POST /jobs`.
    pub summary: bool,
    /// BLAKE3 of the upload.
    pub content_hash: String,
    /// The requested language (`None`: detect).
    pub language: Option<String>,
    /// The `POST /jobs` request id (carried into `error`).
    pub request_id: Option<String>,
    /// When the recogniser started (the ETA's rate is measured from here).
    pub asr_started_at_ms: Option<u64>,
    /// `speaker=` (and `title=`) at `POST /jobs`: whoever finishes the job records its report
    /// as that speaker's rehearsal (id = the job's id, so a re-run records it once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<JobRehearsal>,
}

/// The speaker a job's report is a rehearsal of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRehearsal {
    /// The speaker id (32 hex digits), checked to exist when the job was accepted.
    pub speaker: String,
    pub title: Option<String>,
}

/// Something that happened to a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobUpdate {
    /// Waiting for a slot with this queue ticket (`None`: behind an identical upload).
    Queued {
        ticket: Option<u64>,
    },
    /// A stage started.
    Stage {
        stage: Stage,
    },
    /// The recogniser finished a window.
    Window {
        audio_sec_done: f64,
        audio_sec_total: f64,
        words: Vec<Word>,
    },
    /// The report is ready (`cache`: `hit`, `miss`, `coalesced`: how it was obtained).
    Done {
        report: Box<Report>,
        cache: String,
    },
    Failed {
        error: JobError,
    },
    Cancelled,
    /// A worker (jobs on Redis) took the job for its `attempt`-th run. A later attempt (the
    /// previous worker died or failed for a server-side reason, given as `retry_reason`) starts
    /// over: the job is queued again and its progress and partial transcript are reset.
    Claimed {
        worker: String,
        attempt: u32,
        retry_reason: Option<String>,
    },
}

impl From<WindowDone> for JobUpdate {
    fn from(w: WindowDone) -> Self {
        Self::Window {
            audio_sec_done: w.audio_sec_done,
            audio_sec_total: w.audio_sec_total,
            words: w.words,
        }
    }
}

/// The kind of an event: the SSE `event:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The state changed to `queued` or `running` (data: `{state, stage}`).
    State,
    /// A stage started (data: `{stage, queue_ticket?}`).
    Stage,
    /// A window was transcribed (data: progress, `eta_sec`, the window's `words` and `text`).
    Progress,
    /// Terminal: the report is ready (fetch `GET /jobs/{id}`).
    Done,
    /// Terminal: data carries `error`.
    Failed,
    /// Terminal.
    Cancelled,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Stage => "stage",
            Self::Progress => "progress",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

/// One entry of a job's event log: the SSE `id:`, `event:` and `data:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// 1, 2, 3… per job, no gaps: a client resuming with `Last-Event-ID: n` gets n+1 onwards.
    pub id: u64,
    pub kind: EventKind,
    pub data: Value,
}

/// The ETA counts the stages after the recogniser (analysis, feedback) as this many seconds per
/// minute of audio: they take well under a second per minute, next to Whisper's many.
const POST_ASR_SEC_PER_AUDIO_MIN: f64 = 0.2;

impl JobRecord {
    /// A new queued job (its first event, `state: queued`, comes from [`Self::created_event`]).
    pub fn new(
        id: JobId,
        content_hash: String,
        language: Option<String>,
        summary: bool,
        request_id: Option<String>,
        now_ms: u64,
    ) -> Self {
        Self {
            id,
            public: JobPublic {
                state: JobState::Queued,
                stage: Stage::Queued,
                progress: JobProgress::default(),
                partial: Partial::default(),
                error: None,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
                last_event_id: 0,
                worker: None,
                attempt: 0,
            },
            eta_sec: None,
            queue_ticket: None,
            report: None,
            summary,
            content_hash,
            language,
            request_id,
            asr_started_at_ms: None,
            rehearsal: None,
        }
    }

    /// The first event of every job.
    pub fn created_event(&mut self) -> JobEvent {
        self.push(
            EventKind::State,
            json!({"state": self.public.state, "stage": self.public.stage}),
        )
    }

    fn push(&mut self, kind: EventKind, data: Value) -> JobEvent {
        self.public.last_event_id += 1;
        JobEvent {
            id: self.public.last_event_id,
            kind,
            data,
        }
    }

    /// Applies an update at `now_ms`, returning the events it produced (none when it changed
    /// nothing, e.g. anything after a terminal state).
    pub fn apply(&mut self, update: JobUpdate, now_ms: u64) -> Vec<JobEvent> {
        if self.public.state.is_terminal() {
            return Vec::new();
        }
        self.public.updated_at_ms = now_ms;
        match update {
            JobUpdate::Queued { ticket } => self.on_queued(ticket).into_iter().collect(),
            JobUpdate::Stage { stage } => self.on_stage(stage, now_ms),
            JobUpdate::Window {
                audio_sec_done,
                audio_sec_total,
                words,
            } => vec![self.on_window(audio_sec_done, audio_sec_total, words, now_ms)],
            JobUpdate::Done { report, cache } => vec![self.on_done(*report, cache)],
            JobUpdate::Failed { error } => vec![self.on_failed(error)],
            JobUpdate::Claimed {
                worker,
                attempt,
                retry_reason,
            } => vec![self.on_claimed(worker, attempt, retry_reason)],
            JobUpdate::Cancelled => vec![self.on_cancelled()],
        }
    }

    fn on_queued(&mut self, ticket: Option<u64>) -> Option<JobEvent> {
        self.queue_ticket = ticket;
        (self.public.state == JobState::Queued).then(|| {
            self.public.stage = Stage::Queued;
            self.push(
                EventKind::Stage,
                json!({"stage": Stage::Queued, "queue_ticket": ticket}),
            )
        })
    }

    /// A new stage; the first one past the queue also starts the job.
    fn on_stage(&mut self, stage: Stage, now_ms: u64) -> Vec<JobEvent> {
        let mut events = Vec::new();
        if stage == Stage::Queued || stage == self.public.stage {
            return events;
        }
        if self.public.state == JobState::Queued {
            self.public.state = JobState::Running;
            self.queue_ticket = None;
            events.push(self.push(
                EventKind::State,
                json!({"state": self.public.state, "stage": stage}),
            ));
        }
        self.public.stage = stage;
        if stage == Stage::Asr {
            self.asr_started_at_ms = Some(now_ms);
        }
        if stage > Stage::Asr
            && let Some(total) = self.public.progress.audio_sec_total
        {
            // Past the recogniser, all the audio is transcribed.
            self.public.progress.audio_sec_done = total;
            self.public.progress.fraction = 1.0;
        }
        self.eta_sec = self.eta_after_asr(stage);
        events.push(self.push(EventKind::Stage, json!({"stage": stage})));
        events
    }

    /// A recogniser window is done: progress, ETA and the window's words.
    fn on_window(
        &mut self,
        audio_sec_done: f64,
        audio_sec_total: f64,
        words: Vec<Word>,
        now_ms: u64,
    ) -> JobEvent {
        let total = audio_sec_total.max(0.0);
        let done = audio_sec_done
            .clamp(0.0, total)
            .max(self.public.progress.audio_sec_done);
        self.public.progress = JobProgress {
            audio_sec_done: done,
            audio_sec_total: Some(total),
            fraction: if total > 0.0 {
                (done / total).min(1.0)
            } else {
                1.0
            },
        };
        let elapsed_sec = self
            .asr_started_at_ms
            .map_or(0.0, |t| now_ms.saturating_sub(t) as f64 / 1000.0);
        self.eta_sec = (done > 0.0).then(|| {
            elapsed_sec / done * (total - done) + total / 60.0 * POST_ASR_SEC_PER_AUDIO_MIN
        });
        let text = join_words(&words);
        if !text.is_empty() {
            if !self.public.partial.text.is_empty() {
                self.public.partial.text.push(' ');
            }
            self.public.partial.text.push_str(&text);
        }
        self.public.partial.words.extend(words.iter().cloned());
        let data = json!({
            "progress": self.public.progress,
            "eta_sec": self.eta_sec,
            "words": words,
            "text": text,
        });
        self.push(EventKind::Progress, data)
    }

    fn on_done(&mut self, report: Report, cache: String) -> JobEvent {
        let total = report.audio.duration_sec;
        self.public.state = JobState::Done;
        self.queue_ticket = None;
        self.eta_sec = Some(0.0);
        self.public.progress = JobProgress {
            audio_sec_done: total,
            audio_sec_total: Some(total),
            fraction: 1.0,
        };
        self.public.partial = Partial {
            text: report.transcript.text.clone(),
            words: report.transcript.words.clone(),
        };
        self.report = Some(report);
        self.push(
            EventKind::Done,
            json!({"state": self.public.state, "progress": self.public.progress, "cache": cache}),
        )
    }

    fn on_failed(&mut self, error: JobError) -> JobEvent {
        self.public.state = JobState::Failed;
        self.queue_ticket = None;
        self.eta_sec = None;
        let data = json!({"state": self.public.state, "error": error});
        self.public.error = Some(error);
        self.push(EventKind::Failed, data)
    }

    /// A worker took the job; a later attempt starts it over.
    fn on_claimed(
        &mut self,
        worker: String,
        attempt: u32,
        retry_reason: Option<String>,
    ) -> JobEvent {
        if attempt > 1 {
            self.public.state = JobState::Queued;
            self.public.stage = Stage::Queued;
            self.public.progress = JobProgress::default();
            self.public.partial = Partial::default();
            self.eta_sec = None;
            self.asr_started_at_ms = None;
        }
        self.queue_ticket = None;
        self.public.worker = Some(worker.clone());
        self.public.attempt = attempt;
        self.push(
            EventKind::State,
            json!({"state": self.public.state, "stage": self.public.stage, "worker": worker,
                   "attempt": attempt, "retry_reason": retry_reason}),
        )
    }

    fn on_cancelled(&mut self) -> JobEvent {
        self.public.state = JobState::Cancelled;
        self.queue_ticket = None;
        self.eta_sec = None;
        self.push(EventKind::Cancelled, json!({"state": self.public.state}))
    }

    /// After the recogniser only the fast stages remain.
    fn eta_after_asr(&self, stage: Stage) -> Option<f64> {
        match (stage > Stage::Asr, self.public.progress.audio_sec_total) {
            (true, Some(total)) => Some(total / 60.0 * POST_ASR_SEC_PER_AUDIO_MIN),
            _ => self.eta_sec,
        }
    }
}

fn join_words(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.word.trim())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str, t: f64) -> Word {
        Word {
            word: w.into(),
            start_sec: t,
            end_sec: t + 0.3,
            probability: 0.9,
        }
    }

    fn record() -> JobRecord {
        let mut r = JobRecord::new(JobId::random(), "h".into(), None, false, None, 0);
        assert_eq!(r.created_event().id, 1);
        r
    }

    #[test]
    fn states_advance_in_order_and_events_are_numbered_without_gaps() {
        let mut r = record();
        let mut ids = vec![1];
        let mut kinds = Vec::new();
        for u in [
            JobUpdate::Queued { ticket: Some(4) },
            JobUpdate::Stage {
                stage: Stage::Decode,
            },
            JobUpdate::Stage { stage: Stage::Vad },
            JobUpdate::Stage { stage: Stage::Asr },
            JobUpdate::Window {
                audio_sec_done: 30.0,
                audio_sec_total: 90.0,
                words: vec![word("hello", 1.0)],
            },
            JobUpdate::Window {
                audio_sec_done: 20.0, // out of order: progress never goes back
                audio_sec_total: 90.0,
                words: vec![word("world", 31.0)],
            },
            JobUpdate::Stage {
                stage: Stage::Analysis,
            },
        ] {
            for e in r.apply(u, 1000) {
                ids.push(e.id);
                kinds.push(e.kind);
            }
        }
        assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
        assert_eq!(kinds[0], EventKind::Stage);
        assert_eq!(kinds[1], EventKind::State);
        assert_eq!(r.public.state, JobState::Running);
        assert_eq!(r.queue_ticket, None);
        assert_eq!(r.public.partial.text, "hello world");
        assert_eq!(
            r.public.progress.fraction, 1.0,
            "past ASR all audio is transcribed"
        );
        let cancelled = r.apply(JobUpdate::Cancelled, 2000);
        assert_eq!(cancelled[0].kind, EventKind::Cancelled);
        assert!(
            r.apply(
                JobUpdate::Stage {
                    stage: Stage::Feedback
                },
                3000
            )
            .is_empty(),
            "terminal states are final"
        );
        assert_eq!(r.public.state, JobState::Cancelled);
    }

    #[test]
    fn a_later_attempt_starts_over_from_queued() {
        let mut r = record();
        let claim = |attempt, reason: Option<&str>| JobUpdate::Claimed {
            worker: format!("w{attempt}"),
            attempt,
            retry_reason: reason.map(str::to_owned),
        };
        assert_eq!(r.apply(claim(1, None), 1)[0].kind, EventKind::State);
        assert_eq!(r.public.state, JobState::Queued);
        r.apply(JobUpdate::Stage { stage: Stage::Asr }, 2);
        r.apply(
            JobUpdate::Window {
                audio_sec_done: 30.0,
                audio_sec_total: 60.0,
                words: vec![word("hello", 1.0)],
            },
            3,
        );
        assert_eq!(r.public.state, JobState::Running);
        let ev = r.apply(claim(2, Some("worker lost")), 4);
        assert_eq!(ev[0].data["retry_reason"], "worker lost");
        assert_eq!(
            (r.public.state, r.public.stage),
            (JobState::Queued, Stage::Queued)
        );
        assert_eq!(r.public.partial, Partial::default());
        assert_eq!(r.public.progress.fraction, 0.0);
        assert_eq!(
            (r.public.worker.as_deref(), r.public.attempt),
            (Some("w2"), 2)
        );
        r.apply(JobUpdate::Cancelled, 5);
        assert!(r.apply(claim(3, None), 6).is_empty(), "terminal is final");
    }

    #[test]
    fn progress_is_monotonic_and_eta_follows_the_rate() {
        let mut r = record();
        r.apply(JobUpdate::Stage { stage: Stage::Asr }, 10_000);
        r.apply(
            JobUpdate::Window {
                audio_sec_done: 30.0,
                audio_sec_total: 60.0,
                words: vec![],
            },
            13_000,
        );
        // 3 s for 30 s of audio → 3 s more for the other 30, plus the fast stages.
        let eta = r.eta_sec.unwrap();
        assert!((eta - (3.0 + 0.2)).abs() < 1e-9, "{eta}");
        assert_eq!(r.public.progress.fraction, 0.5);
    }
}
