//! L3: one file per key on local disk; survives restarts.
//!
//! Each file is an envelope (see [`envelope`]) with magic, format version, namespace, expiry,
//! the key, lengths and a BLAKE3 checksum, so a truncated, garbled or foreign file is detected
//! on read, treated as a miss and deleted. Files are written to a temp file, fsynced and renamed
//! into place, so a reader never sees half a file. A size cap evicts the oldest files; a
//! background sweep deletes expired and broken files and re-syncs the size accounting (other
//! replicas may share the directory).

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::files::TEMP_PREFIX;

use super::{Tier, TierError, TierName, TierStats, TierStatus, TierUsage};

/// Extension of entry files; anything else in the directory is left alone (except our temps).
const ENTRY_EXT: &str = "entry";
/// A temp file older than this is a leftover of a crashed write (a live write takes ms).
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
/// Eviction goes down to this fraction of the cap, so a full cache doesn't evict on every write.
const EVICT_LOW_WATERMARK: f64 = 0.9;

/// The on-disk entry format.
pub mod envelope {
    /// File magic: "speech-coach cache entry".
    pub const MAGIC: [u8; 4] = *b"SCCE";
    /// Version of this layout; bump when it changes (older files then read as misses).
    pub const FORMAT_VERSION: u16 = 1;
    /// magic 4 | version 2 | namespace len 2 | key len 2 | reserved 2 | expires_at_ms 8 |
    /// payload len 8, all little-endian; then namespace, key, payload, 32-byte BLAKE3 of all
    /// that precedes it.
    pub const HEADER_LEN: usize = 28;
    const CHECKSUM_LEN: usize = 32;

    /// The fixed header, enough to decide about expiry and namespace without reading the rest.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Header {
        pub version: u16,
        pub namespace_len: usize,
        pub key_len: usize,
        pub expires_at_ms: u64,
        pub payload_len: u64,
    }

    impl Header {
        /// Total file length this header announces.
        pub fn file_len(&self) -> u64 {
            (HEADER_LEN + self.namespace_len + self.key_len + CHECKSUM_LEN) as u64
                + self.payload_len
        }
    }

    /// Why an entry was not served.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Reject {
        /// Not our magic: garbage or a foreign file.
        BadMagic,
        /// Written by another layout version.
        OtherFormatVersion(u16),
        /// Written by another analysis version (namespace).
        OtherNamespace,
        /// Shorter or longer than its header says.
        Truncated,
        /// Bytes changed after writing.
        BadChecksum,
        /// Another key's file (a hash collision of file names; practically impossible).
        OtherKey,
        /// Past its TTL.
        Expired,
    }

    /// Encodes one entry.
    pub fn encode(namespace: &str, key: &str, expires_at_ms: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            HEADER_LEN + namespace.len() + key.len() + payload.len() + CHECKSUM_LEN,
        );
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(namespace.len() as u16).to_le_bytes());
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&expires_at_ms.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(namespace.as_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(payload);
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Parses the fixed header (checks magic and format version only).
    pub fn parse_header(buf: &[u8]) -> Result<Header, Reject> {
        if buf.len() < HEADER_LEN {
            return if MAGIC.starts_with(&buf[..buf.len().min(4)]) {
                Err(Reject::Truncated)
            } else {
                Err(Reject::BadMagic)
            };
        }
        if buf[..4] != MAGIC {
            return Err(Reject::BadMagic);
        }
        let u16_at = |i: usize| u16::from_le_bytes([buf[i], buf[i + 1]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let version = u16_at(4);
        if version != FORMAT_VERSION {
            return Err(Reject::OtherFormatVersion(version));
        }
        Ok(Header {
            version,
            namespace_len: usize::from(u16_at(6)),
            key_len: usize::from(u16_at(8)),
            expires_at_ms: u64_at(12),
            payload_len: u64_at(20),
        })
    }

    /// Checks a whole file and returns its payload range.
    pub fn decode<'a>(
        buf: &'a [u8],
        namespace: &str,
        key: &str,
        now_ms: u64,
    ) -> Result<&'a [u8], Reject> {
        let h = parse_header(buf)?;
        if buf.len() as u64 != h.file_len() {
            return Err(Reject::Truncated);
        }
        let body_end = buf.len() - CHECKSUM_LEN;
        if blake3::hash(&buf[..body_end]).as_bytes() != &buf[body_end..] {
            return Err(Reject::BadChecksum);
        }
        let ns_end = HEADER_LEN + h.namespace_len;
        let key_end = ns_end + h.key_len;
        if &buf[HEADER_LEN..ns_end] != namespace.as_bytes() {
            return Err(Reject::OtherNamespace);
        }
        if &buf[ns_end..key_end] != key.as_bytes() {
            return Err(Reject::OtherKey);
        }
        if now_ms >= h.expires_at_ms {
            return Err(Reject::Expired);
        }
        Ok(&buf[key_end..body_end])
    }
}

