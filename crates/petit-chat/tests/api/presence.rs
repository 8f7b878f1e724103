//! Presence, statuses and typing: ephemeral events (no id, never replayed), who gets them,
//! and what `GET /users/{id}` says.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::harness::{EventStream, Session, SseEvent, TestServer};

/// The next event named `name` within `wait`, skipping others.
async fn named_within(stream: &mut EventStream, name: &str, wait: Duration) -> Option<SseEvent> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = stream.try_next(left).await?;
        if event.event == name {
            return Some(event);
        }
    }
}

/// The next `presence.changed` about `user`, skipping other events.
async fn presence_of(stream: &mut EventStream, user: &Session) -> Value {
    loop {
        let event = stream.next_named("presence.changed").await;
        assert_eq!(event.id, None, "presence events are ephemeral: {event:?}");
        if event.data["presence"]["user_id"] == user.id.as_str() {
            return event.data["presence"].clone();
        }
    }
}

async fn no_presence_of(stream: &mut EventStream, user: &Session, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    while let Some(event) = named_within(stream, "presence.changed", deadline - tokio::time::Instant::now()).await {
        assert_ne!(event.data["presence"]["user_id"], user.id.as_str(), "unexpected {event:?}");
    }
}

async fn presence_seen_by(viewer: &Session, user: &Session) -> Value {
    let (status, body) = viewer.get(&format!("/api/v1/users/{}", user.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], user.id.as_str(), "the user is still there: {body}");
    body["presence"].clone()
}

async fn put_status(session: &Session, body: Value) -> (StatusCode, Value) {
    super::harness::call(
        &session.client,
        &session.base,
        Some(&session.token),
        reqwest::Method::PUT,
        "/api/v1/me/status",
        Some(body),
    )
    .await
}

