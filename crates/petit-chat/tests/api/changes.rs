//! Signals that change after they are sent: edits (author only, mentions recomputed),
//! deletes (author, or owner/admin; tombstones in pages and events), shared locations
//! (bounds, live, moved, stopped, expired) and unread counts.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::harness::{Session, TestServer};

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

async fn send(s: &Session, chat: &str, body: Value) -> (StatusCode, Value) {
    s.post(&format!("/api/v1/chats/{chat}/signals"), body).await
}

fn at(chat: &str, signal: &Value) -> String {
    format!("/api/v1/chats/{chat}/signals/{}", id(signal))
}

/// The problem's (status, code).
fn problem(answer: (StatusCode, Value)) -> (StatusCode, String) {
    (answer.0, answer.1["code"].as_str().unwrap_or("(no code)").to_string())
}

/// A chat of the caller's "my chats" list.
async fn listed(s: &Session, chat: &str) -> Value {
    let (status, page) = s.get("/api/v1/chats").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().iter().find(|c| c["id"] == chat).cloned().expect("the chat is listed")
}

#[tokio::test]
async fn the_author_edits_a_message_which_keeps_its_id_and_members_see_it_change() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("g", &[&bob, &carol]).await;
    let msg = alice.say(&chat, "helo bob").await;
    let mut bob_events = bob.stream(None).await;

    let (status, edited) = alice.patch(&at(&chat, &msg), json!({ "text": "hello @bob", "mentions": [bob.id] })).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!((edited["id"].clone(), edited["text"].clone()), (msg["id"].clone(), json!("hello @bob")));
    assert_eq!(edited["mentions"], json!([bob.id]));
    assert!(edited["edited_at"].as_str().unwrap() >= msg["created_at"].as_str().unwrap());
    let e = bob_events.next_named("signal.updated").await;
    assert_eq!(e.data["signal"]["text"], "hello @bob");
    assert_eq!(e.data["signal"]["id"], msg["id"]);
    let (_, page) = carol.get(&format!("/api/v1/chats/{chat}/signals")).await;
    assert_eq!(page["items"][0]["text"], "hello @bob");
    assert_eq!(page["items"][0]["edited_at"], edited["edited_at"]);

    // Mentions are recomputed: an edit without them drops them.
    let (_, again) = alice.patch(&at(&chat, &msg), json!({ "text": "hello all" })).await;
    assert_eq!(again["mentions"], Value::Null);

    // Only the author; outsiders do not learn the chat exists.
    let eve = server.login("eve").await;
    assert_eq!(
        problem(bob.patch(&at(&chat, &msg), json!({ "text": "mine now" })).await),
        (StatusCode::FORBIDDEN, "not_the_author".into())
    );
    assert_eq!(
        problem(eve.patch(&at(&chat, &msg), json!({ "text": "x" })).await),
        (StatusCode::NOT_FOUND, "chat_not_found".into())
    );
    let nowhere = format!("/api/v1/chats/{chat}/signals/123");
    assert_eq!(
        problem(alice.patch(&nowhere, json!({ "text": "x" })).await),
        (StatusCode::NOT_FOUND, "signal_not_found".into())
    );
    // Bad edits change nothing.
    for (n, (body, code)) in [
        (json!({ "text": "  " }), "empty_text"),
        (json!({ "text": "x", "mentions": [eve.id] }), "mention_not_member"),
        (json!({ "text": "x", "mention_everyone": true }), "not_an_admin"),
        (json!({}), "invalid_body"),
        (json!({ "text": "x", "live": false }), "invalid_body"),
        (json!({ "location": { "lat": 1.0, "lon": 2.0 } }), "not_editable"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, p) = bob
            .post(
                &format!("/api/v1/chats/{chat}/signals"),
                json!({"kind":"msg","text":"mine","nonce":format!("b-{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        let answer = bob.patch(&at(&chat, &p), body.clone()).await;
        assert_eq!(answer.0.as_u16() / 100, 4, "{body}: {}", answer.1);
        assert_eq!(answer.1["code"], code, "{body}");
        assert_eq!(bob.get(&at(&chat, &p)).await.1["text"], "mine", "{body} changed nothing");
    }
    let joined = carol.get(&format!("/api/v1/chats/{chat}/signals")).await.1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "joined")
        .cloned()
        .unwrap();
    assert_eq!(problem(alice.patch(&at(&chat, &joined), json!({ "text": "x" })).await).1, "not_editable");
}

#[tokio::test]
async fn a_deleted_message_is_a_tombstone_in_pages_and_events_and_an_admin_may_delete_too() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("g", &[&bob, &carol]).await;
    let first = bob.say(&chat, "first").await;
    let oops = bob.say(&chat, "oops, wrong chat").await;
    let reply = carol.say(&chat, "last").await;
    assert_eq!(alice.put(&format!("{}/reactions/👍", at(&chat, &oops))).await.0, StatusCode::OK);
    let mut carol_events = carol.stream(None).await;

    // Another member may not; the author may.
    assert_eq!(problem(carol.delete(&at(&chat, &oops)).await), (StatusCode::FORBIDDEN, "not_the_author".into()));
    let (status, tomb) = bob.delete(&at(&chat, &oops)).await;
    assert_eq!(status, StatusCode::OK, "{tomb}");
    assert_eq!(
        (tomb["id"].clone(), tomb["deleted"].clone(), tomb["kind"].clone()),
        (oops["id"].clone(), json!(true), json!("msg"))
    );
    assert_eq!(tomb["text"], Value::Null);
    assert_eq!(tomb["reactions"], json!([]));
    let e = carol_events.next_named("signal.deleted").await;
    assert_eq!(
        (e.data["signal"]["id"].clone(), e.data["signal"]["deleted"].clone(), e.data["by"].clone()),
        (oops["id"].clone(), json!(true), json!(bob.id))
    );

    // The tombstone keeps its place: pages stay coherent.
    let (_, page) = carol.get(&format!("/api/v1/chats/{chat}/signals?limit=3")).await;
    let ids: Vec<&str> = page["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![id(&reply), id(&oops), id(&first)]);
    assert_eq!(page["items"][1]["deleted"], true);
    assert_eq!(page["items"][1]["reactions"], json!([]));
    assert_eq!(page["items"][1]["text"], Value::Null);
    let (_, around) = carol.get(&format!("/api/v1/chats/{chat}/signals?around={}&limit=3", id(&oops))).await;
    assert!(around["items"].as_array().unwrap().iter().any(|s| s["id"] == oops["id"]));

    // Deleting again answers the tombstone and announces nothing; a tombstone takes no edit
    // and no reaction.
    assert_eq!(bob.delete(&at(&chat, &oops)).await, (StatusCode::OK, tomb.clone()));
    assert!(carol_events.try_next(std::time::Duration::from_millis(500)).await.is_none());
    assert_eq!(problem(bob.patch(&at(&chat, &oops), json!({ "text": "back" })).await).1, "not_editable");
    assert_eq!(problem(carol.put(&format!("{}/reactions/👍", at(&chat, &oops))).await).1, "not_reactable");

    // The owner deletes someone else's message; the server's own lines stay.
    let (status, gone) = alice.delete(&at(&chat, &reply)).await;
    assert_eq!((status, gone["deleted"].clone()), (StatusCode::OK, json!(true)));
    let e = carol_events.next_named("signal.deleted").await;
    assert_eq!(e.data["by"], alice.id.as_str());
    let joined = page_of(&alice, &chat).await.into_iter().find(|s| s["kind"] == "joined").unwrap();
    assert_eq!(
        problem(alice.delete(&at(&chat, &joined)).await),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_editable".into())
    );
    let eve = server.login("eve").await;
    assert_eq!(problem(eve.delete(&at(&chat, &first)).await), (StatusCode::NOT_FOUND, "chat_not_found".into()));
}

async fn page_of(s: &Session, chat: &str) -> Vec<Value> {
    s.get(&format!("/api/v1/chats/{chat}/signals?limit=100")).await.1["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_retried_send_of_a_deleted_message_answers_the_tombstone() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let body = json!({ "kind": "msg", "text": "once", "nonce": "retry-1" });
    let (status, sent) = send(&alice, &chat, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    alice.delete(&at(&chat, &sent)).await;
    let (status, again) = send(&alice, &chat, body).await;
    assert_eq!(
        (status, again["id"].clone(), again["deleted"].clone()),
        (StatusCode::OK, sent["id"].clone(), json!(true))
    );
    assert_eq!(page_of(&bob, &chat).await.iter().filter(|s| s["kind"] == "msg").count(), 1);
}

#[tokio::test]
async fn locations_are_checked_shared_moved_while_live_and_stopped() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let mut bob_events = bob.stream(None).await;
    let point = json!({ "lat": 48.8584, "lon": 2.2945, "accuracy_m": 15.0, "label": "Tour Eiffel" });
    let (status, pin) = send(&alice, &chat, json!({ "kind": "location", "location": point, "nonce": "loc-1" })).await;
    assert_eq!(status, StatusCode::CREATED, "{pin}");
    assert_eq!(
        (pin["kind"].clone(), pin["location"].clone(), pin["live_until"].clone()),
        (json!("location"), point.clone(), Value::Null)
    );
    // (The group's `joined` line may reach a stream opened just after it: skipped.)
    let e = loop {
        let e = bob_events.next_named("signal.created").await;
        if e.data["signal"]["kind"] == "location" {
            break e;
        }
    };
    assert_eq!(e.data["signal"]["location"], point);
    // Not live: it does not move.
    assert_eq!(
        problem(alice.patch(&at(&chat, &pin), json!({ "location": { "lat": 1.0, "lon": 1.0 } })).await).1,
        "not_editable"
    );

    for (location, code) in [
        (json!({ "lat": 90.5, "lon": 0 }), "invalid_location"),
        (json!({ "lat": 0, "lon": -180.01 }), "invalid_location"),
        (json!({ "lat": 0, "lon": 0, "accuracy_m": -1 }), "invalid_location"),
        (json!({ "lat": 0, "lon": 0, "label": "x".repeat(201) }), "invalid_location"),
        (json!({ "lat": 0, "lon": 0, "label": "two\nlines" }), "invalid_location"),
        (json!({ "lat": "north", "lon": 0 }), "invalid_body"),
    ] {
        let (status, p) =
            send(&alice, &chat, json!({ "kind": "location", "location": location, "nonce": "bad" })).await;
        assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{location}");
    }
    let (status, p) = send(&alice, &chat, json!({ "kind": "location", "nonce": "bad" })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_location")));
    let (status, p) =
        send(&alice, &chat, json!({ "kind": "msg", "text": "hi", "location": point, "nonce": "bad" })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")));
    let nine_hours = humantime::format_rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(9 * 3600));
    let (status, p) = send(
        &alice,
        &chat,
        json!({ "kind": "location", "location": point, "live_until": nine_hours.to_string(), "nonce": "bad" }),
    )
    .await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_location")));
    let past = humantime::format_rfc3339(std::time::SystemTime::now() - std::time::Duration::from_secs(1));
    let (status, _) = send(
        &alice,
        &chat,
        json!({ "kind": "location", "location": point, "live_until": past.to_string(), "nonce": "bad" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page_of(&bob, &chat).await.iter().filter(|s| s["kind"] == "location").count(),
        1,
        "nothing bad was stored"
    );

    // Live for an hour: moved by its author only, then stopped early.
    let hour =
        humantime::format_rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(3600)).to_string();
    let (status, live) = send(
        &alice,
        &chat,
        json!({ "kind": "location", "location": { "lat": 1.5, "lon": 2.5 }, "live_until": hour, "nonce": "live-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{live}");
    assert!(live["live_until"].is_string());
    let (status, moved) =
        alice.patch(&at(&chat, &live), json!({ "location": { "lat": 1.6, "lon": 2.6, "accuracy_m": 5.0 } })).await;
    assert_eq!(
        (status, moved["location"].clone()),
        (StatusCode::OK, json!({ "lat": 1.6, "lon": 2.6, "accuracy_m": 5.0 }))
    );
    let e = bob_events.next_named("signal.updated").await;
    assert_eq!(e.data["signal"]["location"]["lat"], 1.6);
    assert_eq!(
        problem(bob.patch(&at(&chat, &live), json!({ "location": { "lat": 0, "lon": 0 } })).await).1,
        "not_the_author"
    );
    assert_eq!(
        problem(alice.patch(&at(&chat, &live), json!({ "location": { "lat": 100, "lon": 0 } })).await).1,
        "invalid_location"
    );
    assert_eq!(problem(alice.patch(&at(&chat, &live), json!({ "text": "x" })).await).1, "not_editable");
    let (status, stopped) = alice.patch(&at(&chat, &live), json!({ "live": false })).await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert!(stopped["live_until"].as_str().unwrap() < hour.as_str());
    bob_events.next_named("signal.updated").await;
    assert_eq!(
        problem(alice.patch(&at(&chat, &live), json!({ "location": { "lat": 0, "lon": 0 } })).await).1,
        "not_editable"
    );
    assert_eq!(bob.get(&at(&chat, &live)).await.1["location"]["lat"], 1.6);
}

#[tokio::test]
async fn a_live_location_past_its_end_no_longer_moves() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    let chat = alice.group("g", &[&bob]).await;
    let soon = humantime::format_rfc3339_millis(std::time::SystemTime::now() + std::time::Duration::from_millis(1500))
        .to_string();
    let (status, live) = send(
        &alice,
        &chat,
        json!({ "kind": "location", "location": { "lat": 10, "lon": 10 }, "live_until": soon, "nonce": "soon" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{live}");
    assert_eq!(alice.patch(&at(&chat, &live), json!({ "location": { "lat": 11, "lon": 11 } })).await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    assert_eq!(
        problem(alice.patch(&at(&chat, &live), json!({ "location": { "lat": 12, "lon": 12 } })).await).1,
        "not_editable"
    );
    assert_eq!(bob.get(&at(&chat, &live)).await.1["location"]["lat"], 11.0);
}

#[tokio::test]
async fn unread_counts_follow_messages_mentions_reads_and_deletes_on_every_device() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let unread = |c: &Value| (c["unread"].as_u64().unwrap(), c["unread_mentions"].as_u64().unwrap());
    assert_eq!(unread(&listed(&bob, &chat).await), (0, 0), "the joined line is not a message to read");

    let one = alice.say(&chat, "one").await;
    let (_, two) =
        send(&alice, &chat, json!({ "kind": "msg", "text": "@bob two", "mentions": [bob.id], "nonce": "m2" })).await;
    let (_, three) = send(
        &alice,
        &chat,
        json!({ "kind": "msg", "text": "@everyone three", "mention_everyone": true, "nonce": "m3" }),
    )
    .await;
    bob.say(&chat, "my own does not count").await;
    send(&alice, &chat, json!({ "kind": "location", "location": { "lat": 1, "lon": 1 }, "nonce": "l4" })).await;
    assert_eq!(unread(&listed(&bob, &chat).await), (4, 2));
    assert_eq!(unread(&listed(&alice, &chat).await), (1, 0));

    // A deleted message is not unread any more, an edit's mentions count.
    alice.delete(&at(&chat, &three)).await;
    assert_eq!(unread(&listed(&bob, &chat).await), (3, 1));
    alice.patch(&at(&chat, &one), json!({ "text": "one @bob", "mentions": [bob.id] })).await;
    assert_eq!(unread(&listed(&bob, &chat).await), (3, 2));

    // Reading: the answer and bob's other device say what is left.
    let mut other_device = bob.stream(None).await;
    let mut alices = alice.stream(None).await;
    let (status, me) = bob.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": two["id"] })).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (me["read_up_to"].clone(), me["unread"].clone(), me["unread_mentions"].clone()),
        (two["id"].clone(), json!(1), json!(0))
    );
    let e = other_device.next_named("receipt.updated").await;
    assert_eq!((e.data["unread"].clone(), e.data["unread_mentions"].clone()), (json!(1), json!(0)));
    let e = alices.next_named("receipt.updated").await;
    assert_eq!(e.data["user_id"], bob.id.as_str());
    assert!(e.data.get("unread").is_none(), "others are not told bob's counts: {}", e.data);
    assert_eq!(unread(&listed(&bob, &chat).await), (1, 0));
}
