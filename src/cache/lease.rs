//! Cross-replica single-flight: one analysis per cache key across every replica sharing Redis.
//!
//! The replica about to analyse a key takes its lease (`SET NX PX` with a random token) and
//! renews it while it works (a token-checked `PEXPIRE`, so a lease that expired and was taken by
//! another replica is never extended by the old holder). It writes the report to Redis *before*
//! releasing the lease (a token-checked `DEL`). A replica that finds the lease taken waits: it
//! looks for the report in Redis, and takes the lease itself when the holder is gone (released
//! without a report: it failed; or expired: it died). Redis being down never stops an analysis:
//! without Redis every replica analyses on its own, as before.

use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::Tier;
use super::redis::RedisTier;

/// How often a waiting replica looks for the report (or a free lease).
const POLL: Duration = Duration::from_millis(100);

/// Leases on one Redis tier.
#[derive(Clone)]
pub struct Leases {
    tier: RedisTier,
    ttl: Duration,
}

/// What the caller should do.
pub enum Leased {
    /// Analyse: with the lease held (renewed until the guard is released or dropped), or
    /// without one (Redis unavailable, or the wait ran out).
    Run(Option<LeaseGuard>),
    /// Another replica's analysis stored the value meanwhile.
    Ready(Bytes),
}

impl Leases {
    pub fn new(tier: RedisTier, ttl: Duration) -> Self {
        Self { tier, ttl }
    }

    /// Takes the lease of `key`, or waits (at most `wait`) for the holder's value (accepted
    /// only when `valid`) or for the lease to become free.
    pub async fn acquire(
        &self,
        key: &str,
        valid: &(dyn Fn(&[u8]) -> bool + Sync),
        wait: Duration,
    ) -> Leased {
        let token = {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).expect("the OS random number generator");
            hex::encode(b)
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut waited = false;
        loop {
            match self.tier.lease_take(key, &token, self.ttl).await {
                Ok(true) => {
                    if waited {
                        // The holder may have stored the value just before releasing.
                        if let Ok(Some(v)) = self.tier.get(key).await
                            && valid(&v)
                        {
                            let _ = self.tier.lease_release(key, &token).await;
                            return Leased::Ready(v);
                        }
                    }
                    return Leased::Run(Some(self.guard(key, token)));
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(error = %e.message, "lease unavailable: analysing without it");
                    return Leased::Run(None);
                }
            }
            if !waited {
                tracing::info!("another replica analyses this upload: waiting for its report");
                waited = true;
            }
            if let Ok(Some(v)) = self.tier.get(key).await
                && valid(&v)
            {
                return Leased::Ready(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return Leased::Run(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn guard(&self, key: &str, token: String) -> LeaseGuard {
        let (tier, ttl, k, t) = (self.tier.clone(), self.ttl, key.to_owned(), token.clone());
        let renew = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                match tier.lease_renew(&k, &t, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            "analysis lease lost (expired): another replica may run it too"
                        );
                        return;
                    }
                    Err(_) => {} // Redis down: keep trying; the analysis goes on regardless
                }
            }
        });
        LeaseGuard {
            tier: self.tier.clone(),
            key: key.to_owned(),
            token,
            renew: Some(renew),
        }
    }
}

/// A held lease: renewed in the background until released or dropped.
pub struct LeaseGuard {
    tier: RedisTier,
    key: String,
    token: String,
    renew: Option<JoinHandle<()>>,
}

impl LeaseGuard {
    /// Stores the value in Redis (so waiting replicas find it), then releases the lease.
    pub async fn publish(mut self, value: Bytes, ttl: Duration) {
        if let Some(r) = self.renew.take() {
            r.abort();
        }
        if let Err(e) = self.tier.set(&self.key, value, ttl).await {
            tracing::warn!(error = %e.message, "report not written to Redis before the lease release");
        }
        let _ = self.tier.lease_release(&self.key, &self.token).await;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        // Not published (the analysis failed or was cancelled): free the key for another try.
        if let Some(r) = self.renew.take() {
            r.abort();
            let (tier, key, token) = (self.tier.clone(), self.key.clone(), self.token.clone());
            tokio::spawn(async move {
                let _ = tier.lease_release(&key, &token).await;
            });
        }
    }
}
