//! A log file rotated by size: `app.log` → `app.log.1` → … → `app.log.N` (oldest dropped).
//!
//! Rotation happens only between writes, and the JSON layer hands each line over in one write,
//! so a line is never split across two files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An append-only file that rotates when the next write would take it past `max_bytes`.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    backups: usize,
    file: File,
    /// Bytes in the current file (starts at its size on open, so restarts continue the count).
    size: u64,
}

impl RotatingFile {
    /// Opens (creating directories) `path` for appending.
    pub fn open(path: &Path, max_bytes: u64, backups: usize) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            backups,
            file,
            size,
        })
    }

    fn backup_path(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.backups == 0 {
            // No backups kept: start the file afresh.
            self.file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.backup_path(self.backups));
            for n in (1..self.backups).rev() {
                let from = self.backup_path(n);
                if from.exists() {
                    std::fs::rename(&from, self.backup_path(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.backup_path(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_keeps_n_backups_and_never_splits_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut f = RotatingFile::open(&path, 100, 3).unwrap();
        for i in 0..50 {
            f.write_all(format!("line {i:04} xxxxxxxxxxxxxxxxxxxx\n").as_bytes())
                .unwrap();
        }
        f.flush().unwrap();
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["app.log", "app.log.1", "app.log.2", "app.log.3"]);
        for name in &files {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.len() <= 100, "{name} is {} bytes", text.len());
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                assert!(line.starts_with("line ") && line.len() == 30, "{line}");
            }
        }
        // The newest lines are in app.log, the older ones in .1, .2, .3 in order.
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 0049"));
    }

    #[test]
    fn zero_backups_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut f = RotatingFile::open(&path, 10, 0).unwrap();
        f.write_all(b"12345678\n").unwrap();
        f.write_all(b"abcdefgh\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abcdefgh\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
