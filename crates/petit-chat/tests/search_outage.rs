//! Fault test: the search cluster (OpenSearch) goes away and comes back. Searches get a
//! clear 503 problem document, chat goes on meanwhile (`/readyz` stays ready and names the
//! search index), and the messages sent during the outage are searchable once it is back:
//! the `index` group keeps them until its bulk write succeeds, nothing is lost. It stops and
//! restarts the stack's OpenSearch, so it is not part of the default `cargo test` run
//! (`test = false`): `scripts/test` runs it alone, with
//! `cargo test --workspace --test search_outage`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

#[path = "api/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

fn found(page: &Value) -> Vec<String> {
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let mut ids: Vec<String> = items.iter().map(|h| h["signal"]["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_going_away_is_a_503_and_the_index_catches_up_when_it_returns() {
    harness::stack(&["up", "opensearch"]);
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/cluster.toml");
    let server = harness::TestServer::start_on(Some(&config), |_| {}).await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let chat = alice.group("g", &[&bob]).await;
    let search = format!("/api/v1/chats/{chat}/search?q=outage&limit=50");
    let first = alice.say(&chat, "before the outage").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while found(&bob.get(&search).await.1) != vec![first["id"].as_str().unwrap().to_string()] {
        assert!(Instant::now() < deadline, "the first message was never searchable");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    harness::stack(&["down", "opensearch"]);
    let (status, problem) = bob.get(&search).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")), "{problem}");
    // Chat goes on; readiness names the index but stays ready.
    let mut expected = vec![first["id"].as_str().unwrap().to_string()];
    for n in 0..5 {
        let said = alice.say(&chat, &format!("during the outage, number {n}")).await;
        expected.push(said["id"].as_str().unwrap().to_string());
    }
    let (status, ready) = server.call(None, Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert!(ready["search"].as_str().unwrap().starts_with("unavailable"), "{ready}");

    harness::stack(&["up", "opensearch"]);
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, page) = bob.get(&search).await;
        if status == StatusCode::OK && found(&page) == expected {
            break;
        }
        assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{status}: {page}");
        assert!(Instant::now() < deadline, "the index did not catch up within 180 s: {status} {page}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (status, ready) = server.call(None, Method::GET, "/readyz", None).await;
    assert_eq!((status, ready["search"].as_str()), (StatusCode::OK, Some("ok")), "{ready}");
}
