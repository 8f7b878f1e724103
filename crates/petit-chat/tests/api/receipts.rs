//! Read markers and "delivered to / seen by".

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::harness::TestServer;

#[tokio::test]
async fn seen_by_follows_read_markers_which_never_move_back() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("g", &[&bob, &carol]).await;
    let first = alice.say(&chat, "one").await["id"].as_str().unwrap().to_string();
    let second = alice.say(&chat, "two").await["id"].as_str().unwrap().to_string();
    let receipts = |sid: &str| format!("/api/v1/chats/{chat}/signals/{sid}/receipts");

    let (_, r) = alice.get(&receipts(&first)).await;
    assert_eq!(r, json!({ "delivered_to": [], "seen_by": [] }));

    let (status, me) = bob.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": second })).await;
    assert_eq!((status, me["read_up_to"].as_str()), (StatusCode::OK, Some(second.as_str())));
    // Moving back is ignored.
    let (_, me) = bob.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": first })).await;
    assert_eq!(me["read_up_to"], second.as_str());
    let (_, me) = carol.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": first })).await;
    assert_eq!(me["read_up_to"], first.as_str());

    let (_, r) = alice.get(&receipts(&first)).await;
    let mut both = vec![bob.id.clone(), carol.id.clone()];
    both.sort();
    assert_eq!(r, json!({ "delivered_to": both, "seen_by": both }));
    let (_, r) = carol.get(&receipts(&second)).await;
    assert_eq!(r, json!({ "delivered_to": [bob.id], "seen_by": [bob.id] }));

    let (status, p) = bob.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": "123" })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("signal_not_found")));
}

#[tokio::test]
async fn a_signal_written_to_a_stream_counts_as_delivered() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let mut bob_stream = bob.stream(None).await;
    let sid = alice.say(&chat, "are you there?").await["id"].as_str().unwrap().to_string();
    let event = bob_stream.next_message().await;
    assert_eq!(event.data["signal"]["id"], sid.as_str());
    // The delivery tracker flushes every 250 ms.
    let path = format!("/api/v1/chats/{chat}/signals/{sid}/receipts");
    let mut delivered = json!(null);
    for _ in 0..40 {
        delivered = alice.get(&path).await.1;
        if delivered["delivered_to"] == json!([bob.id]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, json!({ "delivered_to": [bob.id], "seen_by": [] }));
}
