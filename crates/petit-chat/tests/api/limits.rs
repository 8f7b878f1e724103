//! Abuse limits: request rates per user and per address, open streams, slow clients, and
//! a method a path does not take.

use std::time::Duration;

use api::limits::{BudgetRates, Rate};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::TestServer;

/// A server with the rate limits on, `tune` setting the budgets under test.
async fn limited(tune: impl FnOnce(&mut petit_chat::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.limits.rate.enabled = true;
        // The setup's logins and the rest stay within budget unless a test lowers them.
        c.limits.rate.per_address =
            BudgetRates { login: Rate { per_minute: 600, burst: 20 }, ..BudgetRates::PER_ADDRESS };
        tune(c)
    })
    .await
}

#[tokio::test]
async fn a_user_sending_too_fast_gets_429_with_retry_after_and_nothing_is_stored() {
    let server = limited(|c| c.limits.rate.per_user.send = Rate { per_minute: 6, burst: 3 }).await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let path = format!("/api/v1/chats/{chat}/signals");
    for i in 0..3 {
        alice.say(&chat, &format!("within the burst {i}")).await;
    }
    let resp = server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(&alice.token)
        .json(&json!({ "kind": "msg", "text": "one too many", "nonce": "over" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&wait), "Retry-After {wait}");
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(429), Some("rate_limited")));

    // Nothing was stored; reading is another budget, and bob's sends are his own.
    let (status, page) = alice.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let texts: Vec<&str> = page["items"].as_array().unwrap().iter().filter_map(|s| s["text"].as_str()).collect();
    assert!(!texts.contains(&"one too many"), "{texts:?}");
    assert_eq!(texts.iter().filter(|t| t.starts_with("within the burst")).count(), 3);
    bob.say(&chat, "my own budget").await;

    // The budget refills: one more after the wait it gave.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    alice.say(&chat, "after the wait").await;
}

#[tokio::test]
async fn logins_from_one_address_are_limited() {
    let server = limited(|c| c.limits.rate.per_address.login = Rate { per_minute: 2, burst: 2 }).await;
    let first = server.login("first").await;
    server.login("second").await;
    let (status, problem) =
        server.call(None, Method::POST, "/api/v1/dev/login", Some(json!({ "username": "third" }))).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    // The refused login created nobody: "third" is unknown to the others.
    let (status, found) = first.get("/api/v1/users?username=third").await;
    assert!(status == StatusCode::NOT_FOUND || found["items"].as_array().is_some_and(|i| i.is_empty()), "{found}");
}

#[tokio::test]
async fn the_address_budget_covers_everyone_behind_it_and_health_is_never_limited() {
    let server = limited(|c| c.limits.rate.per_address.other = Rate { per_minute: 60, burst: 5 }).await;
    let alice = server.login("alice").await;
    let mut refused = 0;
    for _ in 0..8 {
        let (status, _) = alice.get("/api/v1/me").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        } else {
            assert_eq!(status, StatusCode::OK);
        }
    }
    assert!(refused >= 2, "{refused} of 8 refused past a burst of 5");
    for _ in 0..20 {
        let status = server.client.get(format!("{}/healthz", server.base)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn rate_limits_are_off_when_disabled() {
    let server = TestServer::start_with(|c| {
        c.limits.rate.enabled = false;
        c.limits.rate.per_user.send = Rate { per_minute: 1, burst: 1 };
    })
    .await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    for i in 0..5 {
        alice.say(&chat, &format!("m{i}")).await;
    }
}

#[tokio::test]
async fn event_streams_are_capped_per_user() {
    let server = TestServer::start_with(|c| c.limits.max_streams_per_user = 2).await;
    let alice = server.login("alice").await;
    let first = alice.stream(None).await;
    let _second = alice.stream(None).await;
    let (status, problem) = alice.get("/api/v1/events").await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_streams")));
    // Someone else is not held back by alice's streams.
    let bob = server.login("bob").await;
    let _bobs = bob.stream(None).await;
    // Closing one gives its place back.
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        let resp = server.client.get(format!("{}/api/v1/events", server.base)).bearer_auth(&alice.token).send().await;
        if let Ok(resp) = resp
            && resp.status() == StatusCode::OK
        {
            reopened = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a closed stream's place is given back");
}

#[tokio::test]
async fn a_client_dribbling_its_headers_or_body_is_cut_off() {
    let server = TestServer::start_with(|c| {
        c.limits.header_timeout_secs = 1;
        c.limits.body_idle_timeout_secs = 1;
    })
    .await;
    let alice = server.login("alice").await;
    let address = server.base.trim_start_matches("http://");

    // Headers never finished: the connection is closed after the timeout.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection within 5 s");

    // An idle keep-alive connection is closed too, once its request is answered.
    let mut idle = tokio::net::TcpStream::connect(address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closed the idle connection within 5 s");
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"), "answered first");

    // A body that stops halfway: the request is refused, not held.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/chats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"kind\":",
        alice.token
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server ended the request within 5 s");
    let answer = String::from_utf8_lossy(&buf);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer}");
    let (_, chats) = alice.get("/api/v1/chats").await;
    assert_eq!(chats["items"].as_array().map(Vec::len), Some(0), "no chat was created: {chats}");
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_a_problem_document() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let (status, problem) = alice.put("/api/v1/chats").await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
}
