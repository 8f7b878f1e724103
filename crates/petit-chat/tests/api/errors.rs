//! Bad input gets a problem document with a stable code, and changes nothing.

use reqwest::StatusCode;
use serde_json::json;

use super::harness::TestServer;

#[tokio::test]
async fn bad_input_is_refused_with_a_stable_code_and_stores_nothing() {
    let server = TestServer::start_with(|c| c.limits.max_text_chars = 10).await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let path = format!("/api/v1/chats/{chat}/signals");
    let cases = [
        (
            json!({ "kind": "msg", "text": "12345678901", "nonce": "a" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_too_long",
        ),
        (json!({ "kind": "msg", "text": "   ", "nonce": "a" }), StatusCode::UNPROCESSABLE_ENTITY, "empty_text"),
        (json!({ "kind": "call", "text": "hi", "nonce": "a" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({ "kind": "msg", "text": "hi" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({ "kind": "msg", "text": 5, "nonce": "a" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({ "kind": "msg", "text": "hi", "nonce": "" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_nonce"),
        (
            json!({ "kind": "msg", "text": "hi", "nonce": "a", "reply_to": "x1" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({ "kind": "msg", "text": "hi", "nonce": "a", "extra": 1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let (got, problem) = alice.post(&path, body.clone()).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{body}");
        assert_eq!(problem["type"], format!("urn:petit-chat:problem:{code}"));
        assert!(problem["detail"].is_string() && problem["title"].is_string());
    }
    // Exactly at the limit is fine (characters, not bytes).
    let (status, _) = alice.post(&path, json!({ "kind": "msg", "text": "éééééééééé", "nonce": "ok" })).await;
    assert_eq!(status, StatusCode::CREATED);

    let raw = |body: &'static str, content_type: &'static str| {
        let req = server.client.post(format!("{}{path}", server.base)).bearer_auth(&alice.token);
        req.header("content-type", content_type).body(body)
    };
    for (req, status, code) in [
        (raw("{\"kind\": \"msg\", ", "application/json"), StatusCode::BAD_REQUEST, "malformed_json"),
        (raw("not json", "application/json"), StatusCode::BAD_REQUEST, "malformed_json"),
        (raw("{}", "text/plain"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), status);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(problem["code"], code);
    }
    // A body over the limit (64 KiB by default) is 413.
    let huge = json!({ "kind": "msg", "text": "x".repeat(100_000), "nonce": "big" });
    let (status, problem) = alice.post(&path, huge).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));

    let (_, page) = alice.get(&path).await;
    let msgs: Vec<_> = page["items"].as_array().unwrap().iter().filter(|s| s["kind"] == "msg").collect();
    assert_eq!(msgs.len(), 1, "only the valid message was stored: {page}");
}

#[tokio::test]
async fn bad_ids_in_paths_are_400_and_foreign_chats_404() {
    let server = TestServer::start().await;
    let (alice, bob, eve) = (server.login("alice").await, server.login("bob").await, server.login("eve").await);
    let chat = alice.group("g", &[&bob]).await;
    let sid = alice.say(&chat, "secret").await["id"].as_str().unwrap().to_string();
    for path in
        ["/api/v1/chats/abc", "/api/v1/chats/-5/signals", "/api/v1/chats/99999999999999999999", "/api/v1/users/1.5"]
    {
        let (status, p) = alice.get(path).await;
        assert_eq!((status, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_path")), "{path}");
    }
    // Eve is in no chat with alice: every door is "not found", the chat is never shown.
    for path in [
        format!("/api/v1/chats/{chat}"),
        format!("/api/v1/chats/{chat}/signals"),
        format!("/api/v1/chats/{chat}/members"),
        format!("/api/v1/chats/{chat}/signals/{sid}"),
        format!("/api/v1/chats/{chat}/signals/{sid}/receipts"),
    ] {
        let (status, p) = eve.get(&path).await;
        assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")), "{path}");
        assert!(!p.to_string().contains("secret"));
    }
    let (status, _) =
        eve.post(&format!("/api/v1/chats/{chat}/signals"), json!({ "kind": "msg", "text": "hi", "nonce": "e" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = eve.post(&format!("/api/v1/chats/{chat}/members"), json!({ "user_ids": [eve.id] })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = alice.get(&format!("/api/v1/chats/{chat}/signals")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "eve changed nothing");
    let (status, p) = alice.get("/api/v1/nope").await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_such_route")));
}
