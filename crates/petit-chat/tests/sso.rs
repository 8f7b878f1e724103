//! Single sign-on through the HTTP API, against the real Keycloak of `scripts/stack`
//! (realm `petit-chat`): login by realm token, provisioning and rename, 401s that create
//! nothing, event-stream tickets, the login configuration, and the user sync. Needs
//! `eval "$(scripts/stack env)"`; fails, never skips, without it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

#[path = "api/harness.rs"]
mod harness;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use harness::TestServer;
use petit_chat::config::{Config, IdentityKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn env(name: &str) -> String {
    let key = format!("PETIT_CHAT_STACK_{name}");
    std::env::var(&key).unwrap_or_else(|_| panic!("{key} is not set: run `eval \"$(scripts/stack env)\"` first"))
}

fn oidc(config: &mut Config) {
    config.identity.kind = IdentityKind::Oidc;
    config.identity.oidc.issuer = env("OIDC_ISSUER");
    config.identity.oidc.audience = env("OIDC_AUDIENCE");
    config.identity.oidc.client_id = env("OIDC_WEB_CLIENT_ID");
    config.identity.oidc.sync_client_id = Some(env("OIDC_SYNC_CLIENT_ID"));
    config.identity.oidc.sync_client_secret = Some(env("OIDC_SYNC_CLIENT_SECRET"));
}

async fn server() -> TestServer {
    TestServer::start_with(oidc).await
}

/// Keycloak's admin API as the master admin, for creating throwaway people.
struct Admin {
    http: reqwest::Client,
    token: String,
    users: String,
}

impl Admin {
    async fn login() -> Self {
        let base = env("KEYCLOAK_URL");
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{base}/realms/master/protocol/openid-connect/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", &env("KEYCLOAK_ADMIN_USER")),
                ("password", &env("KEYCLOAK_ADMIN_PASSWORD")),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            http,
            token: token["access_token"].as_str().unwrap().to_string(),
            users: format!("{base}/admin/realms/petit-chat/users"),
        }
    }

    /// Creates an enabled person with a password; returns their Keycloak id (`sub`).
    async fn create(&self, username: &str, first: &str, last: &str) -> String {
        let body = json!({
            "username": username, "firstName": first, "lastName": last, "enabled": true,
            "email": format!("{username}@example.test"), "emailVerified": true,
            "credentials": [{ "type": "password", "value": format!("{username}-test-only"), "temporary": false }],
        });
        let resp = self.http.post(&self.users).bearer_auth(&self.token).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{}", resp.text().await.unwrap());
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        location.rsplit('/').next().unwrap().to_string()
    }

    async fn update(&self, id: &str, change: Value) {
        let url = format!("{}/{id}", self.users);
        let resp = self.http.put(url).bearer_auth(&self.token).json(&change).send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }

    async fn delete(&self, id: &str) {
        let _ = self.http.delete(format!("{}/{id}", self.users)).bearer_auth(&self.token).send().await;
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{:x}", rand::random::<u32>())
}

async fn realm_token(user: &str, password: &str) -> String {
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/protocol/openid-connect/token", env("OIDC_ISSUER")))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &env("OIDC_CLI_CLIENT_ID")),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["access_token"].as_str().unwrap_or_else(|| panic!("no token for {user}: {resp}")).to_string()
}

async fn test_user_token(user: &str) -> String {
    realm_token(user, &format!("{user}-test-only")).await
}

#[tokio::test]
async fn a_realm_token_logs_in_provisions_once_and_follows_renames() {
    let server = server().await;
    let admin = Admin::login().await;
    let username = unique("sso-");
    let sub = admin.create(&username, "Zoé", "Marchand").await;

    let token = realm_token(&username, &format!("{username}-test-only")).await;
    let (status, me) = server.call(Some(&token), Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!((me["username"].as_str(), me["display_name"].as_str()), (Some(username.as_str()), Some("Zoé Marchand")));
    let (_, again) = server.call(Some(&token), Method::GET, "/api/v1/me", None).await;
    assert_eq!(again["id"], me["id"], "the same person is the same user");

    // Renamed in Keycloak: the next login shows the new username and name, same account.
    let renamed = unique("sso-renamed-");
    admin.update(&sub, json!({ "username": renamed, "firstName": "Zoé", "lastName": "Lemaire" })).await;
    let token = realm_token(&renamed, &format!("{username}-test-only")).await;
    let (status, me2) = server.call(Some(&token), Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::OK, "{me2}");
    assert_eq!(me2["id"], me["id"]);
    assert_eq!((me2["username"].as_str(), me2["display_name"].as_str()), (Some(renamed.as_str()), Some("Zoé Lemaire")));
    // The old username is free and finds no one; the new one finds the account.
    let (_, old) = server.call(Some(&token), Method::GET, &format!("/api/v1/users?username={username}"), None).await;
    assert_eq!(old["items"], json!([]), "{old}");
    let (_, new) = server.call(Some(&token), Method::GET, &format!("/api/v1/users?username={renamed}"), None).await;
    assert_eq!(new["items"][0]["id"], me["id"], "{new}");
    admin.delete(&sub).await;
}

#[tokio::test]
async fn refused_tokens_get_401_and_create_no_one() {
    let server = server().await;
    let token = test_user_token("carol").await;
    let (status, problem) = server.call(None, Method::GET, "/api/v1/me", None).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")));

    // A valid token whose payload was changed to claim someone new.
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let intruder = unique("intruder-");
    claims["preferred_username"] = intruder.clone().into();
    claims["sub"] = unique("sub-").into();
    let forged = format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    );
    for bad in [forged.as_str(), none.as_str(), "garbage"] {
        let (status, problem) = server.call(Some(bad), Method::GET, "/api/v1/me", None).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{problem}"
        );
        let (status, _) = server.call(Some(bad), Method::POST, "/api/v1/events/ticket", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Nothing about the intruder exists.
    let (status, found) =
        server.call(Some(&token), Method::GET, &format!("/api/v1/users?username={intruder}"), None).await;
    assert_eq!((status, &found["items"]), (StatusCode::OK, &json!([])), "{found}");
}

#[tokio::test]
async fn the_login_configuration_names_the_realm_and_the_dev_login_is_gone() {
    let server = server().await;
    let (status, config) = server.call(None, Method::GET, "/api/v1/auth/config", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["mode"], "oidc");
    assert_eq!(config["issuer"], env("OIDC_ISSUER"));
    assert_eq!(config["client_id"], env("OIDC_WEB_CLIENT_ID"));
    assert!(config["scopes"].as_array().unwrap().contains(&json!("openid")), "{config}");
    let (status, problem) =
        server.call(None, Method::POST, "/api/v1/dev/login", Some(json!({ "username": "alice" }))).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("no_such_route")));
}

