//! Messages: sending (idempotent by nonce), paging the timeline, reactions.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::harness::TestServer;

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_retry_with_the_same_nonce_posts_once() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let path = format!("/api/v1/chats/{chat}/signals");
    let body = json!({ "kind": "msg", "text": "hello, bob", "nonce": "client-1" });
    let (status, first) = alice.post(&path, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((first["kind"].as_str(), first["text"].as_str()), (Some("msg"), Some("hello, bob")));
    assert_eq!(first["author_id"], alice.id.as_str());
    assert_eq!(first["chat_id"], chat.as_str());
    assert_eq!(first["reactions"], json!([]));
    let (status, retry) = alice.post(&path, body.clone()).await;
    assert_eq!((status, &retry["id"]), (StatusCode::OK, &first["id"]));
    // The same nonce from another author is another message.
    let (status, other) = bob.post(&path, body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(other["id"], first["id"]);
    let (_, page) = alice.get(&path).await;
    assert_eq!(page["items"].as_array().unwrap().iter().filter(|s| s["kind"] == "msg").count(), 2);
    // Ids are strings and increase with time.
    let (a, b) = (first["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    assert!(a.parse::<u64>().unwrap() < b.parse::<u64>().unwrap());
}

#[tokio::test]
async fn replies_must_point_into_the_chat() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let other = alice.group("h", &[&bob]).await;
    let elsewhere = alice.say(&other, "elsewhere").await;
    let first = alice.say(&chat, "question?").await;
    let path = format!("/api/v1/chats/{chat}/signals");
    let (status, reply) =
        bob.post(&path, json!({ "kind": "msg", "text": "answer", "nonce": "r1", "reply_to": first["id"] })).await;
    assert_eq!((status, &reply["reply_to"]), (StatusCode::CREATED, &first["id"]));
    let (status, p) =
        bob.post(&path, json!({ "kind": "msg", "text": "x", "nonce": "r2", "reply_to": elsewhere["id"] })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("reply_to_unknown")));
}

#[tokio::test]
async fn the_timeline_pages_newest_first_without_gaps_or_repeats() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let path = format!("/api/v1/chats/{chat}/signals");
    let (_, joined) = alice.get(&path).await;
    let mut all = ids(&joined); // the `joined` signal
    for i in 0..120 {
        all.insert(0, alice.say(&chat, &format!("m{i}")).await["id"].as_str().unwrap().to_string());
    }
    // Default page: 50, newest first.
    let (_, page) = alice.get(&path).await;
    assert_eq!(ids(&page), all[..50]);
    // Walking with next_cursor covers all 121 signals once, in order.
    let mut walked = vec![];
    let mut next = format!("{path}?limit=40");
    loop {
        let (status, page) = alice.get(&next).await;
        assert_eq!(status, StatusCode::OK);
        walked.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => next = format!("{path}?limit=40&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(walked, all);
    // A limit above 100 is capped, whatever its size (the document says any whole number).
    assert_eq!(ids(&alice.get(&format!("{path}?limit=1000")).await.1).len(), 100);
    assert_eq!(ids(&alice.get(&format!("{path}?limit=63913560489948004483072")).await.1).len(), 100);
    assert_eq!(ids(&alice.get(&format!("{path}?limit=0")).await.1).len(), 1);
    // before / after / around.
    assert_eq!(ids(&alice.get(&format!("{path}?before={}&limit=3", all[10])).await.1), all[11..14]);
    assert_eq!(ids(&alice.get(&format!("{path}?after={}&limit=3", all[10])).await.1), all[7..10]);
    assert_eq!(ids(&alice.get(&format!("{path}?around={}&limit=5", all[10])).await.1), all[8..13]);
    // Walking forward with `after` cursors reaches the newest and stops.
    let (_, page) = alice.get(&format!("{path}?after={}&limit=4", all[10])).await;
    let (_, newer) = alice.get(&format!("{path}?limit=4&cursor={}", page["next_cursor"].as_str().unwrap())).await;
    assert_eq!(ids(&newer), all[2..6]);
    let (_, newest) = alice.get(&format!("{path}?after={}&limit=4", all[3])).await;
    assert_eq!((ids(&newest), &newest["next_cursor"]), (all[..3].to_vec(), &Value::Null));

    let cases = [
        (format!("{path}?before=1&after=2"), StatusCode::UNPROCESSABLE_ENTITY, "conflicting_position"),
        (format!("{path}?cursor=nope"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor"),
        (format!("{path}?before=abc"), StatusCode::BAD_REQUEST, "invalid_query"),
        (format!("{path}?limit=-1"), StatusCode::BAD_REQUEST, "invalid_query"),
    ];
    for (url, status, code) in cases {
        let (got, p) = alice.get(&url).await;
        assert_eq!((got, p["code"].as_str()), (status, Some(code)), "{url}");
    }
}

fn enc(emoji: &str) -> String {
    utf8_percent_encode(emoji, NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn reactions_count_once_per_person_and_emoji() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("g", &[&bob, &carol]).await;
    let sid = alice.say(&chat, "react to me").await["id"].as_str().unwrap().to_string();
    let r = |e: &str| format!("/api/v1/chats/{chat}/signals/{sid}/reactions/{}", enc(e));

    for (who, expected) in [(&bob, 1), (&bob, 1), (&carol, 2)] {
        let (status, body) = who.put(&r("👍")).await;
        assert_eq!((status, body["count"].as_i64()), (StatusCode::OK, Some(expected)));
    }
    assert_eq!(bob.put(&r("👩🏽‍💻")).await.1["count"], 1);

    let reactions_for = |page: &Value| page["reactions"].clone();
    let (_, seen_by_bob) = bob.get(&format!("/api/v1/chats/{chat}/signals/{sid}")).await;
    assert_eq!(
        reactions_for(&seen_by_bob),
        json!([{ "emoji": "👍", "count": 2, "me": true }, { "emoji": "👩🏽‍💻", "count": 1, "me": true }])
    );
    let (_, page) = alice.get(&format!("/api/v1/chats/{chat}/signals?limit=1")).await;
    assert_eq!(
        reactions_for(&page["items"][0]),
        json!([{ "emoji": "👍", "count": 2, "me": false }, { "emoji": "👩🏽‍💻", "count": 1, "me": false }])
    );
    let (_, who) = alice.get(&r("👍")).await;
    let mut expected = vec![bob.id.clone(), carol.id.clone()];
    expected.sort();
    assert_eq!(who["items"], json!(expected));

    for expected in [1, 1] {
        assert_eq!(bob.delete(&r("👍")).await.1["count"], expected, "removing twice counts once");
    }
    assert_eq!(alice.delete(&r("👍")).await.1["count"], 1, "removing what is not there changes nothing");

    // One emoji is 1 to 8 characters, none ASCII, control or white space (as the OpenAPI
    // document says): a family of 7 is one, 9 thumbs are not.
    assert_eq!(bob.put(&r("👨‍👩‍👧‍👦")).await.0, StatusCode::OK);
    assert_eq!(bob.delete(&r("👨‍👩‍👧‍👦")).await.0, StatusCode::OK);
    for bad in ["abc", "👍 ", "\u{a0}", &"👍".repeat(9)] {
        let (status, p) = bob.put(&r(bad)).await;
        assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_emoji")), "{bad:?}");
    }
    let (status, p) = bob.put(&format!("/api/v1/chats/{chat}/signals/42/reactions/{}", enc("👍"))).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("signal_not_found")));
    let outsider = server.login("outsider").await;
    let (status, p) = outsider.put(&r("👍")).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("chat_not_found")));
    let (_, after) = alice.get(&format!("/api/v1/chats/{chat}/signals/{sid}")).await;
    assert_eq!(
        reactions_for(&after),
        json!([{ "emoji": "👍", "count": 1, "me": false }, { "emoji": "👩🏽‍💻", "count": 1, "me": false }])
    );
}

#[tokio::test]
async fn mentions_name_members_and_everyone_is_for_owners_and_admins() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) = (
        server.login("alice").await,
        server.login("bob").await,
        server.login("carol").await,
        server.login("dave").await,
    );
    let chat = alice.group("g", &[&bob, &carol]).await;
    let path = format!("/api/v1/chats/{chat}/signals");
    let mut bobs = bob.stream(None).await;
    // Each mentioned member once, in id order; the event carries them too.
    let (status, sent) = alice
        .post(
            &path,
            json!({ "kind": "msg", "text": "@bob @carol", "nonce": "m1", "mentions": [carol.id, bob.id, bob.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let mut expected = vec![bob.id.clone(), carol.id.clone()];
    expected.sort_by_key(|id| id.parse::<u64>().unwrap());
    assert_eq!(sent["mentions"], json!(expected));
    assert_eq!(sent["mention_everyone"], Value::Null, "no flag unless set");
    // (Not the group's `joined` line, which may reach a stream opened just after it.)
    let event = bobs.next_message().await;
    assert_eq!(event.data["signal"]["mentions"], json!(expected));
    let (_, page) = bob.get(&path).await;
    assert_eq!(page["items"][0]["mentions"], json!(expected), "stored with the message");
    // Refused: a non-member, too many, @everyone from a plain member. Nothing is stored.
    let too_many: Vec<String> = (0..101).map(|n| format!("{}", 1_000_000 + n)).collect();
    let cases = [
        (&alice, json!({ "mentions": [dave.id] }), StatusCode::UNPROCESSABLE_ENTITY, "mention_not_member"),
        (&alice, json!({ "mentions": too_many }), StatusCode::UNPROCESSABLE_ENTITY, "too_many_mentions"),
        (&bob, json!({ "mention_everyone": true }), StatusCode::FORBIDDEN, "not_an_admin"),
    ];
    for (n, (who, extra, status, code)) in cases.into_iter().enumerate() {
        let mut body = json!({ "kind": "msg", "text": "refused", "nonce": format!("bad-{n}") });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (got, problem) = who.post(&path, body).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{problem}");
    }
    let (_, page) = alice.get(&path).await;
    assert!(page["items"].as_array().unwrap().iter().all(|s| s["text"] != "refused"), "{page}");
    // The owner may call everyone.
    let (status, all) =
        alice.post(&path, json!({ "kind": "msg", "text": "@everyone", "nonce": "m2", "mention_everyone": true })).await;
    assert_eq!((status, &all["mention_everyone"]), (StatusCode::CREATED, &json!(true)), "{all}");
}
