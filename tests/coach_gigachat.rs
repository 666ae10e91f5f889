//! The GigaChat coach against a fake GigaChat server: OAuth details, token caching, 401 handling,
//! every failure mode's fallback reason, the circuit breaker, and that no secret is ever logged.

mod support;

use secrecy::SecretString;
use speech_coach::audio::AudioInfo;
use speech_coach::coach::{
    Coach, CoachConfig, FallbackReason, Feedback, FeedbackSource, GigaChatCoach, build_coach,
    should_upgrade,
};
use speech_coach::domain::labels::PauseClass;
use speech_coach::domain::metrics::{
    Advice, FillerCount, FillerMetrics, Metrics, PaceBand, PauseClasses, PauseEvent, PauseMetrics,
};
use speech_coach::domain::transcript::Segment;
use speech_coach::report::{CacheInfo, Report, TranscriptView};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fake_gigachat::{ChatMode, FakeGigaChat, MODEL_REPORTED, OAuthMode, refused_url};

// ---------------------------------------------------------------------------------------------
// helpers

fn report(language: &str) -> Report {
    Report {
        id: "0123abcd".into(),
        analysis_version: speech_coach::report::ANALYSIS_VERSION,
        language: language.into(),
        audio: AudioInfo {
            container: "wav".into(),
            codec: "pcm_s16le".into(),
            sample_rate: 16_000,
            channels: 1,
            duration_sec: 95.0,
            decoder: "symphonia".into(),
        },
        transcript: TranscriptView {
            language_probability: 1.0,
            text: "Добрый день. Ну, начнём.".into(),
            segments: vec![Segment {
                start_sec: 0.5,
                end_sec: 4.0,
                text: "Добрый день. Ну, начнём.".into(),
                avg_logprob: -0.2,
                no_speech_prob: 0.01,
                words: vec![],
            }],
            words: vec![],
        },
        metrics: Metrics {
            words_total: 230,
            unique_words: 140,
            words_per_minute: 168.0,
            articulation_rate_wpm: 185.0,
            speaking_time_sec: 82.0,
            voiced_time_sec: 70.0,
            speaking_ratio: 0.74,
            pace_band_wpm: PaceBand {
                min_wpm: 110.0,
                max_wpm: 150.0,
            },
            fillers: FillerMetrics {
                total: 14,
                from_transcript: 11,
                acoustic: 3,
                per_100_words: 6.1,
                per_minute: 10.2,
                items: vec![FillerCount {
                    word: "ну".into(),
                    count: 8,
                }],
                ..Default::default()
            },
            pauses: PauseMetrics {
                count: 6,
                avg_sec: 1.1,
                median_sec: 0.8,
                max_sec: 4.1,
                total_sec: 6.6,
                classes: PauseClasses {
                    natural: 4,
                    deliberate: 1,
                    long: 1,
                    awkward: 0,
                },
                events: vec![PauseEvent {
                    start_sec: 51.0,
                    end_sec: 55.1,
                    duration_sec: 4.1,
                    class: PauseClass::Long,
                    word_before: Some("результаты".into()),
                    word_after: Some("итак".into()),
                }],
            },
            ..Default::default()
        },
        advice: vec![Advice {
            category: speech_coach::domain::labels::AdviceCategory::Pace,
            severity: speech_coach::domain::labels::Severity::Warning,
            title: "Слишком быстро".into(),
            observation: "168 слов/мин при норме 110–150".into(),
            recommendation: "Сделайте паузу после каждого тезиса.".into(),
            evidence: vec![],
        }],
        timeline: vec![],
        feedback: Feedback::pending(),
        cache: CacheInfo::default(),
        warnings: vec![],
        timings_ms: Default::default(),
    }
}

