//! Jobs shared by every replica through Redis (issue 15): the [`JobStore`] on Redis, the job
//! stream with its consumer group, the uploads (chunked, TTL, size budget), heartbeats and
//! reclaiming.
//!
//! Keys (`<prefix>:jobs:` …):
//! - `stream`: the job stream (entries `job=<id> size=<bytes> chunks=<n>`), consumer group
//!   `workers`. An entry lives from `POST /jobs` until its job ends (`XACK` + `XDEL`), so the
//!   stream's length is the number of open jobs (waiting or running): `MAX_QUEUED_JOBS` bounds it.
//! - `job:<id>`: hash `v` (version, for compare-and-set), `rec` (the [`JobRecord`] JSON), `state`,
//!   `attempts`, `last_error`.
//! - `ev:<id>`: list of the job's events, JSON; event `n` is at index `n - 1`.
//! - `up:<id>:<i>`: the upload, 1 MiB chunks, with a TTL; `upload_bytes`: bytes of the uploads
//!   of open jobs (the budget).
//! - `open:queued`, `open:running` (sets of ids) and `ended:<state>` (sorted sets scored by
//!   expiry): the counts by state without a scan.
//!
//! Every state change goes through the pure state machine ([`JobRecord::apply`]) and is written
//! with a compare-and-set script on `v`, so two writers (a worker and a `DELETE` on another
//! replica, or a reclaimed job's old and new worker) never interleave events. Finished jobs
//! expire `JOB_TTL_SEC` after they end; open ones never do.
//!
//! Every command has a deadline (`JOB_REDIS_TIMEOUT_MS`); the blocking read of the stream has
//! its own connection whose deadline is the block time plus that.

use std::path::Path;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisError, Script, Value};
use async_trait::async_trait;
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::record::{JobEvent, JobRecord, JobState, JobUpdate};
use super::store::{JobCounts, JobStore, StoreError};
use super::{JobId, now_ms};
use crate::config::RedisJobsConfig;

/// Size of one stored upload chunk: a bounded command, a bounded allocation.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Consumer group of every replica's workers.
const GROUP: &str = "workers";
/// Compare-and-set retries of one update before it is reported as failed.
const CAS_RETRIES: usize = 32;
/// How often a blocked event reader looks again.
const EVENT_POLL: Duration = Duration::from_millis(50);

/// One job taken from the stream by this replica.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The stream entry id (what `XACK` and the heartbeat name).
    pub entry: String,
    pub job: JobId,
    pub size: u64,
    pub chunks: u64,
    /// True when it came from `XAUTOCLAIM` (its previous worker stopped heartbeating).
    pub reclaimed: bool,
}

/// Why a job was not enqueued.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("the job queue is full ({0} open jobs)")]
    QueueFull(usize),
    #[error("the upload budget of the job queue is used up")]
    BudgetFull,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The start of an attempt: how many there were, and why the last one failed.
#[derive(Debug)]
pub struct Attempt {
    pub number: u32,
    pub last_error: Option<String>,
    pub record: Option<JobRecord>,
}

/// The job store, queue and upload spool on Redis. Cheap to share (`Arc`).
pub struct RedisJobs {
    conn: ConnectionManager,
    /// For `XREADGROUP BLOCK` only: a blocking command must not stall the shared connection.
    blocking: ConnectionManager,
    prefix: String,
    ttl: Duration,
    timeout: Duration,
    block: Duration,
    cfg: RedisJobsConfig,
    upload_ttl: Duration,
    enqueue: Script,
    cas: Script,
    heartbeat: Script,
    finish: Script,
    create: Script,
    discard: Script,
}

