//! The shared SSE reader itself (`tests/support/sse.rs`), fed network chunks as they may come:
//! a multi-byte character or an event boundary split across chunks, comments, CRLF.

use crate::support::sse::{SseReader, parse_event};
use bytes::Bytes;

fn reader(chunks: Vec<&'static [u8]>) -> SseReader {
    let items: Vec<Result<Bytes, std::convert::Infallible>> = chunks
        .into_iter()
        .map(|c| Ok(Bytes::from_static(c)))
        .collect();
    SseReader::from_stream(futures::stream::iter(items))
}

#[tokio::test]
async fn a_character_split_across_chunks_arrives_whole() {
    let event = "id: 3\nevent: progress\ndata: {\"words\":[\"э-э\",\"ну\"]}\n\n".as_bytes();
    // Cut inside the two bytes of the first `э`.
    let cut = event.iter().position(|&b| b == 0xd1).unwrap() + 1;
    let (a, b) = event.split_at(cut);
    let mut sse = reader(vec![a, b]);
    let e = sse.next().await.expect("one event");
    assert_eq!(e.id, Some(3));
    assert_eq!(e.event, "progress");
    assert_eq!(e.data["words"][0], "э-э");
    assert_eq!(e.data["words"][1], "ну");
    assert!(sse.next().await.is_none());
}

#[tokio::test]
async fn events_split_and_joined_anywhere_come_out_in_order_comments_skipped() {
    let stream: &'static [u8] = b": keep-alive\n\nid: 1\nevent: state\ndata: {\"state\":\"running\"}\n\nevent: progress\ndata: {\"snapshot\":true}\r\n\r\nid: 2\nevent: done\ndata: {\"a\":\ndata: 1}\n\n";
    for size in 1..stream.len() {
        let chunks: Vec<&'static [u8]> = stream.chunks(size).collect();
        let mut sse = reader(chunks);
        let got = sse.until(&["done"]).await;
        let kinds: Vec<(Option<u64>, &str)> =
            got.iter().map(|e| (e.id, e.event.as_str())).collect();
        assert_eq!(
            kinds,
            [(Some(1), "state"), (None, "progress"), (Some(2), "done")],
            "chunks of {size}"
        );
        assert_eq!(got[0].data["state"], "running");
        assert_eq!(got[1].data["snapshot"], true);
        assert_eq!(got[2].data["a"], 1, "data lines joined");
        assert!(sse.next().await.is_none(), "chunks of {size}");
    }
}

#[test]
fn a_block_without_data_is_not_an_event_and_the_default_kind_is_message() {
    assert!(parse_event(": comment\n\n").is_none());
    assert!(parse_event("event: state\n\n").is_none());
    let e = parse_event("data: 7\n\n").unwrap();
    assert_eq!(
        (e.id, e.event.as_str(), e.data.as_i64()),
        (None, "message", Some(7))
    );
}
