//! Calls over HTTP: the lifecycle and its call signal, who may do what, unanswered calls
//! ending as missed, `call.signal` relayed between the people in a call only, and ICE
//! servers with TURN credentials.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::harness::{EventStream, Session, TestServer};

fn code(answer: &(StatusCode, Value)) -> (StatusCode, &str) {
    (answer.0, answer.1["code"].as_str().unwrap_or("(none)"))
}

async fn start(s: &Session, chat: &str, media: &str) -> Value {
    let (status, call) = s.post(&format!("/api/v1/chats/{chat}/calls"), json!({ "media": media })).await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    call
}

async fn act(s: &Session, call: &Value, action: &str) -> (StatusCode, Value) {
    s.post(&format!("/api/v1/calls/{}/{action}", call["id"].as_str().unwrap()), json!(null)).await
}

/// The next event about call signal `id` (`signal.created` or `signal.updated`).
async fn next_call_event(stream: &mut EventStream, id: &Value) -> (String, Value) {
    loop {
        let e = stream.next().await;
        if (e.event == "signal.created" || e.event == "signal.updated") && e.data["signal"]["id"] == *id {
            return (e.event, e.data["signal"].clone());
        }
    }
}

#[tokio::test]
async fn a_call_rings_is_answered_and_ends_and_its_signal_shows_each_state() {
    let server = TestServer::start().await;
    let (alice, bob, eve) = (server.login("alice").await, server.login("bob").await, server.login("eve").await);
    let (status, direct) = alice.post("/api/v1/chats", json!({ "kind": "direct", "members": [bob.id] })).await;
    assert!(status.is_success(), "{direct}");
    let chat = direct["id"].as_str().unwrap().to_string();
    let mut bob_events = bob.stream(None).await;

    let call = start(&alice, &chat, "video").await;
    assert_eq!((call["state"].clone(), call["media"].clone()), (json!("ringing"), json!("video")));
    assert_eq!((call["signal_id"].clone(), call["participants"].clone()), (call["id"].clone(), json!([alice.id])));
    let (event, signal) = next_call_event(&mut bob_events, &call["id"]).await;
    assert_eq!(event, "signal.created", "the call rings bob's streams");
    assert_eq!((signal["kind"].clone(), signal["call"]["state"].clone()), (json!("call"), json!("ringing")));

    // Outsiders do not see it.
    assert_eq!(
        code(&eve.get(&format!("/api/v1/calls/{}", call["id"].as_str().unwrap())).await),
        (StatusCode::NOT_FOUND, "call_not_found")
    );
    assert_eq!(code(&act(&eve, &call, "join").await), (StatusCode::NOT_FOUND, "call_not_found"));

    let (status, joined) = act(&bob, &call, "join").await;
    assert_eq!((status, joined["state"].clone()), (StatusCode::OK, json!("ongoing")), "{joined}");
    assert_eq!(joined["participants"], json!([alice.id, bob.id]));
    assert!(joined["answered_at"].is_string());
    assert_eq!(act(&bob, &call, "join").await.1, joined, "joining twice changes nothing");
    let (_, signal) = next_call_event(&mut bob_events, &call["id"]).await;
    assert_eq!(signal["call"]["state"], "ongoing");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, ended) = act(&alice, &call, "leave").await;
    assert_eq!((status, ended["state"].clone()), (StatusCode::OK, json!("ended")), "a 1:1 call ends when one leaves");
    let (_, signal) = next_call_event(&mut bob_events, &call["id"]).await;
    assert_eq!((signal["call"]["state"].clone(), signal["call"]["missed"].clone()), (json!("ended"), json!(false)));
    assert!(signal["call"]["duration_secs"].as_f64().unwrap() >= 1.0, "{signal}");
    assert_eq!(signal["call"]["participants"], json!([alice.id, bob.id]));
    assert_eq!(code(&act(&bob, &call, "join").await), (StatusCode::CONFLICT, "call_ended"));

    // In the timeline, as the call signal.
    let (_, page) = bob.get(&format!("/api/v1/chats/{chat}/signals")).await;
    let shown = page["items"].as_array().unwrap().iter().find(|s| s["id"] == call["id"]).unwrap();
    assert_eq!((shown["kind"].clone(), shown["call"]["state"].clone()), (json!("call"), json!("ended")));

    let (status, p) = alice.post(&format!("/api/v1/chats/{chat}/calls"), json!({ "media": "hologram" })).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")));
}