const ENQUEUE: &str = r"
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
local used = tonumber(redis.call('GET', KEYS[5]) or '0')
if used + tonumber(ARGV[3]) > tonumber(ARGV[2]) then return -2 end
redis.call('INCRBY', KEYS[5], ARGV[3])
redis.call('HSET', KEYS[2], 'v', 1, 'rec', ARGV[4], 'state', 'queued', 'attempts', 0)
redis.call('DEL', KEYS[3])
redis.call('RPUSH', KEYS[3], ARGV[5])
redis.call('SADD', KEYS[4], ARGV[6])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[8], '0', 'MKSTREAM')
end
local entry = redis.call('XADD', KEYS[1], '*', 'job', ARGV[6], 'size', ARGV[3], 'chunks', ARGV[7])
redis.call('HSET', KEYS[2], 'entry', entry, 'size', ARGV[3], 'chunks', ARGV[7])
return 1
";

/// A cancelled job that no worker holds leaves the stream at once (its queue place and upload
/// budget are free again). KEYS: stream, upload bytes, job. ARGV: chunk key prefix.
const DISCARD: &str = r"
local f = redis.call('HMGET', KEYS[3], 'entry', 'size', 'chunks')
if not f[1] then return 0 end
if redis.call('XDEL', KEYS[1], f[1]) == 1 then
  local left = redis.call('DECRBY', KEYS[2], f[2])
  if left < 0 then redis.call('SET', KEYS[2], 0) end
  for i = 0, tonumber(f[3]) - 1 do redis.call('DEL', ARGV[1] .. i) end
  return 1
end
return 0
";

const CREATE: &str = r"
redis.call('HSET', KEYS[1], 'v', 1, 'rec', ARGV[1], 'state', ARGV[3], 'attempts', 0)
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
";

/// KEYS: job, events, old state's set, new state's set (or sorted set when terminal).
/// ARGV: expected version, record, new state, terminal (1/0), ttl ms, expiry ms, id, events…
const CAS: &str = r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', tonumber(ARGV[1]) + 1, 'rec', ARGV[2], 'state', ARGV[3])
for i = 8, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
if KEYS[3] ~= KEYS[4] then
  redis.call('SREM', KEYS[3], ARGV[7])
  if ARGV[4] == '1' then
    redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
  else
    redis.call('SADD', KEYS[4], ARGV[7])
  end
end
if ARGV[4] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return 1
";

/// Resets the entry's idle time only while this consumer still owns it (a reclaimed entry is
/// never stolen back by its old worker). KEYS: stream. ARGV: group, consumer, entry.
const HEARTBEAT: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
";

/// Ends an entry: ack, delete, give its bytes back to the budget (once), drop its chunks.
/// KEYS: stream, upload bytes, chunk keys… ARGV: group, entry, size.
const FINISH: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if redis.call('XDEL', KEYS[1], ARGV[2]) == 1 then
  local left = redis.call('DECRBY', KEYS[2], ARGV[3])
  if left < 0 then redis.call('SET', KEYS[2], 0) end
end
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
";

fn store_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("redis {what}: {e}"))
}