use envelope::Reject;

/// L3 disk tier. Cheap to clone.
#[derive(Clone)]
pub struct DiskTier {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// Written into every envelope; entries of another namespace are misses (and deleted).
    namespace: String,
    max_bytes: u64,
    /// Entry files we know of, for the size cap and stats. Re-synced from the directory at
    /// start and by every sweep (another replica may write into the same directory).
    index: Mutex<Index>,
    /// False when the directory could not be created or the last write failed: reads still
    /// work, the tier reports itself degraded. A successful write sets it back.
    writable: AtomicBool,
    /// Counters for stats (since start).
    corrupt_removed: AtomicU64,
    expired_removed: AtomicU64,
    evicted: AtomicU64,
}

#[derive(Default)]
struct Index {
    files: HashMap<String, FileMeta>,
    total_bytes: u64,
}

#[derive(Clone, Copy)]
struct FileMeta {
    bytes: u64,
    written: SystemTime,
}

impl Index {
    fn insert(&mut self, name: String, meta: FileMeta) {
        if let Some(old) = self.files.insert(name, meta) {
            self.total_bytes -= old.bytes;
        }
        self.total_bytes += meta.bytes;
    }

    fn remove(&mut self, name: &str) {
        if let Some(old) = self.files.remove(name) {
            self.total_bytes -= old.bytes;
        }
    }

    /// Removes the oldest entries until the total is under `target`; returns their names.
    fn evict_to(&mut self, target: u64) -> Vec<String> {
        if self.total_bytes <= target {
            return Vec::new();
        }
        let mut by_age: Vec<(SystemTime, String)> = self
            .files
            .iter()
            .map(|(n, m)| (m.written, n.clone()))
            .collect();
        by_age.sort_unstable();
        let mut victims = Vec::new();
        for (_, name) in by_age {
            if self.total_bytes <= target {
                break;
            }
            self.remove(&name);
            victims.push(name);
        }
        victims
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// File name of a key: keys are ASCII but of any shape, so hash them into a safe name.
fn file_name(key: &str) -> String {
    let h = blake3::hash(key.as_bytes());
    format!("{}.{ENTRY_EXT}", &h.to_hex()[..32])
}

fn disk_err(what: &str, e: impl std::fmt::Display) -> TierError {
    TierError::new(TierName::Disk, format!("{what}: {e}"))
}

impl DiskTier {
    /// Opens (creating if needed) the directory and indexes what it holds, then starts the
    /// background sweep. Never fails: an unusable directory gives a degraded tier whose
    /// operations fail fast (and are counted) while the service keeps serving.
    pub async fn open(
        dir: impl Into<PathBuf>,
        namespace: impl Into<String>,
        max_bytes: u64,
        sweep_interval: Duration,
    ) -> Self {
        let tier = Self {
            inner: Arc::new(Inner {
                dir: dir.into(),
                namespace: namespace.into(),
                max_bytes,
                index: Mutex::new(Index::default()),
                writable: AtomicBool::new(true),
                corrupt_removed: AtomicU64::new(0),
                expired_removed: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
            }),
        };
        let inner = tier.inner.clone();
        let ok = tokio::task::spawn_blocking(move || match std::fs::create_dir_all(&inner.dir) {
            Ok(()) => {
                inner.sweep_blocking();
                true
            }
            Err(e) => {
                tracing::warn!(dir = %inner.dir.display(), error = %e,
                    "disk cache directory unusable; disk tier degraded");
                false
            }
        })
        .await
        .unwrap_or(false);
        tier.inner.writable.store(ok, Ordering::Release);
        if !sweep_interval.is_zero() {
            tokio::spawn(sweep_loop(Arc::downgrade(&tier.inner), sweep_interval));
        }
        tier
    }

    /// Where the entry of `key` lives (for operations and fault-injection tests).
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.inner.dir.join(file_name(key))
    }

    /// Runs one sweep now: deletes expired, foreign and broken files, re-syncs the size
    /// accounting and enforces the cap.
    pub async fn sweep(&self) -> Result<(), TierError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.sweep_blocking())
            .await
            .map_err(|e| disk_err("sweep task", e))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, TierError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| disk_err("disk task", e))
    }
}

