//! The web page in a real browser: headless Chromium driven through chromedriver (WebDriver).
//!
//! Loads `GET /` from a server on an ephemeral port, uploads a corpus clip through the file
//! input, waits for the report and checks the timeline against what the corpus says the clip
//! contains (its fillers, its long pause), then uploads a broken file and checks the page shows
//! the API's own message. Screenshots at desktop and phone widths go to `test-artifacts/web/`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`scripts/deps.sh test`). Set
//! `SPEECH_COACH_SKIP_BROWSER=1` to skip explicitly where no browser can be installed.

mod browser;
mod progress;
mod standin;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use browser::Browser;
use standin::spawn_tiled_server;
use support::{FakeTranscriber, TestApp, corpus, long_talk, spawn_app, spawn_app_with};

/// Generous: a loaded CI box may be slow to start Chromium; nothing here waits on purpose.
const WAIT: Duration = Duration::from_secs(60);

fn artifacts() -> std::path::PathBuf {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/test-artifacts/web"));
    std::fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}

async fn visible(c: &Client, css: &str) -> fantoccini::elements::Element {
    // Re-found every time: a re-render may replace the element between looks.
    let start = std::time::Instant::now();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && el.is_displayed().await.unwrap_or(false)
        {
            return el;
        }
        assert!(start.elapsed() < WAIT, "{css} never became visible");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the element `css` (found now).
async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Whether the element `css` is displayed now.
async fn shown(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap()
}

/// Visible text, non-breaking spaces (between numbers and units) as plain ones.
async fn text(c: &Client, css: &str) -> String {
    let t = c
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    t.replace('\u{a0}', " ")
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

async fn upload(c: &Client, path: &std::path::Path) {
    // chromedriver wants a canonical path (the corpus path has `..` in it).
    let path = path.canonicalize().unwrap();
    let input = c.find(Locator::Css("#file")).await.unwrap();
    input.send_keys(&path.display().to_string()).await.unwrap();
    click(c, "#analyze").await;
}

/// Saves the whole page at `width` (the window is made as tall as the page) as a PNG.
async fn screenshot(c: &Client, name: &str, width: u32, height: u32) {
    c.set_window_size(width, height).await.unwrap();
    // The timeline is redrawn at the new width after a debounce.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let full = js(c, "return document.documentElement.scrollHeight").await;
    let full = full.as_u64().unwrap_or(height as u64) as u32;
    c.set_window_size(width, full.max(height)).await.unwrap();
    js(c, "window.scrollTo(0, 0)").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(name), png).unwrap();
    c.set_window_size(width, height).await.unwrap();
}

/// How long the page took to draw the last report (its own `performance.measure`).
async fn render_ms(c: &Client) -> f64 {
    js(
        c,
        "const m = performance.getEntriesByName('render-report'); return m[m.length - 1].duration",
    )
    .await
    .as_f64()
    .unwrap()
}

/// What the corpus says about a clip: filler phrases (sorted) and pauses of at least 1 s.
fn expected(entry: &Value) -> (Vec<String>, Vec<(f64, f64)>) {
    let mut fillers = Vec::new();
    for (word, n) in entry["fillers"].as_object().unwrap() {
        for _ in 0..n.as_u64().unwrap() {
            fillers.push(word.clone());
        }
    }
    fillers.sort();
    let long = entry["pauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["start_s"].as_f64().unwrap(),
                p["length_s"].as_f64().unwrap(),
            )
        })
        .filter(|&(_, len)| len >= 1.0)
        .collect();
    (fillers, long)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_uploads_a_clip_and_shows_the_report_and_errors() {
    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let server: TestApp = spawn_app(&[]).await;
    let c = browser.client();
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&server.url("/")).await.unwrap();

    // The page knows the limit before any upload.
    visible(c, "#limit-text").await;
    let start = std::time::Instant::now();
    while !text(c, "#limit-text").await.contains("100 MB") {
        assert!(start.elapsed() < WAIT, "limit never shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(text(c, "h1").await, "Speech coach");

    // --- a clip: the report and its timeline ---
    let clip = "clips/en_talk_2.wav";
    let entry = corpus::entry(clip);
    upload(c, &corpus::path(clip)).await;
    visible(c, "#report #timeline-svg").await;
    eprintln!("render-report: {} ms", render_ms(c).await);

    let (want_fillers, want_long) = expected(entry);
    let markers = c
        .find_all(Locator::Css("#timeline-svg [data-kind='filler']"))
        .await
        .unwrap();
    let mut got_fillers = Vec::new();
    for m in &markers {
        got_fillers.push(m.attr("data-word").await.unwrap().unwrap_or_default());
    }
    got_fillers.sort();
    assert_eq!(
        got_fillers, want_fillers,
        "one marker per filler, with its word"
    );

    let pauses = c
        .find_all(Locator::Css("#timeline-svg [data-kind='pause-long']"))
        .await
        .unwrap();
    let mut got_long = Vec::new();
    for p in &pauses {
        let num = |v: Option<String>| v.unwrap().parse::<f64>().unwrap();
        got_long.push((
            num(p.attr("data-start").await.unwrap()),
            num(p.attr("data-duration").await.unwrap()),
        ));
    }
    assert_eq!(got_long.len(), want_long.len(), "long pauses: {got_long:?}");
    for ((gs, gd), (ws, wd)) in got_long.iter().zip(&want_long) {
        assert!(
            (gs - ws).abs() < 0.2 && (gd - wd).abs() < 0.2,
            "pause at {gs}s for {gd}s, corpus says {ws}s for {wd}s"
        );
    }
    // The labelled length is visible on the timeline.
    assert!(pauses[0].text().await.unwrap().contains("1.5"));

    // Fillers highlighted in the transcript; the look-alike "like" in "I would like to" is not.
    let marks = c
        .find_all(Locator::Css("#transcript mark.filler"))
        .await
        .unwrap();
    let mut marked = Vec::new();
    for m in &marks {
        let t = m.text().await.unwrap();
        marked.push(
            t.trim_matches(|ch: char| !ch.is_alphanumeric())
                .to_lowercase(),
        );
    }
    let filler_words: Vec<String> = want_fillers
        .iter()
        .flat_map(|f| f.split(' ').map(str::to_string))
        .collect();
    let count = |v: &[String]| {
        v.iter().fold(BTreeMap::new(), |mut m, w| {
            *m.entry(w.clone()).or_insert(0) += 1;
            m
        })
    };
    assert_eq!(
        count(&marked),
        count(&filler_words),
        "highlighted: {marked:?}"
    );

    // Headline numbers, the feedback's honest source, the advice.
    let stats = text(c, "#stats").await;
    assert!(stats.contains("words/min"), "{stats}");
    assert!(stats.contains("0:12") || stats.contains("0:13"), "{stats}");
    let source = text(c, "#feedback-source").await;
    assert!(source.to_lowercase().contains("rule"), "{source}");
    assert!(
        !c.find_all(Locator::Css("#advice li"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !shown(c, "#cache-note").await,
        "a fresh analysis is not called cached"
    );

    // A timeline marker seeks the player to just before that moment.
    let seek: f64 = markers[0]
        .attr("data-seek")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    markers[0].click().await.unwrap();
    let start = std::time::Instant::now();
    loop {
        let at = js(c, "return document.getElementById('player').currentTime")
            .await
            .as_f64()
            .unwrap_or(-1.0);
        if (at - seek).abs() < 0.6 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "player at {at}s, marker says {seek}s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    js(c, "document.getElementById('player').pause()").await;

    screenshot(c, "report-desktop.png", 1280, 900).await;
    screenshot(c, "report-phone.png", 390, 844).await;
    // The phone layout must not scroll sideways (the timeline scrolls inside its own box).
    let overflow = js(
        c,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
    )
    .await;
    assert_eq!(overflow.as_i64(), Some(0), "page wider than a phone screen");
    c.set_window_size(1280, 900).await.unwrap();

    // --- the same file again: the answer comes from the cache and the page says so ---
    click(c, "#again").await;
    upload(c, &corpus::path(clip)).await;
    let note = visible(c, "#cache-note").await;
    assert!(note.text().await.unwrap().contains("cache"));

    // --- a broken file: the API's own message is shown ---
    click(c, "#again").await;
    let bad = corpus::path("bad/text.mp3");
    let api: Value = {
        let resp = server
            .analyze_multipart(std::fs::read(&bad).unwrap(), "text.mp3", "")
            .await;
        assert!(resp.status().is_client_error(), "{}", resp.status());
        resp.json().await.unwrap()
    };
    upload(c, &bad).await;
    visible(c, "#error").await;
    assert_eq!(
        text(c, "#error-message").await,
        api["message"].as_str().unwrap()
    );
    let title = text(c, "#error-title").await;
    assert!(
        title == "This file format is not supported" || title == "The file could not be used",
        "{title}"
    );
    assert!(text(c, "#error-request").await.contains("Request id"));
    assert!(
        c.find(Locator::Css("#report"))
            .await
            .unwrap()
            .attr("hidden")
            .await
            .unwrap()
            .is_some()
    );

    // The interface switches to Russian, the error included.
    click(c, "[data-ui-lang='ru']").await;
    assert_eq!(text(c, "h1").await, "Тренер выступлений");
    let title_ru = text(c, "#error-title").await;
    assert!(
        title_ru == "Формат файла не поддерживается" || title_ru == "Файл не удалось обработать",
        "{title_ru}"
    );
    screenshot(c, "error-phone-ru.png", 390, 844).await;

    // --- a file over the server's limit is refused by the page, before uploading ---
    let small = spawn_app(&[("MAX_FILE_SIZE_MB", "0.1")]).await;
    c.goto(&small.url("/")).await.unwrap();
    let start = std::time::Instant::now();
    while !text(c, "#limit-text").await.contains("102 KB") {
        assert!(start.elapsed() < WAIT, "limit never shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let input = c.find(Locator::Css("#file")).await.unwrap();
    input
        .send_keys(
            &corpus::path(clip)
                .canonicalize()
                .unwrap()
                .display()
                .to_string(),
        )
        .await
        .unwrap();
    visible(c, "#error").await;
    assert_eq!(text(c, "#error-title").await, "The file is too large");
    assert!(text(c, "#error-message").await.contains("102 KB"));
    assert!(
        !c.find(Locator::Css("#analyze"))
            .await
            .unwrap()
            .is_enabled()
            .await
            .unwrap()
    );

    browser.close().await;
}

/// The page runs the analysis as a job: stage, a growing percentage and the transcript as it is
/// transcribed (the fake recogniser is stepped window by window), the job id in the URL so a
/// reload reattaches to the same job, Cancel cancelling it on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_follows_a_job_window_by_window_and_reattaches_after_a_reload() {
    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = Arc::new(FakeTranscriber::windowed(2.0, Some(gate.clone())));
    let server = spawn_app_with(&[], fake).await;
    let c = browser.client();
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&server.url("/")).await.unwrap();
    visible(c, "#limit-text").await;

    // en_talk_2.wav is 12.5 s: seven windows of 2 s.
    let clip = "clips/en_talk_2.wav";
    upload(c, &corpus::path(clip)).await;
    let job = wait_for(
        c,
        "the job id in the URL",
        |v| v.as_str().is_some_and(|s| s.len() == 32),
        "return new URLSearchParams(location.search).get('job')",
    )
    .await;
    let job = job.as_str().unwrap().to_string();

    let fraction = "return parseFloat(document.getElementById('progress').dataset.fraction || '0')";
    let partial = "return document.getElementById('partial').textContent";
    let mut last_pct = 0.0;
    let mut last_text = String::new();
    for step in 0..3 {
        gate.add_permits(1);
        let f = wait_for(
            c,
            "a higher percentage",
            |v| v.as_f64() > Some(last_pct),
            fraction,
        )
        .await;
        let pct = f.as_f64().unwrap();
        let shown = text(c, "#progress-text").await;
        assert!(
            shown.contains(&format!("{} %", (pct * 100.0).round())),
            "{shown}"
        );
        assert!(shown.contains("Transcribing"), "{shown}");
        let p = js(c, partial).await.as_str().unwrap_or("").to_string();
        assert!(
            p.len() >= last_text.len() && p.starts_with(&last_text),
            "{p:?} after {last_text:?}"
        );
        if step == 2 {
            assert!(!p.is_empty(), "partial transcript shown");
        }
        let bar = js(c, "return document.getElementById('progress-bar').value").await;
        assert_eq!(bar.as_f64(), Some((pct * 100.0).round()));
        last_pct = pct;
        last_text = p;
    }

    // A reload mid-way: the same job, its percentage and the transcript so far are back.
    c.refresh().await.unwrap();
    visible(c, "#progress").await;
    let f = wait_for(
        c,
        "the percentage after the reload",
        |v| v.as_f64() >= Some(last_pct),
        fraction,
    )
    .await;
    assert!(f.as_f64().unwrap() < 1.0);
    let again = js(c, "return new URLSearchParams(location.search).get('job')").await;
    assert_eq!(again.as_str(), Some(job.as_str()));
    let p = wait_for(
        c,
        "the transcript so far",
        |v| v.as_str() == Some(last_text.as_str()),
        partial,
    )
    .await;
    assert_eq!(p.as_str().unwrap(), last_text);
    gate.add_permits(1);
    wait_for(
        c,
        "progress after the reload",
        |v| v.as_f64() > Some(last_pct),
        fraction,
    )
    .await;

    // The rest of the windows: the report.
    gate.add_permits(100);
    visible(c, "#report #timeline-svg").await;
    assert!(
        !shown(c, "#progress").await,
        "progress hidden once the report is shown"
    );
    let words = c
        .find_all(Locator::Css("#transcript [data-t]"))
        .await
        .unwrap();
    assert!(!words.is_empty());

    // Cancel: another upload (not cached), cancelled on the server.
    let gate_before = gate.available_permits();
    gate.forget_permits(gate_before);
    click(c, "#again").await;
    upload(c, &corpus::path("clips/en_talk_1.wav")).await;
    let second = wait_for(
        c,
        "a new job id",
        |v| v.as_str().is_some_and(|s| s.len() == 32 && s != job),
        "return new URLSearchParams(location.search).get('job')",
    )
    .await;
    let second = second.as_str().unwrap().to_string();
    visible(c, "#cancel").await;
    click(c, "#cancel").await;
    gate.add_permits(1); // the window in progress ends; the run then sees the cancel
    visible(c, "#error").await;
    assert_eq!(text(c, "#error-title").await, "Analysis cancelled");
    let state = server.job(&second).await;
    assert_eq!(state["state"], "cancelled");
    screenshot(c, "job-cancelled.png", 1280, 900).await;
    browser.close().await;
}

/// Polls a script until its value satisfies `ok` (bounded by [`WAIT`]).
async fn wait_for(c: &Client, what: &str, ok: impl Fn(&Value) -> bool, script: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let v = js(c, script).await;
        if ok(&v) {
            return v;
        }
        assert!(start.elapsed() < WAIT, "{what}: still {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Not a check: how the page copes with a one-hour talk (288 × the 12.5 s clip: ~9000 words,
/// ~1150 fillers). Numbers go to docs/bench/web.md. Run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_one_hour_report() {
    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let server = spawn_tiled_server(288).await;
    let c = browser.client();
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&server.url("/")).await.unwrap();
    visible(c, "#limit-text").await;
    for round in 0..3 {
        if round > 0 {
            click(c, "#again").await;
        }
        let started = std::time::Instant::now();
        upload(c, &corpus::path("clips/en_talk_2.wav")).await;
        visible(c, "#report #timeline-svg").await;
        let wall = started.elapsed();
        let fillers = c
            .find_all(Locator::Css("#timeline-svg [data-kind='filler']"))
            .await
            .unwrap()
            .len();
        let words = js(
            c,
            "return document.querySelectorAll('#transcript .w').length",
        )
        .await;
        eprintln!(
            "round {round}: render-report {:.0} ms, upload→report visible {:.0} ms, \
             {fillers} filler markers, {words} transcript words",
            render_ms(c).await,
            wall.as_secs_f64() * 1000.0
        );
    }
    screenshot(c, "one-hour-desktop.png", 1280, 900).await;
    browser.close().await;
}

/// Real talks are 5–100 MB: a 10-minute talk (19 MB WAV, past the 2 MiB that once refused every
/// multipart upload) picked in the page's own file input ends in a full report.
#[tokio::test]
async fn page_analyses_a_ten_minute_talk_of_19_mb() {
    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let talk = long_talk::build(10.0, "en");
    let wav = talk.write_wav(&dir.path().join("ten-minute-talk.wav"));
    assert!(std::fs::metadata(&wav).unwrap().len() > 6 * 1024 * 1024);
    let server = spawn_app_with(&[], Arc::new(FakeTranscriber::speaking(&talk.text(), "en"))).await;
    let c = browser.client();
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&server.url("/")).await.unwrap();
    visible(c, "#limit-text").await;
    upload(c, &wav).await;
    visible(c, "#report #timeline-svg").await;
    eprintln!("render-report (10 min): {} ms", render_ms(c).await);

    let stats = text(c, "#stats").await;
    assert!(stats.contains("words/min"), "{stats}");
    let minutes = (talk.duration_sec() / 60.0).floor() as u64;
    assert!(
        stats.contains(&format!("{minutes}:")),
        "{minutes} min not in {stats}"
    );
    // The silences between the clips (3.2 s and 6.5 s) are on the timeline as long pauses.
    let pauses = c
        .find_all(Locator::Css("#timeline-svg [data-kind^='pause']"))
        .await
        .unwrap();
    assert!(pauses.len() >= 10, "{} pause markers", pauses.len());
    assert!(
        !c.find_all(Locator::Css("#advice li"))
            .await
            .unwrap()
            .is_empty()
    );
    // The whole transcript is on the page, not the first stretch of it.
    let shown = text(c, "#transcript").await.split_whitespace().count();
    let spoken = talk.text().split_whitespace().count();
    assert!(
        shown.abs_diff(spoken) <= spoken / 20,
        "{shown} words shown of {spoken} spoken"
    );
    screenshot(c, "ten-minute-talk.png", 1280, 900).await;
    browser.close().await;
}
