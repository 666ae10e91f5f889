//! The Progress view in a real browser: track rehearsals, upload three clips, and check the
//! trend chart (three markers), the comparison of the last two (the deltas the API computes),
//! a goal with its status, and that a marker opens that rehearsal's stored report.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use super::{WAIT, click, js, screenshot, text, upload, visible};
use crate::browser::Browser;
use crate::support::{corpus, spawn_app};

async fn wait_attr(c: &Client, css: &str, attr: &str, want: &str) {
    let start = Instant::now();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && el.attr(attr).await.ok().flatten().as_deref() == Some(want)
        {
            return;
        }
        assert!(start.elapsed() < WAIT, "{css}[{attr}] never became {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The number at the start of a delta cell ("+1.23 (better)" → 1.23).
fn leading_number(s: &str) -> f64 {
    s.split_whitespace()
        .next()
        .and_then(|n| n.trim_start_matches('+').parse().ok())
        .unwrap_or_else(|| panic!("no number in {s:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_view_charts_three_rehearsals_and_compares_the_last_two() {
    let Some(browser) = Browser::start_or_skip().await else {
        return;
    };
    let server = spawn_app(&[]).await;
    let c = browser.client();
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&server.url("/")).await.unwrap();

    visible(c, "#progress-start").await.click().await.unwrap();
    visible(c, "#progress-tracking").await;
    let clips = [
        "clips/en_talk_1.wav",
        "clips/en_talk_2.wav",
        "clips/ru_talk_2.wav",
    ];
    for (i, clip) in clips.iter().enumerate() {
        let title = c.find(Locator::Css("#progress-title")).await.unwrap();
        title.clear().await.unwrap();
        title.send_keys(&format!("take {}", i + 1)).await.unwrap();
        upload(c, &corpus::path(clip)).await;
        wait_attr(c, "#progress-view", "data-rehearsals", &(i + 1).to_string()).await;
    }

    let points = c
        .find_all(Locator::Css("#progress-chart circle.progress-point"))
        .await
        .unwrap();
    assert_eq!(points.len(), 3, "one marker per rehearsal");

    // What the API says the last two differ by, shown in the table.
    let speaker = js(c, "return localStorage.getItem('speech-coach.speaker')").await;
    let speaker = speaker
        .as_str()
        .expect("the page keeps the speaker id")
        .to_string();
    let progress = server
        .get_json(&format!("/speakers/{speaker}/progress"))
        .await;
    assert_eq!(progress["rehearsal_count"], 3);
    let mut checked = 0;
    for m in progress["comparison"]["metrics"].as_array().unwrap() {
        let Some(delta) = m["delta"].as_f64() else {
            continue;
        };
        let name = m["metric"].as_str().unwrap();
        let cell = text(
            c,
            &format!("#progress-compare tr[data-metric='{name}'] td.delta"),
        )
        .await;
        assert!(
            (leading_number(&cell) - delta).abs() < 0.006,
            "{name}: page shows {cell:?}, API delta {delta}"
        );
        let word = match m["improved"].as_bool() {
            Some(true) => "better",
            Some(false) => "worse",
            None => "no clear change",
        };
        assert!(cell.contains(word), "{name}: {cell:?} should say {word}");
        checked += 1;
    }
    assert!(checked >= 5, "compared only {checked} metrics");

    // A goal and its status.
    let latest_fillers = progress["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "fillers_per_minute")
        .unwrap()["latest"]
        .as_f64()
        .unwrap();
    let select = c.find(Locator::Css("#goal-metric")).await.unwrap();
    select.select_by_value("fillers_per_minute").await.unwrap();
    c.find(Locator::Css("#goal-max"))
        .await
        .unwrap()
        .send_keys(&format!("{}", (latest_fillers + 1.0).ceil()))
        .await
        .unwrap();
    click(c, "#goal-save").await;
    wait_attr(
        c,
        "#progress-goals li[data-metric='fillers_per_minute']",
        "data-status",
        "achieved",
    )
    .await;
    screenshot(c, "progress-desktop.png", 1280, 900).await;

    // The first marker opens the first rehearsal's stored report.
    let first = &progress["rehearsals"][0]["id"];
    let report = server
        .get_json(&format!(
            "/speakers/{speaker}/rehearsals/{}",
            first.as_str().unwrap()
        ))
        .await;
    let marker = c
        .find(Locator::Css(&format!(
            "#progress-chart circle[data-rehearsal='{}']",
            first.as_str().unwrap()
        )))
        .await
        .unwrap();
    // SVG elements take a scripted click (WebDriver's pointer click needs a box model).
    c.execute(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
        vec![serde_json::to_value(&marker).unwrap()],
    )
    .await
    .unwrap();
    let want = report["id"].as_str().unwrap();
    let start = Instant::now();
    while !text(c, "#report-sub").await.contains(want) {
        assert!(
            start.elapsed() < WAIT,
            "the marker did not open report {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.close().await;
}