fn config(fake: &FakeGigaChat) -> CoachConfig {
    CoachConfig {
        credentials: Some(SecretString::from(FakeGigaChat::CREDENTIALS)),
        auth_url: fake.auth_url(),
        api_url: fake.api_url(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        max_concurrency: 4,
        ..CoachConfig::default()
    }
}

/// `/stats/coach` as served: the JSON of the coach's typed stats.
fn stats_json(coach: &GigaChatCoach) -> serde_json::Value {
    serde_json::to_value(coach.stats()).expect("stats serialise")
}

fn coach(cfg: &CoachConfig) -> Arc<GigaChatCoach> {
    Arc::new(GigaChatCoach::new(cfg).expect("coach builds"))
}

fn assert_rules(f: &Feedback, reason: FallbackReason) {
    assert_eq!(f.source, FeedbackSource::Rules, "{f:?}");
    assert_eq!(f.reason, Some(reason), "{f:?}");
    assert!(f.model.is_none());
    // The fallback is still grounded in the report's numbers.
    assert!(
        f.overall_assessment.contains("168"),
        "{}",
        f.overall_assessment
    );
}

/// Log lines captured from a tracing subscriber installed for the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Captures every event at every level (ours, reqwest's, hyper's) on this thread.
fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

// ---------------------------------------------------------------------------------------------
// OAuth and the happy path

#[tokio::test]
async fn ok_reply_is_gigachat_feedback_with_the_model_name() {
    let fake = FakeGigaChat::start().await;
    let coach = coach(&config(&fake));
    let f = coach.feedback(&report("ru")).await;
    assert_eq!(f.source, FeedbackSource::Gigachat);
    assert_eq!(f.reason, None);
    assert_eq!(f.model.as_deref(), Some(MODEL_REPORTED));
    assert_eq!(f.confidence, 0.82);
    assert_eq!(f.strengths.len(), 2);
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["source"], "gigachat");
    assert!(coach.is_healthy());
    assert!(!should_upgrade(&f, coach.as_ref()));
}

#[tokio::test]
async fn token_request_sends_basic_credentials_scope_and_a_fresh_uuid_v4_rquid() {
    let fake = FakeGigaChat::start().await;
    let coach = coach(&config(&fake));
    coach.feedback(&report("ru")).await;
    fake.expire_tokens();
    coach.feedback(&report("ru")).await;

    let reqs = fake.token_requests();
    assert_eq!(reqs.len(), 2);
    let mut ids = Vec::new();
    for r in &reqs {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Basic {}", FakeGigaChat::CREDENTIALS).as_str())
        );
        assert_eq!(r.body, "scope=GIGACHAT_API_PERS");
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let id = uuid::Uuid::parse_str(r.rq_uid.as_deref().expect("RqUID header"))
            .expect("RqUID is a UUID");
        assert_eq!(id.get_version_num(), 4, "RqUID is a v4 UUID");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "a new RqUID per token request");
}

#[tokio::test]
async fn chat_request_has_model_one_leading_system_message_and_the_facts() {
    let fake = FakeGigaChat::start().await;
    let mut cfg = config(&fake);
    cfg.model = "GigaChat-Pro".into();
    cfg.temperature = 0.2;
    cfg.max_tokens = 800;
    coach(&cfg).feedback(&report("ru")).await;

    let calls = fake.chat_calls();
    assert_eq!(calls.len(), 1);
    let body = &calls[0].body;
    assert_eq!(body["model"], "GigaChat-Pro");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 800);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(
        messages.iter().filter(|m| m["role"] == "system").count(),
        1,
        "exactly one system message, first"
    );
    let facts = messages[1]["content"].as_str().unwrap();
    assert!(
        facts.contains("Факты о выступлении"),
        "in the recording's language: {facts}"
    );
    assert!(facts.contains("168"), "{facts}");
    assert!(facts.contains("«ну» ×8"), "{facts}");
    assert!(
        facts.contains("0:51 4.1 с (long) «результаты … итак»"),
        "{facts}"
    );
    // The bearer is the issued token.
    let token = &fake.issued_tokens()[0];
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
}

// ---------------------------------------------------------------------------------------------
// token cache

