//! A real PostgreSQL server for tests: `initdb` into a temp dir, `postgres` on a free loopback
//! port (socket in the same dir), trust auth, no fsync; stopped and removed on drop.
//!
//! Use with `#[path = "../support/postgres_server.rs"] mod postgres_server;` and its sibling
//! `#[path = "../support/net.rs"] mod net;` (or via `tests/support/mod.rs`). The binaries are
//! found in `$PG_BIN_DIR`, else the newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql`
//! package; `scripts/deps.sh test` installs it). PostgreSQL refuses to run as root, so when the
//! tests run as root the server runs as the `postgres` system user the package creates (the
//! process is started with that uid directly: it is our child, and `stop` really stops it).
//! `stop()` and `start_again()` take it down and bring it back on the same port and data.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::{free_port, retry_until};

/// How long a fresh server gets to accept connections before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct PostgresServer {
    port: u16,
    /// Holds `data/` and the socket; removed on drop.
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// uid/gid to run as (None when not root).
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PG_BIN_DIR") {
        return PathBuf::from(d);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.retain(|d| d.join("postgres").exists());
    // Newest major version: compare as numbers (15 < 16 < 100).
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: apt-get install postgresql (scripts/deps.sh test), \
             or set PG_BIN_DIR"
        )
    })
}

/// uid and gid of the `postgres` user when we are root (PostgreSQL refuses root).
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("running as root needs the `postgres` system user (apt-get install postgresql)");
    let f: Vec<&str> = line.split(':').collect();
    Some((f[2].parse().unwrap(), f[3].parse().unwrap()))
}

impl PostgresServer {
    /// initdb + start on a free port; waits until it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for postgres");
        let user = run_as();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown temp dir");
        }
        let mut server = Self {
            port: 0,
            dir,
            bin: bin_dir(),
            user,
            child: None,
        };
        server.initdb();
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("could not start postgres: {last}");
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd.env("LC_ALL", "C.UTF-8").stdin(Stdio::null());
        cmd
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn initdb(&self) {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data())
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Fast shutdown (SIGINT: clients are disconnected, like a stopped database), waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data (after `stop`).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server is still running");
        let deadline = Instant::now() + READY_TIMEOUT;
        retry_until(
            deadline,
            Duration::from_millis(100),
            "postgres restart",
            || self.spawn(),
        );
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("postgres.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = self.user {
            let _ = std::os::unix::fs::chown(&log, Some(uid), Some(gid));
        }
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=100"])
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("spawn postgres: {e}"))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("postgres exited with {status}: {text}"));
            }
            if self.ready() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("postgres did not become ready in time".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_isready` says it accepts connections (a TCP connect alone is too early: the
    /// server listens before it finishes starting up).
    fn ready(&self) -> bool {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            return false;
        }
        Command::new(self.bin.join("pg_isready"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Immediate shutdown: nothing to keep.
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGQUIT);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