impl Inner {
    fn get_blocking(&self, key: &str) -> Result<Option<Bytes>, TierError> {
        let name = file_name(key);
        let path = self.dir.join(&name);
        let buf = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                // Unreadable (permissions, EIO, a directory in its place): try to get rid of it
                // so the next write can replace it; the caller counts the error.
                self.delete(&name);
                return Err(disk_err("read", e));
            }
        };
        match envelope::decode(&buf, &self.namespace, key, now_ms()) {
            Ok(payload) => {
                let len = buf.len() as u64;
                let start = payload.as_ptr() as usize - buf.as_ptr() as usize;
                let end = start + payload.len();
                let mut index = self.index.lock().expect("disk index lock");
                if !index.files.contains_key(&name) {
                    // Written by another replica sharing the directory.
                    index.insert(
                        name,
                        FileMeta {
                            bytes: len,
                            written: SystemTime::now(),
                        },
                    );
                }
                Ok(Some(Bytes::from(buf).slice(start..end)))
            }
            Err(reject) => {
                self.count_reject(&reject, key);
                self.delete(&name);
                Ok(None)
            }
        }
    }

    fn count_reject(&self, reject: &Reject, key: &str) {
        if *reject == Reject::Expired {
            self.expired_removed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.corrupt_removed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(key, reason = ?reject, "disk cache entry rejected and deleted");
        }
    }

    fn delete(&self, name: &str) {
        let _ = std::fs::remove_file(self.dir.join(name));
        self.index.lock().expect("disk index lock").remove(name);
    }

    fn set_blocking(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), TierError> {
        let result = self.write_atomically(key, value, ttl);
        self.writable.store(result.is_ok(), Ordering::Release);
        let victims = {
            let mut index = self.index.lock().expect("disk index lock");
            if let Ok(meta) = &result {
                index.insert(file_name(key), *meta);
            }
            if index.total_bytes > self.max_bytes {
                index.evict_to((self.max_bytes as f64 * EVICT_LOW_WATERMARK) as u64)
            } else {
                Vec::new()
            }
        };
        for name in &victims {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        self.evicted
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        result.map(|_| ())
    }

    fn write_atomically(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<FileMeta, TierError> {
        let expires_at_ms = now_ms().saturating_add(ttl.as_millis() as u64);
        let bytes = envelope::encode(&self.namespace, key, expires_at_ms, value);
        match crate::files::write_atomically(&self.dir, &file_name(key), &bytes) {
            Ok(()) => Ok(FileMeta {
                bytes: bytes.len() as u64,
                written: SystemTime::now(),
            }),
            Err(e) => Err(disk_err("write", e)),
        }
    }

    fn clear_blocking(&self) -> Result<(), TierError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(disk_err("clear", e)),
        };
        let mut first_error = None;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) == Some(ENTRY_EXT)
                && let Err(e) = std::fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                first_error.get_or_insert(e);
            }
        }
        *self.index.lock().expect("disk index lock") = Index::default();
        match first_error {
            None => Ok(()),
            Some(e) => Err(disk_err("clear", e)),
        }
    }

    /// Re-reads the directory: deletes stale temps, expired, foreign and broken entries (by
    /// header and length; checksums are verified on read), rebuilds the index, enforces the cap.
    fn sweep_blocking(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = now_ms();
        let mut fresh = Index::default();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            let written = meta.modified().unwrap_or(UNIX_EPOCH);
            if name.starts_with(TEMP_PREFIX) {
                let age = SystemTime::now()
                    .duration_since(written)
                    .unwrap_or_default();
                if age > STALE_TEMP_AGE {
                    let _ = std::fs::remove_file(entry.path());
                }
                continue;
            }
            if !name.ends_with(ENTRY_EXT) || !meta.is_file() {
                continue;
            }
            match self.check_header(&entry.path(), meta.len(), now) {
                Ok(()) => fresh.insert(
                    name,
                    FileMeta {
                        bytes: meta.len(),
                        written,
                    },
                ),
                Err(reject) => {
                    if reject == Reject::Expired {
                        self.expired_removed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.corrupt_removed.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let victims = fresh.evict_to(if fresh.total_bytes > self.max_bytes {
            (self.max_bytes as f64 * EVICT_LOW_WATERMARK) as u64
        } else {
            u64::MAX
        });
        for name in &victims {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
        self.evicted
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        *self.index.lock().expect("disk index lock") = fresh;
    }

    fn check_header(&self, path: &Path, file_len: u64, now: u64) -> Result<(), Reject> {
        let mut buf = vec![0u8; envelope::HEADER_LEN + self.namespace.len()];
        let mut f = std::fs::File::open(path).map_err(|_| Reject::Truncated)?;
        let n = read_up_to(&mut f, &mut buf).map_err(|_| Reject::Truncated)?;
        let h = envelope::parse_header(&buf[..n])?;
        if h.file_len() != file_len {
            return Err(Reject::Truncated);
        }
        if h.namespace_len != self.namespace.len()
            || buf[envelope::HEADER_LEN..n] != *self.namespace.as_bytes()
        {
            return Err(Reject::OtherNamespace);
        }
        if now >= h.expires_at_ms {
            return Err(Reject::Expired);
        }
        Ok(())
    }
}

/// Reads until `buf` is full or EOF; returns how much was read.
fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

async fn sweep_loop(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // immediate; `open` has just swept
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let _ = tokio::task::spawn_blocking(move || inner.sweep_blocking()).await;
    }
}

#[async_trait]
impl Tier for DiskTier {
    fn name(&self) -> TierName {
        TierName::Disk
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, TierError> {
        let key = key.to_owned();
        self.blocking(move |i| i.get_blocking(&key)).await?
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), TierError> {
        let key = key.to_owned();
        self.blocking(move |i| i.set_blocking(&key, &value, ttl))
            .await?
    }

    async fn remove(&self, key: &str) -> Result<(), TierError> {
        let name = file_name(key);
        self.blocking(move |i| i.delete(&name)).await
    }

    async fn clear(&self) -> Result<(), TierError> {
        self.blocking(|i| i.clear_blocking()).await?
    }

    async fn stats(&self) -> TierStats {
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        TierStats {
            corrupt_removed: n(&self.inner.corrupt_removed),
            expired_removed: n(&self.inner.expired_removed),
            evicted: n(&self.inner.evicted),
            ..TierStats::new(TierName::Disk, self.status(), self.usage().await)
        }
    }

    async fn usage(&self) -> TierUsage {
        let index = self.inner.index.lock().expect("disk index lock");
        TierUsage {
            entries: index.files.len() as u64,
            bytes: index.total_bytes,
            max_bytes: self.inner.max_bytes,
        }
    }

    fn status(&self) -> TierStatus {
        if self.inner.writable.load(Ordering::Acquire) {
            TierStatus::Ok
        } else {
            TierStatus::Degraded
        }
    }
}

impl DiskTier {
    /// Entries deleted because they were unreadable, truncated, garbled or of another
    /// format/namespace (since start).
    pub fn corrupt_removed(&self) -> u64 {
        self.inner.corrupt_removed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::envelope::*;
    use super::*;

    const FAR: u64 = u64::MAX;

    #[test]
    fn envelope_round_trips() {
        let buf = encode("v1", "k", FAR, b"payload");
        assert_eq!(decode(&buf, "v1", "k", 0), Ok(&b"payload"[..]));
    }

    #[test]
    fn envelope_rejects_every_kind_of_damage() {
        let buf = encode("v1", "k", 1_000, b"payload");
        assert_eq!(
            decode(&buf[..buf.len() - 1], "v1", "k", 0),
            Err(Reject::Truncated)
        );
        assert_eq!(decode(&buf[..10], "v1", "k", 0), Err(Reject::Truncated));
        assert_eq!(
            decode(b"garbage garbage garbage garbage", "v1", "k", 0),
            Err(Reject::BadMagic)
        );
        assert_eq!(decode(b"", "v1", "k", 0), Err(Reject::Truncated));
        let mut flipped = buf.clone();
        flipped[HEADER_LEN + 4] ^= 1;
        assert_eq!(decode(&flipped, "v1", "k", 0), Err(Reject::BadChecksum));
        assert_eq!(decode(&buf, "v0", "k", 0), Err(Reject::OtherNamespace));
        assert_eq!(decode(&buf, "v1", "j", 0), Err(Reject::OtherKey));
        assert_eq!(decode(&buf, "v1", "k", 1_000), Err(Reject::Expired));
        let mut old = buf.clone();
        old[4..6].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(
            decode(&old, "v1", "k", 0),
            Err(Reject::OtherFormatVersion(0))
        );
    }

    #[test]
    fn index_evicts_oldest_first_down_to_the_target() {
        let mut idx = Index::default();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            idx.insert(
                name.to_string(),
                FileMeta {
                    bytes: 10,
                    written: UNIX_EPOCH + Duration::from_secs(i as u64),
                },
            );
        }
        assert_eq!(idx.evict_to(25), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(idx.total_bytes, 20);
        assert!(idx.evict_to(25).is_empty());
    }

    #[tokio::test]
    async fn set_get_remove_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let t = DiskTier::open(dir.path(), "v1", 1 << 20, Duration::ZERO).await;
        assert_eq!(t.status(), TierStatus::Ok);
        t.set("k", Bytes::from_static(b"v"), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(t.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(t.usage().await.entries, 1);
        drop(t);
        let t = DiskTier::open(dir.path(), "v1", 1 << 20, Duration::ZERO).await;
        assert_eq!(
            t.usage().await.entries,
            1,
            "index rebuilt from the directory"
        );
        assert_eq!(t.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        t.remove("k").await.unwrap();
        assert_eq!(t.get("k").await.unwrap(), None);
        assert_eq!(
            t.usage().await,
            TierUsage {
                entries: 0,
                bytes: 0,
                max_bytes: 1 << 20
            }
        );
    }

    #[tokio::test]
    async fn zero_ttl_entry_is_expired_and_deleted_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let t = DiskTier::open(dir.path(), "v1", 1 << 20, Duration::ZERO).await;
        t.set("k", Bytes::from_static(b"v"), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(t.get("k").await.unwrap(), None);
        assert!(!t.path_for("k").exists());
        assert_eq!(t.usage().await.entries, 0);
    }

    #[tokio::test]
    async fn size_cap_evicts_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let t = DiskTier::open(dir.path(), "v1", 10_000, Duration::ZERO).await;
        for i in 0..10 {
            t.set(
                &format!("k{i}"),
                Bytes::from(vec![7u8; 2_000]),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
            // Distinct write times so "oldest" is well defined.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let u = t.usage().await;
        assert!(u.bytes <= 10_000, "{} bytes over the cap", u.bytes);
        assert_eq!(t.get("k0").await.unwrap(), None, "oldest evicted");
        assert!(t.get("k9").await.unwrap().is_some(), "newest kept");
    }

    #[tokio::test]
    async fn sweep_deletes_expired_and_foreign_entries_and_stale_temps() {
        let dir = tempfile::tempdir().unwrap();
        let t = DiskTier::open(dir.path(), "v1", 1 << 20, Duration::ZERO).await;
        t.set("old", Bytes::from_static(b"v"), Duration::ZERO)
            .await
            .unwrap();
        t.set("live", Bytes::from_static(b"v"), Duration::from_secs(60))
            .await
            .unwrap();
        std::fs::write(dir.path().join("junk.entry"), b"not an envelope").unwrap();
        std::fs::write(dir.path().join("README"), b"not ours").unwrap();
        t.sweep().await.unwrap();
        assert!(!t.path_for("old").exists());
        assert!(!dir.path().join("junk.entry").exists());
        assert!(
            dir.path().join("README").exists(),
            "foreign non-entry files are left alone"
        );
        assert!(t.path_for("live").exists());
        assert_eq!(t.usage().await.entries, 1);
        assert_eq!(t.corrupt_removed(), 1);
    }
}