#[tokio::test]
async fn token_is_reused_until_the_margin_before_its_ms_expiry() {
    let fake = FakeGigaChat::start().await;
    let mut cfg = config(&fake);
    cfg.token_refresh_margin = Duration::from_secs(1);
    // expires_at = now + 3 s (in ms): usable for 2 s with a 1 s margin. Read as seconds,
    // expires_at would be ~50 000 years away and the token would never be refreshed.
    fake.set_token_lifetime(Duration::from_secs(3));
    let coach = coach(&cfg);
    for _ in 0..3 {
        coach.feedback(&report("ru")).await;
    }
    assert_eq!(fake.token_requests().len(), 1, "reused while fresh");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let f = coach.feedback(&report("ru")).await;
    assert_eq!(f.source, FeedbackSource::Gigachat);
    assert_eq!(
        fake.token_requests().len(),
        2,
        "refreshed inside the margin"
    );
    assert_eq!(stats_json(&coach)["token_requests"], 2);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_on_the_next_call() {
    let fake = FakeGigaChat::start().await;
    // Lives 30 s, inside the default 60 s margin.
    fake.set_token_lifetime(Duration::from_secs(30));
    let coach = coach(&config(&fake));
    for _ in 0..3 {
        let f = coach.feedback(&report("ru")).await;
        assert_eq!(f.source, FeedbackSource::Gigachat);
    }
    assert_eq!(fake.token_requests().len(), 3);
}

#[tokio::test]
async fn concurrent_calls_share_one_token_refresh() {
    let fake = FakeGigaChat::start().await;
    fake.set_token_delay(Duration::from_millis(200));
    let mut cfg = config(&fake);
    cfg.max_concurrency = 12;
    let coach = coach(&cfg);
    let report = Arc::new(report("ru"));
    let barrier = Arc::new(tokio::sync::Barrier::new(12));
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (coach, report, barrier) = (coach.clone(), report.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                coach.feedback(&report).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().source, FeedbackSource::Gigachat);
    }
    assert_eq!(fake.token_requests().len(), 1, "single-flight refresh");
    assert_eq!(fake.chat_calls().len(), 12);
}

#[tokio::test]
async fn expired_token_401_refreshes_once_and_retries_once() {
    let fake = FakeGigaChat::start().await;
    let coach = coach(&config(&fake));
    coach.feedback(&report("ru")).await;
    fake.expire_tokens(); // the server now says 401 "Token has expired" for it
    let f = coach.feedback(&report("ru")).await;
    assert_eq!(f.source, FeedbackSource::Gigachat, "{f:?}");
    assert_eq!(fake.token_requests().len(), 2);
    assert_eq!(fake.chat_calls().len(), 3, "1 ok + 1 refused + 1 retry");
    let tokens = fake.issued_tokens();
    let calls = fake.chat_calls();
    assert_eq!(
        calls[2].authorization.as_deref(),
        Some(format!("Bearer {}", tokens[1]).as_str()),
        "the retry uses the new token"
    );
    assert_eq!(stats_json(&coach)["token_retries_after_401"], 1);
}

#[tokio::test]
async fn a_401_that_persists_is_retried_exactly_once_and_does_not_trip_the_breaker() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::Unauthorized);
    let coach = coach(&config(&fake));
    let f = coach.feedback(&report("ru")).await;
    assert_rules(&f, FallbackReason::UpstreamError);
    assert_eq!(fake.token_requests().len(), 2, "one refresh");
    assert_eq!(fake.chat_calls().len(), 2, "one retry");
    let s = stats_json(&coach);
    assert_eq!(s["failures"], 0, "a 4xx is our problem, not an outage");
    assert_eq!(s["client_errors"], 1);
}

// ---------------------------------------------------------------------------------------------
// failure modes → rules with the right reason

#[tokio::test]
async fn every_failure_mode_falls_back_with_its_reason() {
    let cases = [
        (ChatMode::ServerError, FallbackReason::UpstreamError),
        (ChatMode::RateLimited, FallbackReason::RateLimited),
        (
            ChatMode::Slow(Duration::from_secs(3)),
            FallbackReason::Timeout,
        ),
        (ChatMode::Garbage, FallbackReason::InvalidReply),
        (ChatMode::BadEnvelope, FallbackReason::InvalidReply),
        (
            ChatMode::EchoAuthorization400,
            FallbackReason::UpstreamError,
        ),
    ];
    for (mode, reason) in cases {
        let fake = FakeGigaChat::start().await;
        fake.set_chat_mode(mode.clone());
        let mut cfg = config(&fake);
        // Short enough for the slow case, long enough for a loaded CI machine in the others.
        cfg.timeout = Duration::from_secs(1);
        let coach = coach(&cfg);
        let f = coach.feedback(&report("ru")).await;
        assert_rules(&f, reason);
        let s = stats_json(&coach);
        assert_eq!(s["fallbacks"], 1, "{mode:?}");
        assert_eq!(s["requests"], 1, "{mode:?}");
        assert!(
            should_upgrade(&f, coach.as_ref()),
            "{mode:?}: one failure leaves it healthy"
        );
    }
}

#[tokio::test]
async fn json_in_a_code_fence_is_accepted() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::CodeFence);
    let f = coach(&config(&fake)).feedback(&report("ru")).await;
    assert_eq!(f.source, FeedbackSource::Gigachat);
    assert_eq!(
        f.recommendations,
        vec!["Делайте паузу после каждого тезиса"]
    );
}

