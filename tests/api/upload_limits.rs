use crate::support::app::{BinaryApp, proc_status_kib, spawn_binary};
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
    let peak = proc_status_kib(app.pid(), "VmHWM:");
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

/// A silent 16 kHz mono WAV of exactly `total` bytes (header included), as a stream: valid audio
/// that needs no recogniser (no speech), so its size is the only thing under test.
fn silent_wav(total: usize) -> (bytes::Bytes, usize) {
    let data_len = (total - 44) as u32;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&16_000u32.to_le_bytes());
    h.extend_from_slice(&32_000u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    (bytes::Bytes::from(h), total - 44)
}

/// The WAV header then `zeros` zero bytes, streamed in 1 MiB chunks.
fn wav_stream(header: bytes::Bytes, zeros: usize) -> reqwest::Body {
    let chunk = bytes::Bytes::from(vec![0u8; MB]);
    let full = zeros / MB;
    let rest = zeros % MB;
    let tail = chunk.slice(..rest);
    let stream = futures::stream::iter(
        std::iter::once(header)
            .chain(std::iter::repeat_n(chunk, full))
            .chain((rest > 0).then_some(tail)),
    )
    .map(Ok::<_, std::io::Error>);
    reqwest::Body::wrap_stream(stream)
}

enum Shape {
    /// Raw body with its length declared.
    Raw,
    /// Raw body, chunked (no declared length).
    Chunked,
    /// A multipart form whose `file` field is the WAV.
    Multipart,
}

async fn post_wav(app: &BinaryApp, total: usize, shape: &Shape) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let (header, zeros) = silent_wav(total);
    let req = client
        .post(app.url("/analyze?detail=summary"))
        .timeout(Duration::from_secs(300));
    let req = match shape {
        Shape::Raw => req
            .header("content-type", "audio/wav")
            .header("content-length", total.to_string())
            .body(wav_stream(header, zeros)),
        Shape::Chunked => req
            .header("content-type", "audio/wav")
            .body(wav_stream(header, zeros)),
        Shape::Multipart => {
            let part = reqwest::multipart::Part::stream_with_length(
                wav_stream(header, zeros),
                total as u64,
            )
            .file_name("talk.wav")
            .mime_str("audio/wav")
            .unwrap();
            req.multipart(reqwest::multipart::Form::new().part("file", part))
        }
    };
    match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or_default())
        }
        // Refused while still sending: the server closed the connection after its 413.
        Err(e) if e.is_request() || e.is_body() => (0, serde_json::Value::Null),
        Err(e) => panic!("{e}"),
    }
}

/// At the limit exactly: (limit − 1 KiB) is accepted and judged on its content (silence: a 200
/// report of the full length); (limit + 1 byte) is refused with 413 while streaming — raw with
/// its length declared, chunked, and multipart alike — and the server's memory stays flat.
#[tokio::test]
async fn the_limit_is_exact_for_raw_chunked_and_multipart_uploads() {
    let app = spawn_binary(&[("LOG_FILE", ""), ("MAX_FILE_SIZE_MB", "100")]).await;
    let limit = 100 * MB;
    let before = app.rss_kib();
    for shape in [Shape::Raw, Shape::Chunked, Shape::Multipart] {
        let (status, body) = post_wav(&app, limit + 1, &shape).await;
        // 0 = the connection was closed on the client mid-send, after the server's 413.
        assert!(status == 413 || status == 0, "limit + 1: {status} {body}");
        if status == 413 {
            assert_eq!(body["error"], "payload_too_large", "{body}");
        }
    }
    let peak = proc_status_kib(app.pid(), "VmHWM:");
    println!("413s: RSS before {before} KiB, peak {peak} KiB");
    assert!(
        peak < before + 40 * 1024,
        "peak RSS {peak} KiB vs {before} KiB at start: an over-limit upload was buffered"
    );
    let uploads = app.dir.path().join("uploads");
    let leftovers = std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "refused uploads left files behind");

    let duration = (limit - 1024 - 44) as f64 / 32_000.0;
    for shape in [Shape::Raw, Shape::Multipart] {
        let (status, body) = post_wav(&app, limit - 1024, &shape).await;
        assert_eq!(status, 200, "limit − 1 KiB: {body}");
        let got = body["audio"]["duration_sec"].as_f64().unwrap();
        assert!((got - duration).abs() < 0.01, "{got} s vs {duration} s");
        assert_eq!(body["metrics"]["words_total"], 0);
    }
}
