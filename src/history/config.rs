//! Typed settings of the rehearsal history. `config` maps environment variables onto it.

use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of [`super::History`]. Every field names its environment variable.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// `DATABASE_URL`: `sqlite://path/to/file.db` or `postgres://user:pass@host:5432/db`.
    /// `None` → `sqlite://<DATA_DIR>/speech-coach.db`. Secret: it may carry a password.
    pub database_url: Option<SecretString>,
    /// `DATA_DIR`: directory of the embedded SQLite database (created if missing). Default
    /// `data` (beside the cache's default `cache/`).
    pub data_dir: PathBuf,
    /// `DATABASE_MAX_CONNECTIONS`: connections in the pool. Default 8.
    pub max_connections: u32,
    /// `DATABASE_CONNECT_TIMEOUT_MS`: longest wait for a pooled connection (connecting
    /// included), ms; past it the database counts as down. Default 2000.
    pub connect_timeout: Duration,
    /// `DATABASE_QUERY_TIMEOUT_MS`: budget of one query (or transaction), ms. Default 2000.
    pub query_timeout: Duration,
    /// `HISTORY_BASELINE_REHEARSALS`: the baseline is the median of this many previous
    /// rehearsals. Default 5.
    pub baseline_rehearsals: usize,
    /// `HISTORY_OUTBOX_CAPACITY`: rehearsal writes kept for retry while the database is down
    /// (in memory and as files in [`HistoryConfig::outbox_dir`]); past it new rehearsals are
    /// reported as not recorded. Default 1000.
    pub outbox_capacity: usize,
    /// `HISTORY_RETRY_INTERVAL_MS`: how often pending writes are retried, ms. Default 1000.
    pub retry_interval: Duration,
    /// `HISTORY_MAX_REHEARSALS`: most recent rehearsals the progress view and goal statuses
    /// read per speaker. Default 1000.
    pub max_rehearsals: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            data_dir: PathBuf::from("data"),
            max_connections: 8,
            connect_timeout: Duration::from_millis(2000),
            query_timeout: Duration::from_millis(2000),
            baseline_rehearsals: 5,
            outbox_capacity: 1000,
            retry_interval: Duration::from_millis(1000),
            max_rehearsals: 1000,
        }
    }
}

impl HistoryConfig {
    /// Where rehearsal writes waiting for the database are kept across restarts:
    /// `<DATA_DIR>/history-outbox`.
    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("history-outbox")
    }

    /// The database URL to open: `DATABASE_URL`, else the SQLite file in `DATA_DIR`.
    pub fn url(&self) -> String {
        use secrecy::ExposeSecret;
        match &self.database_url {
            Some(u) => u.expose_secret().to_string(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join("speech-coach.db").display()
            ),
        }
    }
}
