//! Access control, exhaustively: every operation of the OpenAPI document, called by every
//! kind of caller who must be refused (no token, a forged token, an expired token, someone
//! who never was in the chat, someone who left it, someone else than the owner of a push
//! target or call), gets its refusal as a problem document, changes nothing and leaks
//! nothing. An operation without a row in the table fails the test.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::harness::{Session, TestServer};

/// Words only alice's chat holds: no refusal may contain them.
const SECRET_TEXT: &str = "the vault code is 4711";
const SECRET_TITLE: &str = "Project Nightingale";
const THUMBS_UP: &str = "%F0%9F%91%8D";

/// Who may call an operation, and so who must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// No token needed (the login, the sign-in configuration).
    Public,
    /// Any signed-in user, about themselves or what everyone may see: refused without a
    /// valid token only.
    Caller,
    /// Members of the chat in the path: an outsider and a former member get 404 too.
    Chat,
    /// People of the call's chat: an outsider and a former member get 404 too.
    Call,
    /// The push target's owner: anyone else gets 404.
    PushTarget,
}

/// What a row sends.
#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    /// A multipart upload with one small file.
    File,
}

/// Every operation of the API: its scope and a body that would be accepted from someone
/// allowed (so a refusal is for who calls, not for what is sent).
fn table(w: &World) -> Vec<(&'static str, Scope, Body)> {
    use Body::{File, Json};
    use Scope::*;
    let none = Body::None;
    vec![
        ("GET /api/v1/auth/config", Public, none.clone()),
        ("POST /api/v1/dev/login", Public, Json(json!({ "username": "someone" }))),
        ("GET /api/v1/push/vapid-public-key", Caller, none.clone()),
        ("GET /api/v1/me", Caller, none.clone()),
        ("PATCH /api/v1/me", Caller, Json(json!({ "display_name": "Mallory" }))),
        ("PUT /api/v1/me/status", Caller, Json(json!({ "availability": "busy" }))),
        ("GET /api/v1/me/push-targets", Caller, none.clone()),
        (
            "POST /api/v1/me/push-targets",
            Caller,
            Json(json!({ "kind": "webhook", "url": "https://hooks.example.com/p", "secret": "a-long-enough-secret" })),
        ),
        ("DELETE /api/v1/me/push-targets/{target_id}", PushTarget, none.clone()),
        ("GET /api/v1/users", Caller, none.clone()),
        ("GET /api/v1/users/{user_id}", Caller, none.clone()),
        ("GET /api/v1/events", Caller, none.clone()),
        ("POST /api/v1/events/ticket", Caller, Json(json!({}))),
        ("GET /api/v1/search", Caller, none.clone()),
        ("GET /api/v1/calls/ice-servers", Caller, none.clone()),
        ("GET /api/v1/chats", Caller, none.clone()),
        ("POST /api/v1/chats", Caller, Json(json!({ "kind": "group", "title": "x", "members": [w.bob.id] }))),
        ("GET /api/v1/chats/{chat_id}", Chat, none.clone()),
        ("PATCH /api/v1/chats/{chat_id}", Chat, Json(json!({ "title": "taken over" }))),
        ("GET /api/v1/chats/{chat_id}/members", Chat, none.clone()),
        ("POST /api/v1/chats/{chat_id}/members", Chat, Json(json!({ "user_ids": [w.mallory.id] }))),
        ("DELETE /api/v1/chats/{chat_id}/members/{user_id}", Chat, none.clone()),
        ("PATCH /api/v1/chats/{chat_id}/members/{user_id}", Chat, Json(json!({ "role": "admin" }))),
        ("GET /api/v1/chats/{chat_id}/notifications", Chat, none.clone()),
        ("PUT /api/v1/chats/{chat_id}/notifications", Chat, Json(json!({ "level": "none" }))),
        ("POST /api/v1/chats/{chat_id}/read", Chat, Json(json!({ "up_to": w.signal }))),
        ("POST /api/v1/chats/{chat_id}/typing", Chat, none.clone()),
        ("GET /api/v1/chats/{chat_id}/search", Chat, none.clone()),
        ("GET /api/v1/chats/{chat_id}/signals", Chat, none.clone()),
        ("POST /api/v1/chats/{chat_id}/signals", Chat, Json(json!({ "kind": "msg", "text": "hi", "nonce": "x" }))),
        ("GET /api/v1/chats/{chat_id}/signals/{signal_id}", Chat, none.clone()),
        ("PATCH /api/v1/chats/{chat_id}/signals/{signal_id}", Chat, Json(json!({ "text": "rewritten" }))),
        ("DELETE /api/v1/chats/{chat_id}/signals/{signal_id}", Chat, none.clone()),
        ("GET /api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", Chat, none.clone()),
        ("PUT /api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", Chat, none.clone()),
        ("DELETE /api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}", Chat, none.clone()),
        ("GET /api/v1/chats/{chat_id}/signals/{signal_id}/receipts", Chat, none.clone()),
        ("GET /api/v1/chats/{chat_id}/attachments", Chat, none.clone()),
        ("POST /api/v1/chats/{chat_id}/attachments", Chat, File),
        ("GET /api/v1/chats/{chat_id}/attachments/{attachment_id}", Chat, none.clone()),
        ("GET /api/v1/chats/{chat_id}/attachments/{attachment_id}/content", Chat, none.clone()),
        ("GET /api/v1/chats/{chat_id}/attachments/{attachment_id}/thumbnail", Chat, none.clone()),
        ("POST /api/v1/chats/{chat_id}/calls", Chat, Json(json!({ "media": "audio" }))),
        ("GET /api/v1/calls/{call_id}", Call, none.clone()),
        ("POST /api/v1/calls/{call_id}/join", Call, none.clone()),
        ("POST /api/v1/calls/{call_id}/decline", Call, none.clone()),
        ("POST /api/v1/calls/{call_id}/leave", Call, none.clone()),
        ("POST /api/v1/calls/{call_id}/end", Call, none.clone()),
        (
            "POST /api/v1/calls/{call_id}/signal",
            Call,
            Json(json!({ "to": w.alice.id, "type": "offer", "data": { "sdp": "v=0" } })),
        ),
    ]
}

