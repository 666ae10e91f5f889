//! The database behind the history: SQLite (embedded default) or PostgreSQL, one SQL text for
//! both (`$n` placeholders work in each), migrations embedded from `migrations/<backend>/`.
//!
//! Every call is bounded by the query timeout; the pool's acquire timeout bounds connecting.
//! Migrations run on first use, so the service starts (and analyses) while the database is
//! still down.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::OnceCell;

use super::config::HistoryConfig;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Budget of applying the migrations (once per process): creating tables on a busy disk can take
/// far longer than a query, and a timeout here would only retry the same work later.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A store failure, as the callers need to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is too slow right now: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The row refers to a speaker that does not exist (deleted meanwhile, or never was).
    #[error("unknown speaker")]
    UnknownSpeaker,
    /// Anything else (a bug, a corrupt row): not worth retrying.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::UnknownSpeaker,
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e.to_string()),
            // Postgres shutting down / starting up / too many clients; SQLite busy or locked.
            sqlx::Error::Database(db)
                if matches!(
                    db.code().as_deref(),
                    Some("57P01" | "57P02" | "57P03" | "53300" | "5" | "6" | "517")
                ) =>
            {
                Self::Unavailable(e.to_string())
            }
            _ => Self::Other(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => Self::from(inner),
            other => Self::Other(other.to_string()),
        }
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code against whichever pool it is (the SQL is shared).
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// Inserts one [`RehearsalRow`] (a query for either backend, to execute): the same id twice is
/// not an error (a retried write whose first attempt landed after all).
macro_rules! insert_rehearsal {
    ($r:expr) => {
        sqlx::query(
            "INSERT INTO rehearsals (id, speaker_id, recorded_at_ms, title, language, \
             duration_sec, report_id, metrics_json, report_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&$r.id)
        .bind(&$r.speaker_id)
        .bind($r.recorded_at_ms)
        .bind(&$r.title)
        .bind(&$r.language)
        .bind($r.duration_sec)
        .bind(&$r.report_id)
        .bind(&$r.metrics_json)
        .bind(&$r.report_json)
    };
}

/// The [`RehearsalMeta`] of a row whose first seven columns are `id, recorded_at_ms, title,
/// language, duration_sec, report_id, metrics_json` (either backend's row).
macro_rules! meta_of {
    ($r:expr) => {
        Ok::<_, sqlx::Error>(RehearsalMeta {
            facts: RehearsalFacts {
                id: $r.try_get(0)?,
                recorded_at_ms: $r.try_get(1)?,
                title: $r.try_get(2)?,
                language: $r.try_get(3)?,
                duration_sec: $r.try_get(4)?,
                report_id: $r.try_get(5)?,
            },
            metrics_json: $r.try_get(6)?,
        })
    };
}

/// One rehearsal row to insert (also the outbox's file format, hence serde).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RehearsalRow {
    pub id: String,
    pub speaker_id: String,
    pub recorded_at_ms: i64,
    pub title: Option<String>,
    pub language: String,
    pub duration_sec: f64,
    pub report_id: String,
    pub metrics_json: String,
    pub report_json: String,
}

/// A rehearsal as listed (no report).
#[derive(Debug, Clone)]
pub struct RehearsalMeta {
    pub facts: RehearsalFacts,
    pub metrics_json: String,
}

/// What a rehearsal is, as stored and as listed to clients.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RehearsalFacts {
    pub id: String,
    pub recorded_at_ms: i64,
    pub title: Option<String>,
    pub language: String,
    pub duration_sec: f64,
    pub report_id: String,
}

/// The database, its kind and the budgets of each call.
pub struct Store {
    pool: Pool,
    query_timeout: Duration,
    migrated: OnceCell<()>,
    backend: &'static str,
}

impl Store {
    /// Opens a lazy pool for `cfg` (no connection is made yet; a bad URL fails here).
    pub fn open(cfg: &HistoryConfig) -> Result<Self, String> {
        let url = cfg.url();
        let (pool, backend) = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(&url)
                .map_err(|e| format!("DATABASE_URL: {e}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL: commits do not fsync (checkpoints do); a power cut may lose the
                // last rehearsals, never corrupt the file. FULL made each commit wait for the disk,
                // seconds on a busy one.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(cfg.query_timeout);
            if let Some(dir) = opts.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("DATA_DIR {}: {e}", dir.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(cfg.max_connections)
                .acquire_timeout(cfg.connect_timeout)
                .connect_lazy_with(opts);
            (Pool::Sqlite(pool), "sqlite")
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = sqlx::postgres::PgConnectOptions::from_str(&url)
                .map_err(|e| format!("DATABASE_URL: {e}"))?;
            let pool = PgPoolOptions::new()
                .max_connections(cfg.max_connections)
                .acquire_timeout(cfg.connect_timeout)
                .connect_lazy_with(opts);
            (Pool::Postgres(pool), "postgres")
        } else {
            return Err("DATABASE_URL: expected sqlite://… or postgres://…".into());
        };
        Ok(Self {
            pool,
            query_timeout: cfg.query_timeout,
            migrated: OnceCell::new(),
            backend,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Bounds `f` by the query timeout, after making sure the schema is migrated.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        // The first use may apply the migrations: their own (longer) budget, not the query's.
        tokio::time::timeout(MIGRATION_TIMEOUT, self.migrate())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!("migrations took over {MIGRATION_TIMEOUT:?}"))
            })??;
        let budget = self.query_timeout;
        tokio::time::timeout(budget, f)
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer within {budget:?}")))?
            .map_err(StoreError::from)
    }

    /// Applies the migrations once (concurrent replicas: sqlx takes the database's lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrated
            .get_or_try_init(|| async {
                on_pool!(&self.pool, |p| {
                    if self.backend == "sqlite" {
                        SQLITE_MIGRATIONS.run(p).await
                    } else {
                        POSTGRES_MIGRATIONS.run(p).await
                    }
                })
                .map_err(StoreError::from)
            })
            .await
            .map(|_| ())
    }

