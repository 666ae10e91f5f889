//! A fake GigaChat: OAuth (`POST /api/v2/oauth`) and chat completions
//! (`POST /api/v1/chat/completions`) on an ephemeral port, with switchable behaviour, recording
//! every request it gets.
//!
//! Include it from a test crate with
//! `#[path = "support/fake_gigachat.rs"] mod fake_gigachat;`, start it with
//! [`FakeGigaChat::start`], and point `CoachConfig::{auth_url, api_url}` at
//! [`FakeGigaChat::auth_url`] / [`FakeGigaChat::api_url`] with
//! `credentials = FakeGigaChat::CREDENTIALS`.
#![allow(dead_code)] // each test crate uses a different part of it

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the chat endpoint behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMode {
    /// 200 with a valid feedback JSON object as the message content.
    Ok,
    /// 200 after a delay (beyond the client's timeout when the delay is long).
    Slow(Duration),
    /// 500 Internal Server Error.
    ServerError,
    /// 429 Too Many Requests.
    RateLimited,
    /// 401 `Token has expired` for every token.
    Unauthorized,
    /// 400 whose body echoes the `Authorization` header (a hostile server: tests that the client
    /// never logs what it gets back verbatim).
    EchoAuthorization400,
    /// 200 whose content is prose without JSON.
    Garbage,
    /// 200 whose content is the JSON object inside a ```json fence with prose around it.
    CodeFence,
    /// 200 with a body that is not the chat envelope at all.
    BadEnvelope,
}

/// How the OAuth endpoint behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum OAuthMode {
    /// Issues tokens (checking the Basic credentials and the scope).
    Ok,
    /// 401 whose body echoes the `Authorization` header.
    EchoAuthorization401,
    /// 503.
    ServerError,
}

/// One request to the OAuth endpoint.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub rq_uid: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The raw form body, e.g. `scope=GIGACHAT_API_PERS`.
    pub body: String,
}

/// One request to the chat endpoint.
#[derive(Debug, Clone)]
pub struct ChatCall {
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

struct Inner {
    chat_mode: ChatMode,
    oauth_mode: OAuthMode,
    token_lifetime: Duration,
    token_delay: Duration,
    /// Issued tokens and whether they are still accepted.
    tokens: Vec<(String, bool)>,
    token_requests: Vec<TokenRequest>,
    chat_calls: Vec<ChatCall>,
}

struct Shared {
    inner: Mutex<Inner>,
    chat_in_flight: AtomicUsize,
    chat_max_in_flight: AtomicUsize,
}

/// The running fake. Stops when dropped.
pub struct FakeGigaChat {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGigaChat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Model name the fake reports (with a version, as the real API does).
pub const MODEL_REPORTED: &str = "GigaChat:1.0.26.20";

/// A valid feedback object as the model would write it.
pub fn feedback_json() -> serde_json::Value {
    serde_json::json!({
        "overall_assessment": "Уверенное выступление с хорошей структурой; темп местами высокий.",
        "strengths": ["Чёткая дикция", "Смысловые паузы перед выводами"],
        "areas_for_improvement": ["Темп 172 слова в минуту выше комфортного"],
        "recommendations": ["Делайте паузу после каждого тезиса"],
        "key_insights": ["Скопление «ну» на 1:20"],
        "confidence": 0.82
    })
}

impl FakeGigaChat {
    /// The key the fake accepts in `Authorization: Basic <key>`.
    pub const CREDENTIALS: &'static str = "ZmFrZS1jbGllbnQ6ZmFrZS1zZWNyZXQtZG8tbm90LWxlYWs=";
    /// The scope it expects.
    pub const SCOPE: &'static str = "GIGACHAT_API_PERS";

    /// Binds `127.0.0.1:0` and serves until dropped.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                chat_mode: ChatMode::Ok,
                oauth_mode: OAuthMode::Ok,
                token_lifetime: Duration::from_secs(30 * 60),
                token_delay: Duration::ZERO,
                tokens: Vec::new(),
                token_requests: Vec::new(),
                chat_calls: Vec::new(),
            }),
            chat_in_flight: AtomicUsize::new(0),
            chat_max_in_flight: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/api/v2/oauth", post(oauth))
            .route("/api/v1/chat/completions", post(chat))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake GigaChat");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake GigaChat serves");
        });
        Self { addr, shared, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap()
    }

    /// `http://127.0.0.1:<port>/api/v2/oauth`.
    pub fn auth_url(&self) -> String {
        format!("http://{}/api/v2/oauth", self.addr)
    }

    /// `http://127.0.0.1:<port>/api/v1`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    pub fn set_chat_mode(&self, mode: ChatMode) {
        self.lock().chat_mode = mode;
    }

    pub fn set_oauth_mode(&self, mode: OAuthMode) {
        self.lock().oauth_mode = mode;
    }

    /// Tokens issued from now on expire this long after issue (`expires_at` in ms).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = lifetime;
    }

    /// The OAuth endpoint waits this long before answering (makes refresh races real).
    pub fn set_token_delay(&self, delay: Duration) {
        self.lock().token_delay = delay;
    }

    /// Every token issued so far is refused from now on with 401 `Token has expired`.
    pub fn expire_tokens(&self) {
        for (_, valid) in &mut self.lock().tokens {
            *valid = false;
        }
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.lock().token_requests.clone()
    }

    pub fn chat_calls(&self) -> Vec<ChatCall> {
        self.lock().chat_calls.clone()
    }

    /// Every token the fake has issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().tokens.iter().map(|(t, _)| t.clone()).collect()
    }

    /// Most chat requests that were in flight at once.
    pub fn chat_max_in_flight(&self) -> usize {
        self.shared.chat_max_in_flight.load(Ordering::SeqCst)
    }
}

