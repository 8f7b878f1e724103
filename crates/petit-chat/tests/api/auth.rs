//! Logging in, the caller's profile, and refusing callers without a valid token.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::harness::TestServer;

#[tokio::test]
async fn dev_login_creates_the_user_once_and_me_returns_it() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let again = server.login("alice").await;
    assert_eq!(alice.id, again.id, "logging in twice is the same user");
    let (status, me) = alice.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], alice.id.as_str());
    assert_eq!(me["username"], "alice");
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, me) = alice.patch("/api/v1/me", json!({ "display_name": "Alice Liddell" })).await;
    assert_eq!((status, me["display_name"].as_str()), (StatusCode::OK, Some("Alice Liddell")));
    let (_, found) = again.get("/api/v1/users?username=alice").await;
    assert_eq!(found["items"][0]["display_name"], "Alice Liddell");
    assert_eq!(found["next_cursor"], serde_json::Value::Null);
    let (status, nobody) = alice.get("/api/v1/users?username=nobody").await;
    assert_eq!((status, nobody["items"].as_array().unwrap().len()), (StatusCode::OK, 0));
    let (status, user) = alice.get(&format!("/api/v1/users/{}", alice.id)).await;
    assert_eq!((status, user["username"].as_str()), (StatusCode::OK, Some("alice")));
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_and_change_nothing() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let forged = format!("{}x", alice.token);
    for token in [None, Some("garbage"), Some(forged.as_str()), Some("")] {
        for (method, path) in [
            (Method::GET, "/api/v1/me"),
            (Method::GET, "/api/v1/chats"),
            (Method::POST, "/api/v1/chats"),
            (Method::GET, "/api/v1/events"),
        ] {
            let body =
                (method == Method::POST).then(|| json!({ "kind": "group", "title": "x", "members": [alice.id] }));
            let (status, problem) = server.call(token, method.clone(), path, body).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}");
            assert_eq!(problem["code"], "unauthenticated");
        }
    }
    let (_, chats) = alice.get("/api/v1/chats").await;
    assert_eq!(chats["items"].as_array().unwrap().len(), 0, "a refused request stored nothing");
}

#[tokio::test]
async fn dev_login_refuses_bad_usernames() {
    let server = TestServer::start().await;
    for bad in ["", "Has Space", "UPPER", &"x".repeat(65)] {
        let (status, problem) =
            server.call(None, Method::POST, "/api/v1/dev/login", Some(json!({ "username": bad }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(problem["code"], "invalid_username");
    }
}

#[tokio::test]
async fn dev_login_is_hidden_from_non_loopback_clients() {
    use axum::extract::connect_info::MockConnectInfo;
    use tower::ServiceExt;
    let server = TestServer::start().await;
    let router = server.app.router.clone().layer(MockConnectInfo(std::net::SocketAddr::from(([192, 0, 2, 1], 4000))));
    let request = axum::http::Request::post("/api/v1/dev/login")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"username":"mallory"}"#))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, found) = server.login("probe").await.get("/api/v1/users?username=mallory").await;
    assert_eq!((status, found["items"].as_array().unwrap().len()), (StatusCode::OK, 0));
}

#[tokio::test]
async fn auth_config_says_how_to_log_in() {
    let server = TestServer::start().await;
    let (status, config) = server.call(None, Method::GET, "/api/v1/auth/config", None).await;
    assert_eq!((status, config["mode"].as_str()), (StatusCode::OK, Some("dev")));
}