    /// Is the database answering now?
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(async {
            on_pool!(&self.pool, |p| sqlx::query("SELECT 1")
                .execute(p)
                .await
                .map(|_| ()))
        })
        .await
    }

    pub async fn create_speaker(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let sql =
            "INSERT INTO speakers (id, created_at_ms) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";
        self.run(async {
            on_pool!(&self.pool, |p| sqlx::query(sql)
                .bind(id)
                .bind(now_ms)
                .execute(p)
                .await
                .map(|r| r.rows_affected() == 1))
        })
        .await
    }

    /// The speaker's goals JSON, `None` when there is no such speaker.
    pub async fn speaker_goals(&self, id: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT goals_json FROM speakers WHERE id = $1";
        self.run(async {
            on_pool!(&self.pool, |p| sqlx::query(sql)
                .bind(id)
                .fetch_optional(p)
                .await
                .and_then(|row| row
                    .map(|r| r.try_get::<String, _>(0))
                    .transpose()))
        })
        .await
    }

    /// Replaces the goals; false when there is no such speaker.
    pub async fn set_goals(&self, id: &str, goals_json: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE speakers SET goals_json = $1 WHERE id = $2";
        self.run(async {
            on_pool!(&self.pool, |p| sqlx::query(sql)
                .bind(goals_json)
                .bind(id)
                .execute(p)
                .await
                .map(|r| r.rows_affected() == 1))
        })
        .await
    }

    /// Deletes the speaker and every rehearsal of it in one transaction: `None` when there was
    /// no such speaker, else how many rehearsals were erased.
    pub async fn delete_speaker(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.run(async {
            on_pool!(&self.pool, |p| {
                let mut tx = p.begin().await?;
                let erased = sqlx::query("DELETE FROM rehearsals WHERE speaker_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let existed = sqlx::query("DELETE FROM speakers WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                tx.commit().await?;
                Ok(existed.then_some(erased))
            })
        })
        .await
    }

    /// Inserts a rehearsal. Inserting the same id twice is not an error (a retried write
    /// whose first attempt landed after all).
    pub async fn insert_rehearsal(&self, r: &RehearsalRow) -> Result<(), StoreError> {
        self.run(async {
            on_pool!(&self.pool, |p| insert_rehearsal!(r)
                .execute(p)
                .await
                .map(|_| ()))
        })
        .await
    }

    /// Inserts many rehearsals in one transaction (imports, benchmark seeding). Not bounded
    /// by the query timeout: its length depends on the batch.
    pub async fn insert_rehearsals_bulk(&self, rows: &[RehearsalRow]) -> Result<(), StoreError> {
        self.migrate().await?;
        let result: Result<(), sqlx::Error> = on_pool!(&self.pool, |p| {
            let mut tx = p.begin().await?;
            for r in rows {
                insert_rehearsal!(r).execute(&mut *tx).await?;
            }
            tx.commit().await
        });
        result.map_err(StoreError::from)
    }

    pub async fn count_rehearsals(&self, speaker: &str) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM rehearsals WHERE speaker_id = $1";
        self.run(async {
            on_pool!(&self.pool, |p| sqlx::query(sql)
                .bind(speaker)
                .fetch_one(p)
                .await
                .and_then(|r| r.try_get::<i64, _>(0)))
        })
        .await
    }

    /// The most recent `limit` rehearsals after skipping `offset`, newest first.
    pub async fn list_rehearsals(
        &self,
        speaker: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<RehearsalMeta>, StoreError> {
        let sql = "SELECT id, recorded_at_ms, title, language, duration_sec, report_id, metrics_json \
                   FROM rehearsals WHERE speaker_id = $1 \
                   ORDER BY recorded_at_ms DESC, seq DESC LIMIT $2 OFFSET $3";
        self.run(async {
            on_pool!(&self.pool, |p| {
                let rows = sqlx::query(sql)
                    .bind(speaker)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(p)
                    .await?;
                rows.iter()
                    .map(|r| meta_of!(r))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        })
        .await
    }

    /// One rehearsal of this speaker with its stored report JSON.
    pub async fn rehearsal(
        &self,
        speaker: &str,
        id: &str,
    ) -> Result<Option<(RehearsalMeta, String)>, StoreError> {
        let sql = "SELECT id, recorded_at_ms, title, language, duration_sec, report_id, metrics_json, \
                   report_json FROM rehearsals WHERE speaker_id = $1 AND id = $2";
        self.run(async {
            on_pool!(&self.pool, |p| {
                let row = sqlx::query(sql)
                    .bind(speaker)
                    .bind(id)
                    .fetch_optional(p)
                    .await?;
                row.map(|r| Ok((meta_of!(r)?, r.try_get(7)?))).transpose()
            })
        })
        .await
    }

    /// Closes the pool (waits for checked-out connections).
    pub async fn close(&self) {
        on_pool!(&self.pool, |p| p.close().await)
    }
}