#[tokio::test]
async fn a_call_nobody_answers_ends_as_missed_and_a_group_call_needs_its_last_to_leave() {
    let server = TestServer::start_with(|c| {
        c.calls.ring_secs = 1;
        c.calls.sweep_interval_ms = 200;
    })
    .await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("g", &[&bob, &carol]).await;
    let mut carol_events = carol.stream(None).await;
    let call = start(&alice, &chat, "audio").await;
    next_call_event(&mut carol_events, &call["id"]).await;
    let (_, signal) = next_call_event(&mut carol_events, &call["id"]).await;
    assert_eq!((signal["call"]["state"].clone(), signal["call"]["missed"].clone()), (json!("ended"), json!(true)));
    let (_, missed) = carol.get(&format!("/api/v1/calls/{}", call["id"].as_str().unwrap())).await;
    assert_eq!(missed["state"], "ended");
    // A missed call counts as unread.
    let (_, chats) = carol.get("/api/v1/chats").await;
    assert_eq!(chats["items"][0]["unread"], 1);

    // Declines: everyone it rings says no, it is over.
    let declined = start(&alice, &chat, "audio").await;
    assert_eq!(act(&bob, &declined, "decline").await.1["state"], "ringing");
    assert_eq!(act(&carol, &declined, "decline").await.1["state"], "ended");

    // A group call goes on while two are in it.
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("g", &[&bob, &carol]).await;
    let call = start(&alice, &chat, "audio").await;
    act(&bob, &call, "join").await;
    act(&carol, &call, "join").await;
    assert_eq!(act(&alice, &call, "leave").await.1["state"], "ongoing");
    assert_eq!(code(&act(&alice, &call, "end").await), (StatusCode::FORBIDDEN, "not_in_call"), "alice left");
    assert_eq!(act(&bob, &call, "leave").await.1["state"], "ongoing");
    let (_, ended) = act(&carol, &call, "leave").await;
    assert_eq!((ended["state"].clone(), ended["participants"].clone()), (json!("ended"), json!([])));

    // Ending for everyone.
    let again = start(&alice, &chat, "video").await;
    act(&bob, &again, "join").await;
    assert_eq!(act(&bob, &again, "end").await.1["state"], "ended");
}