/// Waits until `viewer` sees `user` online (or offline): a closed stream is noticed at the
/// server's next write to it.
async fn wait_online(viewer: &Session, user: &Session, online: bool) {
    for _ in 0..100 {
        if presence_seen_by(viewer, user).await["online"] == online {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never became online={online}", user.id);
}

#[tokio::test]
async fn typing_reaches_the_other_members_live_never_outsiders_nor_a_replay() {
    let server = TestServer::start().await;
    let (alice, bob, eve) = (server.login("alice").await, server.login("bob").await, server.login("eve").await);
    let mut alice_events = alice.stream(None).await;
    let mut bob_events = bob.stream(None).await;
    let mut eve_events = eve.stream(None).await;
    let chat = alice.group("g", &[&bob]).await;
    let joined = bob_events.next_named("signal.created").await;

    let (status, _) = alice.post(&format!("/api/v1/chats/{chat}/typing"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let typing = bob_events.next_named("typing").await;
    assert_eq!(typing.id, None, "typing is ephemeral: no id");
    assert_eq!(typing.data["type"], "typing");
    assert_eq!(typing.data["chat_id"], chat.as_str());
    assert_eq!(typing.data["user_id"], alice.id.as_str());
    assert_eq!(typing.data["expires_in_ms"], 5000);
    // Extras within 2 s are accepted and dropped.
    let (status, _) = alice.post(&format!("/api/v1/chats/{chat}/typing"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(named_within(&mut bob_events, "typing", Duration::from_millis(500)).await.is_none(), "not rate-limited");
    assert!(named_within(&mut alice_events, "typing", Duration::from_millis(300)).await.is_none(), "not to oneself");
    assert!(named_within(&mut eve_events, "typing", Duration::from_millis(300)).await.is_none(), "not to outsiders");

    // Outsiders and unknown chats get the same 404 as every chat door.
    let (status, body) = eve.post(&format!("/api/v1/chats/{chat}/typing"), json!({})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));
    let (status, body) = alice.post("/api/v1/chats/12345/typing", json!({})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));

    // Reconnecting after the last durable event replays no typing.
    drop(bob_events);
    let mut resumed = bob.stream(joined.id.as_deref()).await;
    assert!(named_within(&mut resumed, "typing", Duration::from_millis(500)).await.is_none(), "typing was replayed");
    // Live again: bob types, alice sees it.
    let (status, _) = bob.post(&format!("/api/v1/chats/{chat}/typing"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(alice_events.next_named("typing").await.data["user_id"], bob.id.as_str());
}

#[tokio::test]
async fn presence_follows_streams_and_is_pushed_to_chat_partners_only() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let (status, _) = alice.post("/api/v1/chats", json!({ "kind": "direct", "members": [bob.id] })).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut bob_events = bob.stream(None).await;
    let mut carol_events = carol.stream(None).await;
    let offline = presence_seen_by(&bob, &alice).await;
    assert_eq!((offline["online"].as_bool(), offline["availability"].as_str()), (Some(false), Some("offline")));

    let first = alice.stream(None).await;
    let online = presence_of(&mut bob_events, &alice).await;
    assert_eq!((online["online"].as_bool(), online["availability"].as_str()), (Some(true), Some("online")));
    assert_eq!(presence_seen_by(&bob, &alice).await["online"], true);
    assert_eq!(presence_seen_by(&carol, &alice).await["online"], true, "anyone may read it");
    no_presence_of(&mut carol_events, &alice, Duration::from_millis(300)).await;

    // A second stream, then closing one of two, changes nothing others see.
    let second = alice.stream(None).await;
    drop(first);
    no_presence_of(&mut bob_events, &alice, Duration::from_millis(2500)).await;
    assert_eq!(presence_seen_by(&bob, &alice).await["online"], true);

    // The last one closes: offline, pushed.
    drop(second);
    let gone = presence_of(&mut bob_events, &alice).await;
    assert_eq!((gone["online"].as_bool(), gone["availability"].as_str()), (Some(false), Some("offline")));
    assert_eq!(presence_seen_by(&bob, &alice).await["online"], false);
    no_presence_of(&mut carol_events, &alice, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_status_is_set_read_and_pushed_and_invisible_looks_offline_to_others() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    alice.group("g", &[&bob]).await;
    let mut bob_events = bob.stream(None).await;
    let mut alice_events = alice.stream(None).await;
    presence_of(&mut bob_events, &alice).await; // alice came online

    let (status, me) =
        put_status(&alice, json!({ "availability": "away", "text": " lunch 🍜 ", "clear_after_secs": 3600 })).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (me["user_id"].as_str(), me["online"].as_bool(), me["availability"].as_str(), me["text"].as_str()),
        (Some(alice.id.as_str()), Some(true), Some("away"), Some("lunch 🍜"))
    );
    assert!(me["clears_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{me}");
    let pushed = presence_of(&mut bob_events, &alice).await;
    assert_eq!((pushed["availability"].as_str(), pushed["text"].as_str()), (Some("away"), Some("lunch 🍜")));
    let own = presence_of(&mut alice_events, &alice).await;
    assert_eq!(own["availability"], "away", "the caller's other streams hear it too");
    let seen = presence_seen_by(&bob, &alice).await;
    assert_eq!((seen["online"].as_bool(), seen["availability"].as_str()), (Some(true), Some("away")));

    // Invisible: offline to others, itself to the user.
    let (status, me) = put_status(&alice, json!({ "availability": "invisible" })).await;
    assert_eq!(
        (status, me["availability"].as_str(), me["online"].as_bool()),
        (StatusCode::OK, Some("invisible"), Some(true))
    );
    assert_eq!(me["text"], Value::Null, "a new status replaces the old one whole");
    let pushed = presence_of(&mut bob_events, &alice).await;
    assert_eq!((pushed["online"].as_bool(), pushed["availability"].as_str()), (Some(false), Some("offline")));
    let seen = presence_seen_by(&bob, &alice).await;
    assert_eq!((seen["online"].as_bool(), seen["availability"].as_str()), (Some(false), Some("offline")));
    let own = presence_seen_by(&alice, &alice).await;
    assert_eq!((own["online"].as_bool(), own["availability"].as_str()), (Some(true), Some("invisible")));
    // An invisible user's comings and goings are not announced.
    drop(alice_events);
    no_presence_of(&mut bob_events, &alice, Duration::from_millis(2500)).await;

    // Back to the default.
    let (status, me) = put_status(&alice, json!({ "availability": "online" })).await;
    assert_eq!(
        (status, me["availability"].as_str(), me["online"].as_bool()),
        (StatusCode::OK, Some("online"), Some(false))
    );
    let _alice_events = alice.stream(None).await;
    wait_online(&bob, &alice, true).await;
    let pushed = presence_of(&mut bob_events, &alice).await;
    assert_eq!((pushed["online"].as_bool(), pushed["availability"].as_str()), (Some(true), Some("online")));
}

#[tokio::test]
async fn bad_statuses_are_refused_with_stable_codes_and_change_nothing() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let cases = [
        (json!({ "availability": "busy" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({ "availability": "Away" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            json!({ "availability": "away", "text": "x".repeat(101) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status_text_too_long",
        ),
        (
            json!({ "availability": "away", "text": "two\nlines" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_status_text",
        ),
        (
            json!({ "availability": "away", "clear_after_secs": 0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_clear_after",
        ),
        (
            json!({ "availability": "away", "clear_after_secs": 2_592_001 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_clear_after",
        ),
        (json!({ "availability": "away", "clear_after_secs": -1 }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({ "availability": "away", "clear_after_secs": 60.5 }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({ "availability": "away", "emoji": "🍜" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({ "text": "no availability" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ];
    for (body, expected_status, code) in cases {
        let (status, problem) = put_status(&alice, body.clone()).await;
        assert_eq!((status, problem["code"].as_str()), (expected_status, Some(code)), "{body}");
    }
    // `3600.0` is the integer 3600 to JSON Schema, whose `integer` the document says.
    let (status, set) = put_status(&alice, json!({ "availability": "away", "clear_after_secs": 3600.0 })).await;
    assert_eq!((status, set["clears_at"].is_string()), (StatusCode::OK, true), "{set}");
    let (status, _) = put_status(&alice, json!({ "availability": "away", "text": "x".repeat(100) })).await;
    assert_eq!(status, StatusCode::OK, "100 characters are fine");
    let seen = presence_seen_by(&bob, &alice).await;
    assert_eq!(seen["text"], "x".repeat(100), "refused changes left the last good one");
    // Unknown users are a 404 whatever their presence.
    let (status, body) = bob.get("/api/v1/users/12345").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("user_not_found")));
}

#[tokio::test]
async fn a_status_survives_a_restart_and_so_does_its_reset() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let (status, body) = put_status(&alice, json!({ "availability": "dnd", "text": "in a meeting" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let server = server.restart().await;
    let alice = server.login("alice").await;
    let own = presence_seen_by(&alice, &alice).await;
    assert_eq!((own["availability"].as_str(), own["text"].as_str()), (Some("dnd"), Some("in a meeting")), "{own}");

    let (status, body) = put_status(&alice, json!({ "availability": "online" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let server = server.restart().await;
    let alice = server.login("alice").await;
    let own = presence_seen_by(&alice, &alice).await;
    assert_eq!((own["availability"].as_str(), own["text"].as_str()), (Some("online"), None), "{own}");
}

#[tokio::test]
async fn a_status_that_clears_by_itself_is_pushed_when_it_clears() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    alice.group("g", &[&bob]).await;
    let mut alices_own = alice.stream(None).await;
    let mut bobs = bob.stream(None).await;
    wait_online(&bob, &alice, true).await;
    let (status, _) =
        put_status(&alice, json!({ "availability": "dnd", "text": "focus", "clear_after_secs": 1 })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(presence_of(&mut bobs, &alice).await["availability"], "dnd");
    // About a second later, without anyone doing anything, both hear it cleared.
    let cleared = presence_of(&mut bobs, &alice).await;
    assert_eq!((cleared["availability"].clone(), cleared["text"].clone()), (json!("online"), Value::Null));
    assert_eq!(cleared["online"], true);
    loop {
        let own = presence_of(&mut alices_own, &alice).await;
        if own["availability"] == "online" {
            break;
        }
    }
    // Once.
    no_presence_of(&mut bobs, &alice, Duration::from_millis(2500)).await;

    // A status replaced before its time is not announced as cleared.
    put_status(&alice, json!({ "availability": "away", "clear_after_secs": 1 })).await;
    put_status(&alice, json!({ "availability": "dnd" })).await;
    assert_eq!(presence_of(&mut bobs, &alice).await["availability"], "away");
    assert_eq!(presence_of(&mut bobs, &alice).await["availability"], "dnd");
    no_presence_of(&mut bobs, &alice, Duration::from_millis(2500)).await;
}
