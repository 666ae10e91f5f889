use crate::support::app::{signal, spawn_binary};
use crate::support::corpus;
use std::time::Duration;

/// SIGTERM while an upload is still streaming: the server stops accepting, lets the request
/// finish (it gets its real answer), then exits 0.
#[tokio::test]
async fn sigterm_lets_the_in_flight_request_finish_and_exits_zero() {
    let mut app = spawn_binary(&[("LOG_FILE", ""), ("SHUTDOWN_TIMEOUT_SEC", "20")]).await;
    let bytes = corpus::read("bad/random_1k.wav");
    // A body that trickles in over ~1.5 s.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64).map(|c| Ok(c.to_vec())).collect();
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c
    });
    let client = reqwest::Client::new();
    let url = app.url("/analyze");
    let request = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "audio/wav")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    signal(app.pid(), "TERM");
    let response = request.await.unwrap().expect("in-flight request completed");
    // random bytes are refused as not audio: the request got its real answer.
    assert_eq!(response.status(), 415);
    let status = app.wait(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
}

use futures::StreamExt;
