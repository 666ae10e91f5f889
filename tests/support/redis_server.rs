//! A real `redis-server` for tests: free port, temp dir, no persistence, killed on drop.
//!
//! Use from a test file with `#[path = "support/redis_server.rs"] mod redis_server;` and its
//! sibling `#[path = "support/net.rs"] mod net;` (or via `tests/support/mod.rs`). The binary is `$REDIS_SERVER_BIN`, else `redis-server` on `PATH`.
//! `stop()` and `start_again()` take it down and bring it back on the same port, to test
//! outages and reconnection.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::net::{free_port, retry_until};

/// How long a fresh server gets to accept connections before the test fails.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running (or stopped) `redis-server` child process.
pub struct RedisServer {
    port: u16,
    /// Working dir of the server (its log lives there); removed on drop.
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// AOF with `appendfsync always` (the job stream's Redis): a crash loses nothing written.
    persistent: bool,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers PING.
    ///
    /// # Panics
    /// If `redis-server` can't be found or doesn't come up: these tests need the real thing.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Like [`RedisServer::start`], persisting every write to an append-only file in its dir,
    /// so `stop()` (a crash) and `start_again()` keep the data, as the job stream's Redis does.
    pub fn start_persistent() -> Self {
        Self::start_with(true)
    }

    fn start_with(persistent: bool) -> Self {
        // A port picked by the OS can be taken by someone else before redis binds it; retry.
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                port,
                dir: tempfile::tempdir().expect("temp dir for redis"),
                child: None,
                persistent,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_err = e,
            }
        }
        panic!("could not start redis-server: {last_err}");
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (like a crash: no shutdown handshake) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after `stop`). Retries briefly: the old
    /// socket may linger for a moment.
    ///
    /// # Panics
    /// If it can't come back within a few seconds.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server is still running");
        let deadline = Instant::now() + READY_TIMEOUT;
        retry_until(deadline, Duration::from_millis(50), "redis restart", || {
            self.spawn()
        });
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers, like a hung
    /// or partitioned Redis. Commands then hit their response timeout.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a frozen server (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("server is running").id();
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Sends one inline command and returns the raw reply (for assertions on server state).
    pub fn command(&self, cmd: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let log: PathBuf = self.dir.path().join("redis.log");
        let mut child = Command::new(&bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(if self.persistent {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "everysec"]
            })
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("spawn {bin}: {e} (install redis-server or set REDIS_SERVER_BIN)")
            })?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("redis-server exited with {status}: {log}"));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("redis-server did not answer PING in time".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A frozen process still dies of SIGKILL.
        self.stop();
    }
}

fn ping(port: u16) -> bool {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}
