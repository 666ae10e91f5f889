//! GigaChat coaching end to end over HTTP: a real server (in-process with the fake transcriber,
//! or the real binary) whose coach talks to the fake GigaChat on an ephemeral port. Every failure
//! mode answers `/analyze` with 200 and honest rule-based feedback; the breaker shows in
//! `/stats/coach`, `/health` and `/metrics`; cached fallback reports are upgraded without
//! re-running ASR; no secret reaches the log files.

use crate::support::app::spawn_binary;
use crate::support::fake_gigachat::{
    ChatMode, FakeGigaChat, MODEL_REPORTED, OAuthMode, feedback_json, refused_url,
};
use crate::support::logs::read_json_logs;
use crate::support::{FakeTranscriber, TestApp, corpus, spawn_app_with, wait};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIP: &str = "clips/en_talk_2.wav";
/// How long a background upgrade or breaker transition may take before a test fails.
const WAIT: Duration = Duration::from_secs(30);

/// `en_talk_2.wav` made unique: its last sample (in the trailing 0.5 s of silence) set to `n`.
/// Same duration and speech, so the fake transcriber hears the same talk; different content
/// hash, so a different cache entry.
fn upload(n: u16) -> Vec<u8> {
    let mut bytes = corpus::read(CLIP);
    let len = bytes.len();
    bytes[len - 2..].copy_from_slice(&n.to_le_bytes());
    bytes
}

/// A 16 kHz mono 16-bit WAV of `samples` zeros: no speech, so the pipeline never calls the
/// transcriber (the binary's remote ASR is never reached) but still asks the coach.
fn silence_wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&16_000u32.to_le_bytes());
    w.extend_from_slice(&32_000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.resize(44 + data_len as usize, 0);
    w
}

