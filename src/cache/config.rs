//! Typed settings of the analysis cache. The lead's `config` maps environment variables onto it.

use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of [`super::TieredCache`]. Every field names the environment variable meant for it.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `CACHE_MEMORY_MAX_MB`: byte budget of the in-process L1 (weights are value + key sizes),
    /// in MiB. 0 disables L1. Default 256.
    pub memory_max_mb: u64,
    /// `CACHE_TTL_SEC`: time to live of an entry in every tier, in seconds. Default 604800 (7 days).
    pub ttl_sec: u64,
    /// `REDIS_URL`: L2 Redis, e.g. `redis://:password@host:6379/0`. `None` disables L2.
    /// Secret: it may carry a password, so it is never logged. Default `None`.
    pub redis_url: Option<SecretString>,
    /// `REDIS_CONNECT_TIMEOUT_MS`: budget of one connection attempt to Redis, in milliseconds.
    /// Default 50 (loopback or same-rack Redis answers in well under a millisecond).
    pub redis_connect_timeout_ms: u64,
    /// `REDIS_RESPONSE_TIMEOUT_MS`: budget of one Redis command, in milliseconds; past it the
    /// lookup is a miss and counted as a Redis error. Default 50.
    pub redis_response_timeout_ms: u64,
    /// `REDIS_PROBE_INTERVAL_MS`: how often a background task pings Redis to keep
    /// `redis_available` true to life and to reconnect after an outage, in milliseconds.
    /// Default 500.
    pub redis_probe_interval_ms: u64,
    /// `REDIS_LEASE_MS`: lifetime of the cross-replica lease on a key being analysed, ms; the
    /// holder renews it every third of that, so a replica that died frees the key after at most
    /// this long. Default 10000.
    pub redis_lease_ms: u64,
    /// `REDIS_KEY_PREFIX`: prefix of every Redis key (`<prefix>:<namespace>:<key>`), so one
    /// Redis can be shared with other services. Default `speech-coach`.
    pub redis_key_prefix: String,
    /// `CACHE_NAMESPACE`: version of what is stored (the analysis version, e.g. `v1`). Part of
    /// every Redis key and of every disk envelope: entries of another namespace are never served.
    /// Default `v1`.
    pub namespace: String,
    /// `CACHE_DIR`: directory of the L3 disk tier (created if missing). Default `cache/analysis`.
    pub dir: PathBuf,
    /// `CACHE_DISK_MAX_MB`: size cap of the disk tier in MiB; the oldest entries are evicted
    /// past it. 0 disables L3. Default 2048.
    pub disk_max_mb: u64,
    /// `CACHE_DISK_SWEEP_INTERVAL_SEC`: period of the background sweep that deletes expired and
    /// unreadable disk entries and re-syncs the size accounting, in seconds. Default 600.
    pub disk_sweep_interval_sec: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            memory_max_mb: 256,
            ttl_sec: 7 * 24 * 3600,
            redis_url: None,
            redis_connect_timeout_ms: 50,
            redis_response_timeout_ms: 50,
            redis_probe_interval_ms: 500,
            redis_lease_ms: 10_000,
            redis_key_prefix: "speech-coach".to_owned(),
            namespace: "v1".to_owned(),
            dir: PathBuf::from("cache/analysis"),
            disk_max_mb: 2048,
            disk_sweep_interval_sec: 600,
        }
    }
}

const MIB: u64 = 1024 * 1024;

impl CacheConfig {
    /// TTL of every entry.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_sec)
    }

    /// L1 budget in bytes.
    pub fn memory_max_bytes(&self) -> u64 {
        self.memory_max_mb.saturating_mul(MIB)
    }

    /// L3 cap in bytes.
    pub fn disk_max_bytes(&self) -> u64 {
        self.disk_max_mb.saturating_mul(MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let c = CacheConfig::default();
        assert_eq!(c.ttl(), Duration::from_secs(604_800));
        assert_eq!(c.memory_max_bytes(), 256 * MIB);
        assert_eq!(c.disk_max_bytes(), 2048 * MIB);
        assert!(c.redis_url.is_none());
        assert_eq!(c.dir, PathBuf::from("cache/analysis"));
    }

    #[test]
    fn debug_output_does_not_leak_the_redis_password() {
        let c = CacheConfig {
            redis_url: Some(SecretString::from("redis://:hunter2@localhost:6379")),
            ..CacheConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
