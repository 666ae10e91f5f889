//! Typed settings of the coach: the GigaChat client and its circuit breaker.
//!
//! The lead's `config` module maps environment variables to this struct; each field names its
//! variable. Durations are `Duration`s here; the variables carry whole seconds unless noted.

use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// Sber's OAuth endpoint for GigaChat access tokens.
pub const DEFAULT_AUTH_URL: &str = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth";
/// Base URL of the GigaChat REST API (`/chat/completions` is appended).
pub const DEFAULT_API_URL: &str = "https://gigachat.devices.sberbank.ru/api/v1";

/// Settings of the GigaChat coach and its breaker.
#[derive(Debug, Clone)]
pub struct CoachConfig {
    /// Ask GigaChat at all (`GIGACHAT_ENABLED`, default `true`). With `false`, or without
    /// credentials, every answer is rule-based with reason `disabled` and no network call is made.
    pub enabled: bool,
    /// The "authorization key" from the Sber developer console: base64 of `client_id:secret`,
    /// sent as `Authorization: Basic <key>` to the OAuth endpoint (`GIGACHAT_CREDENTIALS`,
    /// default unset). A leading `Basic ` is tolerated. Never logged.
    pub credentials: Option<SecretString>,
    /// OAuth scope (`GIGACHAT_SCOPE`, default `GIGACHAT_API_PERS`; business accounts use
    /// `GIGACHAT_API_B2B` or `GIGACHAT_API_CORP`).
    pub scope: String,
    /// OAuth token endpoint (`GIGACHAT_AUTH_URL`, default [`DEFAULT_AUTH_URL`]).
    pub auth_url: String,
    /// API base URL; `/chat/completions` is appended (`GIGACHAT_API_URL`, default
    /// [`DEFAULT_API_URL`]).
    pub api_url: String,
    /// Model name sent in each request (`GIGACHAT_MODEL`, default `GigaChat`; also `GigaChat-Pro`,
    /// `GigaChat-Max`).
    pub model: String,
    /// Budget of one coaching call (token refresh + completion), and separately of the wait for a
    /// concurrency slot (`GIGACHAT_TIMEOUT_SEC`, seconds, default 30: a ~1000-token answer takes
    /// GigaChat 10–20 s). This timeout sits inside the breaker: expiring counts as a failure.
    pub timeout: Duration,
    /// TCP + TLS connect timeout (`GIGACHAT_CONNECT_TIMEOUT_SEC`, seconds, default 5).
    pub connect_timeout: Duration,
    /// Refresh the access token this long before its `expires_at` (`GIGACHAT_TOKEN_REFRESH_MARGIN_SEC`,
    /// seconds, default 60). Tokens live 30 minutes.
    pub token_refresh_margin: Duration,
    /// Concurrent completions in flight (`GIGACHAT_MAX_CONCURRENCY`, default 1: personal accounts
    /// get one stream; more requests queue, bounded by `timeout`).
    pub max_concurrency: usize,
    /// Extra PEM root certificate(s) to trust, added to the system roots (`GIGACHAT_CA_BUNDLE`,
    /// default unset). The production endpoints chain to the Russian Trusted Root CA, which most
    /// system stores lack.
    pub ca_bundle: Option<PathBuf>,
    /// Verify the server's TLS certificate (`GIGACHAT_VERIFY_SSL`, default `true`). `false` logs a
    /// warning when the coach is built; prefer `GIGACHAT_CA_BUNDLE`.
    pub verify_ssl: bool,
    /// Sampling temperature (`GIGACHAT_TEMPERATURE`, default 0.3: feedback should be steady, not
    /// creative).
    pub temperature: f64,
    /// Upper bound on the reply length in tokens (`GIGACHAT_MAX_TOKENS`, default 1200: enough for
    /// the JSON object with a handful of items per list).
    pub max_tokens: u32,
    /// Consecutive failures (timeouts, connection errors, 5xx, 429) that open the breaker
    /// (`BREAKER_FAIL_MAX`, default 5).
    pub breaker_fail_max: u32,
    /// How long the breaker stays open before letting one probe through
    /// (`BREAKER_RESET_TIMEOUT_SEC`, seconds, default 60).
    pub breaker_reset_timeout: Duration,
}

impl Default for CoachConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            credentials: None,
            scope: "GIGACHAT_API_PERS".to_owned(),
            auth_url: DEFAULT_AUTH_URL.to_owned(),
            api_url: DEFAULT_API_URL.to_owned(),
            model: "GigaChat".to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            token_refresh_margin: Duration::from_secs(60),
            max_concurrency: 1,
            ca_bundle: None,
            verify_ssl: true,
            temperature: 0.3,
            max_tokens: 1200,
            breaker_fail_max: 5,
            breaker_reset_timeout: Duration::from_secs(60),
        }
    }
}

impl CoachConfig {
    /// Whether GigaChat will be asked: enabled and credentials present (and non-blank).
    pub fn is_active(&self) -> bool {
        use secrecy::ExposeSecret;
        self.enabled
            && self
                .credentials
                .as_ref()
                .is_some_and(|c| !c.expose_secret().trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let c = CoachConfig::default();
        assert_eq!(c.scope, "GIGACHAT_API_PERS");
        assert_eq!(c.auth_url, DEFAULT_AUTH_URL);
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.model, "GigaChat");
        assert_eq!(c.max_concurrency, 1);
        assert_eq!(c.breaker_fail_max, 5);
        assert_eq!(c.breaker_reset_timeout, Duration::from_secs(60));
        assert_eq!(c.token_refresh_margin, Duration::from_secs(60));
        assert!(c.verify_ssl);
        // No credentials by default: the coach is inactive until they are set.
        assert!(!c.is_active());
    }

    #[test]
    fn active_needs_enabled_and_non_blank_credentials() {
        let mut c = CoachConfig {
            credentials: Some(SecretString::from("   ")),
            ..CoachConfig::default()
        };
        assert!(!c.is_active());
        c.credentials = Some(SecretString::from("a2V5"));
        assert!(c.is_active());
        c.enabled = false;
        assert!(!c.is_active());
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let c = CoachConfig {
            credentials: Some(SecretString::from("super-secret-key")),
            ..CoachConfig::default()
        };
        assert!(!format!("{c:?}").contains("super-secret-key"));
    }
}