#[tokio::test]
async fn connection_refused_is_an_upstream_error() {
    let url = refused_url().await;
    let cfg = CoachConfig {
        credentials: Some(SecretString::from(FakeGigaChat::CREDENTIALS)),
        auth_url: format!("{url}/api/v2/oauth"),
        api_url: format!("{url}/api/v1"),
        ..CoachConfig::default()
    };
    let coach = coach(&cfg);
    let f = coach.feedback(&report("en")).await;
    assert_eq!(f.reason, Some(FallbackReason::UpstreamError));
    assert!(
        f.overall_assessment
            .starts_with("Automatic rule-based summary")
    );
    assert_eq!(
        stats_json(&coach)["failures"],
        1,
        "connection errors trip the breaker"
    );
}

#[tokio::test]
async fn oauth_outage_is_an_upstream_error_and_counts_as_a_failure() {
    let fake = FakeGigaChat::start().await;
    fake.set_oauth_mode(OAuthMode::ServerError);
    let coach = coach(&config(&fake));
    assert_rules(
        &coach.feedback(&report("ru")).await,
        FallbackReason::UpstreamError,
    );
    assert_eq!(fake.chat_calls().len(), 0);
    assert_eq!(stats_json(&coach)["failures"], 1);
}

#[tokio::test]
async fn disabled_coach_makes_no_network_calls() {
    let fake = FakeGigaChat::start().await;
    let mut cfg = config(&fake);
    cfg.enabled = false;
    let coach = build_coach(&cfg).unwrap();
    let f = coach.feedback(&report("ru")).await;
    assert_rules(&f, FallbackReason::Disabled);
    assert!(fake.token_requests().is_empty());
    assert!(fake.chat_calls().is_empty());

    cfg.enabled = true;
    cfg.credentials = None;
    let coach = build_coach(&cfg).unwrap();
    assert_rules(
        &coach.feedback(&report("ru")).await,
        FallbackReason::Disabled,
    );
    assert!(fake.token_requests().is_empty());
}

#[tokio::test]
async fn the_concurrency_cap_holds() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::Slow(Duration::from_millis(100)));
    let mut cfg = config(&fake);
    cfg.max_concurrency = 1;
    let coach = coach(&cfg);
    let report = Arc::new(report("ru"));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (coach, report) = (coach.clone(), report.clone());
            tokio::spawn(async move { coach.feedback(&report).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().source, FeedbackSource::Gigachat);
    }
    assert_eq!(fake.chat_calls().len(), 4);
    assert_eq!(fake.chat_max_in_flight(), 1, "one stream at a time");
}

// ---------------------------------------------------------------------------------------------
// circuit breaker

#[tokio::test]
async fn breaker_opens_after_exactly_five_failures_then_rejects_without_calling() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::ServerError);
    let coach = coach(&config(&fake));
    for i in 1..=5 {
        assert_rules(
            &coach.feedback(&report("ru")).await,
            FallbackReason::UpstreamError,
        );
        assert_eq!(fake.chat_calls().len(), i);
    }
    assert_eq!(stats_json(&coach)["breaker_state"], "open");
    assert!(!coach.is_healthy());
    for _ in 0..20 {
        assert_rules(
            &coach.feedback(&report("ru")).await,
            FallbackReason::BreakerOpen,
        );
    }
    assert_eq!(
        fake.chat_calls().len(),
        5,
        "no call reaches the server while open"
    );
    let s = stats_json(&coach);
    assert_eq!(s["failures"], 5);
    assert_eq!(s["rejections"], 20);
    assert_eq!(s["fallbacks"], 25);
    assert_eq!(s["fallbacks_by_reason"]["breaker_open"], 20);
    assert_eq!(s["breaker"]["transitions"]["opened"], 1);
}