async fn ticket(server: &TestServer, token: &str) -> String {
    let (status, body) = server.call(Some(token), Method::POST, "/api/v1/events/ticket", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["expires_in"].as_u64().unwrap() > 0, "{body}");
    body["ticket"].as_str().unwrap().to_string()
}

async fn open_with_ticket(server: &TestServer, ticket: &str) -> reqwest::Response {
    server.client.get(format!("{}/api/v1/events?ticket={ticket}", server.base)).send().await.unwrap()
}

#[tokio::test]
async fn an_event_ticket_opens_one_stream_once() {
    let server = server().await;
    let token = test_user_token("alice").await;
    let (_, me) = server.call(Some(&token), Method::GET, "/api/v1/me", None).await;
    let ticket = ticket(&server, &token).await;

    let resp = open_with_ticket(&server, &ticket).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.bytes_stream();
    use futures::StreamExt;
    let first = tokio::time::timeout(Duration::from_secs(10), body.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("event: ready") && text.contains(me["id"].as_str().unwrap()), "{text}");

    // Single use: the same ticket again is refused, even while the first stream is open.
    let again = open_with_ticket(&server, &ticket).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    // Made-up and malformed tickets are refused too.
    for bad in [format!("{}.AAAA", me["id"].as_str().unwrap()), "x".into(), String::new()] {
        assert_eq!(open_with_ticket(&server, &bad).await.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    // The bearer header keeps working.
    let resp = server.client.get(format!("{}/api/v1/events", server.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_event_ticket_expires() {
    let server = TestServer::start_with(|c| {
        oidc(c);
        c.identity.event_ticket_secs = 1;
    })
    .await;
    let token = test_user_token("bob").await;
    let ticket = ticket(&server, &token).await;
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(open_with_ticket(&server, &ticket).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_sync_makes_people_who_never_logged_in_findable_and_addable() {
    let server = server().await;
    let admin = Admin::login().await;
    let username = unique("never-");
    let sub = admin.create(&username, "Noël", "Jamais").await;

    let report = petit_chat::sync_users(&server.app.state.service, &server_config()).await.unwrap();
    assert!(report.created >= 1 && report.failed == 0, "{report:?}");

    let alice = test_user_token("alice").await;
    let (_, found) = server.call(Some(&alice), Method::GET, &format!("/api/v1/users?username={username}"), None).await;
    let person = &found["items"][0];
    assert_eq!(person["display_name"], "Noël Jamais", "{found}");
    // Alice can put them in a group before they ever log in.
    let (status, chat) = server
        .call(
            Some(&alice),
            Method::POST,
            "/api/v1/chats",
            Some(json!({ "kind": "group", "title": "sync", "members": [person["id"]] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{chat}");
    // Their first login lands in that same account, already a member.
    let token = realm_token(&username, &format!("{username}-test-only")).await;
    let (_, me) = server.call(Some(&token), Method::GET, "/api/v1/me", None).await;
    assert_eq!(me["id"], person["id"]);
    let (status, _) =
        server.call(Some(&token), Method::GET, &format!("/api/v1/chats/{}", chat["id"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::OK);
    // A second sync finds the same person again: still one account, the same one.
    let report = petit_chat::sync_users(&server.app.state.service, &server_config()).await.unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    let (_, again) = server.call(Some(&alice), Method::GET, &format!("/api/v1/users?username={username}"), None).await;
    assert_eq!(again["items"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(again["items"][0]["id"], person["id"]);
    admin.delete(&sub).await;
}

fn server_config() -> Config {
    let mut config = Config::default();
    oidc(&mut config);
    config
}
