//! The GigaChat coach: OAuth token cache, chat completion, breaker, concurrency cap, fallback.
//!
//! One call = (token, from cache or OAuth) + `POST /chat/completions`, all inside one timeout,
//! all inside the breaker. A 401 from the API refreshes the token once and retries once.
//! Credentials and tokens travel only in headers marked sensitive; no error or log line carries
//! them (error bodies are cut short and scrubbed of the credentials).

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::breaker::Breaker;
use super::prompt::{self, ChatRequest};
use super::token::{CachedToken, TokenCache, TokenResponse};
use super::{
    Coach, CoachBuildError, CoachConfig, CoachCounters, CoachStats, FallbackReason, Feedback,
    GigaChatStats, Report, reply, rule_based_feedback,
};

/// Longest piece of an error body kept for the log, characters.
const MAX_ERROR_BODY_CHARS: usize = 300;

/// Which request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    OAuth,
    Chat,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::OAuth => "oauth",
            Stage::Chat => "chat",
        })
    }
}

/// Why a GigaChat call failed. Carries no secrets.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// Connection refused, reset, TLS failure, DNS…
    #[error("{stage}: transport error: {message}")]
    Transport { stage: Stage, message: String },
    /// HTTP 429.
    #[error("{stage}: rate limited (429)")]
    RateLimited { stage: Stage },
    /// HTTP 5xx.
    #[error("{stage}: server error {status}: {body}")]
    Server {
        stage: Stage,
        status: StatusCode,
        body: String,
    },
    /// 401 from the chat API: the token was refused (handled by one refresh + retry).
    #[error("{stage}: unauthorized (401): {body}")]
    Unauthorized { stage: Stage, body: String },
    /// Any other 4xx: our request or our credentials are wrong.
    #[error("{stage}: request rejected {status}: {body}")]
    Client {
        stage: Stage,
        status: StatusCode,
        body: String,
    },
    /// A 2xx whose body is not the expected JSON envelope.
    #[error("{stage}: unexpected response: {message}")]
    Envelope { stage: Stage, message: String },
}

impl CallError {
    /// Whether this counts as a breaker failure: the service is down or overloaded. Other 4xx
    /// and malformed answers mean it is up (and that we have a bug).
    pub(crate) fn trips_breaker(&self) -> bool {
        matches!(
            self,
            CallError::Transport { .. } | CallError::RateLimited { .. } | CallError::Server { .. }
        )
    }

    pub(crate) fn reason(&self) -> FallbackReason {
        match self {
            CallError::RateLimited { .. } => FallbackReason::RateLimited,
            CallError::Envelope { .. } => FallbackReason::InvalidReply,
            CallError::Transport { .. }
            | CallError::Server { .. }
            | CallError::Unauthorized { .. }
            | CallError::Client { .. } => FallbackReason::UpstreamError,
        }
    }
}

/// What the chat API answered.
#[derive(Debug)]
pub(crate) struct ChatAnswer {
    pub content: String,
    /// Model name reported by the API (may carry a version, e.g. `GigaChat:1.0.26.20`).
    pub model: Option<String>,
}

