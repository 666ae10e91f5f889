//! L2: Redis, shared by every replica.
//!
//! Redis is optional and never on the critical path: every command has a deadline, and while
//! Redis is known to be down every operation fails at once (a fast miss that the caller counts)
//! instead of waiting on a connection attempt. A background probe pings Redis, flips
//! availability back on when it answers again, and so drives the `ConnectionManager`'s
//! reconnection without any request paying for it.

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ErrorKind, RedisError};
use async_trait::async_trait;
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Tier, TierError, TierName, TierStats, TierStatus, TierUsage};

/// Keys per `SCAN` round in `clear`: large enough to finish quickly, small enough not to stall
/// a shared Redis on one call.
const CLEAR_SCAN_COUNT: usize = 1000;

/// Budget of a whole `clear` (a full keyspace scan); it is an admin action, not a request path.
const CLEAR_TIMEOUT: Duration = Duration::from_secs(30);

/// How a [`RedisTier`] connects and names its keys.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Budget of one TCP connect (+ handshake).
    pub connect_timeout: Duration,
    /// Budget of one command round trip.
    pub response_timeout: Duration,
    /// Period of the background availability probe (PING).
    pub probe_interval: Duration,
    /// Prefix shared by every key of this service (`<prefix>:...`); `clear` removes them all.
    pub key_prefix: String,
    /// Version of the stored values; keys are `<prefix>:<namespace>:<key>`.
    pub namespace: String,
}

/// L2 Redis tier. Cheap to clone.
#[derive(Clone)]
pub struct RedisTier {
    inner: Arc<Inner>,
}

struct Inner {
    /// Multiplexed connection that re-establishes itself after an I/O error.
    conn: ConnectionManager,
    /// False from the first connection-level failure until the probe gets a PONG again; while
    /// false, every operation fails immediately.
    available: AtomicBool,
    /// `<prefix>:<namespace>:`, prepended to every key.
    key_prefix: String,
    /// `<prefix>:*`: what `clear` removes (every namespace: old ones are garbage anyway).
    clear_pattern: String,
    /// Deadline of one operation: connect + response, because a command issued right after a
    /// reconnect waits for the new connection first.
    op_timeout: Duration,
    /// Number of times availability went from true to false, for stats.
    outages: AtomicU64,
    /// The lease scripts ([`RENEW`], [`RELEASE`]), hashed once: each call sends `EVALSHA`
    /// (falling back to `EVAL` when Redis does not know the script yet).
    renew: ::redis::Script,
    release: ::redis::Script,
}

impl RedisTier {
    /// Sets up the tier and pings Redis once (bounded by the timeouts) so availability is known
    /// from the start. Never fails because Redis is down: it then starts unavailable and the
    /// probe reconnects later. Fails only on an unparsable URL (the message never contains the
    /// URL, which may hold a password).
    pub async fn connect(url: &SecretString, opts: RedisOptions) -> Result<Self, TierError> {
        let client = ::redis::Client::open(url.expose_secret()).map_err(|e| {
            TierError::new(
                TierName::Redis,
                format!("invalid REDIS_URL: {}", e.kind_str()),
            )
        })?;
        let manager_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout))
            // One quick retry per reconnect: the probe, not the manager, waits out an outage,
            // so no request ever sits in the manager's backoff.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(50));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_cfg).map_err(|e| {
            TierError::new(TierName::Redis, format!("redis setup: {}", e.kind_str()))
        })?;
        let inner = Arc::new(Inner {
            conn,
            available: AtomicBool::new(false),
            key_prefix: format!("{}:{}:", opts.key_prefix, opts.namespace),
            clear_pattern: format!("{}:*", opts.key_prefix),
            op_timeout: opts.connect_timeout + opts.response_timeout,
            outages: AtomicU64::new(0),
            renew: ::redis::Script::new(RENEW),
            release: ::redis::Script::new(RELEASE),
        });
        inner.probe().await;
        tokio::spawn(probe_loop(Arc::downgrade(&inner), opts.probe_interval));
        Ok(Self { inner })
    }

    /// Whether the last contact with Redis succeeded.
    pub fn is_available(&self) -> bool {
        self.inner.available.load(Ordering::Acquire)
    }

    /// Pings Redis now (instead of waiting for the probe) and returns the new availability.
    pub async fn probe_now(&self) -> bool {
        self.inner.probe().await
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{}", self.inner.key_prefix, key)
    }

    /// Runs one command under the operation deadline; fails fast while Redis is unavailable.
    async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, TierError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        if !self.is_available() {
            return Err(TierError::new(TierName::Redis, "redis unavailable"));
        }
        let result = tokio::time::timeout(self.inner.op_timeout, op(self.inner.conn.clone())).await;
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.inner.mark_down();
                }
                Err(TierError::new(TierName::Redis, format!("{what}: {e}")))
            }
            Err(_) => {
                self.inner.mark_down();
                Err(TierError::new(
                    TierName::Redis,
                    format!("{what}: timed out after {:?}", self.inner.op_timeout),
                ))
            }
        }
    }
}

