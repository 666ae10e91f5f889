//! Servers under test: [`TestApp`] (the application in this process on port 0, fakes at the
//! seams, one method per endpoint as in zero2prod) and [`BinaryApp`] (the real `speech-coach`
//! process with its own environment, where logs, signals and memory are the point).

use super::fakes::FakeTranscriber;
use super::net::free_port;
use super::sse::SseReader;
use super::wait;
use serde_json::Value;
// The one place the tests name the wiring module (`Services` and `Application` are re-exported).
pub use speech_coach::app::{Application, Services};
use speech_coach::config::{Config, Source};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A running server on an ephemeral port; shuts down when dropped.
pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    /// Holds the uploads, cache and data directories.
    pub dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A multipart form with the one `file` part the upload endpoints read.
pub fn file_form(bytes: Vec<u8>, file_name: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string());
    reqwest::multipart::Form::new().part("file", part)
}

/// Sends `req` and reads its JSON body, whatever the status.
pub async fn send_json(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// `GET url` with an `x-request-id` header, whatever the status.
pub async fn get_with_request_id(
    client: &reqwest::Client,
    url: String,
    request_id: &str,
) -> reqwest::Response {
    let req = client.get(url).header("x-request-id", request_id);
    req.send().await.unwrap()
}

/// A response's status and JSON body (`null` when it has none, as a 204).
pub async fn json_of(resp: reqwest::Response) -> (reqwest::StatusCode, Value) {
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    // --- any route ---

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// `PUT path` without a body, whatever the status.
    pub async fn put(&self, path: &str) -> reqwest::Response {
        self.client.put(self.url(path)).send().await.unwrap()
    }

    /// `DELETE path`, whatever the status.
    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// `GET path` as JSON, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `GET path`: status and JSON body (`null` when none).
    pub async fn get_with_status(&self, path: &str) -> (reqwest::StatusCode, Value) {
        json_of(self.get(path).await).await
    }

    /// `GET path`, asserting 200; the JSON body.
    pub async fn get_ok_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    /// Polls `GET path` (JSON, asserting 200) until `pred` holds, for at most `limit`.
    pub async fn wait_for_json(
        &self,
        path: &str,
        limit: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait::value(limit, what, || self.get_ok_json(path), pred).await
    }

    // --- POST /analyze ---

    /// `POST {path}` with `form` as the body.
    pub async fn post_multipart(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST {path}` with `bytes` as the raw body of the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        bytes: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    // --- POST /analyze ---

    /// `POST /analyze{query}` with `bytes` as the multipart `file` part, named after the last
    /// component of `name`.
    pub async fn analyze_multipart(
        &self,
        bytes: Vec<u8>,
        name: &str,
        query: &str,
    ) -> reqwest::Response {
        let form = file_form(bytes, name.rsplit('/').next().unwrap());
        self.post_multipart(&format!("/analyze{query}"), form).await
    }

    /// `POST /analyze{query}` of a corpus file (multipart).
    pub async fn analyze_corpus(&self, rel: &str, query: &str) -> reqwest::Response {
        self.analyze_multipart(super::corpus::read(rel), rel, query)
            .await
    }

    /// `POST /analyze{query}` with `bytes` as the raw body of the given content type.
    pub async fn analyze_raw(
        &self,
        bytes: impl Into<reqwest::Body>,
        content_type: &str,
        query: &str,
    ) -> reqwest::Response {
        self.post_raw(&format!("/analyze{query}"), bytes, content_type)
            .await
    }

    // --- speakers ---

    /// `POST /speakers`, asserting 201; the new speaker's id.
    pub async fn new_speaker(&self) -> String {
        let (status, body) = json_of(
            self.client
                .post(self.url("/speakers"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 32);
        id
    }

    // --- jobs ---

    /// `POST /jobs{query}` with `bytes` as the multipart `file` part (`talk.wav`).
    pub async fn post_job(&self, bytes: Vec<u8>, query: &str) -> reqwest::Response {
        self.post_multipart(&format!("/jobs{query}"), file_form(bytes, "talk.wav"))
            .await
    }

    /// `POST /jobs{query}` with `bytes` as the raw body of the given content type.
    pub async fn post_job_raw(
        &self,
        bytes: impl Into<reqwest::Body>,
        content_type: &str,
        query: &str,
    ) -> reqwest::Response {
        self.post_raw(&format!("/jobs{query}"), bytes, content_type)
            .await
    }

    /// `POST /jobs{query}` (multipart), asserting the 202 contract (a 128-bit hex id, the
    /// `Location` header and the links); returns the id and the body.
    pub async fn submit_job(&self, bytes: Vec<u8>, query: &str) -> (String, Value) {
        let resp = self.post_job(bytes, query).await;
        assert_eq!(resp.status(), 202, "POST /jobs{query}");
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let body: Value = resp.json().await.unwrap();
        let id = body["id"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 32, "128-bit hex id");
        assert_eq!(location, format!("/jobs/{id}"));
        assert_eq!(body["links"]["self"], location);
        assert_eq!(body["links"]["events"], format!("{location}/events"));
        (id, body)
    }

    /// `GET /jobs/{id}`, asserting 200.
    pub async fn job(&self, id: &str) -> Value {
        let path = format!("/jobs/{id}");
        let resp = self.get(&path).await;
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.unwrap()
    }

    /// `DELETE /jobs/{id}`, asserting 200.
    pub async fn delete_job(&self, id: &str) -> Value {
        let resp = self.delete(&format!("/jobs/{id}")).await;
        assert_eq!(resp.status(), 200, "DELETE /jobs/{id}");
        resp.json().await.unwrap()
    }

    /// `GET /jobs/{id}/events` (with `Last-Event-ID` when given), unchecked.
    pub async fn job_events_response(
        &self,
        id: &str,
        last_event_id: Option<u64>,
    ) -> reqwest::Response {
        let mut req = self.client.get(self.url(&format!("/jobs/{id}/events")));
        if let Some(last) = last_event_id {
            req = req.header("Last-Event-ID", last.to_string());
        }
        req.send().await.unwrap()
    }

    /// The job's event stream, asserting 200 and `text/event-stream`; every chunk must arrive
    /// within [`wait::LIMIT`].
    pub async fn job_events(&self, id: &str, last_event_id: Option<u64>) -> SseReader {
        let resp = self.job_events_response(id, last_event_id).await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseReader::new(resp).with_chunk_timeout(wait::LIMIT)
    }

    /// Polls `GET /jobs/{id}` until `pred` holds (bounded by [`wait::LIMIT`]).
    pub async fn wait_for_job(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait::value(wait::LIMIT, what, || self.job(id), pred).await
    }

    // --- health, stats, metrics, cache ---

    /// `GET /health` (200 or 503: its body says which component is degraded).
    pub async fn health(&self) -> Value {
        self.get_json("/health").await
    }

    /// `GET /stats/pipeline`.
    pub async fn stats_pipeline(&self) -> Value {
        self.get_json("/stats/pipeline").await
    }

    /// `GET /stats/cache`, asserting 200.
    pub async fn stats_cache(&self) -> Value {
        self.get_ok_json("/stats/cache").await
    }

    /// `GET /stats/coach`.
    pub async fn stats_coach(&self) -> Value {
        self.get_json("/stats/coach").await
    }

    /// Polls `/stats/pipeline` until `pred` holds (bounded by [`wait::LIMIT`]).
    pub async fn wait_for_pipeline(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait::value(wait::LIMIT, what, || self.stats_pipeline(), pred).await
    }

    /// The `/metrics` text, whatever the status.
    pub async fn metrics_text(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    /// `/metrics` (asserting 200) parsed into `name{labels}` → value, labels sorted.
    pub async fn scrape(&self) -> BTreeMap<String, f64> {
        let r = self.get("/metrics").await;
        assert_eq!(r.status(), 200);
        parse_metrics(&r.text().await.unwrap())
    }

    /// `DELETE /cache` with the admin token.
    pub async fn clear_cache(&self, token: &str) -> reqwest::Response {
        self.client
            .delete(self.url("/cache"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// Prometheus/OpenMetrics text as `name{labels}` → value (labels sorted, comments skipped).
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let key = match series.split_once('{') {
            Some((name, labels)) => {
                let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                labels.sort_unstable();
                format!("{name}{{{}}}", labels.join(","))
            }
            None => series.to_string(),
        };
        out.insert(key, value.parse::<f64>().expect("numeric sample"));
    }
    out
}

/// One sample of a scrape, failing with the exposed names when it is missing.
pub fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("{key} not exposed; have: {:?}", m.keys()))
}

/// Settings every test server gets: port 0, no log file, temp upload/cache/data dirs, no
/// GigaChat; then `extra` (later pairs win).
pub fn test_config(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("LOG_FILE".into(), "".into()),
        (
            "UPLOAD_DIR".into(),
            dir.join("uploads").display().to_string(),
        ),
        ("CACHE_DIR".into(), dir.join("cache").display().to_string()),
        ("DATA_DIR".into(), dir.join("data").display().to_string()),
        ("GIGACHAT_ENABLED".into(), "false".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_source(&Source::from_pairs(pairs)).expect("valid test config")
}

/// An in-process server with the fake transcriber (hearing the corpus) and the rules-only coach.
pub async fn spawn_app(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with(extra, Arc::new(FakeTranscriber::new())).await
}

/// [`spawn_app`] with a given fake transcriber (gated, windowed, hearing a long talk…).
pub async fn spawn_app_with(extra: &[(&str, &str)], transcriber: Arc<FakeTranscriber>) -> TestApp {
    let services = Services {
        transcriber: Some(transcriber),
        ..Default::default()
    };
    spawn_app_services(extra, services).await
}

/// [`spawn_app`] with the given services: `Services::default()` builds the real ones from the
/// settings (`ASR_BACKEND=whisper`…).
pub async fn spawn_app_services(extra: &[(&str, &str)], services: Services) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), extra);
    let app = Application::build_with(config, services)
        .await
        .expect("build app");
    serve(app, dir)
}

/// Serves an application built by the caller (whose directories live in `dir`).
pub fn serve(app: Application, dir: tempfile::TempDir) -> TestApp {
    let addr = app.local_addr().to_string();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        client: reqwest::Client::new(),
        shutdown,
        dir,
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
