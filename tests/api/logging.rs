use crate::support::app::{get_with_request_id, spawn_binary};
use crate::support::logs::read_json_logs;

#[tokio::test]
async fn a_line_logged_inside_a_handler_carries_the_request_id() {
    let mut app = spawn_binary(&[("LOG_FILE", "logs/app.log")]).await;
    let client = reqwest::Client::new();
    let r = get_with_request_id(&client, app.url("/missing-page"), "log-probe-42").await;
    assert_eq!(r.status(), 404);
    assert!(app.terminate().success());
    let files = read_json_logs(&app.dir.path().join("logs"), "app.log");
    let lines: Vec<_> = files.into_iter().flat_map(|(_, l)| l).collect();
    // The 404 handler logs why it refused; the middleware logs the finished request.
    let ours: Vec<_> = lines
        .iter()
        .filter(|l| l["request_id"] == "log-probe-42")
        .collect();
    let messages: Vec<_> = ours
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"request refused"), "{messages:?}");
    assert!(messages.contains(&"request finished"), "{messages:?}");
    for l in &ours {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
        assert_eq!(l["path"], "/missing-page");
    }
    // Lines outside requests have no request id.
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "listening" && l.get("request_id").is_none())
    );
}

async fn run_requests_and_collect(
    backups: &str,
    n: usize,
) -> (tempfile::TempDir, Vec<(String, Vec<serde_json::Value>)>) {
    let mut app = spawn_binary(&[
        ("LOG_FILE", "logs/app.log"),
        // About 4 KB per file: a few dozen lines each.
        ("LOG_MAX_SIZE_MB", "0.004"),
        ("LOG_BACKUP_COUNT", backups),
    ])
    .await;
    let client = reqwest::Client::new();
    for i in 0..n {
        let r = get_with_request_id(&client, app.url("/health"), &format!("rot-{i}")).await;
        assert_eq!(r.status(), 200);
    }
    assert!(app.terminate().success());
    let files = read_json_logs(&app.dir.path().join("logs"), "app.log");
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    (dir, files)
}

#[tokio::test]
async fn size_rotation_loses_and_splits_no_line() {
    let n = 300;
    let (tmp, files) = run_requests_and_collect("1000", n).await;
    let dir = tmp.path().join("logs");
    assert!(
        files.len() > 5,
        "expected several rotated files, got {}",
        files.len()
    );
    let limit = (0.004 * 1024.0 * 1024.0) as usize;
    let mut seen = vec![0usize; n];
    for (name, lines) in &files {
        let bytes = std::fs::metadata(dir.join(name)).unwrap().len() as usize;
        assert!(
            bytes <= limit,
            "{name} is {bytes} bytes, over the {limit} limit"
        );
        for l in lines {
            if l["message"] == "request finished" {
                // Skip the harness's readiness probes (fresh UUID ids).
                if let Some(i) = l["request_id"].as_str().unwrap().strip_prefix("rot-") {
                    seen[i.parse::<usize>().unwrap()] += 1;
                }
            }
        }
    }
    assert!(
        seen.iter().all(|&c| c == 1),
        "lost or doubled lines: {seen:?}"
    );
}

#[tokio::test]
async fn rotation_keeps_at_most_backup_count_files() {
    let (_tmp, files) = run_requests_and_collect("2", 200).await;
    let names: Vec<_> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["app.log", "app.log.1", "app.log.2"]);
}