#[derive(Deserialize)]
struct ChatEnvelope {
    choices: Vec<Choice>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

/// HTTP client for GigaChat's OAuth and chat endpoints.
pub(crate) struct GigaChatClient {
    http: reqwest::Client,
    auth_url: Url,
    chat_url: Url,
    /// The authorization key without any `Basic ` prefix.
    credentials: SecretString,
    scope: String,
    tokens: TokenCache,
    retries_after_401: AtomicU64,
}

impl GigaChatClient {
    pub(crate) fn new(cfg: &CoachConfig) -> Result<Self, CoachBuildError> {
        let credentials = cfg
            .credentials
            .as_ref()
            .map(|c| {
                let c = c.expose_secret().trim();
                SecretString::from(c.strip_prefix("Basic ").unwrap_or(c).trim().to_owned())
            })
            .ok_or_else(|| CoachBuildError::Invalid("GIGACHAT_CREDENTIALS is not set".into()))?;
        let auth_url = Url::parse(&cfg.auth_url)
            .map_err(|e| CoachBuildError::Invalid(format!("GIGACHAT_AUTH_URL: {e}")))?;
        let chat_url = Url::parse(&format!(
            "{}/chat/completions",
            cfg.api_url.trim_end_matches('/')
        ))
        .map_err(|e| CoachBuildError::Invalid(format!("GIGACHAT_API_URL: {e}")))?;

        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("speech-coach/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &cfg.ca_bundle {
            let pem = std::fs::read(path).map_err(|source| CoachBuildError::CaBundle {
                path: path.clone(),
                message: source.to_string(),
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CoachBuildError::CaBundle {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(CoachBuildError::CaBundle {
                    path: path.clone(),
                    message: "no PEM certificate found".into(),
                });
            }
            tracing::info!(
                path = %path.display(),
                certificates = certs.len(),
                "GigaChat: trusting extra CA certificates"
            );
            builder = builder.tls_certs_merge(certs);
        }
        if !cfg.verify_ssl {
            tracing::warn!(
                "GIGACHAT_VERIFY_SSL=false: TLS certificates of GigaChat are NOT verified; \
                 anyone on the path can read the credentials. Set GIGACHAT_CA_BUNDLE instead."
            );
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| CoachBuildError::Http(e.to_string()))?;
        Ok(Self {
            http,
            auth_url,
            chat_url,
            credentials,
            scope: cfg.scope.clone(),
            tokens: TokenCache::new(cfg.token_refresh_margin),
            retries_after_401: AtomicU64::new(0),
        })
    }

    /// A header value that hyper and h2 treat as sensitive (never indexed, redacted in Debug).
    fn secret_header(prefix: &str, secret: &SecretString) -> Result<HeaderValue, CallError> {
        let mut v = HeaderValue::from_str(&format!("{prefix} {}", secret.expose_secret()))
            .map_err(|_| CallError::Client {
                stage: Stage::OAuth,
                status: StatusCode::BAD_REQUEST,
                body: format!("{prefix} credential contains characters not allowed in a header"),
            })?;
        v.set_sensitive(true);
        Ok(v)
    }

    async fn fetch_token(&self) -> Result<TokenResponse, CallError> {
        let rq_uid = uuid::Uuid::new_v4();
        tracing::debug!(%rq_uid, "requesting a GigaChat access token");
        let resp = self
            .http
            .post(self.auth_url.clone())
            .header(
                AUTHORIZATION,
                Self::secret_header("Basic", &self.credentials)?,
            )
            .header("RqUID", rq_uid.to_string())
            .header(ACCEPT, "application/json")
            .form(&[("scope", self.scope.as_str())])
            .send()
            .await
            .map_err(|e| transport(Stage::OAuth, e))?;
        let resp = self.check_status(Stage::OAuth, resp, None).await?;
        resp.json::<TokenResponse>()
            .await
            .map_err(|e| CallError::Envelope {
                stage: Stage::OAuth,
                message: e.without_url().to_string(),
            })
    }

    async fn post_chat(
        &self,
        token: &CachedToken,
        req: &ChatRequest,
    ) -> Result<ChatAnswer, CallError> {
        let resp = self
            .http
            .post(self.chat_url.clone())
            .header(
                AUTHORIZATION,
                Self::secret_header("Bearer", token.secret())?,
            )
            .header(ACCEPT, "application/json")
            .json(req)
            .send()
            .await
            .map_err(|e| transport(Stage::Chat, e))?;
        let resp = self
            .check_status(Stage::Chat, resp, Some(token.secret()))
            .await?;
        let envelope: ChatEnvelope = resp.json().await.map_err(|e| CallError::Envelope {
            stage: Stage::Chat,
            message: e.without_url().to_string(),
        })?;
        let content = envelope
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| CallError::Envelope {
                stage: Stage::Chat,
                message: "no choices[0].message.content".into(),
            })?;
        Ok(ChatAnswer {
            content,
            model: envelope.model,
        })
    }

    /// Token + completion; on a 401 refreshes the token once and retries once.
    pub(crate) async fn complete(&self, req: &ChatRequest) -> Result<ChatAnswer, CallError> {
        let token = self.tokens.get(|| self.fetch_token()).await?;
        match self.post_chat(&token, req).await {
            Err(CallError::Unauthorized { body, .. }) => {
                tracing::info!(
                    body = %body,
                    "GigaChat refused the access token (401): refreshing it and retrying once"
                );
                self.retries_after_401.fetch_add(1, Ordering::Relaxed);
                self.tokens.invalidate(&token);
                let token = self.tokens.get(|| self.fetch_token()).await?;
                self.post_chat(&token, req).await.map_err(|e| match e {
                    // A fresh token refused again is not expiry: the account or scope is wrong.
                    CallError::Unauthorized { stage, body } => CallError::Client {
                        stage,
                        status: StatusCode::UNAUTHORIZED,
                        body,
                    },
                    other => other,
                })
            }
            other => other,
        }
    }

    async fn check_status(
        &self,
        stage: Stage,
        resp: reqwest::Response,
        token: Option<&SecretString>,
    ) -> Result<reqwest::Response, CallError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let body = self.scrub(&body, token);
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => CallError::RateLimited { stage },
            s if s.is_server_error() => CallError::Server {
                stage,
                status: s,
                body,
            },
            StatusCode::UNAUTHORIZED if stage == Stage::Chat => {
                CallError::Unauthorized { stage, body }
            }
            s => CallError::Client {
                stage,
                status: s,
                body,
            },
        })
    }

    /// An error body with the credentials and the token removed (should a server ever echo
    /// them), then cut short. Scrubbing first, so a secret cut in half cannot survive.
    fn scrub(&self, body: &str, token: Option<&SecretString>) -> String {
        let mut body = body.trim().to_owned();
        for secret in std::iter::once(&self.credentials).chain(token) {
            let secret = secret.expose_secret();
            if !secret.is_empty() {
                body = body.replace(secret, "[redacted]");
            }
        }
        body.chars().take(MAX_ERROR_BODY_CHARS).collect()
    }
}

