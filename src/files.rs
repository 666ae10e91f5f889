//! Files written so that a crash never leaves a torn one: the disk cache's entries and the
//! history outbox's pending rehearsals.

use std::io::{self, Write};
use std::path::Path;

/// Prefix of the temporary files [`write_atomically`] writes before renaming them; a directory
/// scan skips (and may remove) names starting with it.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `dir/name` through a temporary file in `dir`: data synced to disk, then
/// renamed over the real name. A crash leaves the old file or the new one, never half of one.
/// Creates `dir` when it is missing (never created, or removed while running).
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
    let write = || -> io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        // Data on disk before the rename makes it visible.
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))
    };
    let mut result = write();
    if matches!(&result, Err(e) if e.kind() == io::ErrorKind::NotFound) {
        result = std::fs::create_dir_all(dir).and_then(|_| write());
    }
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replaces_and_creates_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        write_atomically(&dir, "x.json", b"one").unwrap();
        write_atomically(&dir, "x.json", b"two").unwrap();
        assert_eq!(std::fs::read(dir.join("x.json")).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.json"], "no temporary file left behind");
    }
}
