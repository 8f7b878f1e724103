//! Live events: what reaches whom, and resuming with Last-Event-ID.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::harness::TestServer;

#[tokio::test]
async fn members_receive_chat_signal_reaction_and_receipt_events_outsiders_nothing() {
    let server = TestServer::start().await;
    let (alice, bob, eve) = (server.login("alice").await, server.login("bob").await, server.login("eve").await);
    let mut bob_events = bob.stream(None).await;
    let mut eve_events = eve.stream(None).await;

    let chat = alice.group("g", &[&bob]).await;
    let created = bob_events.next().await;
    assert_eq!(created.event, "chat.created");
    assert_eq!(created.data["chat"]["id"], chat.as_str());
    let joined = bob_events.next().await;
    assert_eq!((joined.event.as_str(), joined.data["signal"]["kind"].as_str()), ("signal.created", Some("joined")));

    let msg = alice.say(&chat, "hi bob").await;
    let e = bob_events.next().await;
    assert_eq!(e.event, "signal.created");
    assert_eq!(e.data["type"], "signal.created");
    assert_eq!(e.data["signal"]["text"], "hi bob");
    assert_eq!(e.data["signal"]["id"], msg["id"]);
    assert!(e.id.is_some(), "every event but ready/resync has an id");

    let sid = msg["id"].as_str().unwrap();
    alice.put(&format!("/api/v1/chats/{chat}/signals/{sid}/reactions/%F0%9F%91%8D")).await;
    let e = bob_events.next().await;
    assert_eq!(e.event, "reaction.changed");
    assert_eq!(
        (e.data["emoji"].as_str(), e.data["count"].as_i64(), e.data["added"].as_bool()),
        (Some("👍"), Some(1), Some(true))
    );

    alice.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": sid })).await;
    let e = bob_events.next().await;
    assert_eq!((e.event.as_str(), e.data["user_id"].as_str()), ("receipt.updated", Some(alice.id.as_str())));

    let (status, _) = alice.post(&format!("/api/v1/chats/{chat}/members"), json!({ "user_ids": [eve.id] })).await;
    assert_eq!(status, StatusCode::OK);
    let e = bob_events.next().await;
    assert_eq!((e.event.as_str(), &e.data["user_ids"]), ("member.joined", &json!([eve.id])));
    // Eve hears from the moment she joins, not before.
    let e = eve_events.next().await;
    assert_eq!(e.event, "member.joined");
    bob.delete(&format!("/api/v1/chats/{chat}/members/{}", bob.id)).await;
    let left = bob_events.next_named("member.left").await;
    assert_eq!(left.data["user_id"], bob.id.as_str(), "the one who leaves hears it too");
    alice.say(&chat, "bob is gone").await;
    let late = bob_events.try_next(Duration::from_millis(500)).await;
    assert!(late.as_ref().is_none_or(|e| e.event != "signal.created" || e.data["signal"]["kind"] != "msg"), "{late:?}");
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_exactly_the_gap() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let mut stream = bob.stream(None).await;
    alice.say(&chat, "before").await;
    let last = stream.next_message().await;
    assert_eq!(last.data["signal"]["text"], "before");
    drop(stream); // bob's connection drops

    let mut missed = vec![];
    for i in 0..5 {
        missed.push(alice.say(&chat, &format!("missed {i}")).await["id"].clone());
    }
    let mut resumed = bob.stream(last.id.as_deref()).await;
    let mut got = vec![];
    for _ in 0..5 {
        let e = resumed.next().await;
        assert_eq!(e.event, "signal.created");
        got.push(e.data["signal"]["id"].clone());
    }
    assert_eq!(got, missed, "exactly the missed signals, in order");
    // Then live, with no duplicate of the replay.
    let live = alice.say(&chat, "live").await;
    let e = resumed.next().await;
    assert_eq!(e.data["signal"]["id"], live["id"]);
    assert!(resumed.try_next(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_browser_resumes_with_a_fresh_ticket_and_the_position_in_the_query() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let mut stream = bob.stream_by_ticket(None).await;
    alice.say(&chat, "before").await;
    let last = stream.next_message().await;
    drop(stream);

    let missed = alice.say(&chat, "missed").await;
    let mut resumed = bob.stream_by_ticket(last.id.as_deref()).await;
    let e = resumed.next().await;
    assert_eq!((e.event.as_str(), &e.data["signal"]["id"]), ("signal.created", &missed["id"]), "only the gap");
    assert!(resumed.try_next(Duration::from_millis(300)).await.is_none());
}

/// A send whose answer was lost: its author learns it landed from its own event, which
/// carries the send's nonce (live, and replayed after a reconnection), so the client does
/// not send it again. Other members never see the nonce; a retry is not a second event.
#[tokio::test]
async fn the_author_s_own_event_carries_the_nonce_and_no_one_else_s_does() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let mut alices = alice.stream(None).await;
    let mut bobs = bob.stream(None).await;
    let live = json!({ "kind": "msg", "text": "live", "nonce": "n-live" });
    let (status, sent) = alice.post(&format!("/api/v1/chats/{chat}/signals"), live).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let mine = alices.next_message().await;
    assert_eq!((&mine.data["signal"]["id"], &mine.data["nonce"]), (&sent["id"], &json!("n-live")));
    let theirs = bobs.next_message().await;
    assert_eq!(theirs.data["signal"]["id"], sent["id"]);
    assert!(theirs.data.get("nonce").is_none(), "another member's copy shows no nonce: {}", theirs.data);

    // Alice's connection is down when she sends (and, say, the answer is lost too): the
    // replay when she is back carries the nonce.
    drop(alices);
    let send = json!({ "kind": "msg", "text": "did it land?", "nonce": "n-echo" });
    let (status, sent) = alice.post(&format!("/api/v1/chats/{chat}/signals"), send.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let theirs = bobs.next_message().await;
    assert!(theirs.data.get("nonce").is_none(), "{}", theirs.data);
    let mut resumed = alice.stream(mine.id.as_deref()).await;
    let replayed = resumed.next_message().await;
    assert_eq!((&replayed.data["signal"]["id"], &replayed.data["nonce"]), (&sent["id"], &json!("n-echo")));
    // A retry answers the same message and announces nothing new.
    let (status, again) = alice.post(&format!("/api/v1/chats/{chat}/signals"), send).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &sent["id"]));
    while let Some(e) = bobs.try_next(Duration::from_millis(300)).await {
        assert_ne!(e.event, "signal.created", "{}", e.data);
    }
}

#[tokio::test]
async fn a_position_the_server_no_longer_covers_gets_an_explicit_resync() {
    let server = TestServer::start_with(|c| c.bus.replay_per_user = 3).await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let mut stream = bob.stream(None).await;
    let chat = alice.group("g", &[&bob]).await;
    let first = stream.next().await;
    assert_eq!(first.event, "chat.created");
    drop(stream);
    for i in 0..5 {
        alice.say(&chat, &format!("m{i}")).await;
    }
    let mut resumed = bob.stream(first.id.as_deref()).await;
    assert_eq!(resumed.next().await.event, "resync");
    // Unknown ids (another server run, garbage) are a resync too, never silence.
    let mut bogus = bob.stream(Some("not-an-event-id")).await;
    assert_eq!(bogus.next().await.event, "resync");
}

#[tokio::test]
async fn idle_streams_get_heartbeats() {
    let server = TestServer::start().await; // heartbeat every second in tests
    let bob = server.login("bob").await;
    let mut stream = bob.stream(None).await;
    assert!(stream.try_next(Duration::from_millis(2500)).await.is_none());
    assert!(stream.heartbeats >= 1, "no heartbeat in 2.5 s");
}