fn transport(stage: Stage, e: reqwest::Error) -> CallError {
    // The URL carries no secret but is noise here (the stage names the endpoint). The source
    // chain says *why* (refused, reset, certificate…), which the top-level message does not.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    CallError::Transport { stage, message }
}

/// The coach that asks GigaChat, behind the breaker, and falls back to rules.
pub struct GigaChatCoach {
    client: GigaChatClient,
    breaker: Breaker,
    /// Completions in flight are capped (personal accounts get one stream).
    slots: Semaphore,
    max_concurrency: usize,
    model: String,
    temperature: f64,
    max_tokens: u32,
    timeout: Duration,
    counters: CoachCounters,
    upstream_calls: AtomicU64,
    client_errors: AtomicU64,
}

impl GigaChatCoach {
    /// Builds the client (reads the CA bundle). Makes no network call.
    pub fn new(cfg: &CoachConfig) -> Result<Self, CoachBuildError> {
        if cfg.max_concurrency == 0 {
            return Err(CoachBuildError::Invalid(
                "GIGACHAT_MAX_CONCURRENCY must be at least 1".into(),
            ));
        }
        if cfg.timeout.is_zero() {
            return Err(CoachBuildError::Invalid(
                "GIGACHAT_TIMEOUT_SEC must be positive".into(),
            ));
        }
        if cfg.breaker_fail_max == 0 {
            return Err(CoachBuildError::Invalid(
                "BREAKER_FAIL_MAX must be at least 1".into(),
            ));
        }
        Ok(Self {
            client: GigaChatClient::new(cfg)?,
            breaker: Breaker::new(cfg.breaker_fail_max, cfg.breaker_reset_timeout),
            slots: Semaphore::new(cfg.max_concurrency),
            max_concurrency: cfg.max_concurrency,
            model: cfg.model.clone(),
            temperature: cfg.temperature,
            max_tokens: cfg.max_tokens,
            timeout: cfg.timeout,
            counters: CoachCounters::default(),
            upstream_calls: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
        })
    }