/// Env pointing the coach at `fake`, plus `extra` (later pairs win).
fn coach_env(fake: &FakeGigaChat, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("GIGACHAT_ENABLED".into(), "true".into()),
        (
            "GIGACHAT_CREDENTIALS".into(),
            FakeGigaChat::CREDENTIALS.into(),
        ),
        ("GIGACHAT_AUTH_URL".into(), fake.auth_url()),
        ("GIGACHAT_API_URL".into(), fake.api_url()),
        ("GIGACHAT_TIMEOUT_SEC".into(), "2".into()),
        ("GIGACHAT_CONNECT_TIMEOUT_SEC".into(), "2".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

async fn spawn_coached(
    fake: &FakeGigaChat,
    extra: &[(&str, &str)],
    transcriber: Arc<FakeTranscriber>,
) -> TestApp {
    let env = coach_env(fake, extra);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with(&pairs, transcriber).await
}

/// `POST /analyze` of `bytes`; asserts 200 and returns the report.
async fn analyze(app: &TestApp, bytes: Vec<u8>) -> Value {
    let r = app.analyze_multipart(bytes, CLIP, "").await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of an unlabelled Prometheus sample.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

/// Requests `bytes` (a cached upload) until its report carries GigaChat feedback (for at most
/// 30 s); every answer must be a cache hit.
async fn hit_until_gigachat(app: &TestApp, bytes: Vec<u8>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let report = analyze(app, bytes.clone()).await;
        assert_eq!(report["cache"]["hit"], true, "served from the cache");
        if report["feedback"]["source"] == "gigachat" {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cached report was never upgraded");
}

/// Rule-based feedback with `reason`: the full schema, filled from the report.
fn assert_rules(report: &Value, reason: &str, case: &str) {
    let f = &report["feedback"];
    assert_eq!(f["source"], "rules", "{case}: {f}");
    assert_eq!(f["reason"], reason, "{case}: {f}");
    assert!(f.get("model").is_none(), "{case}: rules name no model: {f}");
    assert!(
        !f["overall_assessment"].as_str().unwrap().is_empty(),
        "{case}: {f}"
    );
    for list in ["strengths", "areas_for_improvement", "recommendations"] {
        assert!(f[list].is_array(), "{case}: {list} in {f}");
    }
}

/// GigaChat's feedback: the fake's reply, with the model name it reported.
fn assert_gigachat(report: &Value, case: &str) {
    let f = &report["feedback"];
    assert_eq!(f["source"], "gigachat", "{case}: {f}");
    assert!(f.get("reason").is_none(), "{case}: {f}");
    assert_eq!(f["model"], MODEL_REPORTED, "{case}: {f}");
    let want = feedback_json();
    for field in [
        "overall_assessment",
        "strengths",
        "areas_for_improvement",
        "recommendations",
        "key_insights",
        "confidence",
    ] {
        assert_eq!(f[field], want[field], "{case}: {field}");
    }
}

/// How one failure is provoked and what it must look like afterwards.
struct FailureCase {
    name: &'static str,
    chat: Option<ChatMode>,
    oauth: Option<OAuthMode>,
    /// Point the chat URL (or both URLs) at a port where nothing listens.
    refuse_chat: bool,
    refuse_auth: bool,
    reason: &'static str,
    /// Whether it counts as a breaker failure (service down) or not (service up, our bug).
    trips: bool,
    token_requests: usize,
    chat_calls: usize,
}

#[tokio::test]
async fn every_failure_mode_answers_200_with_rule_based_feedback_and_its_reason() {
    let case = |name, chat, reason, trips, token_requests, chat_calls| FailureCase {
        name,
        chat: Some(chat),
        oauth: None,
        refuse_chat: false,
        refuse_auth: false,
        reason,
        trips,
        token_requests,
        chat_calls,
    };
    let cases = [
        case("500", ChatMode::ServerError, "upstream_error", true, 1, 1),
        // Beyond the 0.5 s timeout set below.
        case(
            "slow",
            ChatMode::Slow(Duration::from_secs(30)),
            "timeout",
            true,
            1,
            1,
        ),
        case("429", ChatMode::RateLimited, "rate_limited", true, 1, 1),
        case("garbage", ChatMode::Garbage, "invalid_reply", false, 1, 1),
        case(
            "bad envelope",
            ChatMode::BadEnvelope,
            "invalid_reply",
            false,
            1,
            1,
        ),
        // 401 → one refresh + one retry → 401 again: a credentials problem, not an outage.
        case(
            "401 twice",
            ChatMode::Unauthorized,
            "upstream_error",
            false,
            2,
            2,
        ),
        FailureCase {
            name: "oauth 503",
            chat: None,
            oauth: Some(OAuthMode::ServerError),
            reason: "upstream_error",
            trips: true,
            token_requests: 1,
            chat_calls: 0,
            ..case("", ChatMode::Ok, "", false, 0, 0)
        },
        FailureCase {
            name: "chat connection refused",
            chat: None,
            refuse_chat: true,
            reason: "upstream_error",
            trips: true,
            token_requests: 1,
            chat_calls: 0,
            ..case("", ChatMode::Ok, "", false, 0, 0)
        },
        FailureCase {
            name: "oauth connection refused",
            chat: None,
            refuse_auth: true,
            reason: "upstream_error",
            trips: true,
            token_requests: 0,
            chat_calls: 0,
            ..case("", ChatMode::Ok, "", false, 0, 0)
        },
    ];
    for c in cases {
        let fake = FakeGigaChat::start().await;
        if let Some(mode) = c.chat.clone() {
            fake.set_chat_mode(mode);
        }
        if let Some(mode) = c.oauth.clone() {
            fake.set_oauth_mode(mode);
        }
        let refused = refused_url().await;
        let auth = format!("{refused}/api/v2/oauth");
        let api = format!("{refused}/api/v1");
        let mut extra = vec![("GIGACHAT_TIMEOUT_SEC", "0.5")];
        if c.refuse_auth {
            extra.push(("GIGACHAT_AUTH_URL", &auth));
        }
        if c.refuse_chat {
            extra.push(("GIGACHAT_API_URL", &api));
        }
        let transcriber = Arc::new(FakeTranscriber::new());
        let app = spawn_coached(&fake, &extra, transcriber.clone()).await;

        let report = analyze(&app, upload(1)).await;
        assert_rules(&report, c.reason, c.name);
        // The rest of the report is intact: the failure touched only the feedback.
        assert_eq!(report["metrics"]["words_total"], 31, "{}", c.name);
        assert!(report["timings_ms"]["feedback"].is_u64(), "{}", c.name);
        assert_eq!(transcriber.calls(), 1);

        assert_eq!(fake.token_requests().len(), c.token_requests, "{}", c.name);
        assert_eq!(fake.chat_calls().len(), c.chat_calls, "{}", c.name);

        let s = app.stats_coach().await;
        assert_eq!(s["enabled"], true, "{}: {s}", c.name);
        assert_eq!(s["requests"], 1, "{}: {s}", c.name);
        assert_eq!(s["gigachat_answers"], 0, "{}: {s}", c.name);
        assert_eq!(s["fallbacks"], 1, "{}: {s}", c.name);
        assert_eq!(s["fallbacks_by_reason"][c.reason], 1, "{}: {s}", c.name);
        assert_eq!(s["failures"], u64::from(c.trips), "{}: {s}", c.name);
        assert_eq!(s["breaker_state"], "closed", "{}: one failure of 5", c.name);
        if c.name == "401 twice" {
            assert_eq!(s["token_retries_after_401"], 1, "{s}");
            assert_eq!(s["client_errors"], 1, "{s}");
        }
    }
}

#[tokio::test]
async fn gigachat_feedback_reaches_the_report_with_its_model_name_also_from_a_code_fence() {
    for mode in [ChatMode::Ok, ChatMode::CodeFence] {
        let fake = FakeGigaChat::start().await;
        fake.set_chat_mode(mode.clone());
        let app = spawn_coached(
            &fake,
            &[("GIGACHAT_MODEL", "GigaChat-Pro")],
            Arc::new(FakeTranscriber::new()),
        )
        .await;
        let case = format!("{mode:?}");
        let report = analyze(&app, upload(1)).await;
        assert_gigachat(&report, &case);

        // The OAuth request: Basic key, scope, a UUIDv4 RqUID.
        let tokens = fake.token_requests();
        assert_eq!(tokens.len(), 1, "{case}");
        assert_eq!(
            tokens[0].authorization.as_deref(),
            Some(format!("Basic {}", FakeGigaChat::CREDENTIALS).as_str())
        );
        assert_eq!(tokens[0].body, format!("scope={}", FakeGigaChat::SCOPE));
        let rq_uid = uuid::Uuid::parse_str(tokens[0].rq_uid.as_deref().unwrap()).unwrap();
        assert_eq!(rq_uid.get_version_num(), 4);

        // The chat request: the configured model, one leading system message, the report's
        // measured facts in the recording's language.
        let calls = fake.chat_calls();
        assert_eq!(calls.len(), 1, "{case}");
        let body = &calls[0].body;
        assert_eq!(body["model"], "GigaChat-Pro");
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(
            messages.iter().filter(|m| m["role"] == "system").count(),
            1,
            "{body}"
        );
        let user = messages.last().unwrap()["content"].as_str().unwrap();
        assert!(user.contains("(lang: en)"), "{user}");
        assert!(
            user.contains(&format!("{} /", report["metrics"]["words_total"])),
            "the word count reaches the prompt: {user}"
        );
        assert_eq!(
            calls[0].authorization.as_deref().unwrap().split(' ').next(),
            Some("Bearer")
        );

        // A second analysis reuses the cached token.
        let report = analyze(&app, upload(2)).await;
        assert_gigachat(&report, &case);
        assert_eq!(fake.token_requests().len(), 1, "{case}: token reused");
        assert_eq!(fake.chat_calls().len(), 2);

        let s = app.stats_coach().await;
        assert_eq!(s["gigachat_answers"], 2, "{s}");
        assert_eq!(s["fallbacks"], 0, "{s}");
        assert_eq!(s["model"], "GigaChat-Pro", "{s}");
    }
}

#[tokio::test]
async fn five_failing_analyses_open_the_breaker_and_the_next_one_never_reaches_gigachat() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::ServerError);
    let app = spawn_coached(
        &fake,
        &[("BREAKER_RESET_TIMEOUT_SEC", "3600")],
        Arc::new(FakeTranscriber::new()),
    )
    .await;

    let m = app.metrics_text().await;
    assert_eq!(
        metric(&m, "speech_coach_coach_breaker_state"),
        Some(0.0),
        "{m}"
    );
    for i in 1..=5u16 {
        let report = analyze(&app, upload(i)).await;
        assert_rules(&report, "upstream_error", &format!("failure {i}"));
        let s = app.stats_coach().await;
        let want = if i < 5 { "closed" } else { "open" };
        assert_eq!(s["breaker_state"], want, "after {i} failures: {s}");
    }
    assert_eq!(fake.chat_calls().len(), 5);

    let s = app.stats_coach().await;
    assert_eq!(s["failures"], 5, "{s}");
    assert_eq!(s["breaker"]["transitions"]["opened"], 1, "{s}");
    let h = app.health().await;
    assert_eq!(h["components"]["coach"]["breaker_state"], "open", "{h}");
    assert_eq!(h["components"]["coach"]["status"], "degraded", "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    let m = app.metrics_text().await;
    assert_eq!(
        metric(&m, "speech_coach_coach_breaker_state"),
        Some(2.0),
        "{m}"
    );

    // Open: answered with rules at once, the fake not called at all (neither endpoint).
    let (chats, tokens) = (fake.chat_calls().len(), fake.token_requests().len());
    let report = analyze(&app, upload(6)).await;
    assert_rules(&report, "breaker_open", "open breaker");
    assert_eq!(fake.chat_calls().len(), chats, "no chat call while open");
    assert_eq!(
        fake.token_requests().len(),
        tokens,
        "no token call while open"
    );
    let s = app.stats_coach().await;
    assert_eq!(s["rejections"], 1, "{s}");
    assert_eq!(s["fallbacks_by_reason"]["breaker_open"], 1, "{s}");
    assert_eq!(s["fallbacks_by_reason"]["upstream_error"], 5, "{s}");
    assert_eq!(s["upstream_calls"], 5, "{s}");
    let m = app.metrics_text().await;
    assert_eq!(
        metric(&m, "speech_coach_coach_rejections_total"),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test]
async fn a_cached_fallback_report_is_upgraded_once_gigachat_answers_without_rerunning_asr() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::ServerError);
    let transcriber = Arc::new(FakeTranscriber::new());
    let app = spawn_coached(&fake, &[], transcriber.clone()).await;

    let first = analyze(&app, upload(7)).await;
    assert_rules(&first, "upstream_error", "first analysis");
    assert_eq!(first["cache"]["hit"], false);
    assert_eq!(transcriber.calls(), 1);

    // Still failing, breaker closed (1 failure of 5): the hit re-asks, gets a fallback again,
    // and serves the cached report unchanged.
    let again = analyze(&app, upload(7)).await;
    assert_eq!(again["cache"]["hit"], true);
    assert_rules(&again, "upstream_error", "hit while failing");
    wait::until_within(WAIT, "the hit asked GigaChat again", || {
        fake.chat_calls().len() == 2
    })
    .await;
    assert_eq!(again["metrics"], first["metrics"]);

    // GigaChat recovers: the next hit carries its feedback (on a machine so loaded that the
    // loopback answer misses the service's 1 s inline wait, the one after); ASR did not run
    // again, and the upgrade took exactly one GigaChat call.
    fake.set_chat_mode(ChatMode::Ok);
    let upgraded = hit_until_gigachat(&app, upload(7)).await;
    assert_gigachat(&upgraded, "upgraded hit");
    assert_eq!(upgraded["metrics"], first["metrics"]);
    assert_eq!(upgraded["transcript"], first["transcript"]);
    assert_eq!(transcriber.calls(), 1, "no ASR re-run");
    assert_eq!(fake.chat_calls().len(), 3, "one call for the upgrade");

    // The upgraded report replaced the cached one: no further GigaChat call for it.
    let later = analyze(&app, upload(7)).await;
    assert_eq!(later["cache"]["hit"], true);
    assert_gigachat(&later, "hit after upgrade");
    assert_eq!(fake.chat_calls().len(), 3, "the upgrade was stored");
    assert_eq!(transcriber.calls(), 1);
}

#[tokio::test]
async fn a_cache_hit_does_not_wait_for_a_slow_gigachat_and_the_upgrade_lands_for_a_later_hit() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::ServerError);
    let transcriber = Arc::new(FakeTranscriber::new());
    // A generous coach timeout: the slow answer below is a success, only late.
    let app = spawn_coached(
        &fake,
        &[("GIGACHAT_TIMEOUT_SEC", "60")],
        transcriber.clone(),
    )
    .await;
    let first = analyze(&app, upload(10)).await;
    assert_rules(&first, "upstream_error", "first analysis");

    // GigaChat is back but slow (breaker closed: 1 failure of 5).
    fake.set_chat_mode(ChatMode::Slow(Duration::from_secs(8)));
    let hit = analyze(&app, upload(10)).await;
    assert_eq!(hit["cache"]["hit"], true);
    // Served while GigaChat is still composing its answer: the hit did not wait for it.
    let s = app.stats_coach().await;
    assert_eq!(
        s["slots_available"], 0,
        "the upgrade call is still in flight: {s}"
    );
    assert_eq!(s["gigachat_answers"], 0, "{s}");
    assert_rules(&hit, "upstream_error", "hit while the upgrade runs");
    // Another hit meanwhile does not start a second upgrade.
    let hit = analyze(&app, upload(10)).await;
    assert_rules(&hit, "upstream_error", "second hit while the upgrade runs");
    assert_eq!(fake.chat_calls().len(), 2, "one upgrade call per key");

    // The upgrade lands in the cache when GigaChat answers; a later hit serves it.
    let upgraded = hit_until_gigachat(&app, upload(10)).await;
    assert_gigachat(&upgraded, "landed upgrade");
    assert_eq!(fake.chat_calls().len(), 2, "no further call");
    assert_eq!(transcriber.calls(), 1, "no ASR re-run");
}