#[tokio::test]
async fn breaker_half_opens_after_the_reset_timeout_with_exactly_one_probe() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::ServerError);
    let cfg = config(&fake); // BREAKER_RESET_TIMEOUT_SEC = 60
    let coach = coach(&cfg);
    for _ in 0..5 {
        coach.feedback(&report("ru")).await;
    }
    assert_eq!(stats_json(&coach)["breaker_state"], "open");

    // Jump a minute ahead on the tokio clock, then run the network on real time again.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_rules(
        &coach.feedback(&report("ru")).await,
        FallbackReason::BreakerOpen,
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    tokio::time::resume();
    assert_eq!(stats_json(&coach)["breaker_state"], "half_open");
    assert!(
        coach.is_healthy(),
        "a probe may go: cached fallbacks may be upgraded"
    );

    // GigaChat is back, but slow enough that the other callers arrive during the probe.
    fake.set_chat_mode(ChatMode::Slow(Duration::from_millis(300)));
    let report = Arc::new(report("ru"));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (coach, report) = (coach.clone(), report.clone());
            tokio::spawn(async move { coach.feedback(&report).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let probes = answers
        .iter()
        .filter(|f| f.source == FeedbackSource::Gigachat)
        .count();
    assert_eq!(probes, 1, "exactly one probe");
    assert_eq!(
        answers
            .iter()
            .filter(|f| f.reason == Some(FallbackReason::BreakerOpen))
            .count(),
        7
    );
    assert_eq!(fake.chat_calls().len(), 6, "5 failures + 1 probe");
    let s = stats_json(&coach);
    assert_eq!(
        s["breaker_state"], "closed",
        "the probe's success closed it"
    );
    assert_eq!(s["breaker"]["transitions"]["half_opened"], 1);
    assert_eq!(s["breaker"]["transitions"]["closed"], 1);

    fake.set_chat_mode(ChatMode::Ok);
    assert_eq!(
        coach.feedback(&report).await.source,
        FeedbackSource::Gigachat
    );
    assert_eq!(fake.chat_calls().len(), 7);
}

#[tokio::test]
async fn a_failed_probe_reopens_the_breaker() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::RateLimited);
    let coach = coach(&config(&fake));
    for _ in 0..5 {
        assert_rules(
            &coach.feedback(&report("ru")).await,
            FallbackReason::RateLimited,
        );
    }
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(60)).await;
    tokio::time::resume();
    assert_rules(
        &coach.feedback(&report("ru")).await,
        FallbackReason::RateLimited,
    );
    assert_eq!(fake.chat_calls().len(), 6);
    assert_eq!(stats_json(&coach)["breaker_state"], "open");
    assert_rules(
        &coach.feedback(&report("ru")).await,
        FallbackReason::BreakerOpen,
    );
    assert_eq!(fake.chat_calls().len(), 6);
}

#[tokio::test]
async fn a_probe_dropped_mid_call_does_not_leave_the_breaker_stuck() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::ServerError);
    let coach = coach(&config(&fake));
    for _ in 0..5 {
        coach.feedback(&report("ru")).await;
    }
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(60)).await;
    tokio::time::resume();

    fake.set_chat_mode(ChatMode::Slow(Duration::from_secs(10)));
    // The caller gives up (client disconnected, request cancelled): the probe future is dropped.
    let r = report("ru");
    let dropped = tokio::time::timeout(Duration::from_secs(1), coach.feedback(&r)).await;
    assert!(dropped.is_err());
    assert_eq!(fake.chat_calls().len(), 6, "the probe reached the server");

    fake.set_chat_mode(ChatMode::Ok);
    let f = coach.feedback(&r).await;
    assert_eq!(
        f.source,
        FeedbackSource::Gigachat,
        "the next call may probe: {f:?}"
    );
    assert_eq!(stats_json(&coach)["breaker_state"], "closed");
    assert_eq!(stats_json(&coach)["breaker"]["abandoned"], 1);
}

#[tokio::test]
async fn timeouts_trip_the_breaker_and_other_4xx_do_not() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::EchoAuthorization400);
    let mut cfg = config(&fake);
    cfg.timeout = Duration::from_millis(500);
    let coach = coach(&cfg);
    for _ in 0..8 {
        assert_rules(
            &coach.feedback(&report("ru")).await,
            FallbackReason::UpstreamError,
        );
    }
    assert_eq!(stats_json(&coach)["breaker_state"], "closed");
    assert_eq!(fake.chat_calls().len(), 8);

    fake.set_chat_mode(ChatMode::Slow(Duration::from_secs(2)));
    for _ in 0..5 {
        assert_rules(
            &coach.feedback(&report("ru")).await,
            FallbackReason::Timeout,
        );
    }
    assert_eq!(stats_json(&coach)["breaker_state"], "open");
}

// ---------------------------------------------------------------------------------------------
// secrets

