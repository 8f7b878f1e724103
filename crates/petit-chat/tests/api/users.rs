//! Finding people: by exact username, and by username prefix for the pickers.

use reqwest::StatusCode;
use serde_json::Value;

use super::harness::{Session, TestServer};

fn usernames(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn users_are_found_by_username_prefix_in_username_order() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    for name in ["bob", "albert", "a_b", "alan"] {
        server.login(name).await;
    }
    let (status, page) = alice.get("/api/v1/users?prefix=al").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(usernames(&page), ["alan", "albert", "alice"]);
    assert_eq!(page["next_cursor"], Value::Null);
    let alan = &page["items"][0];
    assert!(alan["id"].is_string() && alan["display_name"] == "alan", "{alan}");

    let cases: [(&str, &[&str]); 12] = [
        ("prefix=al&limit=2", &["alan", "albert"]),
        ("prefix=%20al%20", &["alan", "albert", "alice"]),
        ("prefix=alice", &["alice"]),
        ("prefix=a", &["a_b", "alan", "albert", "alice"]),
        ("prefix=b&limit=10", &["bob"]),
        ("prefix=zz", &[]),
        // Compared as typed: usernames are lowercase.
        ("prefix=AL", &[]),
        // No wildcards: `_` and `%` are themselves.
        ("prefix=a_", &["a_b"]),
        ("prefix=al%25", &[]),
        ("prefix=%25", &[]),
        ("prefix=*", &[]),
        ("prefix=al.*", &[]),
    ];
    for (query, expected) in cases {
        let (status, page) = alice.get(&format!("/api/v1/users?{query}")).await;
        assert_eq!((status, usernames(&page)), (StatusCode::OK, expected.to_vec()), "{query}");
    }

    // The exact form is as it was.
    let (status, page) = alice.get("/api/v1/users?username=al").await;
    assert_eq!((status, usernames(&page)), (StatusCode::OK, vec![]));
    let (_, page) = alice.get("/api/v1/users?username=alan&limit=1").await;
    assert_eq!(usernames(&page), ["alan"]);
}

#[tokio::test]
async fn users_by_prefix_come_10_by_default_and_20_at_most() {
    let server = TestServer::start().await;
    let mut sessions: Vec<Session> = vec![];
    for n in 0..22 {
        sessions.push(server.login(&format!("user{n:02}")).await);
    }
    let me = &sessions[0];
    let names = |range: std::ops::Range<usize>| range.map(|n| format!("user{n:02}")).collect::<Vec<_>>();
    for (query, expected) in [
        ("prefix=user", names(0..10)),
        ("prefix=user&limit=20", names(0..20)),
        ("prefix=user&limit=21", names(0..20)),
        ("prefix=user&limit=1", names(0..1)),
        ("prefix=user&limit=0", names(0..1)),
        ("prefix=user1&limit=20", names(10..20)),
    ] {
        let (status, page) = me.get(&format!("/api/v1/users?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(usernames(&page), expected, "{query}");
    }
}

#[tokio::test]
async fn finding_users_takes_one_of_username_and_prefix_and_a_prefix_of_1_to_64_characters() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let long = "a".repeat(65);
    let cases = [
        ("", StatusCode::UNPROCESSABLE_ENTITY, "one_of_username_or_prefix"),
        ("?limit=5", StatusCode::UNPROCESSABLE_ENTITY, "one_of_username_or_prefix"),
        ("?username=alice&prefix=al", StatusCode::UNPROCESSABLE_ENTITY, "one_of_username_or_prefix"),
        ("?username=&prefix=", StatusCode::UNPROCESSABLE_ENTITY, "one_of_username_or_prefix"),
        ("?prefix=", StatusCode::UNPROCESSABLE_ENTITY, "invalid_username_prefix"),
        ("?prefix=%20%20%20", StatusCode::UNPROCESSABLE_ENTITY, "invalid_username_prefix"),
        (&format!("?prefix={long}"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_username_prefix"),
        ("?prefix=al&limit=ten", StatusCode::BAD_REQUEST, "invalid_query"),
        ("?prefix=al&limit=-1", StatusCode::BAD_REQUEST, "invalid_query"),
    ];
    for (query, status, code) in cases {
        let (got, problem) = alice.get(&format!("/api/v1/users{query}")).await;
        assert_eq!((got, problem["code"].as_str()), (status, Some(code)), "{query}: {problem}");
        assert_eq!(problem["type"], format!("urn:petit-chat:problem:{code}"));
    }
    // 64 characters is a prefix (of nobody here); so is one that is 64 once trimmed.
    for query in [format!("?prefix={}", "a".repeat(64)), format!("?prefix=%20{}%20", "a".repeat(64))] {
        let (status, page) = alice.get(&format!("/api/v1/users{query}")).await;
        assert_eq!((status, usernames(&page)), (StatusCode::OK, vec![]), "{query}");
    }
    // Anyone signed in may search; nobody else.
    let (status, problem) = server.call(None, reqwest::Method::GET, "/api/v1/users?prefix=al", None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));
}
