use crate::helpers::spawn_binary;
use futures::StreamExt;
use std::time::Duration;

const MB: usize = 1024 * 1024;

/// A stream of `total` zero bytes in 1 MiB chunks (nothing held whole on the client either).
fn zeros(total: usize) -> reqwest::Body {
    let chunk = bytes::Bytes::from(vec![0u8; MB]);
    let n = total / MB;
    reqwest::Body::wrap_stream(
        futures::stream::iter(0..n).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    )
}

/// 150 MB to any endpoint → 413, declared or chunked, and the server's memory stays flat.
#[tokio::test]
async fn a_150_mb_upload_is_refused_with_413_and_memory_stays_flat() {
    let app = spawn_binary(&[("LOG_FILE", ""), ("MAX_FILE_SIZE_MB", "100")]).await;
    let client = reqwest::Client::new();
    let before = app.rss_kib();
    for path in ["/analyze", "/health", "/nope"] {
        // Declared length: refused before any of it is read.
        let r = client
            .post(app.url(path))
            .header("content-type", "audio/wav")
            .header("content-length", (150 * MB).to_string())
            .body(zeros(150 * MB))
            .timeout(Duration::from_secs(60))
            .send()
            .await;
        match r {
            Ok(r) => {
                assert_eq!(r.status(), 413, "{path}");
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["error"], "payload_too_large");
            }
            // The server may close the connection while the client is still sending: that is
            // a refusal too, as long as the server did not buffer the body (checked below).
            Err(e) => assert!(e.is_request() || e.is_body(), "{path}: {e}"),
        }
    }
    // Unknown length (chunked): counted while streamed to disk, refused past the limit.
    let r = client
        .post(app.url("/analyze"))
        .header("content-type", "audio/wav")
        .body(zeros(150 * MB))
        .timeout(Duration::from_secs(60))
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    let after = app.rss_kib();
    let peak = crate::helpers::proc_status_kib(app.pid(), "VmHWM:");
    println!("RSS before {before} KiB, after {after} KiB, peak {peak} KiB");
    // Flat: far below the 150 MB that was sent (allocator noise and buffers only).
    assert!(
        peak < before + 40 * 1024,
        "peak RSS {peak} KiB vs {before} KiB at start"
    );
    // Nothing left behind in the upload dir.
    let leftovers = std::fs::read_dir(app.dir.path().join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0);
}