#[tokio::test]
async fn with_the_breaker_open_a_cached_fallback_waits_and_its_upgrade_is_the_half_open_probe() {
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::ServerError);
    let transcriber = Arc::new(FakeTranscriber::new());
    let app = spawn_coached(
        &fake,
        &[
            ("BREAKER_FAIL_MAX", "1"),
            ("BREAKER_RESET_TIMEOUT_SEC", "2"),
        ],
        transcriber.clone(),
    )
    .await;

    let first = analyze(&app, upload(8)).await;
    assert_rules(&first, "upstream_error", "first analysis");
    let s = app.stats_coach().await;
    assert_eq!(s["breaker_state"], "open", "{s}");

    // While open, the hit is not upgraded (the coach is not healthy) and GigaChat is not asked.
    // (Guarded by the transition count: on a machine so slow that the 2 s passed already, the
    // hit would legitimately be the probe.)
    let hit = analyze(&app, upload(8)).await;
    assert_eq!(hit["cache"]["hit"], true);
    assert_rules(&hit, "upstream_error", "hit while open");
    let s = app.stats_coach().await;
    if s["breaker"]["transitions"]["half_opened"] == 0 {
        assert_eq!(fake.chat_calls().len(), 1, "not asked while open: {s}");
    }

    // GigaChat recovers; wait (bounded) for the reset timeout to pass.
    fake.set_chat_mode(ChatMode::Ok);
    wait::value(
        WAIT,
        "the breaker to half-open",
        || app.stats_coach(),
        |s| s["breaker_state"] == "half_open",
    )
    .await;
    let chats = fake.chat_calls().len();
    let upgraded = hit_until_gigachat(&app, upload(8)).await;
    assert_gigachat(&upgraded, "upgrade as the probe");
    assert_eq!(fake.chat_calls().len(), chats + 1, "exactly one probe call");
    assert_eq!(transcriber.calls(), 1, "no ASR re-run");
    let s = app.stats_coach().await;
    assert_eq!(s["breaker_state"], "closed", "the probe closed it: {s}");
    assert_eq!(s["breaker"]["transitions"]["closed"], 1, "{s}");
    let h = app.health().await;
    assert_eq!(h["components"]["coach"]["status"], "ok", "{h}");
}

