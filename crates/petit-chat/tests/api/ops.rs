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
    let docs = server.client.get(format!("{}/docs/", server.base)).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}
