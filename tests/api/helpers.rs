//! Test harness: `spawn_app()` (in-process server on port 0) and `spawn_binary()` (the real
//! `speech-coach` process with its own environment).

use crate::fakes::FakeTranscriber;
use speech_coach::app::{Application, Services};
use speech_coach::config::{Config, Source};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn corpus(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus")).join(rel)
}

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    pub _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Settings every test server gets: port 0, no log file, a temp upload dir.
pub fn test_config(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let upload_dir = dir.join("uploads").display().to_string();
    let mut pairs: Vec<(String, String)> = vec![
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("LOG_FILE".into(), "".into()),
        ("UPLOAD_DIR".into(), upload_dir),
        ("CACHE_DIR".into(), dir.join("cache").display().to_string()),
        ("DATA_DIR".into(), dir.join("data").display().to_string()),
        ("GIGACHAT_ENABLED".into(), "false".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_source(&Source::from_pairs(pairs)).expect("valid test config")
}

/// An in-process server with the fake transcriber and the rules-only coach.
pub async fn spawn_app(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with(extra, Arc::new(FakeTranscriber::new())).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)], transcriber: Arc<FakeTranscriber>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), extra);
    let services = Services {
        transcriber: Some(transcriber),
        ..Default::default()
    };
    let app = Application::build_with(config, services)
        .await
        .expect("build app");
    let addr = app.local_addr().to_string();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        client: reqwest::Client::new(),
        shutdown,
        _dir: dir,
    }
}

/// The real binary, serving on a free port, with the given environment.
pub struct BinaryApp {
    pub child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl BinaryApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.pid(), "TERM");
        self.wait(Duration::from_secs(30))
    }

    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < limit, "server did not exit in {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BinaryApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary in a fresh temp working directory and waits until `/health` answers.
pub async fn spawn_binary(env: &[(&str, &str)]) -> BinaryApp {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_speech-coach"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .env("BIND_ADDR", &addr)
        .env("LOG_LEVEL", "info")
        .env("UPLOAD_DIR", dir.path().join("uploads"))
        .env("GIGACHAT_ENABLED", "false")
        // Without the in-process recogniser compiled in, point at a (never called) remote one.
        .env(
            "ASR_BACKEND",
            if cfg!(feature = "whisper") {
                "whisper"
            } else {
                "openai"
            },
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn speech-coach");
    let app = BinaryApp { child, addr, dir };
    let client = reqwest::Client::new();
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(app.url("/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "binary did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app
}

/// Reads every line of every JSON log file (`app.log`, `app.log.N`) in a directory.
pub fn read_json_logs(dir: &Path, stem: &str) -> Vec<(String, Vec<serde_json::Value>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(stem))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.is_empty() || text.ends_with('\n'),
                "{} ends mid-line",
                p.display()
            );
            let lines = text
                .lines()
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("{}: invalid JSON line {l:?}: {e}", p.display()))
                })
                .collect();
            (p.file_name().unwrap().to_string_lossy().into_owned(), lines)
        })
        .collect()
}
