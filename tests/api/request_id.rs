use crate::support::app::get_with_request_id;
use crate::support::spawn_app;
use serde_json::Value;

fn is_uuid_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
}

#[tokio::test]
async fn a_valid_inbound_id_is_echoed() {
    let app = spawn_app(&[]).await;
    let r = get_with_request_id(&app.client, app.url("/health"), "client-abc_1.2").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "client-abc_1.2");
}

#[tokio::test]
async fn invalid_or_missing_ids_are_replaced_by_a_uuid_v4() {
    let app = spawn_app(&[]).await;
    let too_long = "a".repeat(65);
    for bad in [
        Some(too_long.as_str()),
        Some("../x"),
        Some("has space"),
        Some(""),
        None,
    ] {
        let mut req = app.client.get(app.url("/health"));
        if let Some(v) = bad {
            req = req.header("x-request-id", v);
        }
        let r = req.send().await.unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(is_uuid_v4(&id), "{bad:?} → {id}");
    }
    // Several headers are ambiguous: replaced too.
    let r = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "one")
        .header("x-request-id", "two")
        .send()
        .await
        .unwrap();
    assert!(is_uuid_v4(r.headers()["x-request-id"].to_str().unwrap()));
}

#[tokio::test]
async fn errors_are_json_with_the_request_id() {
    let app = spawn_app(&[("MAX_FILE_SIZE_MB", "1")]).await;
    let cases = [
        (app.client.get(app.url("/no/such/route")), 404, "not_found"),
        (
            app.client.delete(app.url("/health")),
            405,
            "method_not_allowed",
        ),
        (
            app.client
                .post(app.url("/health"))
                .header("content-type", "audio/wav")
                .body(vec![0u8; 2 * 1024 * 1024]),
            413,
            "payload_too_large",
        ),
    ];
    for (req, status, code) in cases {
        let r = req
            .header("x-request-id", "err-test-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(r.headers()["x-request-id"], "err-test-1");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], code, "{body}");
        assert_eq!(body["request_id"], "err-test-1");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn health_reports_version_uptime_and_components() {
    let app = spawn_app(&[]).await;
    let body = app.health().await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_sec"].as_f64().unwrap() >= 0.0);
    assert!(body["components"].is_object());
}