/// Alice's group (with bob; eve was in it and left), with a message, a reaction, a file, a
/// call under way and a push target of alice's; mallory never was in it.
struct World {
    server: TestServer,
    alice: Session,
    bob: Session,
    eve: Session,
    mallory: Session,
    chat: String,
    signal: String,
    attachment: String,
    call: String,
    target: String,
}

impl World {
    async fn new() -> Self {
        let server = TestServer::start_with(|c| {
            c.calls.ring_secs = 600; // the call stays as it is while the test runs
            c.notifications.allow_private_targets = true;
        })
        .await;
        let (alice, bob, eve, mallory) = (
            server.login("alice").await,
            server.login("bob").await,
            server.login("eve").await,
            server.login("mallory").await,
        );
        let chat = alice.group(SECRET_TITLE, &[&bob, &eve]).await;
        let (status, _) = eve.delete(&format!("/api/v1/chats/{chat}/members/{}", eve.id)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let signal = alice.say(&chat, SECRET_TEXT).await["id"].as_str().unwrap().to_string();
        let (status, _) = alice.put(&format!("/api/v1/chats/{chat}/signals/{signal}/reactions/{THUMBS_UP}")).await;
        assert!(status.is_success(), "{status}");
        let upload = call_as(
            &server,
            Some(&alice.token),
            Method::POST,
            &format!("/api/v1/chats/{chat}/attachments"),
            &Body::File,
        )
        .await;
        assert_eq!(upload.0, StatusCode::CREATED, "{}", upload.1);
        let attachment = upload.1["id"].as_str().unwrap().to_string();
        let (status, sent) = alice
            .post(
                &format!("/api/v1/chats/{chat}/signals"),
                json!({ "kind": "msg", "text": "the plan", "nonce": "file", "attachments": [attachment] }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sent}");
        let (status, call) = alice.post(&format!("/api/v1/chats/{chat}/calls"), json!({ "media": "audio" })).await;
        assert_eq!(status, StatusCode::CREATED, "{call}");
        let call = call["id"].as_str().unwrap().to_string();
        let (status, target) = alice
            .post(
                "/api/v1/me/push-targets",
                json!({ "kind": "webhook", "url": "https://hooks.example.com/alice", "secret": "a-long-enough-secret" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{target}");
        let target = target["id"].as_str().unwrap().to_string();
        Self { server, alice, bob, eve, mallory, chat, signal, attachment, call, target }
    }

    /// The path of `template` with this world's ids (and a query for the searches, which
    /// need one).
    fn path(&self, template: &str) -> String {
        let query = if template.ends_with("/search") { "?q=vault" } else { "" };
        let path = template
            .replace("{chat_id}", &self.chat)
            .replace("{signal_id}", &self.signal)
            .replace("{attachment_id}", &self.attachment)
            .replace("{call_id}", &self.call)
            .replace("{target_id}", &self.target)
            .replace("{user_id}", &self.bob.id)
            .replace("{emoji}", THUMBS_UP);
        format!("{path}{query}")
    }

    /// Everything alice sees of her chat, her call and her push targets.
    async fn alice_sees(&self) -> Vec<Value> {
        let mut seen = Vec::new();
        for template in [
            "/api/v1/me",
            "/api/v1/chats",
            "/api/v1/chats/{chat_id}",
            "/api/v1/chats/{chat_id}/members",
            "/api/v1/chats/{chat_id}/signals",
            "/api/v1/chats/{chat_id}/signals/{signal_id}/reactions/{emoji}",
            "/api/v1/chats/{chat_id}/signals/{signal_id}/receipts",
            "/api/v1/chats/{chat_id}/attachments",
            "/api/v1/chats/{chat_id}/notifications",
            "/api/v1/calls/{call_id}",
            "/api/v1/me/push-targets",
        ] {
            let (status, body) = self.alice.get(&self.path(template)).await;
            assert_eq!(status, StatusCode::OK, "{template}: {body}");
            seen.push(json!({ template: body }));
        }
        seen
    }
}

/// Calls `method path` with `token` (or none) and `body`; a refusal must be a problem
/// document.
async fn call_as(
    server: &TestServer,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: &Body,
) -> (StatusCode, Value) {
    let mut req = server.client.request(method, format!("{}{path}", server.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req = match body {
        Body::None => req,
        Body::Json(value) => req.json(value),
        Body::File => {
            let part = reqwest::multipart::Part::bytes(b"plain text, a small file".to_vec()).file_name("note.txt");
            req.multipart(reqwest::multipart::Form::new().part("file", part))
        }
    };
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_string());
    let text = resp.text().await.expect("body");
    if status.is_client_error() {
        assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{path}: {status} {text}");
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn method_of(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("method")
}

#[tokio::test]
async fn every_operation_refuses_who_may_not_call_it_changes_nothing_and_leaks_nothing() {
    let w = World::new().await;
    let table = table(&w);

    // The table covers the OpenAPI document exactly.
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let rows: BTreeSet<String> = table.iter().map(|(op, _, _)| op.to_string()).collect();
    assert_eq!(rows.len(), table.len(), "a row is in the table twice");
    let missing: Vec<_> = operations.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&operations).collect();
    assert!(missing.is_empty(), "operations without a row in the access table: {missing:?}");
    assert!(stale.is_empty(), "rows for operations the API does not have: {stale:?}");

    let forged = identity_dev::DevIdentity::new(vec![9; 32], Duration::from_secs(3600)).issue("alice").unwrap();
    let expired = identity_dev::DevIdentity::load_or_create(&w.server.config().server.data_dir, Duration::ZERO)
        .unwrap()
        .issue("alice")
        .unwrap();
    let before = w.alice_sees().await;

    let mut refusals = 0;
    for (operation, scope, body) in &table {
        let (method, template) = operation.split_once(' ').unwrap();
        let path = w.path(template);
        let mut refused = Vec::new();
        if *scope != Scope::Public {
            for (who, token) in [
                ("no token", None),
                ("a forged token", Some(forged.as_str())),
                ("an expired token", Some(expired.as_str())),
            ] {
                let (status, problem) = call_as(&w.server, token, method_of(method), &path, body).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{operation} with {who}: {problem}");
                assert_eq!(problem["code"], "unauthenticated", "{operation} with {who}");
                refused.push(problem);
            }
        }
        let outsiders: &[(&str, &Session)] = match scope {
            Scope::Chat | Scope::Call => &[("an outsider", &w.mallory), ("a former member", &w.eve)],
            Scope::PushTarget => &[("another user", &w.mallory), ("a chat partner", &w.bob)],
            Scope::Public | Scope::Caller => &[],
        };
        for (who, session) in outsiders {
            let (status, problem) = call_as(&w.server, Some(&session.token), method_of(method), &path, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{operation} as {who}: {problem}");
            refused.push(problem);
        }
        for problem in &refused {
            let text = problem.to_string();
            assert!(!text.contains(SECRET_TEXT) && !text.contains(SECRET_TITLE), "{operation} leaked: {text}");
            assert!(!text.contains(&w.alice.token), "{operation} echoed a token");
        }
        refusals += refused.len();
    }
    eprintln!("access table: {} operations, {refusals} refusals checked", table.len());

    assert_eq!(w.alice_sees().await, before, "a refused call changed what alice sees");
}
