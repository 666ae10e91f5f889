//! Headless Chromium behind a chromedriver this test starts on a free port.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::support::net::free_port;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The real binary: `/usr/bin/chromium` is Debian's wrapper script around it.
const CHROMIUM: [&str; 2] = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];

pub struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium session; `None` (after saying so)
    /// only when `SPEECH_COACH_SKIP_BROWSER` is set and no browser is installed.
    pub async fn start_or_skip() -> Option<Self> {
        let chromium = CHROMIUM.iter().find(|p| Path::new(p).exists());
        let (Some(chromium), true) = (chromium, Path::new(CHROMEDRIVER).exists()) else {
            if std::env::var_os("SPEECH_COACH_SKIP_BROWSER").is_some() {
                eprintln!("SKIPPED: no chromium/chromedriver and SPEECH_COACH_SKIP_BROWSER is set");
                return None;
            }
            panic!(
                "the browser test needs Chromium: apt-get install chromium chromium-driver \
                 (scripts/deps.sh test), or set SPEECH_COACH_SKIP_BROWSER=1"
            );
        };
        let port = free_port();
        // Its own process group, which Chromium inherits: a failed test (no session close)
        // can still end the browser it started, and only that.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            client: None,
            driver,
            _profile: profile,
        };
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let start = Instant::now();
        while http.get(format!("{url}/status")).send().await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--hide-scrollbars".into(),
            "--lang=en-US".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "prefs": { "intl.accept_languages": "en-US,en" },
            },
        });
        let client = ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&url)
            .await
            .expect("start a Chromium session");
        browser.client = Some(client);
        Some(browser)
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Ends the session (closing Chromium); chromedriver and anything left of its process
    /// group are killed on drop.
    pub async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
