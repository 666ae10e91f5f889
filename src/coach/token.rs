//! The GigaChat access token cache: reuse until shortly before expiry, single-flight refresh.
//!
//! GigaChat's OAuth answer carries `expires_at` as Unix time in **milliseconds**. It is turned
//! into a monotonic deadline at receipt (`tokio::time::Instant`), so a wall-clock jump cannot make
//! a token look fresh, and tests can drive expiry with paused tokio time.

use secrecy::SecretString;
use serde::Deserialize;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The OAuth endpoint's JSON answer.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The bearer token. Never logged.
    pub access_token: SecretString,
    /// Expiry, Unix time in milliseconds.
    pub expires_at: i64,
}

/// A token in the cache.
#[derive(Debug)]
pub struct CachedToken {
    /// Distinguishes tokens, so a 401 invalidates only the token that got it.
    id: u64,
    secret: SecretString,
    /// After this instant the token is refreshed before use (`expires_at - margin`).
    refresh_at: Instant,
}

impl CachedToken {
    /// The bearer secret.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }
}

/// Caches one access token; refreshes it at most once at a time.
#[derive(Debug)]
pub struct TokenCache {
    current: Mutex<Option<Arc<CachedToken>>>,
    /// Held while fetching, so concurrent callers wait for one refresh instead of each fetching.
    refresh: tokio::sync::Mutex<()>,
    margin: Duration,
    next_id: AtomicU64,
    fetches: AtomicU64,
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl TokenCache {
    /// An empty cache refreshing `margin` before expiry.
    pub fn new(margin: Duration) -> Self {
        Self {
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            margin,
            next_id: AtomicU64::new(1),
            fetches: AtomicU64::new(0),
        }
    }

    fn fresh(&self) -> Option<Arc<CachedToken>> {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .cloned()
    }

    /// A token fresh enough to use, fetching one with `fetch` when needed. Concurrent callers
    /// share one fetch.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<Arc<CachedToken>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, E>>,
    {
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let _single_flight = self.refresh.lock().await;
        // Someone else may have refreshed while we waited for the lock.
        if let Some(t) = self.fresh() {
            return Ok(t);
        }
        let answer = fetch().await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let token = Arc::new(self.admit(answer, unix_now_ms()));
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(token)
    }

    /// Turns an OAuth answer into a cached token. A token that expires within the margin (or has
    /// already expired) is still handed to the caller that fetched it, but is due for refresh at
    /// once, so the next call fetches a new one.
    fn admit(&self, answer: TokenResponse, now_ms: i64) -> CachedToken {
        let margin_ms = i64::try_from(self.margin.as_millis()).unwrap_or(i64::MAX);
        let usable_ms = answer
            .expires_at
            .saturating_sub(now_ms)
            .saturating_sub(margin_ms);
        let usable = Duration::from_millis(u64::try_from(usable_ms).unwrap_or(0));
        tracing::debug!(
            usable_for_sec = usable.as_secs_f64(),
            "GigaChat access token obtained"
        );
        CachedToken {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            secret: answer.access_token,
            refresh_at: Instant::now() + usable,
        }
    }

    /// Forgets `stale` (the API answered 401 with it). A token that already replaced it stays, so
    /// many concurrent 401s cause one refresh, not many.
    pub fn invalidate(&self, stale: &CachedToken) {
        let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_some_and(|t| t.id == stale.id) {
            *guard = None;
        }
    }

    /// Tokens fetched since start.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Whether a fresh token is cached.
    pub fn has_fresh(&self) -> bool {
        self.fresh().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::atomic::AtomicUsize;

    fn answer(token: &str, expires_in: Duration) -> TokenResponse {
        TokenResponse {
            access_token: SecretString::from(token),
            expires_at: unix_now_ms() + i64::try_from(expires_in.as_millis()).unwrap(),
        }
    }

    #[test]
    fn parses_the_oauth_answer_with_milliseconds() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_at":1706026848841}"#).unwrap();
        assert_eq!(t.expires_at, 1_706_026_848_841);
        assert_eq!(t.access_token.expose_secret(), "abc");
    }

    #[tokio::test(start_paused = true)]
    async fn reuses_the_token_until_the_margin_before_expiry() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(answer(&format!("t{n}"), Duration::from_secs(30 * 60)))
        };
        let t = cache.get(fetch).await.unwrap();
        assert_eq!(t.secret().expose_secret(), "t0");
        tokio::time::advance(Duration::from_secs(28 * 60)).await;
        assert_eq!(
            cache.get(fetch).await.unwrap().secret().expose_secret(),
            "t0"
        );
        // 29 min: inside the 60 s margin before the 30 min expiry.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            cache.get(fetch).await.unwrap().secret().expose_secret(),
            "t1"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(cache.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_inside_the_margin_is_used_once_then_refreshed() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(answer("short", Duration::from_secs(30)))
        };
        cache.get(fetch).await.unwrap();
        cache.get(fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn expires_at_is_read_as_milliseconds_not_seconds() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let now_ms = 1_700_000_000_000;
        // Expires in 10 minutes (ms). Read as seconds it would look ~50 000 years away.
        let t = cache.admit(
            TokenResponse {
                access_token: SecretString::from("x"),
                expires_at: now_ms + 600_000,
            },
            now_ms,
        );
        let usable = t.refresh_at - Instant::now();
        assert!(usable <= Duration::from_secs(540), "{usable:?}");
        assert!(usable > Duration::from_secs(530), "{usable:?}");
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, fetches, barrier) = (cache.clone(), fetches.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                cache
                    .get(|| async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>(answer("shared", Duration::from_secs(1800)))
                    })
                    .await
                    .unwrap()
                    .secret()
                    .expose_secret()
                    .to_owned()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "shared");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_drops_only_the_stale_token() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let n = AtomicUsize::new(0);
        let fetch = || async {
            let i = n.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(answer(&format!("t{i}"), Duration::from_secs(1800)))
        };
        let first = cache.get(fetch).await.unwrap();
        cache.invalidate(&first);
        let second = cache.get(fetch).await.unwrap();
        assert_eq!(second.secret().expose_secret(), "t1");
        // A late 401 for the first token must not throw away the second.
        cache.invalidate(&first);
        assert!(cache.has_fresh());
        assert_eq!(
            cache.get(fetch).await.unwrap().secret().expose_secret(),
            "t1"
        );
    }

    #[tokio::test]
    async fn a_failed_fetch_caches_nothing() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let r = cache
            .get(|| async { Err::<TokenResponse, _>("down") })
            .await;
        assert_eq!(r.unwrap_err(), "down");
        assert!(!cache.has_fresh());
    }
}