/// A URL where nothing listens (connection refused): a port bound and released at once.
pub async fn refused_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn error_body(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"status": status.as_u16(), "message": message})),
    )
        .into_response()
}

async fn oauth(State(s): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let authorization = header(&headers, "authorization");
    let (mode, delay, lifetime) = {
        let mut inner = s.inner.lock().unwrap();
        inner.token_requests.push(TokenRequest {
            rq_uid: header(&headers, "rquid"),
            authorization: authorization.clone(),
            content_type: header(&headers, "content-type"),
            body: body.clone(),
        });
        (
            inner.oauth_mode.clone(),
            inner.token_delay,
            inner.token_lifetime,
        )
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match mode {
        OAuthMode::ServerError => {
            return error_body(StatusCode::SERVICE_UNAVAILABLE, "maintenance");
        }
        OAuthMode::EchoAuthorization401 => {
            let echoed = authorization.unwrap_or_default();
            return error_body(
                StatusCode::UNAUTHORIZED,
                &format!("Can't decode 'Authorization' header: {echoed}"),
            );
        }
        OAuthMode::Ok => {}
    }
    let expected = format!("Basic {}", FakeGigaChat::CREDENTIALS);
    if authorization.as_deref() != Some(expected.as_str()) {
        return error_body(StatusCode::UNAUTHORIZED, "Authorization error");
    }
    if body != format!("scope={}", FakeGigaChat::SCOPE) {
        return error_body(StatusCode::BAD_REQUEST, "scope is invalid");
    }
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    s.inner.lock().unwrap().tokens.push((token.clone(), true));
    axum::Json(serde_json::json!({
        "access_token": token,
        "expires_at": unix_ms() + lifetime.as_millis() as i64,
    }))
    .into_response()
}

/// Decrements the in-flight count however the handler ends (including cancellation).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn chat(State(s): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let now = s.chat_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.chat_max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(&s.chat_in_flight);

    let authorization = header(&headers, "authorization");
    let (mode, token_ok) = {
        let mut inner = s.inner.lock().unwrap();
        inner.chat_calls.push(ChatCall {
            authorization: authorization.clone(),
            body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        });
        let bearer = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        let token_ok = inner.tokens.iter().any(|(t, valid)| t == bearer && *valid);
        (inner.chat_mode.clone(), token_ok)
    };
    match mode {
        ChatMode::Unauthorized => return error_body(StatusCode::UNAUTHORIZED, "Token has expired"),
        ChatMode::EchoAuthorization400 => {
            let echoed = authorization.unwrap_or_default();
            return error_body(
                StatusCode::BAD_REQUEST,
                &format!("invalid request from {echoed}"),
            );
        }
        _ if !token_ok => return error_body(StatusCode::UNAUTHORIZED, "Token has expired"),
        ChatMode::ServerError => {
            return error_body(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
        ChatMode::RateLimited => {
            return error_body(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        ChatMode::Slow(d) => tokio::time::sleep(d).await,
        ChatMode::BadEnvelope => {
            return (StatusCode::OK, "<html>gateway page</html>").into_response();
        }
        ChatMode::Ok | ChatMode::Garbage | ChatMode::CodeFence => {}
    }
    let content = match mode {
        ChatMode::Garbage => "Извините, я не могу помочь с этим запросом.".to_owned(),
        ChatMode::CodeFence => format!(
            "Вот разбор выступления:\n```json\n{}\n```\nУдачи!",
            serde_json::to_string_pretty(&feedback_json()).unwrap()
        ),
        _ => feedback_json().to_string(),
    };
    axum::Json(serde_json::json!({
        "choices": [{
            "message": {"role": "assistant", "content": content},
            "index": 0,
            "finish_reason": "stop"
        }],
        "created": unix_ms() / 1000,
        "model": MODEL_REPORTED,
        "object": "chat.completion",
        "usage": {"prompt_tokens": 400, "completion_tokens": 150, "total_tokens": 550}
    }))
    .into_response()
}