#[tokio::test]
async fn a_report_cached_while_the_coach_was_disabled_is_upgraded_after_a_restart_with_gigachat() {
    let fake = FakeGigaChat::start().await;
    let cache_dir = tempfile::tempdir().unwrap();
    let cache_path = cache_dir.path().display().to_string();
    let transcriber = Arc::new(FakeTranscriber::new());

    // First run: coach disabled; the report lands in the disk tier with reason `disabled`.
    {
        let app = spawn_app_with(&[("CACHE_DIR", &cache_path)], transcriber.clone()).await;
        let report = analyze(&app, upload(9)).await;
        assert_rules(&report, "disabled", "coach disabled");
        // A disabled coach is never healthy: a hit stays rules and nothing is asked.
        let hit = analyze(&app, upload(9)).await;
        assert_rules(&hit, "disabled", "hit while disabled");
        app.wait_for_json("/stats/cache", WAIT, "the disk write", |c| {
            c["pending_writes"] == 0
        })
        .await;
    }
    assert!(fake.chat_calls().is_empty() && fake.token_requests().is_empty());

    // Second run, same cache directory, GigaChat enabled and healthy.
    let app = spawn_coached(&fake, &[("CACHE_DIR", &cache_path)], transcriber.clone()).await;
    let r = app.analyze_multipart(upload(9), CLIP, "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "hit-disk");
    let report: Value = r.json().await.unwrap();
    assert_gigachat(&report, "upgraded after restart");
    assert_eq!(transcriber.calls(), 1, "no ASR re-run");
    assert_eq!(fake.chat_calls().len(), 1);
}

/// Switches the fake's behaviour before one step.
type Setup = Box<dyn Fn(&FakeGigaChat)>;

#[tokio::test]
async fn no_credential_or_token_reaches_the_log_files_of_the_binary() {
    let fake = FakeGigaChat::start().await;
    let env = coach_env(
        &fake,
        &[
            ("LOG_FILE", "logs/app.log"),
            // Everything, the HTTP client stack included (it is quieted by default), down to trace.
            (
                "LOG_LEVEL",
                "trace,reqwest=trace,hyper=trace,hyper_util=trace,h2=trace,tower_http=trace",
            ),
            ("GIGACHAT_TIMEOUT_SEC", "1"),
            ("BREAKER_FAIL_MAX", "100"),
        ],
    );
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut app = spawn_binary(&pairs).await;
    let client = reqwest::Client::new();

    let url = app.url("/analyze");
    let steps: Vec<(Setup, &str, Option<&str>)> = vec![
        (Box::new(|_| {}), "gigachat", None),
        // The token is refused: one refresh, one retry.
        (Box::new(|f| f.expire_tokens()), "gigachat", None),
        // A 401 on every chat call (refresh + retry, then give up).
        (
            Box::new(|f| f.set_chat_mode(ChatMode::Unauthorized)),
            "rules",
            Some("upstream_error"),
        ),
        // A hostile API echoing our bearer token in its 400 body.
        (
            Box::new(|f| f.set_chat_mode(ChatMode::EchoAuthorization400)),
            "rules",
            Some("upstream_error"),
        ),
        // A hostile OAuth endpoint echoing our Basic key in its 401 body.
        (
            Box::new(|f| {
                f.set_chat_mode(ChatMode::Ok);
                f.expire_tokens();
                f.set_oauth_mode(OAuthMode::EchoAuthorization401);
            }),
            "rules",
            Some("upstream_error"),
        ),
        (
            Box::new(|f| {
                f.set_oauth_mode(OAuthMode::Ok);
                f.set_chat_mode(ChatMode::ServerError);
            }),
            "rules",
            Some("upstream_error"),
        ),
        (
            Box::new(|f| f.set_chat_mode(ChatMode::Slow(Duration::from_secs(30)))),
            "rules",
            Some("timeout"),
        ),
        (
            Box::new(|f| f.set_chat_mode(ChatMode::Garbage)),
            "rules",
            Some("invalid_reply"),
        ),
    ];
    for (i, (setup, source, reason)) in steps.into_iter().enumerate() {
        setup(&fake);
        // A distinct silent clip per step (no cache hits).
        let part = reqwest::multipart::Part::bytes(silence_wav(16_000 + i as u32 * 160))
            .file_name("quiet.wav");
        let r = client
            .post(&url)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "step {i}");
        let report: Value = r.json().await.unwrap();
        assert_eq!(report["feedback"]["source"], source, "step {i}: {report}");
        if let Some(reason) = reason {
            assert_eq!(report["feedback"]["reason"], reason, "step {i}: {report}");
        }
    }

    assert!(app.terminate().success());
    let files = read_json_logs(&app.dir.path().join("logs"), "app.log");
    let lines: Vec<String> = files
        .iter()
        .flat_map(|(_, l)| l.iter().map(|v| v.to_string()))
        .collect();
    let all = lines.join("\n");
    // The logs cover the paths under test (so the check below is not vacuous).
    for expected in [
        "coach: GigaChat enabled",
        "GigaChat feedback received",
        "GigaChat rejected our request",
        "GigaChat call failed",
        "GigaChat timed out",
        "GigaChat reply unusable",
    ] {
        assert!(all.contains(expected), "no {expected:?} line in the logs");
    }
    // The hostile echoes were logged, scrubbed.
    assert!(
        all.contains("Bearer [redacted]"),
        "the 400 echo is logged scrubbed"
    );
    assert!(
        all.contains("Basic [redacted]"),
        "the OAuth 401 echo is logged scrubbed"
    );
    // The HTTP client's own trace lines were captured too.
    assert!(
        all.contains("\"target\":\"hyper_util::client"),
        "no client trace lines"
    );
    let issued = fake.issued_tokens();
    assert!(issued.len() >= 3, "{issued:?}");
    let decoded = "fake-secret-do-not-leak";
    let mut secrets: Vec<&str> = vec![FakeGigaChat::CREDENTIALS, decoded];
    secrets.extend(issued.iter().map(String::as_str));
    for line in &lines {
        for secret in &secrets {
            assert!(!line.contains(secret), "secret in a log line: {line}");
        }
        assert!(!line.contains("Bearer tok-"), "{line}");
    }
}