/// Renews a lease only while it still holds our token.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Releases a lease only while it still holds our token.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

impl RedisTier {
    fn lease_key(&self, key: &str) -> String {
        format!("{}lease:{key}", self.inner.key_prefix)
    }

    /// `SET NX PX`: takes the lease of `key` for `ttl` with `token`; false when someone holds it.
    pub async fn lease_take(
        &self,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, TierError> {
        let k = self.lease_key(key);
        let ms = ttl.as_millis().max(1) as u64;
        let reply: Option<String> = self
            .run("SET NX", |mut c| async move {
                ::redis::cmd("SET")
                    .arg(&k)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(reply.is_some())
    }

    /// Extends our lease; false when it is no longer ours (expired, taken by another).
    pub async fn lease_renew(
        &self,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, TierError> {
        let k = self.lease_key(key);
        let ms = ttl.as_millis().max(1) as u64;
        let renew = &self.inner.renew;
        let n: i64 = self
            .run("lease renew", |mut c| async move {
                renew.key(&k).arg(token).arg(ms).invoke_async(&mut c).await
            })
            .await?;
        Ok(n == 1)
    }

    /// Gives our lease up (a lease that is no longer ours is left alone).
    pub async fn lease_release(&self, key: &str, token: &str) -> Result<(), TierError> {
        let k = self.lease_key(key);
        let release = &self.inner.release;
        self.run("lease release", |mut c| async move {
            release.key(&k).arg(token).invoke_async::<i64>(&mut c).await
        })
        .await
        .map(|_| ())
    }
}

impl Inner {
    fn mark_down(&self) {
        if self.available.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("redis cache tier unavailable; lookups skip it until it answers again");
        }
    }

    async fn probe(&self) -> bool {
        let mut conn = self.conn.clone();
        let cmd = ::redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        let up = matches!(tokio::time::timeout(self.op_timeout, ping).await, Ok(Ok(_)));
        if up {
            if !self.available.swap(true, Ordering::AcqRel) {
                tracing::info!("redis cache tier available");
            }
        } else {
            self.mark_down();
        }
        up
    }
}

/// Pings Redis every `interval` while the tier exists.
async fn probe_loop(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; `connect` has just probed
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        inner.probe().await;
    }
}

/// Errors that say the connection (not the command) is broken. A reply from the server
/// (e.g. `OOM command not allowed`) means Redis is there, so it stays available.
fn is_connection_error(e: &RedisError) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
    )
}

/// `ErrorKind` as text, for messages that must not echo the URL.
trait KindStr {
    fn kind_str(&self) -> String;
}

impl KindStr for RedisError {
    fn kind_str(&self) -> String {
        format!("{:?}", self.kind())
    }
}

#[async_trait]
impl Tier for RedisTier {
    fn name(&self) -> TierName {
        TierName::Redis
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, TierError> {
        let k = self.full_key(key);
        let v: Option<Vec<u8>> = self
            .run("GET", |mut c| async move {
                ::redis::cmd("GET").arg(&k).query_async(&mut c).await
            })
            .await?;
        Ok(v.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), TierError> {
        let k = self.full_key(key);
        // `EX` takes whole seconds; never 0 (Redis rejects it).
        let ttl_sec = ttl.as_secs().max(1);
        self.run("SET", |mut c| async move {
            ::redis::cmd("SET")
                .arg(&k)
                .arg(value.as_ref())
                .arg("EX")
                .arg(ttl_sec)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<(), TierError> {
        let k = self.full_key(key);
        self.run("DEL", |mut c| async move {
            ::redis::cmd("DEL").arg(&k).query_async::<()>(&mut c).await
        })
        .await
    }

    async fn clear(&self) -> Result<(), TierError> {
        if !self.is_available() {
            return Err(TierError::new(TierName::Redis, "redis unavailable"));
        }
        let mut conn = self.inner.conn.clone();
        let pattern = self.inner.clear_pattern.clone();
        let scan_and_unlink = async move {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(CLEAR_SCAN_COUNT)
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    ::redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async::<()>(&mut conn)
                        .await?;
                }
                if next == 0 {
                    return Ok::<(), RedisError>(());
                }
                cursor = next;
            }
        };
        match tokio::time::timeout(CLEAR_TIMEOUT, scan_and_unlink).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.inner.mark_down();
                }
                Err(TierError::new(TierName::Redis, format!("clear: {e}")))
            }
            Err(_) => Err(TierError::new(TierName::Redis, "clear: timed out")),
        }
    }

    async fn stats(&self) -> TierStats {
        TierStats {
            outages: self.inner.outages.load(Ordering::Relaxed),
            ..TierStats::new(TierName::Redis, self.status(), self.usage().await)
        }
    }

    async fn usage(&self) -> TierUsage {
        // Redis is shared and has its own `maxmemory`; counting our keys would need a scan.
        TierUsage::default()
    }

    fn status(&self) -> TierStatus {
        if self.is_available() {
            TierStatus::Ok
        } else {
            TierStatus::Unavailable
        }
    }
}
