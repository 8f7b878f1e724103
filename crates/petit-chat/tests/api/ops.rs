//! Operations endpoints: health, readiness, metrics, the OpenAPI document and its UI.

use reqwest::{Method, StatusCode};

use super::harness::TestServer;

#[tokio::test]
async fn health_readiness_metrics_and_docs_answer() {
    let server = TestServer::start().await;
    let (status, health) = server.call(None, Method::GET, "/healthz", None).await;
    assert_eq!((status, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, ready) = server.call(None, Method::GET, "/readyz", None).await;
    assert_eq!((status, ready["store"].as_str(), ready["bus"].as_str()), (StatusCode::OK, Some("ok"), Some("ok")));
    assert_eq!(ready["blobs"], "ok");

    server.login("alice").await;
    let metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .contains("petit_chat_http_requests_total{method=\"POST\",route=\"/api/v1/dev/login\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("petit_chat_live_streams"));

    let (status, doc) = server.call(None, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/chats",
        "/api/v1/chats/{chat_id}/signals",
        "/api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}",
        "/api/v1/chats/{chat_id}/signals/{signal_id}/receipts",
        "/api/v1/events",
        "/api/v1/dev/login",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // Every live event kind is documented, by its SSE name.
    let kinds: Vec<&str> = doc["components"]["schemas"]["EventData"]["oneOf"]
        .as_array()
        .expect("EventData is a oneOf")
        .iter()
        .filter_map(|k| k["properties"]["type"]["enum"][0].as_str())
        .collect();
    for kind in [
        "ready",
        "resync",
        "chat.created",
        "signal.created",
        "reaction.changed",
        "receipt.updated",
        "member.joined",
        "member.left",
        "typing",
        "presence.changed",
    ] {
        assert!(kinds.contains(&kind), "{kind} is not documented: {kinds:?}");
    }
    let docs = server.client.get(format!("{}/docs/", server.base)).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

/// `petit-chat openapi` prints what `GET /openapi.json` serves (web clients generate their
/// typed client from it), opening nothing: no configuration, store or network is needed.
#[tokio::test]
async fn the_openapi_command_prints_the_served_document() {
    let server = TestServer::start().await;
    let (status, served) = server.call(None, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);

    let empty = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_petit-chat"))
        .arg("openapi")
        .current_dir(empty.path())
        .env("PETIT_CHAT__STORE__KIND", "nonsense")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(printed["paths"].as_object().is_some_and(|paths| paths.contains_key("/api/v1/chats")));
    assert_eq!(printed, served);
    assert!(std::fs::read_dir(empty.path()).unwrap().next().is_none(), "it wrote to its working directory");
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn the_fanout_groups_counts_and_lag_are_in_the_metrics() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.login("alice").await, server.login("bob").await);
    let mut bob_events = bob.stream(None).await;
    let chat = alice.group("metrics", &[&bob]).await;
    for text in ["one", "two", "three"] {
        alice.say(&chat, text).await;
    }
    for _ in 0..3 {
        bob_events.next_message().await;
    }
    // The chat's creation (its event and its `joined` signal) and three messages, each
    // fanned out, then acknowledged: the count follows the acknowledgement, just after the
    // stream has the event, and then nothing is left to do.
    let processed = "petit_chat_group_events_processed_total{group=\"fanout\"}";
    let lag = "petit_chat_group_lag{group=\"fanout\"}";
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = server.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
        if sample(&metrics, processed).is_some_and(|n| n >= 5.0) && sample(&metrics, lag) == Some(0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!((sample(&metrics, processed), sample(&metrics, lag)), (Some(5.0), Some(0.0)), "{metrics}");
    assert_eq!(sample(&metrics, "petit_chat_group_events_failed_total{group=\"fanout\"}"), Some(0.0), "{metrics}");
}
