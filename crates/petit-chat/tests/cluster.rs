//! Two `petit-chat serve` processes, one cluster: the stack's Cassandra, NATS and Keycloak.
//! A message posted on one node reaches streams held by the other; a client that moves
//! between nodes, or whose node is killed, resumes with `Last-Event-ID` and gets exactly
//! what it missed. Needs `eval "$(scripts/stack env)"`; fails, never skips, without it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

#[path = "api/harness.rs"]
mod harness;
#[path = "cluster/nodes.rs"]
mod nodes;
#[allow(dead_code)] // the HTTP tests use the rest
#[path = "api/receivers.rs"]
mod receivers;

use std::time::Duration;

use harness::{EventStream, Session};
use nodes::{Cluster, on};
use receivers::Receiver;
use serde_json::json;

const PUSH_SECRET: &str = "a-webhook-secret-of-the-test";

/// The texts of the next `n` `signal.created` events, and the id of the last one.
async fn texts(stream: &mut EventStream, n: usize) -> (Vec<String>, String) {
    let mut out = vec![];
    let mut last = String::new();
    while out.len() < n {
        let e = stream.next_message().await;
        out.push(e.data["signal"]["text"].as_str().unwrap_or_default().to_string());
        last = e.id.expect("signal.created has an id");
    }
    (out, last)
}

async fn no_more_signals(stream: &mut EventStream) {
    while let Some(e) = stream.try_next(Duration::from_millis(1500)).await {
        assert_ne!(e.event, "signal.created", "unexpected (duplicate?) {e:?}");
    }
}