/// p50 / p90 / max of `xs` (ms), as a table cell row.
fn summary(xs: &mut [f64]) -> String {
    xs.sort_by(f64::total_cmp);
    let q = |p: f64| xs[((xs.len() - 1) as f64 * p).round() as usize];
    format!(
        "{} | {:.1} | {:.1} | {:.1}",
        xs.len(),
        q(0.5),
        q(0.9),
        q(1.0)
    )
}

/// Times `n` analyses of distinct uploads (`first..first+n`): the wall-clock `/analyze` time the
/// client sees, and the report's own feedback-stage time.
async fn time_analyses(app: &TestApp, first: u16, n: u16, expect_hit: bool) -> (String, String) {
    let (mut wall, mut feedback) = (Vec::new(), Vec::new());
    for i in first..first + n {
        let started = Instant::now();
        let report = analyze(app, upload(i)).await;
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(report["cache"]["hit"], expect_hit);
        feedback.push(report["timings_ms"]["feedback"].as_f64().unwrap());
    }
    (summary(&mut wall), summary(&mut feedback))
}

/// What a user waits for on `/analyze` while GigaChat is down: the breaker open vs GigaChat
/// hanging until the timeout. Results in docs/bench/coach_http.md. Run with
/// `cargo test --no-default-features --test api -- --ignored --nocapture coach_http::latency`.
#[tokio::test]
#[ignore = "benchmark: prints a table, asserts nothing about durations"]
async fn latency_of_analyze_with_the_breaker_open_vs_gigachat_timing_out() {
    const N: u16 = 30;
    const N_SLOW: u16 = 5;
    let mut rows = Vec::new();

    // GigaChat hangs; the breaker is kept closed so every request pays the timeout.
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::Slow(Duration::from_secs(600)));
    let app = spawn_coached(
        &fake,
        &[("GIGACHAT_TIMEOUT_SEC", "2"), ("BREAKER_FAIL_MAX", "1000")],
        Arc::new(FakeTranscriber::new()),
    )
    .await;
    let (w, f) = time_analyses(&app, 100, N_SLOW, false).await;
    rows.push(("GigaChat hangs → 2 s timeout → rules (miss)", w, f));
    // The same reports again: cached with fallback feedback, so each hit re-asks (breaker closed).
    let (w, f) = time_analyses(&app, 100, N_SLOW, true).await;
    rows.push((
        "… cache hit of those reports: upgrade re-ask times out",
        w,
        f,
    ));
    drop(app);

    // Breaker open (one failure opens it here; the default takes 5).
    let fake = FakeGigaChat::start().await;
    fake.set_chat_mode(ChatMode::Slow(Duration::from_secs(600)));
    let app = spawn_coached(
        &fake,
        &[
            ("GIGACHAT_TIMEOUT_SEC", "2"),
            ("BREAKER_FAIL_MAX", "1"),
            ("BREAKER_RESET_TIMEOUT_SEC", "3600"),
        ],
        Arc::new(FakeTranscriber::new()),
    )
    .await;
    analyze(&app, upload(199)).await;
    assert_eq!(app.stats_coach().await["breaker_state"], "open");
    let (w, f) = time_analyses(&app, 200, N, false).await;
    rows.push(("**breaker open → rules (miss)**", w, f));
    let (w, f) = time_analyses(&app, 200, N, true).await;
    rows.push(("… cache hit of those reports (no re-ask while open)", w, f));
    drop(app);

    // References: GigaChat (fake, loopback) answering, and the coach switched off.
    let fake = FakeGigaChat::start().await;
    let app = spawn_coached(&fake, &[], Arc::new(FakeTranscriber::new())).await;
    let (w, f) = time_analyses(&app, 300, N, false).await;
    rows.push(("GigaChat answers (fake on loopback) (miss)", w, f));
    drop(app);
    let app = spawn_app_with(&[], Arc::new(FakeTranscriber::new())).await;
    let (w, f) = time_analyses(&app, 400, N, false).await;
    rows.push(("coach disabled → rules (miss)", w, f));

    println!("| path | n | wall p50 ms | p90 | max | n | feedback stage p50 ms | p90 | max |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, w, f) in rows {
        println!("| {name} | {w} | {f} |");
    }
}
