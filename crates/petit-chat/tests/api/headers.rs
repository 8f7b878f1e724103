//! Cross-origin calls (CORS) and Strict-Transport-Security, by configuration.

use reqwest::{Method, StatusCode};

use super::harness::TestServer;

const ALLOWED: &str = "https://chat.example.com";

async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    server
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/chats", server.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cross_origin_calls_are_allowed_only_from_the_configured_origins() {
    let server = TestServer::start_with(|c| c.server.cors_origins = vec![ALLOWED.into()]).await;
    let alice = server.login("alice").await;

    let allowed = preflight(&server, ALLOWED).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], ALLOWED);
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_string();
    assert!(methods.contains("POST") && methods.contains("DELETE"), "{methods}");
    let headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");

    let refused = preflight(&server, "https://evil.example").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());

    // A real call from the allowed origin carries the header; the answer is the same.
    let resp = server
        .client
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&alice.token)
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], ALLOWED);
    let exposed = resp.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
}

#[tokio::test]
async fn without_origins_no_cors_header_is_sent_and_hsts_only_when_configured() {
    let server = TestServer::start().await;
    let resp = preflight(&server, ALLOWED).await;
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let health = server.client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert!(health.headers().get("strict-transport-security").is_none());

    let server = TestServer::start_with(|c| c.server.hsts_max_age_secs = 600).await;
    let alice = server.login("alice").await;
    for path in ["/healthz", "/api/v1/me", "/api/v1/nowhere"] {
        let resp = server.client.get(format!("{}{path}", server.base)).bearer_auth(&alice.token).send().await.unwrap();
        assert_eq!(resp.headers()["strict-transport-security"], "max-age=600; includeSubDomains", "{path}");
    }
}
