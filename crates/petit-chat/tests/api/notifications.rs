//! Notifications end to end: push targets, levels and mutes, who is told and when, and
//! delivery to gateways played by receivers on loopback (see `receivers.rs`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::harness::{Session, TestServer};
use super::receivers::{Receiver, WebPushService};

/// A browser subscription's keys (a valid P-256 point and a 16-byte secret).
const P256DH: &str = "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
const AUTH: &str = "_ordMnz7uTCmrpBTeUV4Bw";
const SECRET: &str = "a-webhook-secret-of-the-test";
/// Longer than a push takes here; shorter than the delay for online members.
const SOON: Duration = Duration::from_secs(5);
/// Long enough for three retries (each a delayed job: a second or two on NATS).
const RETRIES: Duration = Duration::from_secs(15);

/// A server whose gateways may be on loopback, pushing online members after 2 s and
/// retrying fast.
async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.notifications.allow_private_targets = true;
        c.notifications.delay_secs = 2;
        c.notifications.retry_base_ms = 50;
        c.notifications.attempts = 4;
    })
    .await
}

async fn add_webhook(s: &Session, receiver: &Receiver) -> Value {
    let (status, target) =
        s.post("/api/v1/me/push-targets", json!({ "kind": "webhook", "url": receiver.url, "secret": SECRET })).await;
    assert_eq!(status, StatusCode::CREATED, "{target}");
    target
}

async fn targets(s: &Session) -> Vec<Value> {
    let (status, list) = s.get("/api/v1/me/push-targets").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test]