impl RedisJobs {
    /// Sets up the connections (lazily: a Redis that is down fails the first commands, not
    /// startup). `ttl`: `JOB_TTL_SEC`; `upload_ttl`: how long an upload may wait in Redis.
    pub fn new(
        cfg: &RedisJobsConfig,
        ttl: Duration,
        upload_ttl: Duration,
    ) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(cfg.url.expose_secret())
            .map_err(|e| StoreError(format!("invalid jobs Redis URL: {:?}", e.kind())))?;
        let block = cfg.heartbeat.min(Duration::from_secs(1));
        let manager = |response: Duration| {
            let c = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(cfg.timeout))
                .set_response_timeout(Some(response))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(Duration::from_millis(100));
            ConnectionManager::new_lazy_with_config(client.clone(), c)
                .map_err(|e| StoreError(format!("jobs Redis setup: {:?}", e.kind())))
        };
        Ok(Self {
            conn: manager(cfg.timeout)?,
            blocking: manager(cfg.timeout + block)?,
            prefix: format!("{}:jobs:", cfg.key_prefix),
            ttl,
            timeout: cfg.timeout,
            block,
            cfg: cfg.clone(),
            upload_ttl,
            enqueue: Script::new(ENQUEUE),
            cas: Script::new(CAS),
            heartbeat: Script::new(HEARTBEAT),
            finish: Script::new(FINISH),
            create: Script::new(CREATE),
            discard: Script::new(DISCARD),
        })
    }

    pub fn config(&self) -> &RedisJobsConfig {
        &self.cfg
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    fn stream(&self) -> String {
        self.key("stream")
    }

    fn job_key(&self, id: &JobId) -> String {
        self.key(&format!("job:{id}"))
    }

    fn events_key(&self, id: &JobId) -> String {
        self.key(&format!("ev:{id}"))
    }

    fn chunk_key(&self, id: &JobId, i: u64) -> String {
        self.key(&format!("up:{id}:{i}"))
    }

    fn state_key(&self, state: JobState) -> String {
        if state.is_terminal() {
            self.key(&format!("ended:{}", state.as_str()))
        } else {
            self.key(&format!("open:{}", state.as_str()))
        }
    }

    /// Runs one command (or script) under the deadline.
    async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout * 2, op(self.conn.clone())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(store_err(what, e)),
            Err(_) => Err(store_err(
                what,
                format!("timed out after {:?}", self.timeout),
            )),
        }
    }

    /// Whether Redis answers now (health; at most half a second). Tried twice: the first
    /// command after Redis came back fails on the dead connection and makes the manager
    /// reconnect, the second one then answers.
    pub async fn ping(&self) -> bool {
        let conn = self.conn.clone();
        let ping = async move {
            for _ in 0..2 {
                let mut c = conn.clone();
                if ::redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
                {
                    return true;
                }
            }
            false
        };
        let limit = self.timeout.min(Duration::from_millis(500));
        tokio::time::timeout(limit, ping).await.unwrap_or(false)
    }

    /// Creates the consumer group of an existing stream unless it exists (the first enqueue
    /// creates both; nothing is written to a Redis that has never seen a job).
    pub async fn ensure_group(&self) -> Result<(), StoreError> {
        let stream = self.stream();
        let r = self
            .run("XGROUP CREATE", |mut c| async move {
                ::redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg("0")
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
        match r {
            // The group exists, or there is no stream yet (no job was ever enqueued).
            Err(e) if e.0.contains("BUSYGROUP") || e.0.contains("requires the key to exist") => {
                Ok(())
            }
            other => other,
        }
    }

    /// Stores the upload (chunked, with a TTL), then — atomically, within the bounds — the job's
    /// record, its first event and its stream entry. On refusal the chunks are removed.
    pub async fn enqueue(&self, mut record: JobRecord, upload: &Path) -> Result<(), EnqueueError> {
        let id = record.id.clone();
        let chunks = self.store_upload(&id, upload).await;
        let (chunks, size) = match chunks {
            Ok(v) => v,
            Err(e) => {
                self.drop_chunks(&id, upload_chunks_of(upload).await).await;
                return Err(e.into());
            }
        };
        let first = record.created_event();
        let rec = serde_json::to_string(&record).map_err(|e| store_err("encode", e))?;
        let ev = serde_json::to_string(&first).map_err(|e| store_err("encode", e))?;
        let keys = [
            self.stream(),
            self.job_key(&id),
            self.events_key(&id),
            self.state_key(JobState::Queued),
            self.key("upload_bytes"),
        ];
        let (max, budget) = (self.cfg.max_queued, self.cfg.upload_budget_bytes);
        let script = &self.enqueue;
        let r: Result<i64, StoreError> = self
            .run("enqueue", |mut c| async move {
                let mut inv = script.prepare_invoke();
                for k in &keys {
                    inv.key(k);
                }
                inv.arg(max)
                    .arg(budget)
                    .arg(size)
                    .arg(&rec)
                    .arg(&ev)
                    .arg(id.as_str())
                    .arg(chunks)
                    .arg(GROUP);
                inv.invoke_async(&mut c).await
            })
            .await;
        let refused = match r {
            Ok(1) => return Ok(()),
            Ok(-1) => EnqueueError::QueueFull(max),
            Ok(_) => EnqueueError::BudgetFull,
            Err(e) => EnqueueError::Store(e),
        };
        self.drop_chunks(&record.id, chunks).await;
        Err(refused)
    }

    async fn store_upload(&self, id: &JobId, path: &Path) -> Result<(u64, u64), StoreError> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| store_err("read upload", e))?;
        let ttl_ms = self.upload_ttl.as_millis() as u64;
        let mut buf = vec![0u8; CHUNK_BYTES];
        let (mut i, mut size) = (0u64, 0u64);
        loop {
            let mut filled = 0;
            while filled < CHUNK_BYTES {
                let n = file
                    .read(&mut buf[filled..])
                    .await
                    .map_err(|e| store_err("read upload", e))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 && i > 0 {
                break;
            }
            let key = self.chunk_key(id, i);
            let bytes = &buf[..filled];
            self.run("SET chunk", |mut c| async move {
                ::redis::cmd("SET")
                    .arg(&key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
            i += 1;
            size += filled as u64;
            if filled < CHUNK_BYTES {
                break;
            }
        }
        Ok((i, size))
    }

    async fn drop_chunks(&self, id: &JobId, chunks: u64) {
        if chunks == 0 {
            return;
        }
        let keys: Vec<String> = (0..chunks).map(|i| self.chunk_key(id, i)).collect();
        let _ = self
            .run("DEL chunks", |mut c| async move {
                ::redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
    }

    /// Writes a delivered job's upload to `dest`. `Ok(false)`: it is no longer stored.
    pub async fn fetch_upload(&self, d: &Delivery, dest: &Path) -> Result<bool, StoreError> {
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| store_err("write upload", e))?;
        let mut written = 0u64;
        for i in 0..d.chunks {
            let key = self.chunk_key(&d.job, i);
            let chunk: Option<Vec<u8>> = self
                .run("GET chunk", |mut c| async move {
                    ::redis::cmd("GET").arg(&key).query_async(&mut c).await
                })
                .await?;
            let Some(chunk) = chunk else {
                return Ok(false);
            };
            written += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| store_err("write upload", e))?;
        }
        file.flush()
            .await
            .map_err(|e| store_err("write upload", e))?;
        Ok(written == d.size)
    }

    /// The next job for this consumer: one whose worker stopped heartbeating first (XAUTOCLAIM),
    /// else a new one (XREADGROUP, blocking a little). `None`: nothing to do now.
    pub async fn next(&self, consumer: &str) -> Result<Option<Delivery>, StoreError> {
        if let Some(d) = self.reclaim(consumer).await? {
            return Ok(Some(d));
        }
        let stream = self.stream();
        let block_ms = self.block.as_millis() as u64;
        let mut conn = self.blocking.clone();
        let read = async {
            ::redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(consumer)
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&stream)
                .arg(">")
                .query_async::<Value>(&mut conn)
                .await
        };
        let reply = match tokio::time::timeout(self.timeout + self.block * 2, read).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) if e.to_string().contains("NOGROUP") => {
                // No stream yet (no job ever), or Redis lost it (restarted without
                // persistence): make the group if there is a stream, and wait a round.
                self.ensure_group().await?;
                tokio::time::sleep(self.block).await;
                return Ok(None);
            }
            Ok(Err(e)) => return Err(store_err("XREADGROUP", e)),
            Err(_) => return Err(store_err("XREADGROUP", "timed out")),
        };
        // [[stream, [[id, [k, v, …]]]]] or nil.
        let entry = match reply {
            Value::Array(streams) => streams.into_iter().next().and_then(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => match pair.pop() {
                    Some(Value::Array(entries)) => entries.into_iter().next(),
                    _ => None,
                },
                _ => None,
            }),
            _ => None,
        };
        Ok(entry.and_then(|e| parse_entry(e, false)))
    }

    async fn reclaim(&self, consumer: &str) -> Result<Option<Delivery>, StoreError> {
        let stream = self.stream();
        let idle = self.cfg.reclaim_after().as_millis() as u64;
        let reply: Value = self
            .run("XAUTOCLAIM", |mut c| async move {
                ::redis::cmd("XAUTOCLAIM")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(idle)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut c)
                    .await
            })
            .await
            .or_else(|e| {
                if e.0.contains("NOGROUP") {
                    Ok(Value::Nil)
                } else {
                    Err(e)
                }
            })?;
        // [cursor, [[id, [k, v…]]…], [deleted ids…]]
        let Value::Array(parts) = reply else {
            return Ok(None);
        };
        let mut parts = parts.into_iter();
        let _cursor = parts.next();
        let claimed = parts.next();
        if let Some(Value::Array(deleted)) = parts.next() {
            // Entries deleted while pending: nothing to run, just stop tracking them.
            for id in deleted.iter().filter_map(as_string) {
                let stream = self.stream();
                let _ = self
                    .run("XACK", |mut c| async move {
                        ::redis::cmd("XACK")
                            .arg(&stream)
                            .arg(GROUP)
                            .arg(&id)
                            .query_async::<()>(&mut c)
                            .await
                    })
                    .await;
            }
        }
        Ok(match claimed {
            Some(Value::Array(entries)) => entries
                .into_iter()
                .next()
                .and_then(|e| parse_entry(e, true)),
            _ => None,
        })
    }

    /// Tells Redis this consumer still runs the entry. `Ok(false)`: it does not own it any
    /// more (reclaimed by another replica, or ended): stop.
    pub async fn heartbeat(&self, consumer: &str, entry: &str) -> Result<bool, StoreError> {
        let stream = self.stream();
        let script = &self.heartbeat;
        let r: i64 = self
            .run("heartbeat", |mut c| async move {
                script
                    .key(&stream)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(entry)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(r == 1)
    }

    /// Counts an attempt of the job and reads what the previous ones left.
    pub async fn begin_attempt(&self, id: &JobId) -> Result<Attempt, StoreError> {
        let key = self.job_key(id);
        let (number, last_error): (u32, Option<String>) = self
            .run("attempt", |mut c| async move {
                ::redis::pipe()
                    .atomic()
                    .cmd("HINCRBY")
                    .arg(&key)
                    .arg("attempts")
                    .arg(1)
                    .cmd("HGET")
                    .arg(&key)
                    .arg("last_error")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let record = self.get(id).await?;
        if record.is_none() {
            // HINCRBY created a bare hash for an expired job: remove it again.
            let key = self.job_key(id);
            let _ = self
                .run("DEL", |mut c| async move {
                    ::redis::cmd("DEL")
                        .arg(&key)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
        }
        Ok(Attempt {
            number,
            last_error,
            record,
        })
    }

    /// Records why an attempt failed (the next one, or the final `failed`, tells it).
    pub async fn note_failure(&self, id: &JobId, reason: &str) -> Result<(), StoreError> {
        let key = self.job_key(id);
        self.run("HSET", |mut c| async move {
            ::redis::cmd("HSET")
                .arg(&key)
                .arg("last_error")
                .arg(reason)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// The job's state without reading its record (the worker's heartbeat looks at it).
    pub async fn state(&self, id: &JobId) -> Result<Option<JobState>, StoreError> {
        let key = self.job_key(id);
        let s: Option<String> = self
            .run("HGET", |mut c| async move {
                ::redis::cmd("HGET")
                    .arg(&key)
                    .arg("state")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(s.and_then(|s| JobState::ALL.into_iter().find(|st| st.as_str() == s)))
    }

    /// Ends a delivered entry: acked, deleted from the stream, its upload removed.
    pub async fn finish(&self, d: &Delivery) -> Result<(), StoreError> {
        let mut keys = vec![self.stream(), self.key("upload_bytes")];
        keys.extend((0..d.chunks).map(|i| self.chunk_key(&d.job, i)));
        let script = &self.finish;
        let (entry, size) = (d.entry.clone(), d.size);
        self.run("finish", |mut c| async move {
            let mut inv = script.prepare_invoke();
            for k in &keys {
                inv.key(k);
            }
            inv.arg(GROUP).arg(&entry).arg(size);
            inv.invoke_async::<()>(&mut c).await
        })
        .await
    }

    /// Takes a cancelled job's entry out of the stream unless a worker already holds it (then
    /// that worker ends it when it sees the cancellation).
    pub async fn discard(&self, id: &JobId) -> Result<(), StoreError> {
        let keys = [self.stream(), self.key("upload_bytes"), self.job_key(id)];
        let chunk_prefix = self.key(&format!("up:{id}:"));
        let script = &self.discard;
        self.run("discard", |mut c| async move {
            script
                .key(&keys[0])
                .key(&keys[1])
                .key(&keys[2])
                .arg(&chunk_prefix)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
        .map(|_| ())
    }

    /// Open jobs in the stream (waiting or running), cluster-wide.
    pub async fn open_jobs(&self) -> Result<usize, StoreError> {
        let stream = self.stream();
        self.run("XLEN", |mut c| async move {
            ::redis::cmd("XLEN").arg(&stream).query_async(&mut c).await
        })
        .await
    }

    async fn read(&self, id: &JobId) -> Result<Option<(String, JobRecord)>, StoreError> {
        let key = self.job_key(id);
        let (v, rec): (Option<String>, Option<String>) = self
            .run("HMGET", |mut c| async move {
                ::redis::cmd("HMGET")
                    .arg(&key)
                    .arg("v")
                    .arg("rec")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        match (v, rec) {
            (Some(v), Some(rec)) => {
                let record: JobRecord =
                    serde_json::from_str(&rec).map_err(|e| store_err("decode record", e))?;
                Ok(Some((v, record)))
            }
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl JobStore for RedisJobs {
    async fn create(&self, mut record: JobRecord) -> Result<(), StoreError> {
        let first = record.created_event();
        let rec = serde_json::to_string(&record).map_err(|e| store_err("encode", e))?;
        let ev = serde_json::to_string(&first).map_err(|e| store_err("encode", e))?;
        let keys = [
            self.job_key(&record.id),
            self.events_key(&record.id),
            self.state_key(record.public.state),
        ];
        let script = &self.create;
        let (state, id) = (record.public.state.as_str(), record.id.to_string());
        self.run("create", |mut c| async move {
            script
                .key(&keys[0])
                .key(&keys[1])
                .key(&keys[2])
                .arg(&rec)
                .arg(&ev)
                .arg(state)
                .arg(&id)
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn get(&self, id: &JobId) -> Result<Option<JobRecord>, StoreError> {
        Ok(self.read(id).await?.map(|(_, r)| r))
    }

    async fn update(&self, id: &JobId, update: JobUpdate) -> Result<Vec<JobEvent>, StoreError> {
        for _ in 0..CAS_RETRIES {
            let Some((version, mut record)) = self.read(id).await? else {
                return Ok(Vec::new());
            };
            let old = record.public.state;
            let events = record.apply(update.clone(), now_ms());
            if events.is_empty() {
                return Ok(events);
            }
            let rec = serde_json::to_string(&record).map_err(|e| store_err("encode", e))?;
            let encoded: Vec<String> = events
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<_, _>>()
                .map_err(|e| store_err("encode", e))?;
            let keys = [
                self.job_key(id),
                self.events_key(id),
                self.state_key(old),
                self.state_key(record.public.state),
            ];
            let terminal = record.public.state.is_terminal();
            let ttl_ms = self.ttl.as_millis().max(1) as u64;
            let expiry = now_ms() + ttl_ms;
            let script = &self.cas;
            let state = record.public.state.as_str();
            let ok: i64 = self
                .run("update", |mut c| async move {
                    let mut inv = script.prepare_invoke();
                    for k in &keys {
                        inv.key(k);
                    }
                    inv.arg(&version)
                        .arg(&rec)
                        .arg(state)
                        .arg(if terminal { "1" } else { "0" })
                        .arg(ttl_ms)
                        .arg(expiry)
                        .arg(id.as_str());
                    for e in &encoded {
                        inv.arg(e);
                    }
                    inv.invoke_async(&mut c).await
                })
                .await?;
            if ok == 1 {
                return Ok(events);
            }
        }
        Err(StoreError(format!(
            "job {id}: {CAS_RETRIES} concurrent updates in a row"
        )))
    }

    async fn events(
        &self,
        id: &JobId,
        after: u64,
        wait: Duration,
    ) -> Result<Option<Vec<JobEvent>>, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let key = self.events_key(id);
            let raw: Vec<String> = self
                .run("LRANGE", |mut c| async move {
                    ::redis::cmd("LRANGE")
                        .arg(&key)
                        .arg(after)
                        .arg(-1)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            if !raw.is_empty() {
                let events = raw
                    .iter()
                    .map(|s| serde_json::from_str::<JobEvent>(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| store_err("decode event", e))?;
                return Ok(Some(events));
            }
            match self.state(id).await? {
                None => return Ok(None),
                Some(s) if s.is_terminal() => return Ok(Some(Vec::new())),
                Some(_) => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Some(Vec::new()));
            }
            tokio::time::sleep(EVENT_POLL.min(deadline - now)).await;
        }
    }

    async fn remove(&self, id: &JobId) -> Result<(), StoreError> {
        let keys = [self.job_key(id), self.events_key(id)];
        let sets = [
            self.state_key(JobState::Queued),
            self.state_key(JobState::Running),
        ];
        let id = id.to_string();
        self.run("remove", |mut c| async move {
            ::redis::pipe()
                .cmd("DEL")
                .arg(&keys)
                .ignore()
                .cmd("SREM")
                .arg(&sets[0])
                .arg(&id)
                .ignore()
                .cmd("SREM")
                .arg(&sets[1])
                .arg(&id)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn counts(&self) -> Result<JobCounts, StoreError> {
        let now = now_ms();
        let ended: Vec<String> = [JobState::Done, JobState::Failed, JobState::Cancelled]
            .iter()
            .map(|s| self.state_key(*s))
            .collect();
        let open = [
            self.state_key(JobState::Queued),
            self.state_key(JobState::Running),
        ];
        let (q, r, d, f, c): (usize, usize, usize, usize, usize) = self
            .run("counts", |mut conn| async move {
                let mut p = ::redis::pipe();
                for k in &ended {
                    p.cmd("ZREMRANGEBYSCORE")
                        .arg(k)
                        .arg("-inf")
                        .arg(now)
                        .ignore();
                }
                p.cmd("SCARD").arg(&open[0]).cmd("SCARD").arg(&open[1]);
                for k in &ended {
                    p.cmd("ZCARD").arg(k);
                }
                p.query_async(&mut conn).await
            })
            .await?;
        Ok(JobCounts {
            queued: q,
            running: r,
            done: d,
            failed: f,
            cancelled: c,
        })
    }
}

/// How many chunks a partly stored upload may have left behind.
async fn upload_chunks_of(path: &Path) -> u64 {
    tokio::fs::metadata(path)
        .await
        .map_or(0, |m| m.len().div_ceil(CHUNK_BYTES as u64).max(1))
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// `[id, [k, v, …]]` → a delivery (entries without a valid job id are skipped).
fn parse_entry(entry: Value, reclaimed: bool) -> Option<Delivery> {
    let Value::Array(mut parts) = entry else {
        return None;
    };
    if parts.len() != 2 {
        return None;
    }
    let fields = parts.pop()?;
    let id = as_string(&parts.pop()?)?;
    let mut job = None;
    let (mut size, mut chunks) = (0, 0);
    let kv: Vec<String> = match fields {
        Value::Array(f) => f.iter().filter_map(as_string).collect(),
        Value::Map(m) => m
            .iter()
            .flat_map(|(k, v)| [as_string(k), as_string(v)])
            .flatten()
            .collect(),
        _ => Vec::new(),
    };
    for pair in kv.chunks_exact(2) {
        match pair[0].as_str() {
            "job" => job = JobId::parse(&pair[1]),
            "size" => size = pair[1].parse().unwrap_or(0),
            "chunks" => chunks = pair[1].parse().unwrap_or(0),
            _ => {}
        }
    }
    Some(Delivery {
        entry: id,
        job: job?,
        size,
        chunks,
        reclaimed,
    })
}