    fn fallback(&self, report: &Report, reason: FallbackReason) -> Feedback {
        self.counters.fallback(reason);
        rule_based_feedback(report, reason)
    }

    /// One coach call with `request`: breaker, concurrency slot, timeout, parsing, fallback.
    async fn ask(&self, report: &Report, request: ChatRequest) -> Feedback {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let Ok(permit) = self.breaker.try_acquire() else {
            tracing::debug!("breaker open: rule-based feedback without calling GigaChat");
            return self.fallback(report, FallbackReason::BreakerOpen);
        };
        // Waiting for a slot is our own queue, not GigaChat's health: a timeout here is neutral.
        let slot = match tokio::time::timeout(self.timeout, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_closed)) => {
                permit.neutral();
                return self.fallback(report, FallbackReason::UpstreamError);
            }
            Err(_) => {
                permit.neutral();
                tracing::warn!(
                    waited_ms = started.elapsed().as_millis() as u64,
                    max_concurrency = self.max_concurrency,
                    "no free GigaChat slot in time: rule-based feedback"
                );
                return self.fallback(report, FallbackReason::Timeout);
            }
        };
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
        let call_started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.client.complete(&request)).await;
        drop(slot);
        let elapsed_ms = call_started.elapsed().as_millis() as u64;

        match outcome {
            Err(_) => {
                permit.failure();
                tracing::warn!(
                    elapsed_ms,
                    timeout_ms = self.timeout.as_millis() as u64,
                    "GigaChat timed out: rule-based feedback"
                );
                self.fallback(report, FallbackReason::Timeout)
            }
            Ok(Ok(answer)) => {
                permit.success();
                let model = answer.model.as_deref().unwrap_or(&self.model);
                match reply::parse_feedback(&answer.content, model) {
                    Ok(feedback) => {
                        self.counters.llm_answers.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(elapsed_ms, model, "GigaChat feedback received");
                        feedback
                    }
                    Err(e) => {
                        tracing::warn!(
                            elapsed_ms,
                            error = %e,
                            reply_chars = answer.content.chars().count(),
                            "GigaChat reply unusable: rule-based feedback"
                        );
                        self.fallback(report, FallbackReason::InvalidReply)
                    }
                }
            }
            Ok(Err(e)) => {
                let reason = e.reason();
                if e.trips_breaker() {
                    permit.failure();
                    tracing::warn!(elapsed_ms, error = %e, ?reason, "GigaChat call failed: rule-based feedback");
                } else {
                    // The service answered, so it is up; but it refused what we sent: a bug or
                    // misconfiguration on our side that retrying will not fix.
                    permit.success();
                    self.client_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        elapsed_ms,
                        error = %e,
                        ?reason,
                        "GigaChat rejected our request (check GIGACHAT_CREDENTIALS, GIGACHAT_SCOPE, \
                         GIGACHAT_MODEL): rule-based feedback"
                    );
                }
                self.fallback(report, reason)
            }
        }
    }
}

#[async_trait]
impl Coach for GigaChatCoach {
    #[tracing::instrument(name = "coach", skip_all, fields(model = %self.model))]
    async fn feedback(&self, report: &Report) -> Feedback {
        let request = prompt::chat_request(report, &self.model, self.temperature, self.max_tokens);
        self.ask(report, request).await
    }

    #[tracing::instrument(name = "coach", skip_all, fields(model = %self.model, history = true))]
    async fn feedback_with_history(
        &self,
        report: &Report,
        history: &[crate::domain::progress::MetricProgress],
    ) -> Feedback {
        let request = prompt::chat_request_with_history(
            report,
            history,
            &self.model,
            self.temperature,
            self.max_tokens,
        );
        self.ask(report, request).await
    }