async fn push_targets_are_kept_without_echoing_secrets_and_belong_to_their_user() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let hook = Receiver::webhook(SECRET).await;
    let webhook = add_webhook(&alice, &hook).await;
    let (status, web) = alice
        .post(
            "/api/v1/me/push-targets",
            json!({ "kind": "webpush", "endpoint": "https://push.example.com/send/abc",
                    "keys": { "p256dh": P256DH, "auth": AUTH }, "expirationTime": null }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{web}");
    let matrix_url = "https://sygnal.example.com/_matrix/push/v1/notify";
    let (status, matrix) = alice
        .post(
            "/api/v1/me/push-targets",
            json!({ "kind": "matrix", "url": matrix_url, "app_id": "chat.petit", "pushkey": "device-token" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{matrix}");
    let list = targets(&alice).await;
    assert_eq!(list.len(), 3);
    let text = serde_json::to_string(&list).unwrap();
    for secret in [SECRET, P256DH, AUTH, "device-token"] {
        assert!(!text.contains(secret), "a secret was echoed: {text}");
    }
    assert_eq!(list[0]["kind"], "webhook");
    assert_eq!(list[1]["url"], "https://push.example.com/send/abc");
    assert_eq!(list[2]["app_id"], "chat.petit");
    // The same subscription again replaces it.
    let (status, again) = alice
        .post(
            "/api/v1/me/push-targets",
            json!({ "kind": "webpush", "endpoint": "https://push.example.com/send/abc", "keys": { "p256dh": P256DH, "auth": AUTH } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["id"], web["id"]);
    assert_eq!(targets(&alice).await.len(), 3);
    // Someone else's target is not found, and stays.
    let path = format!("/api/v1/me/push-targets/{}", webhook["id"].as_str().unwrap());
    let (status, problem) = bob.delete(&path).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("push_target_not_found")));
    assert!(targets(&bob).await.is_empty());
    assert_eq!(targets(&alice).await.len(), 3);
    assert_eq!(alice.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(alice.delete(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(targets(&alice).await.len(), 2);
    let (status, key) = alice.get("/api/v1/push/vapid-public-key").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(key["public_key"].as_str().unwrap().len(), 87, "a base64url P-256 point: {key}");
}

#[tokio::test]
async fn bad_push_targets_are_refused_and_nothing_is_stored() {
    let h = server().await;
    let alice = h.login("alice").await;
    let long = "A".repeat(5000);
    let cases = [
        (json!({ "kind": "webhook", "url": "http://hooks.example.com/x", "secret": SECRET }), "invalid_push_target"),
        (json!({ "kind": "webhook", "url": "https://hooks.example.com/x", "secret": "short" }), "invalid_push_target"),
        (
            json!({ "kind": "webhook", "url": "https://169.254.169.254/latest/meta-data", "secret": SECRET }),
            "forbidden_push_address",
        ),
        (json!({ "kind": "webhook", "url": "https://[fe80::1]/x", "secret": SECRET }), "forbidden_push_address"),
        (json!({ "kind": "carrier-pigeon", "url": "https://x.example.com" }), "invalid_body"),
        (
            json!({ "kind": "webpush", "endpoint": "https://push.example.com/a", "keys": { "p256dh": long, "auth": AUTH } }),
            "invalid_push_target",
        ),
        (
            json!({ "kind": "webpush", "endpoint": "https://push.example.com/a", "keys": { "p256dh": "AAAA", "auth": AUTH } }),
            "invalid_push_target",
        ),
        (
            json!({ "kind": "webpush", "endpoint": "https://push.example.com/a", "keys": { "p256dh": P256DH, "auth": "AAAA" } }),
            "invalid_push_target",
        ),
        (
            json!({ "kind": "matrix", "url": "https://gw.example.com/other", "app_id": "a", "pushkey": "k" }),
            "invalid_push_target",
        ),
        (
            json!({ "kind": "matrix", "url": "https://gw.example.com/_matrix/push/v1/notify", "app_id": "a", "pushkey": long }),
            "invalid_push_target",
        ),
    ];
    for (body, code) in cases {
        let (status, problem) = alice.post("/api/v1/me/push-targets", body.clone()).await;
        assert_eq!((status, problem["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{body}");
    }
    assert!(targets(&alice).await.is_empty());
}

#[tokio::test]
async fn outside_development_loopback_and_private_addresses_are_refused() {
    let h = TestServer::start().await;
    let alice = h.login("alice").await;
    for url in ["http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://10.0.0.8/hook", "https://localhost/hook"]
    {
        let (status, problem) =
            alice.post("/api/v1/me/push-targets", json!({ "kind": "webhook", "url": url, "secret": SECRET })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
    }
    assert!(targets(&alice).await.is_empty());
}

#[tokio::test]
async fn an_offline_member_is_notified_at_once_and_the_author_never() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let (alices, bobs) = (Receiver::webhook(SECRET).await, Receiver::webhook(SECRET).await);
    add_webhook(&alice, &alices).await;
    add_webhook(&bob, &bobs).await;
    let chat = alice.group("Lunch", &[&bob]).await;
    let signal = alice.say(&chat, "Pizza at noon?").await;
    let got = bobs.wait_accepted(1, SOON).await;
    assert_eq!(got.len(), 1, "{:?}", bobs.received());
    let n = &got[0].body;
    assert_eq!(n["type"], "message");
    assert_eq!(n["chat_id"], chat.as_str());
    assert_eq!(n["signal_id"], signal["id"]);
    assert_eq!(
        (n["title"].as_str(), n["body"].as_str(), n["sender"].as_str()),
        (Some("Lunch"), Some("Pizza at noon?"), Some("alice"))
    );
    assert_eq!(n["unread"], 1);
    assert_eq!(got[0].header("idempotency-key"), n["id"].as_str());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bobs.received().len(), 1, "exactly one request");
    assert!(alices.received().is_empty(), "the author is never notified");
    // A second message: the count grows.
    alice.say(&chat, "Or sushi").await;
    let got = bobs.wait_accepted(2, SOON).await;
    assert_eq!(got[1].body["unread"], 2);
}

#[tokio::test]
async fn an_online_member_is_notified_only_if_still_unread_after_the_delay() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let bobs = Receiver::webhook(SECRET).await;
    add_webhook(&bob, &bobs).await;
    let chat = alice.group("Team", &[&bob]).await;
    let _stream = bob.stream(None).await;
    let sent = std::time::Instant::now();
    alice.say(&chat, "are you there?").await;
    let got = bobs.wait_accepted(1, Duration::from_secs(8)).await;
    assert_eq!(got.len(), 1);
    assert!(sent.elapsed() >= Duration::from_secs(2), "pushed after {:?}, before the delay", sent.elapsed());
    // Read before the delay: no push for it, but a clear for the chat.
    let second = alice.say(&chat, "never mind").await;
    let (status, _) = bob.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": second["id"] })).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = bobs.accepted();
    let kinds: Vec<&str> = got.iter().map(|r| r.body["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["message", "clear"], "{got:?}");
    assert_eq!(got[1].body["chat_id"], chat.as_str());
}

#[tokio::test]
async fn levels_and_mutes_decide_who_is_notified() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let bobs = Receiver::webhook(SECRET).await;
    add_webhook(&bob, &bobs).await;
    let chat = alice.group("Noise", &[&bob]).await;
    let path = format!("/api/v1/chats/{chat}/notifications");
    let (status, settings) = bob.get(&path).await;
    assert_eq!((status, settings), (StatusCode::OK, json!({ "level": "all", "muted_until": null })));
    for level in ["none", "mentions"] {
        let (status, set) = bob.put_json(&path, json!({ "level": level })).await;
        assert_eq!((status, set["level"].as_str()), (StatusCode::OK, Some(level)));
        alice.say(&chat, &format!("not for bob at level {level}")).await;
    }
    // Any RFC 3339 offset: an hour from now, written as the wall clock of UTC−01:00.
    let now = std::time::SystemTime::now();
    let in_an_hour = humantime::format_rfc3339_seconds(now + Duration::from_secs(3600));
    let at_minus_one = humantime::format_rfc3339_seconds(now).to_string().replace('Z', "-01:00");
    let (status, set) = bob.put_json(&path, json!({ "level": "all", "muted_until": at_minus_one })).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let muted_until = set["muted_until"].as_str().unwrap_or_default();
    assert_eq!(muted_until[..19], in_an_hour.to_string()[..19], "{set}");
    let (_, chat_out) = bob.get(&format!("/api/v1/chats/{chat}")).await;
    assert_eq!(chat_out["notifications"], set, "the chat shows its member's settings");
    alice.say(&chat, "muted").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(bobs.received().is_empty(), "{:?}", bobs.received());
    // At `mentions`, a message mentioning bob, or everyone, is for him; one mentioning
    // someone else is not.
    let (status, _) = bob.put_json(&path, json!({ "level": "mentions" })).await;
    assert_eq!(status, StatusCode::OK);
    let signals = format!("/api/v1/chats/{chat}/signals");
    let carol = h.login("carol").await;
    let (status, _) = alice.post(&format!("/api/v1/chats/{chat}/members"), json!({ "user_ids": [carol.id] })).await;
    assert_eq!(status, StatusCode::OK);
    for (nonce, extra) in [
        ("for-carol", json!({ "mentions": [carol.id] })),
        ("for-bob", json!({ "mentions": [bob.id] })),
        ("for-all", json!({ "mention_everyone": true })),
    ] {
        let mut body = json!({ "kind": "msg", "text": nonce, "nonce": nonce });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, sent) = alice.post(&signals, body).await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
    }
    let got = bobs.wait_accepted(2, SOON).await;
    let bodies: Vec<_> = got.iter().map(|r| r.body["body"].as_str().unwrap().to_string()).collect();
    assert_eq!(bodies, ["for-bob", "for-all"]);
    let (status, _) = bob.put_json(&path, json!({ "level": "none" })).await;
    assert_eq!(status, StatusCode::OK);
    alice.say(&chat, "a mention does not pass `none`").await;
    let (status, sent) =
        alice.post(&signals, json!({ "kind": "msg", "text": "@bob", "nonce": "none-bob", "mentions": [bob.id] })).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(bobs.received().len(), 2, "{:?}", bobs.received());

    // Refused settings change nothing.
    for body in [
        json!({ "level": "all", "muted_until": "2001-01-01T00:00:00Z" }),
        json!({ "level": "loud" }),
        json!({ "level": "all", "muted_until": "soon" }),
    ] {
        let (status, _) = bob.put_json(&path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(bob.get(&path).await.1, json!({ "level": "none", "muted_until": null }));
    let (status, _) = bob.put_json(&path, json!({ "level": "all" })).await;
    assert_eq!(status, StatusCode::OK);
    alice.say(&chat, "now you hear me").await;
    let got = bobs.wait_accepted(3, SOON).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].body["body"], "now you hear me");
    // Outsiders see no chat.
    let dave = h.login("dave").await;
    assert_eq!(dave.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(dave.put_json(&path, json!({ "level": "none" })).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_gateway_failing_three_times_gets_the_notification_exactly_once() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let bobs = Receiver::webhook(SECRET).await;
    add_webhook(&bob, &bobs).await;
    bobs.fail_next(503, 3, None);
    let chat = alice.group("Flaky", &[&bob]).await;
    alice.say(&chat, "hello").await;
    // Each retry is a job of its own, due in a second or two (the NATS scheduler's grain).
    let got = bobs.wait_accepted(1, RETRIES).await;
    assert_eq!(got.len(), 1);
    let all = bobs.received();
    assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), [503, 503, 503, 200]);
    let keys: Vec<_> = all.iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "one idempotency key for every attempt: {keys:?}");
    // 429 with Retry-After is honoured, then delivered once.
    bobs.fail_next(429, 1, Some(1));
    let asked = std::time::Instant::now();
    alice.say(&chat, "again").await;
    let got = bobs.wait_accepted(2, RETRIES).await;
    assert_eq!(got.len(), 2);
    assert!(asked.elapsed() >= Duration::from_secs(1), "Retry-After was not honoured");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(bobs.accepted().len(), 2);
}

#[tokio::test]
async fn a_gateway_that_keeps_failing_leaves_a_dead_letter_and_later_jobs_do_not_wait() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let bobs = Receiver::webhook(SECRET).await;
    add_webhook(&bob, &bobs).await;
    bobs.fail_body("lost", 500);
    let chat = alice.group("Down", &[&bob]).await;
    alice.say(&chat, "lost").await;
    alice.say(&chat, "found").await;
    // The next message goes out while the failing one waits for its retries.
    let got = bobs.wait_accepted(1, SOON).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["body"], "found");
    assert!(bobs.received().len() < 5, "the next job waited for the failing one's retries");
    let deadline = tokio::time::Instant::now() + RETRIES;
    let metrics = loop {
        let metrics = h.client.get(format!("{}/metrics", h.base)).send().await.unwrap().text().await.unwrap();
        if metrics.contains("push_dead_letters_total 1") || tokio::time::Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(metrics.contains("push_dead_letters_total 1"), "{metrics}");
    let lost: Vec<_> = bobs.received().into_iter().filter(|r| r.body["body"] == "lost").collect();
    assert_eq!(lost.iter().map(|r| r.status).collect::<Vec<_>>(), [500; 4], "4 attempts, then a dead letter");
    assert_eq!(bobs.accepted().len(), 1);
    // The admin listing (`petit-chat dead-letters`) shows it.
    let letters = petit_chat::dead_letters(h.config(), 10).await.unwrap();
    let [letter] = letters.as_slice() else { panic!("one dead letter expected: {letters:?}") };
    assert_eq!((letter.attempts, letter.key.starts_with("msg-")), (4, true), "{letter:?}");
    assert!(letter.error.contains("500"), "{letter:?}");
}

#[tokio::test]
async fn a_matrix_gateway_rejecting_a_pushkey_removes_the_target() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let gateway = Receiver::matrix().await;
    let target = json!({ "kind": "matrix", "url": gateway.url, "app_id": "chat.petit.ios", "pushkey": "bobs-phone" });
    assert_eq!(bob.post("/api/v1/me/push-targets", target.clone()).await.0, StatusCode::CREATED);
    let chat = alice.group("Matrix", &[&bob]).await;
    let signal = alice.say(&chat, "ping").await;
    let got = gateway.wait_accepted(1, SOON).await;
    let n = &got[0].body["notification"];
    assert_eq!(n["room_id"], chat.as_str());
    assert_eq!(n["room_name"], "Matrix");
    assert_eq!(n["content"]["body"], "ping");
    assert_eq!(n["counts"]["unread"], 1);
    assert_eq!(n["devices"][0]["pushkey"], "bobs-phone");
    assert!(n["event_id"].as_str().unwrap().contains(signal["id"].as_str().unwrap()));
    gateway.reject("bobs-phone");
    alice.say(&chat, "pong").await;
    let deadline = tokio::time::Instant::now() + SOON;
    while !targets(&bob).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the rejected target is still there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alice.say(&chat, "anyone?").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(gateway.received().len(), 2, "nothing goes to a removed target");
}

#[tokio::test]
async fn a_web_push_is_signed_with_vapid_and_decrypts_for_the_browser_and_a_gone_subscription_is_removed() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let service = WebPushService::start().await;
    let mut subscription = service.subscribe("bobs-browser", 201).await;
    subscription["kind"] = json!("webpush");
    let (status, target) = bob.post("/api/v1/me/push-targets", subscription).await;
    assert_eq!(status, StatusCode::CREATED, "{target}");
    let chat = alice.group("Browsers", &[&bob]).await;
    let signal = alice.say(&chat, "Web Push works").await;
    let got = service.wait_received("bobs-browser", 1, SOON).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let push = &got[0];
    assert_eq!(push["vapid_error"], Value::Null, "{push}");
    assert_eq!(push["decrypt_error"], Value::Null, "{push}");
    assert_eq!(push["payload"]["type"], "message");
    assert_eq!(push["payload"]["body"], "Web Push works");
    assert_eq!(push["payload"]["signal_id"], signal["id"]);
    assert_eq!(push["headers"]["topic"], format!("chat-{chat}"));
    assert_eq!(push["headers"]["urgency"], "normal");
    assert_eq!(push["headers"]["ttl"], "86400");
    // The VAPID key it signed with is the one the server publishes.
    let (_, key) = bob.get("/api/v1/push/vapid-public-key").await;
    let authorization = push["headers"]["authorization"].as_str().unwrap();
    assert!(authorization.ends_with(&format!("k={}", key["public_key"].as_str().unwrap())), "{authorization}");
    // Reading clears it, with low urgency and the same topic.
    bob.post(&format!("/api/v1/chats/{chat}/read"), json!({ "up_to": signal["id"] })).await;
    let got = service.wait_received("bobs-browser", 2, SOON).await;
    assert_eq!(got[1]["payload"]["type"], "clear");
    assert_eq!(got[1]["headers"]["urgency"], "low");
    assert_eq!(got[1]["headers"]["topic"], format!("chat-{chat}"));
    // Subscriptions the push service calls gone (410) or unknown (404) are removed.
    for (name, answer) in [("expired", 410), ("unknown", 404)] {
        let mut subscription = service.subscribe(name, answer).await;
        subscription["kind"] = json!("webpush");
        assert_eq!(bob.post("/api/v1/me/push-targets", subscription).await.0, StatusCode::CREATED);
    }
    assert_eq!(targets(&bob).await.len(), 3);
    alice.say(&chat, "who is still there?").await;
    let deadline = tokio::time::Instant::now() + SOON;
    while targets(&bob).await.len() > 1 {
        assert!(tokio::time::Instant::now() < deadline, "gone subscriptions are still there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(targets(&bob).await[0]["id"], target["id"]);
    assert_eq!(service.received("expired").await.len(), 1);
    assert_eq!(service.received("unknown").await.len(), 1);
}

#[tokio::test]
async fn a_ringing_call_and_a_shared_location_are_pushed_to_an_offline_member_whatever_the_mentions_level() {
    let h = server().await;
    let (alice, bob) = (h.login("alice").await, h.login("bob").await);
    let bobs = Receiver::webhook(SECRET).await;
    add_webhook(&bob, &bobs).await;
    let chat = alice.group("Lunch", &[&bob]).await;
    // Bob hears of mentions only: a call still rings him.
    let (status, _) =
        bob.put_json(&format!("/api/v1/chats/{chat}/notifications"), json!({ "level": "mentions" })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, call) = alice.post(&format!("/api/v1/chats/{chat}/calls"), json!({ "media": "audio" })).await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let got = bobs.wait_accepted(1, SOON).await;
    assert_eq!(
        (got[0].body["signal_id"].clone(), got[0].body["body"].clone()),
        (call["id"].clone(), json!("alice is calling"))
    );
    alice.post(&format!("/api/v1/calls/{}/end", call["id"].as_str().unwrap()), json!(null)).await;

    let (status, _) = bob.put_json(&format!("/api/v1/chats/{chat}/notifications"), json!({ "level": "all" })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, pin) = alice
        .post(
            &format!("/api/v1/chats/{chat}/signals"),
            json!({ "kind": "location", "location": { "lat": 1, "lon": 2 }, "nonce": "p" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pin}");
    let got = bobs.wait_accepted(2, SOON).await;
    assert_eq!(
        (got[1].body["signal_id"].clone(), got[1].body["body"].clone()),
        (pin["id"].clone(), json!("alice shared a location"))
    );
}
