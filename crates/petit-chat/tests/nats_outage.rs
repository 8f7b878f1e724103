//! NATS goes away mid-run and comes back, under two `petit-chat serve` processes. A send
//! is refused before anything is stored (503: its nonce is claimed at the bus's nonce
//! fence, on NATS), and the client's retry (same nonce, any node) stores it once. A change
//! that is stored but whose event cannot reach the bus (an edit) is not acknowledged
//! either (503); the node publishes its event once NATS is back. Every event arrives
//! exactly once, and so does every notification of an offline member (the notification
//! queue is on NATS too). It stops and restarts the stack's NATS, so it is not part of the
//! default `cargo test` run (`test = false`): `scripts/test` runs it alone, after the main
//! run.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

#[path = "api/harness.rs"]
mod harness;
#[path = "cluster/nodes.rs"]
mod nodes;
#[allow(dead_code)] // the receivers this test does not use
#[path = "api/receivers.rs"]
mod receivers;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::Session;
use nodes::{Cluster, on};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post(session: &Session, chat: &str, text: &str, nonce: &str) -> (StatusCode, Value) {
    session.post(&format!("/api/v1/chats/{chat}/signals"), json!({ "kind": "msg", "text": text, "nonce": nonce })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_outage_loses_no_acknowledged_message_and_duplicates_none() {
    harness::stack(&["up", "nats"]);
    let cluster = Cluster::new();
    let (a, mut b) = (cluster.node(5).await, cluster.node(6).await);
    let alice = a.session("alice").await;
    let bob = a.session("bob").await;
    // Carol has no stream open (offline): each message is pushed to her webhook.
    let carol = a.session("carol").await;
    let carols = receivers::Receiver::webhook("nats-outage-secret").await;
    let (status, target) = carol
        .post(
            "/api/v1/me/push-targets",
            json!({ "kind": "webhook", "url": carols.url, "secret": "nats-outage-secret" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{target}");
    let chat = alice.group("outage", &[&bob, &carol]).await;
    let mut stream = bob.stream(None).await;
    alice.say(&chat, "before").await;
    let before = stream.next_message().await;
    assert_eq!(before.data["signal"]["text"], "before");
    let last = before.id.unwrap();
    drop(stream);

    harness::stack(&["down", "nats"]);
    // Both nodes refuse the sends. A stores the edit but refuses to acknowledge it, and
    // keeps its event to publish later.
    let (status, problem) = post(&alice, &chat, "during, on A", "nats-outage-a").await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")), "{problem}");
    let before_path = format!("/api/v1/chats/{chat}/signals/{}", before.data["signal"]["id"].as_str().unwrap());
    let (status, problem) = alice.patch(&before_path, json!({ "text": "before, edited" })).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")), "{problem}");
    let alice_on_b = on(&b, &alice);
    let (status, _) = post(&alice_on_b, &chat, "during, on B", "nats-outage-b").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, ready) = alice.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready["checks"]["bus"].as_str().unwrap().starts_with("unavailable"), "{ready}");
    assert_eq!(ready["checks"]["store"], "ok");
    b.kill().await;

    harness::stack(&["up", "nats"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while alice.get("/readyz").await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "node A not ready again within 120 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The client retries both sends on A: each is stored now (201), or, if a first attempt
    // claimed its nonce before NATS went, stored under that attempt's id (200).
    let deadline = Instant::now() + Duration::from_secs(60);
    for (text, nonce) in [("during, on A", "nats-outage-a"), ("during, on B", "nats-outage-b")] {
        loop {
            let (status, signal) = post(&alice, &chat, text, nonce).await;
            if status == StatusCode::CREATED || status == StatusCode::OK {
                assert_eq!(signal["text"], text);
                break;
            }
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{signal}");
            assert!(Instant::now() < deadline, "retry of {nonce} still refused after 60 s");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    alice.say(&chat, "after").await;

    // Bob resumes from before the outage: every message once, in order, and the edit once,
    // nothing more.
    let mut resumed = bob.stream(Some(&last)).await;
    let (mut created, mut updated) = (vec![], vec![]);
    while created.len() < 3 || updated.is_empty() {
        let e = resumed.next().await;
        let text = e.data["signal"]["text"].as_str().unwrap_or_default().to_string();
        match e.event.as_str() {
            "signal.created" if e.data["signal"]["kind"] == "msg" => created.push(text),
            "signal.updated" => updated.push(text),
            _ => {}
        }
    }
    assert_eq!(created, ["during, on A", "during, on B", "after"]);
    assert_eq!(updated, ["before, edited"]);
    while let Some(e) = resumed.try_next(Duration::from_secs(2)).await {
        assert!(!["signal.created", "signal.updated"].contains(&e.event.as_str()), "duplicate {e:?}");
    }
    let (_, page) = bob.get(&format!("/api/v1/chats/{chat}/signals")).await;
    let texts: Vec<&str> = page["items"].as_array().unwrap().iter().filter_map(|s| s["text"].as_str()).collect();
    assert_eq!(texts, ["after", "during, on B", "during, on A", "before, edited"], "stored once each");
    drop(resumed);

    // Carol was told of each message once, the ones sent during the outage included. (The
    // push of "before" may show its edit: a push shows the message as it is when sent.)
    let mut stored: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["text"].is_string())
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    stored.sort();
    let pushed = carols.wait_accepted(4, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = carols.accepted();
    let mut told: Vec<&str> = accepted.iter().map(|r| r.body["signal_id"].as_str().unwrap()).collect();
    told.sort();
    assert_eq!(told, stored, "{pushed:?}");
}