    fn stats(&self) -> CoachStats {
        let breaker = self.breaker.stats();
        CoachStats {
            enabled: true,
            model: Some(self.model.clone()),
            answers: self.counters.snapshot(),
            breaker_state: Some(breaker.state),
            failures: breaker.failures,
            rejections: breaker.rejections,
            breaker: Some(breaker),
            gigachat: Some(GigaChatStats {
                upstream_calls: self.upstream_calls.load(Ordering::Relaxed),
                client_errors: self.client_errors.load(Ordering::Relaxed),
                token_requests: self.client.tokens.fetches(),
                token_cached: self.client.tokens.has_fresh(),
                token_retries_after_401: self.client.retries_after_401.load(Ordering::Relaxed),
                max_concurrency: self.max_concurrency,
                slots_available: self.slots.available_permits(),
            }),
        }
    }

    fn is_healthy(&self) -> bool {
        self.breaker.state() != super::BreakerState::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> CoachConfig {
        CoachConfig {
            credentials: Some(SecretString::from("Basic c2VjcmV0LWtleQ==")),
            ..CoachConfig::default()
        }
    }

    #[test]
    fn classification_of_failures() {
        let server = CallError::Server {
            stage: Stage::Chat,
            status: StatusCode::BAD_GATEWAY,
            body: String::new(),
        };
        assert!(server.trips_breaker());
        assert_eq!(server.reason(), FallbackReason::UpstreamError);
        let limited = CallError::RateLimited { stage: Stage::Chat };
        assert!(limited.trips_breaker());
        assert_eq!(limited.reason(), FallbackReason::RateLimited);
        let ours = CallError::Client {
            stage: Stage::Chat,
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: String::new(),
        };
        assert!(!ours.trips_breaker());
        assert_eq!(ours.reason(), FallbackReason::UpstreamError);
        let garbled = CallError::Envelope {
            stage: Stage::Chat,
            message: String::new(),
        };
        assert!(!garbled.trips_breaker());
        assert_eq!(garbled.reason(), FallbackReason::InvalidReply);
    }

    #[test]
    fn the_basic_prefix_is_tolerated_and_scrubbed_from_bodies() {
        let c = GigaChatClient::new(&cfg()).unwrap();
        assert_eq!(c.credentials.expose_secret(), "c2VjcmV0LWtleQ==");
        assert_eq!(
            c.scrub("bad key c2VjcmV0LWtleQ== given", None),
            "bad key [redacted] given"
        );
        let token = SecretString::from("tok-123");
        assert_eq!(
            c.scrub(" Bearer tok-123 and c2VjcmV0LWtleQ== ", Some(&token)),
            "Bearer [redacted] and [redacted]"
        );
        assert_eq!(
            c.chat_url.as_str(),
            "https://gigachat.devices.sberbank.ru/api/v1/chat/completions"
        );
    }

    #[test]
    fn invalid_settings_fail_the_build_naming_the_variable() {
        let bad = |f: fn(&mut CoachConfig)| {
            let mut c = cfg();
            f(&mut c);
            match GigaChatCoach::new(&c) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("should not build"),
            }
        };
        assert!(bad(|c| c.max_concurrency = 0).contains("GIGACHAT_MAX_CONCURRENCY"));
        assert!(bad(|c| c.breaker_fail_max = 0).contains("BREAKER_FAIL_MAX"));
        assert!(bad(|c| c.auth_url = "not a url".into()).contains("GIGACHAT_AUTH_URL"));
        assert!(
            bad(|c| c.ca_bundle = Some("/nonexistent/ca.pem".into()))
                .contains("/nonexistent/ca.pem")
        );
    }

    #[test]
    fn a_pem_ca_bundle_is_added_to_the_roots() {
        // A self-signed test root (certificate only; its key was thrown away).
        let mut c = cfg();
        c.ca_bundle = Some(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/coach/testdata/test-ca.pem"
            )
            .into(),
        );
        assert!(GigaChatCoach::new(&c).is_ok());
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let mut c = cfg();
        c.ca_bundle = Some(path);
        let err = GigaChatCoach::new(&c).err().expect("refused").to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