#[tokio::test]
async fn no_secret_in_any_log_line_error_or_stat() {
    let (logs, _guard) = capture_logs();
    let fake = FakeGigaChat::start().await;
    let coach = coach(&config(&fake));
    let r = report("ru");
    let mut outputs = Vec::new();

    outputs.push(coach.feedback(&r).await); // ok
    fake.expire_tokens(); // 401 → refresh → retry
    outputs.push(coach.feedback(&r).await);
    fake.set_chat_mode(ChatMode::EchoAuthorization400); // the server echoes our bearer token
    outputs.push(coach.feedback(&r).await);
    fake.set_chat_mode(ChatMode::Garbage);
    outputs.push(coach.feedback(&r).await);
    fake.set_chat_mode(ChatMode::Ok);
    fake.expire_tokens();
    fake.set_oauth_mode(OAuthMode::EchoAuthorization401); // echoes our Basic credentials
    outputs.push(coach.feedback(&r).await);
    fake.set_oauth_mode(OAuthMode::Ok);
    fake.set_chat_mode(ChatMode::ServerError);
    for _ in 0..6 {
        outputs.push(coach.feedback(&r).await); // 5 failures, breaker opens, 1 rejection
    }
    let stats = stats_json(&coach).to_string();

    let text = logs.text();
    assert!(
        text.contains("circuit breaker opened"),
        "logs were captured:\n{text}"
    );
    assert!(text.contains("GigaChat rejected our request"), "{text}");
    assert!(
        text.contains("[redacted]"),
        "echoed secrets were scrubbed:\n{text}"
    );
    let tokens = fake.issued_tokens();
    assert!(tokens.len() >= 3, "{tokens:?}");
    let outputs = serde_json::to_string(&outputs).unwrap();
    for secret in tokens
        .iter()
        .map(String::as_str)
        .chain([FakeGigaChat::CREDENTIALS])
    {
        for (name, haystack) in [("logs", &text), ("feedback", &outputs), ("stats", &stats)] {
            assert!(
                !haystack.contains(secret),
                "{name} leak a secret:\n{haystack}"
            );
        }
    }
}

#[tokio::test]
async fn turning_tls_verification_off_is_warned_about_at_startup() {
    let (logs, _guard) = capture_logs();
    let cfg = CoachConfig {
        credentials: Some(SecretString::from(FakeGigaChat::CREDENTIALS)),
        verify_ssl: false,
        ..CoachConfig::default()
    };
    build_coach(&cfg).unwrap();
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("GIGACHAT_VERIFY_SSL=false"),
        "{text}"
    );
    assert!(!text.contains(FakeGigaChat::CREDENTIALS));
}

// ---------------------------------------------------------------------------------------------
// latency (numbers for docs/bench/coach.md; printed, not asserted)

/// `cargo test --no-default-features --test coach_gigachat -- --ignored --nocapture latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn latency_breaker_open_vs_timeout() {
    fn summary(name: &str, mut v: Vec<Duration>) {
        v.sort();
        let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        println!(
            "{name:<34} n={:<5} p50={:>10.3?} p90={:>10.3?} p99={:>10.3?} max={:>10.3?}",
            v.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99),
            v[v.len() - 1]
        );
    }
    let fake = FakeGigaChat::start().await;
    let mut cfg = config(&fake);
    cfg.timeout = Duration::from_secs(2);
    cfg.breaker_fail_max = 5;
    let r = report("ru");

    let ok = coach(&cfg);
    let mut v = Vec::new();
    for _ in 0..200 {
        let t = std::time::Instant::now();
        assert_eq!(ok.feedback(&r).await.source, FeedbackSource::Gigachat);
        v.push(t.elapsed());
    }
    summary("gigachat ok (fake, loopback)", v);

    fake.set_chat_mode(ChatMode::Slow(Duration::from_secs(30)));
    let slow = coach(&cfg);
    let mut v = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        assert_eq!(
            slow.feedback(&r).await.reason,
            Some(FallbackReason::Timeout)
        );
        v.push(t.elapsed());
    }
    summary("timeout path (GIGACHAT_TIMEOUT=2s)", v);

    let mut v = Vec::new();
    for _ in 0..10_000 {
        let t = std::time::Instant::now();
        assert_eq!(
            slow.feedback(&r).await.reason,
            Some(FallbackReason::BreakerOpen)
        );
        v.push(t.elapsed());
    }
    summary("breaker open (rules fallback)", v);

    let disabled = build_coach(&CoachConfig::default()).unwrap();
    let mut v = Vec::new();
    for _ in 0..10_000 {
        let t = std::time::Instant::now();
        disabled.feedback(&r).await;
        v.push(t.elapsed());
    }
    summary("disabled (rules only)", v);
}