async fn say_all(session: &Session, chat: &str, texts: &[&str]) {
    for t in texts {
        session.say(chat, t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_cross_nodes_and_a_client_resumes_on_another_node_with_exactly_the_gap() {
    let cluster = Cluster::new();
    let (a, b) = (cluster.node(1).await, cluster.node(2).await);
    let alice = a.session("alice").await;
    let bob_on_b = b.session("bob").await;
    let chat = alice.group("across nodes", &[&bob_on_b]).await;

    // Bob streams from B; Alice posts on A: it reaches Bob live.
    let mut stream = bob_on_b.stream(None).await;
    say_all(&alice, &chat, &["one"]).await;
    let (got, last) = texts(&mut stream, 1).await;
    assert_eq!(got, ["one"]);

    // Bob goes away; three more messages; he comes back on A with his last id.
    drop(stream);
    say_all(&alice, &chat, &["two", "three", "four"]).await;
    let bob_on_a = on(&a, &bob_on_b);
    let mut stream = bob_on_a.stream(Some(&last)).await;
    let (got, _) = texts(&mut stream, 3).await;
    assert_eq!(got, ["two", "three", "four"], "exactly the gap, in order");
    no_more_signals(&mut stream).await;
    // And live again, on A now.
    say_all(&alice, &chat, &["five"]).await;
    assert_eq!(texts(&mut stream, 1).await.0, ["five"]);
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_of_a_killed_node_resume_on_another() {
    let cluster = Cluster::new();
    let (a, mut b) = (cluster.node(3).await, cluster.node(4).await);
    let alice = a.session("alice").await;
    let bob_on_b = b.session("bob").await;
    let chat = alice.group("node dies", &[&bob_on_b]).await;

    let mut stream = bob_on_b.stream(None).await;
    say_all(&alice, &chat, &["before"]).await;
    let (_, last) = texts(&mut stream, 1).await;

    // B dies mid-stream (SIGKILL: no drain). Messages keep coming on A.
    b.kill().await;
    say_all(&alice, &chat, &["during 1", "during 2"]).await;
    let bob_on_a = on(&a, &bob_on_b);
    let mut resumed = bob_on_a.stream(Some(&last)).await;
    let (got, _) = texts(&mut resumed, 2).await;
    assert_eq!(got, ["during 1", "during 2"]);
    no_more_signals(&mut resumed).await;
    drop((stream, resumed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_on_one_node_is_refused_on_the_other_within_a_second() {
    let cluster = Cluster::new();
    let (a, b) = (cluster.node(41).await, cluster.node(42).await);
    let alice = a.session("alice").await;
    let bob_on_b = b.session("bob").await;
    let chat = alice.group("removal across nodes", &[&bob_on_b]).await;
    // Bob sends on B, twice: B remembers his membership.
    say_all(&bob_on_b, &chat, &["one", "two"]).await;
    let (status, _) = alice.delete(&format!("/api/v1/chats/{chat}/members/{}", bob_on_b.id)).await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    let removed = std::time::Instant::now();
    let mut accepted = 0;
    loop {
        let nonce = format!("n-{:x}", rand::random::<u64>());
        let body = json!({ "kind": "msg", "text": "after", "nonce": nonce });
        let (status, answer) = bob_on_b.post(&format!("/api/v1/chats/{chat}/signals"), body).await;
        if status == reqwest::StatusCode::NOT_FOUND {
            assert_eq!(answer["code"], "chat_not_found");
            break;
        }
        assert_eq!(status, reqwest::StatusCode::CREATED, "{answer}");
        accepted += 1;
        assert!(removed.elapsed() < Duration::from_secs(1), "B still took {accepted} sends a second after");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Refused from then on.
    let nonce = format!("n-{:x}", rand::random::<u64>());
    let body = json!({ "kind": "msg", "text": "later", "nonce": nonce });
    assert_eq!(bob_on_b.post(&format!("/api/v1/chats/{chat}/signals"), body).await.0, reqwest::StatusCode::NOT_FOUND);
}

/// The next `presence.changed` about `user` within `wait`: its `online` flag.
async fn online_flag_within(stream: &mut EventStream, user: &Session, wait: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let e = stream.try_next(deadline.saturating_duration_since(tokio::time::Instant::now())).await?;
        if e.event == "presence.changed" && e.data["presence"]["user_id"] == user.id.as_str() {
            return e.data["presence"]["online"].as_bool();
        }
    }
}

async fn online_flag_of(stream: &mut EventStream, user: &Session) -> bool {
    online_flag_within(stream, user, Duration::from_secs(10)).await.expect("a presence change within 10 s")
}

async fn online_seen_by(viewer: &Session, user: &Session) -> bool {
    let (_, body) = viewer.get(&format!("/api/v1/users/{}", user.id)).await;
    body["presence"]["online"].as_bool().unwrap_or_else(|| panic!("no presence: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_streams_across_nodes_and_a_killed_node_s_users_go_offline() {
    let cluster = Cluster::new();
    let (a, mut b) = (cluster.node(7).await, cluster.node(8).await);
    let alice = a.session("alice").await;
    let bob_on_b = b.session("bob").await;
    alice.group("presence", &[&bob_on_b]).await;
    let mut watcher = alice.stream(None).await;
    assert!(!online_seen_by(&alice, &bob_on_b).await);

    // Bob opens a stream on B: Alice, streaming from A, is told; A answers the same.
    let bob_stream = bob_on_b.stream(None).await;
    assert!(online_flag_of(&mut watcher, &bob_on_b).await);
    assert!(online_seen_by(&alice, &bob_on_b).await);
    // He closes it: offline.
    drop(bob_stream);
    assert!(!online_flag_of(&mut watcher, &bob_on_b).await);
    assert!(!online_seen_by(&alice, &bob_on_b).await);

    // Online again on B, then B dies without a word: his presence expires (30 s) and A,
    // not the dead node, announces him offline.
    let _bob_stream = bob_on_b.stream(None).await;
    assert!(online_flag_of(&mut watcher, &bob_on_b).await);
    b.kill().await;
    let offline = online_flag_within(&mut watcher, &bob_on_b, Duration::from_secs(60)).await;
    assert_eq!(offline, Some(false), "the killed node's user went offline within 60 s");
    assert!(!online_seen_by(&alice, &bob_on_b).await);
    drop(watcher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_and_index_worker_killed_mid_load_loses_and_duplicates_nothing() {
    let cluster = Cluster::new();
    // An API-only node, and the fan-out and the indexer in two `petit-chat worker` processes.
    let api = cluster.node_with_roles(11, "none").await;
    let mut doomed = cluster.worker(12, "fanout,presence,index").await;
    let survivor = cluster.worker(13, "fanout,presence,index").await;
    let alice = api.session("alice").await;
    let bob = api.session("bob").await;
    let chats = [alice.group("worker dies 1", &[&bob]).await, alice.group("worker dies 2", &[&bob]).await];
    let mut stream = bob.stream(None).await;

    let count = 40;
    let (mut sent, mut ids) = (vec![], [vec![], vec![]]);
    for i in 0..count {
        if i == count / 2 {
            // SIGKILL: whatever it held unacknowledged goes to the other worker.
            doomed.kill().await;
        }
        let text = format!("survivor m{i}");
        let said = alice.say(&chats[i % 2], &text).await;
        ids[i % 2].push(said["id"].as_str().unwrap_or_default().to_string());
        sent.push(text);
    }
    let mut got = vec![];
    while got.len() < count {
        let e = tokio::time::timeout(Duration::from_secs(30), stream.next_named("signal.created"))
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} messages arrived: {got:?}", got.len()));
        if e.data["signal"]["kind"] == "msg" {
            got.push(e.data["signal"]["text"].as_str().unwrap_or_default().to_string());
        }
    }
    no_more_signals(&mut stream).await;
    // Each chat's messages in order; nothing lost, nothing twice.
    for (n, chat_texts) in [0, 1].iter().map(|k| (k, sent.iter().skip(*k).step_by(2).collect::<Vec<_>>())) {
        let received: Vec<&String> = got.iter().filter(|t| chat_texts.contains(t)).collect();
        assert_eq!(received, chat_texts, "chat {n}: in order, each once");
    }
    // The survivor did (at least) the second half, and says so in its metrics.
    let metrics = survivor.metrics().await;
    let processed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("petit_chat_group_events_processed_total{group=\"fanout\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(processed.is_some_and(|n| n >= (count / 2) as f64), "{metrics}");
    // Every message is searchable, each found once (the index's bulk writes are
    // acknowledged only once done: what the killed worker held, the survivor wrote).
    for (chat, mut expected) in chats.iter().zip(ids) {
        expected.sort();
        let path = format!("/api/v1/chats/{chat}/search?q=survivor&sort=recent&limit=50");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, page) = bob.get(&path).await;
            let mut found: Vec<String> = page["items"]
                .as_array()
                .map(|items| items.iter().map(|h| h["signal"]["id"].as_str().unwrap_or_default().to_string()).collect())
                .unwrap_or_default();
            found.sort();
            if found == expected {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{status}: found {found:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_worker_killed_mid_send_leaves_the_notification_to_another_which_sends_it_once() {
    let cluster = Cluster::new();
    let api = cluster.node_with_roles(21, "fanout,presence,notify").await;
    let mut doomed = cluster.worker(22, "push").await;
    let alice = api.session("alice").await;
    let bob = api.session("bob").await;
    let gateway = Receiver::webhook(PUSH_SECRET).await;
    let (status, _) = bob
        .post("/api/v1/me/push-targets", json!({ "kind": "webhook", "url": gateway.url, "secret": PUSH_SECRET }))
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    // The gateway holds its first answer: the worker is killed while it waits for it.
    gateway.hold_first(Duration::from_secs(4));
    let chat = alice.group("push worker dies", &[&bob]).await;
    alice.say(&chat, "are you there?").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while gateway.arrived() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no push reached the gateway");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().await;
    let _survivor = cluster.worker(23, "push").await;
    let accepted = gateway.wait_accepted(1, Duration::from_secs(30)).await;
    assert!(!accepted.is_empty(), "the job was not sent again by the other worker: {:?}", gateway.received());
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Every request is the one notification, under one idempotency key; the gateway
    // shows it once.
    let keys: std::collections::BTreeSet<String> =
        gateway.received().iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
    assert_eq!(keys.len(), 1, "{:?}", gateway.received());
    assert!(gateway.received().iter().all(|r| r.body["body"] == "are you there?"));
}

/// The next event about call signal `id` (`signal.created` or `signal.updated`): the signal.
async fn call_event(stream: &mut EventStream, id: &serde_json::Value) -> serde_json::Value {
    loop {
        let e = stream.next().await;
        if (e.event == "signal.created" || e.event == "signal.updated") && e.data["signal"]["id"] == *id {
            return e.data["signal"].clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_signals_cross_nodes_and_a_call_whose_node_died_still_ends_as_missed() {
    let cluster = Cluster::new();
    let (mut a, b) = (cluster.node(31).await, cluster.node(32).await);
    let alice = a.session("alice").await;
    let bob_on_b = b.session("bob").await;
    let carol_on_b = b.session("carol").await;
    let chat = alice.group("calls", &[&bob_on_b, &carol_on_b]).await;
    let mut alice_stream = alice.stream(None).await;
    let mut bob_stream = bob_on_b.stream(None).await;

    // Started on A, it rings Bob on B; Bob answers on B.
    let (status, call) = alice.post(&format!("/api/v1/chats/{chat}/calls"), json!({ "media": "audio" })).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{call}");
    assert_eq!(call_event(&mut bob_stream, &call["id"]).await["call"]["state"], "ringing");
    let id = call["id"].as_str().unwrap();
    let (_, joined) = bob_on_b.post(&format!("/api/v1/calls/{id}/join"), json!(null)).await;
    assert_eq!(joined["state"], "ongoing");

    // Offer from A to Bob's stream on B, answer from B to Alice's stream on A.
    let path = format!("/api/v1/calls/{id}/signal");
    let offer = json!({ "type": "offer", "sdp": "v=0" });
    let (status, _) = alice.post(&path, json!({ "to": bob_on_b.id, "type": "offer", "data": offer })).await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    let e = bob_stream.next_named("call.signal").await;
    assert_eq!((e.data["from"].clone(), e.data["data"].clone()), (json!(alice.id), offer));
    let (status, _) =
        bob_on_b.post(&path, json!({ "to": alice.id, "type": "answer", "data": { "sdp": "v=0 answer" } })).await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    let e = alice_stream.next_named("call.signal").await;
    assert_eq!((e.data["from"].clone(), e.data["signal_type"].clone()), (json!(bob_on_b.id), json!("answer")));
    // Carol, not in the call, cannot reach into it from B.
    let (status, p) = carol_on_b.post(&path, json!({ "to": alice.id, "type": "offer", "data": {} })).await;
    assert_eq!((status, p["code"].as_str()), (reqwest::StatusCode::FORBIDDEN, Some("not_in_call")));
    bob_on_b.post(&format!("/api/v1/calls/{id}/end"), json!(null)).await;

    // A second call from A; A dies while it rings: B's `calls` role ends it as missed.
    let (_, second) = alice.post(&format!("/api/v1/chats/{chat}/calls"), json!({ "media": "video" })).await;
    assert_eq!(call_event(&mut bob_stream, &second["id"]).await["call"]["state"], "ringing");
    a.kill().await;
    let ended = call_event(&mut bob_stream, &second["id"]).await;
    assert_eq!((ended["call"]["state"].clone(), ended["call"]["missed"].clone()), (json!("ended"), json!(true)));
    let (_, stored) = bob_on_b.get(&format!("/api/v1/calls/{}", second["id"].as_str().unwrap())).await;
    assert_eq!(stored["state"], "ended");
    drop((alice_stream, bob_stream));
}