#[tokio::test]
async fn call_signals_go_between_people_in_the_call_only() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.login("alice").await, server.login("bob").await, server.login("carol").await);
    let chat = alice.group("g", &[&bob, &carol]).await;
    let mut bob_events = bob.stream(None).await;
    let mut carol_events = carol.stream(None).await;
    let call = start(&alice, &chat, "video").await;
    let path = format!("/api/v1/calls/{}/signal", call["id"].as_str().unwrap());
    let offer = json!({ "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "type": "offer" });

    // Bob has not joined: nothing goes to him yet, nor from him.
    let answer = alice.post(&path, json!({ "to": bob.id, "type": "offer", "data": offer })).await;
    assert_eq!(code(&answer), (StatusCode::FORBIDDEN, "not_in_call"));
    act(&bob, &call, "join").await;
    let (status, _) = alice.post(&path, json!({ "to": bob.id, "type": "offer", "data": offer })).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let e = bob_events.next_named("call.signal").await;
    assert_eq!(e.id, None, "ephemeral: no id, never replayed");
    assert_eq!(
        (e.data["from"].clone(), e.data["signal_type"].clone(), e.data["data"].clone()),
        (json!(alice.id), json!("offer"), offer)
    );
    assert_eq!(e.data["call_id"], call["id"]);
    let (status, _) = bob
        .post(&path, json!({ "to": alice.id, "type": "candidate", "data": { "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host" } }))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Carol (a member, not in the call) neither sends nor receives; nor do strangers.
    assert_eq!(code(&carol.post(&path, json!({ "to": bob.id, "type": "offer", "data": {} })).await).1, "not_in_call");
    assert_eq!(code(&alice.post(&path, json!({ "to": carol.id, "type": "offer", "data": {} })).await).1, "not_in_call");
    let eve = server.login("eve").await;
    assert_eq!(code(&eve.post(&path, json!({ "to": bob.id, "type": "offer", "data": {} })).await).1, "call_not_found");
    while let Some(e) = carol_events.try_next(Duration::from_millis(300)).await {
        assert_ne!(e.event, "call.signal", "{:?}", e.data);
    }
    // Bad payloads.
    let big = "x".repeat(17 * 1024);
    assert_eq!(
        code(&alice.post(&path, json!({ "to": bob.id, "type": "offer", "data": big })).await).1,
        "call_signal_too_large"
    );
    assert_eq!(code(&alice.post(&path, json!({ "to": bob.id, "type": "shout", "data": {} })).await).1, "invalid_body");
    act(&alice, &call, "end").await;
    assert_eq!(
        code(&alice.post(&path, json!({ "to": bob.id, "type": "hangup", "data": {} })).await),
        (StatusCode::CONFLICT, "call_ended")
    );
}

#[tokio::test]
async fn ice_servers_come_with_turn_credentials_of_the_rest_api_scheme() {
    let server = TestServer::start_with(|c| {
        // (Whatever the configuration under test names.)
        c.calls.stun_urls = vec!["stun:127.0.0.1:3478".into()];
        c.calls.turn_urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        c.calls.turn_secret = Some("a-test-secret".into());
        c.calls.credential_ttl_secs = 600;
        c.calls.relay_only = true;
    })
    .await;
    let alice = server.login("alice").await;
    let (status, ice) = alice.get("/api/v1/calls/ice-servers").await;
    assert_eq!(status, StatusCode::OK, "{ice}");
    assert_eq!((ice["ttl_secs"].clone(), ice["relay_only"].clone()), (json!(600), json!(true)));
    assert_eq!(ice["ice_servers"][0], json!({ "urls": ["stun:127.0.0.1:3478"] }));
    let turn = &ice["ice_servers"][1];
    let username = turn["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, alice.id);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!((now + 590..=now + 610).contains(&expiry.parse::<u64>().unwrap()), "{username}");
    assert_eq!(
        turn["credential"].as_str().unwrap(),
        service::calls::turn_credential("a-test-secret", alice.id.parse().unwrap(), expiry.parse().unwrap()).1
    );

    // A server without any gives none (peers on one network connect without).
    let bare = TestServer::start_with(|c| {
        c.calls.stun_urls.clear();
        c.calls.turn_urls.clear();
        c.calls.turn_secret = None;
        c.calls.relay_only = false;
    })
    .await;
    let bob = bare.login("bob").await;
    let (status, ice) = bob.get("/api/v1/calls/ice-servers").await;
    assert_eq!(
        (status, ice["ice_servers"].clone(), ice["relay_only"].clone()),
        (StatusCode::OK, json!([]), json!(false))
    );
}

/// A real TURN allocation on the stack's coturn (`scripts/stack`), by coturn's own client
/// (`turnutils_uclient`, an implementation independent of ours), with the credentials
/// `GET /calls/ice-servers` hands out; a wrong or expired credential is refused.
#[tokio::test]
async fn the_stacks_turn_server_allocates_a_relay_with_the_credentials_handed_out() {
    let stack = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is unset: eval \"$(scripts/stack env)\" (scripts/test does)"))
    };
    let (url, secret) = (stack("PETIT_CHAT_STACK_TURN_URL"), stack("PETIT_CHAT_STACK_TURN_SECRET"));
    let server = TestServer::start_with(|c| {
        c.calls.stun_urls.clear();
        c.calls.turn_urls = vec![url.clone()];
        c.calls.turn_secret = Some(secret.clone());
    })
    .await;
    let alice = server.login("alice").await;
    let (_, ice) = alice.get("/api/v1/calls/ice-servers").await;
    let turn = &ice["ice_servers"][0];
    let (username, credential) = (turn["username"].as_str().unwrap(), turn["credential"].as_str().unwrap());
    // turn:HOST:PORT?transport=udp
    let address = url.trim_start_matches("turn:").split('?').next().unwrap().to_string();
    let (host, port) = address.rsplit_once(':').unwrap();

    let allocate = |user: &str, password: &str| {
        let out = std::process::Command::new("turnutils_uclient")
            .args(["-y", "-n", "1", "-m", "1", "-l", "100", "-p", port, "-u", user, "-w", password, host])
            .output()
            .expect("turnutils_uclient runs (Debian package coturn; scripts/stack installs it)");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, log) = allocate(username, credential);
    // The last count is the total: messages went through the relay and came back.
    let received: u64 = log
        .rsplit("tot_recv_msgs=")
        .next()
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(ok && received > 0, "the allocation failed:\n{log}");

    let (ok, log) = allocate(username, "not-the-credential");
    assert!(!ok && log.contains("Cannot complete Allocation"), "a wrong credential was taken:\n{log}");
    let past = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 60;
    let (user, password) = service::calls::turn_credential(&secret, alice.id.parse().unwrap(), past);
    let (ok, log) = allocate(&user, &password);
    assert!(!ok, "an expired credential was taken:\n{log}");
}
